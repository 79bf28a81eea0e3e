"""`python -m pipeline serve-oai` as harvesters see it: a real server process on 127.0.0.1, a real
OAI-PMH harvester (sickle) and plain HTTP for what a harvester would never send.

The warehouse is built by three real passes a second apart, so each has its own datestamp:
pass 1 ingests the seed archive; pass 2 adds pages with typed, catalogued and translated cards;
pass 3 edits one of them and removes another's page. What each test expects follows from those
actions or from the warehouse's own tables (`publications`, `record_status`), not from the server.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, copy_seed_archive, ingest_archive
from lxml import etree
from sickle import Sickle, oaiexceptions
from sickle.iterator import OAIResponseIterator
from stdnum import ean
from test_dedup_rules import MP, PUB, add_pages, page

from pipeline import oai, oai_cli
from pipeline.dedup import run_dedup
from pipeline.export import export
from pipeline.warehouse import connect, migrate
from tests.oai_serving import serving

OAI = "{http://www.openarchives.org/OAI/2.0/}"
OAI_DC = "{http://www.openarchives.org/OAI/2.0/oai_dc/}"
DC = "{http://purl.org/dc/elements/1.1/}"
DC_ELEMENTS = {
    "title", "creator", "subject", "description", "publisher", "contributor", "date", "type", "format",
    "identifier", "source", "language", "relation", "coverage", "rights",
}  # fmt: skip
PREFIX = "oai:iom-pubwarehouse:"
PAGE_SIZE = 10
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "schemas" / "OAI-PMH.xsd")))

ISBN = "978929068123" + ean.calc_check_digit("978929068123")
MANUAL = f"https://{PUB}/books/border-management-manual"
TOOLKIT_EN = f"https://{MP}/en/resources/reintegration-toolkit"
TOOLKIT_FR = f"https://{MP}/fr/resources/boite-a-outils-reintegration"
GUIDE_ES = f"https://{MP}/es/resources/guia-equipos-frontera"
REPORT = f"https://{PUB}/books/seasonal-remittances-report"
RR = "returnandreintegration.iom.int"
PDF = f"https://{PUB}/system/files/pdf/border-management-manual.pdf"

TYPED_PAGES = [
    page(
        "oai-manual",
        "html-detail",
        PUB,
        MANUAL,
        {
            "title": "Border management manual",
            "abstract": "This manual sets out how border agencies can register arrivals, screen for protection "
            "needs and refer people to services, with forms and checklists tested at twelve land crossings.",
            "url": MANUAL,
            "year": 2021,
            "page_count": 84,
            "isbn": [ISBN],
            "pdf_urls": [PDF],
            "extra": {
                "type": "Manual",
                "publisher": "International Organization for Migration (IOM)",
                "topics": "Border management, Migration data",
            },
        },
    ),
    page(
        "oai-toolkit-en",
        "html-detail",
        MP,
        TOOLKIT_EN,
        {
            "title": "Reintegration toolkit: health & safety <2022>",
            "abstract": "The toolkit helps caseworkers plan the return of migrants to their communities, covering "
            "housing, medical care and small business grants, and how to follow each case for a year.",
            "url": TOOLKIT_EN,
            "edition_links": [TOOLKIT_FR],
            "extra": {"type": "Toolkit, Manual"},
        },
    ),
    page(
        "oai-toolkit-fr",
        "html-detail",
        MP,
        TOOLKIT_FR,
        {
            "title": "Boîte à outils de réintégration",
            "abstract": "La boîte à outils aide les travailleurs sociaux à préparer le retour des migrants dans "
            "leurs communautés : logement, soins médicaux, subventions aux petites entreprises et suivi.",
            "url": TOOLKIT_FR,
            "extra": {"type": "Boîte à outils"},
        },
    ),
    page(
        "oai-guide-es",
        "html-detail",
        MP,
        GUIDE_ES,
        {
            "title": "Guía para equipos de frontera",
            "abstract": "Esta guía ayuda a los equipos de frontera a identificar a niñas y niños no acompañados y "
            "a remitirlos a servicios de protección adecuados en los puntos de entrada terrestres.",
            "url": GUIDE_ES,
            "extra": {"type": "Guía práctica"},
        },
    ),
    page(
        "oai-report",
        "html-detail",
        PUB,
        REPORT,
        {
            "title": "Seasonal workers' remittances report",
            "abstract": "The report measures what seasonal workers send home, what transfers cost them and "
            "which channels they trust, from a survey of two thousand households in four provinces.",
            "url": REPORT,
            "extra": {"type": "Report"},
        },
    ),
]


@dataclass(frozen=True)
class Built:
    db: Path
    ids: dict[str, str]  # card URL -> edition id
    stamps: tuple[str, str, str]  # datestamp of pass 1, 2, 3


def _utc(con: duckdb.DuckDBPyConnection, edition_id: str) -> str:
    row = con.execute(
        "SELECT strftime(timezone('UTC', last_changed_at), '%Y-%m-%dT%H:%M:%SZ') FROM record_status "
        "WHERE level = 'edition' AND id = ?",
        [edition_id],
    ).fetchone()
    assert row is not None, edition_id
    return row[0]


def _next_second() -> None:
    """Datestamps are to the second: let the clock pass one before the next pass logs."""
    time.sleep(1.05)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    base = tmp_path_factory.mktemp("oai")
    db = base / "warehouse.duckdb"
    assert ingest_archive(copy_seed_archive(base / "raw"), db).status == "ok"  # pass 1
    _next_second()
    con = connect(db)
    try:
        add_pages(con, TYPED_PAGES, run_id=2)
        run_dedup(con, None)  # pass 2
        ids = dict(
            con.execute(
                "SELECT s.url, e.edition_id FROM sightings AS s JOIN sighting_editions AS e USING (sighting_id) "
                "WHERE s.url IN (SELECT unnest(?))",
                [[MANUAL, TOOLKIT_EN, TOOLKIT_FR, GUIDE_ES, REPORT]],
            ).fetchall()
        )
        assert len(set(ids.values())) == 5, ids
        _next_second()
        con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (3, now(), 'ok')")
        con.execute("UPDATE sightings SET title = 'Border management manual, second edition' WHERE url = ?", [MANUAL])
        con.execute("DELETE FROM sightings WHERE url = ?", [REPORT])
        changes = run_dedup(con, None).changes  # pass 3
        assert changes["editions_changed"] == 1 and changes["editions_withdrawn"] == 1, changes
        seed_id = con.execute("SELECT min(id) FROM record_status WHERE level = 'edition'").fetchone()[0]
        stamps = (_utc(con, seed_id), _utc(con, ids[TOOLKIT_EN]), _utc(con, ids[MANUAL]))
    finally:
        con.close()
    assert stamps[0] < stamps[1] < stamps[2], stamps
    return Built(db, ids, stamps)


@pytest.fixture(scope="module")
def endpoint(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("serve")
    # sites with no declared owner, so its Dublin Core is the export's with no owners (owners: tests/test_citations.py)
    sources = workdir / "sources.toml"
    sources.write_text(
        "".join(f'[[sources]]\nname = "{s}"\nbase_url = "https://{s}"\nstart_urls = ["/"]\n\n' for s in (PUB, MP, RR)),
        encoding="utf-8",
    )
    with serving(built.db, workdir, "--page-size", str(PAGE_SIZE), sources=sources) as url:
        yield url


def ask(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    """What the warehouse says, read by the test on a connection of its own that it closes at once
    (a connection left open would keep the writer of the 503 test out)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


@pytest.fixture
def harvester(endpoint: str) -> Sickle:
    return Sickle(endpoint, timeout=30)


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def fetch(
    url: str, params: list[tuple[str, str]] | None = None, *, post: bool = False, content_type: str | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request as sent, (status, headers, body): for what a harvester library would not send."""
    query = urllib.parse.urlencode(params or [])
    if post:
        headers = {"Content-Type": content_type or "application/x-www-form-urlencoded"}
        request = urllib.request.Request(url, data=query.encode(), headers=headers, method="POST")
    else:
        request = urllib.request.Request(f"{url}?{query}" if query else url)
    try:
        with _NO_PROXY.open(request, timeout=30) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def parse(body: bytes) -> etree._Element:
    """Strictly parsed (no recovery, unlike a lenient harvester) and valid against the OAI-PMH schema."""
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False))
    SCHEMA.assertValid(root)
    for dc in root.iter(f"{OAI_DC}dc"):
        assert len(dc) > 0
        for element in dc:
            assert element.tag.startswith(DC) and element.tag[len(DC) :] in DC_ELEMENTS, element.tag
            assert len(element) == 0 and element.text and element.text.strip(), etree.tostring(element)
    return root


def error_code(body: bytes) -> str | None:
    errors = parse(body).findall(f"{OAI}error")
    return errors[0].get("code") if errors else None


def live_ids(built: Built, where: str = "TRUE", params: list | None = None) -> set[str]:
    return {r[0] for r in ask(built.db, f"SELECT edition_id FROM publications WHERE {where}", params)}


def withdrawn_ids(built: Built) -> set[str]:
    return {r[0] for r in ask(built.db, "SELECT id FROM record_status WHERE level = 'edition' AND withdrawn")}


def oai_ids(items: object) -> list[str]:
    """Edition ids of harvested headers or records, in the order served."""
    out = []
    for item in items:  # type: ignore[attr-defined]
        header = getattr(item, "header", item)
        assert header.identifier.startswith(PREFIX), header.identifier
        out.append(header.identifier[len(PREFIX) :])
    return out


# ---------------------------------------------------------------------------------------------
# harvesting


def test_identify_describes_the_repository(harvester: Sickle, endpoint: str, built: Built) -> None:
    identify = harvester.Identify()
    assert identify.protocolVersion == "2.0"
    assert identify.baseURL == endpoint
    assert identify.deletedRecord == "persistent"
    assert identify.granularity == "YYYY-MM-DDThh:mm:ssZ"
    assert identify.earliestDatestamp == built.stamps[0]
    assert "@" in identify.adminEmail


def test_list_records_harvests_every_edition_through_resumption_tokens(harvester: Sickle, built: Built) -> None:
    records = list(harvester.ListRecords(metadataPrefix="oai_dc"))
    ids = oai_ids(records)
    live = [r for r in records if not r.deleted]
    assert len(ids) == len(set(ids))
    assert len(live) == ask(built.db, "SELECT count(*) FROM publications")[0][0] == 101
    assert {oai_ids([r])[0] for r in live} == live_ids(built)
    assert {oai_ids([r])[0] for r in records if r.deleted} == withdrawn_ids(built) == {built.ids[REPORT]}
    assert all(r.metadata.get("title") for r in live)


def test_resumption_tokens_carry_cursor_and_size_and_the_last_is_empty(endpoint: str) -> None:
    pages = list(Sickle(endpoint, iterator=OAIResponseIterator).ListIdentifiers(metadataPrefix="oai_dc"))
    tokens = [page.xml.find(f".//{OAI}resumptionToken") for page in pages]
    total = 102  # 101 editions and the withdrawn one
    assert len(pages) == -(-total // PAGE_SIZE)
    assert [int(t.get("cursor")) for t in tokens] == list(range(0, total, PAGE_SIZE))
    assert {int(t.get("completeListSize")) for t in tokens} == {total}
    assert all(t.text for t in tokens[:-1]) and not tokens[-1].text
    served = [len(page.xml.findall(f".//{OAI}header")) for page in pages]
    assert sum(served) == total and set(served[:-1]) == {PAGE_SIZE}


def test_post_harvest_is_the_get_harvest(endpoint: str, harvester: Sickle) -> None:
    by_post = oai_ids(Sickle(endpoint, http_method="POST", timeout=30).ListIdentifiers(metadataPrefix="oai_dc"))
    assert by_post == oai_ids(harvester.ListIdentifiers(metadataPrefix="oai_dc"))
    status, _, body = fetch(endpoint, [("verb", "Identify")], post=True)
    assert status == 200 and parse(body).find(f"{OAI}Identify") is not None


def test_from_and_until_select_by_last_change(harvester: Sickle, built: Built) -> None:
    first, second, third = built.stamps
    seed = live_ids(built) - set(built.ids.values())

    def harvest(**args: str) -> set[str]:
        return set(oai_ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", **args)))

    # pass 3 edited the manual and removed the report; pass 2 added the other three
    assert harvest(**{"from": third}) == {built.ids[MANUAL], built.ids[REPORT]}
    assert harvest(**{"from": second, "until": second}) == {built.ids[u] for u in (TOOLKIT_EN, TOOLKIT_FR, GUIDE_ES)}
    assert harvest(until=first) == seed
    assert harvest(**{"from": first[:10], "until": third[:10]}) == seed | set(built.ids.values())
    with pytest.raises(oaiexceptions.NoRecordsMatch):
        harvest(**{"from": "2999-01-01"})


def test_sets_by_site_and_type(harvester: Sickle, built: Built) -> None:
    sets = {s.setSpec: s.setName for s in harvester.ListSets()}
    assert {"site", "type"} <= set(sets)
    assert {f"site:{site}" for site in (PUB, MP, RR)} <= set(sets)
    # one set per resource type, whatever the language of the page's Type field: "Toolkit, Manual" and
    # "Boîte à outils" are manuals, "Guía práctica" a guideline; the seeds add the types of their listing
    # sections (guideline, manual); the only report was withdrawn
    assert sets["type:manual"] == "Manual" and sets["type:guideline"] == "Guideline"
    assert "type:report" not in sets and not {"type:guia-practica", "type:toolkit", "type:boite-a-outils"} & set(sets)

    def members(spec: str) -> set[str]:
        return set(oai_ids(harvester.ListIdentifiers(metadataPrefix="oai_dc", set=spec)))

    manuals, guidelines = members("type:manual"), members("type:guideline")
    assert {built.ids[MANUAL], built.ids[TOOLKIT_EN], built.ids[TOOLKIT_FR]} <= manuals
    assert built.ids[GUIDE_ES] in guidelines and not manuals & guidelines
    # seed 002 is a regional listing, which names no type: an edition seen only there is in no type set
    untyped = {
        r[0]
        for r in ask(
            built.db,
            "SELECT m.edition_id FROM edition_members AS m JOIN sightings USING (sighting_id) "
            "JOIN raw_pages AS p USING (page_id) GROUP BY ALL HAVING bool_and(p.label LIKE '002_%')",
        )
    }
    assert len(untyped & live_ids(built)) == 19
    assert members("type") == live_ids(built) - untyped == manuals | guidelines
    on_pub = live_ids(built, "list_contains(sources, ?)", [PUB])
    assert members(f"site:{PUB}") == on_pub and built.ids[MANUAL] in on_pub
    assert members("site") == live_ids(built)
    with pytest.raises(oaiexceptions.NoRecordsMatch):
        members("type:no-such-type")


def test_get_record_matches_the_warehouse_row(harvester: Sickle, built: Built) -> None:
    edition = built.ids[MANUAL]
    record = harvester.GetRecord(metadataPrefix="oai_dc", identifier=PREFIX + edition)
    [row] = ask(
        built.db,
        "SELECT display_title, abstract, year, language, url, isbn, pdf_urls, page_count FROM publications "
        "WHERE edition_id = ?",
        [edition],
    )
    title, abstract, year, language, url, isbn, pdf_urls, page_count = row
    dc = record.metadata
    assert record.header.identifier == PREFIX + edition and not record.deleted
    assert record.header.datestamp == built.stamps[2]
    assert sorted(record.header.setSpecs) == [f"site:{PUB}", "type:manual"]
    assert dc["title"] == [title] == ["Border management manual, second edition"]
    assert dc["description"] == [abstract]
    assert dc["date"] == [str(year)] == ["2021"]
    assert dc["language"] == [language] == ["en"]
    assert set(dc["identifier"]) == {edition, url, *pdf_urls, f"urn:isbn:{ISBN}"} and isbn == [ISBN]
    assert dc["type"] == ["Text", "Manual"]
    assert dc["publisher"] == ["International Organization for Migration (IOM)"]
    assert dc["subject"] == ["Border management", "Migration data"]
    assert set(dc["format"]) == {"application/pdf", f"{page_count} pages"}


def test_translations_point_at_each_other_and_markup_in_titles_survives(harvester: Sickle, built: Built) -> None:
    en = harvester.GetRecord(metadataPrefix="oai_dc", identifier=PREFIX + built.ids[TOOLKIT_EN])
    fr = harvester.GetRecord(metadataPrefix="oai_dc", identifier=PREFIX + built.ids[TOOLKIT_FR])
    urls = dict(ask(built.db, "SELECT edition_id, url FROM publications"))
    assert en.metadata["relation"] == [urls[built.ids[TOOLKIT_FR]]]
    assert fr.metadata["relation"] == [urls[built.ids[TOOLKIT_EN]]]
    assert en.metadata["title"] == ["Reintegration toolkit: health & safety <2022>"]
    assert en.metadata["type"] == ["Text", "Toolkit, Manual"] and fr.metadata["language"] == ["fr"]


def test_harvested_dublin_core_is_the_exported_dublin_core(harvester: Sickle, built: Built, tmp_path: Path) -> None:
    out = tmp_path / "dc.xml"
    export(built.db, out, "dc")
    exported = {
        record.get("id"): [(e.tag, e.text, dict(e.attrib)) for e in record.find(f"{OAI_DC}dc")]
        for record in etree.parse(str(out)).getroot()
    }
    harvested = {
        oai_ids([r])[0]: [(e.tag, e.text, dict(e.attrib)) for e in r.xml.find(f".//{OAI_DC}dc")]
        for r in harvester.ListRecords(metadataPrefix="oai_dc", ignore_deleted=True)
    }
    assert harvested == exported and len(harvested) == 101


def test_page_size_default_is_the_librarys() -> None:
    assert oai_cli.PAGE_SIZE == oai.PAGE_SIZE


def test_withdrawn_edition_is_a_deleted_record(harvester: Sickle, endpoint: str, built: Built) -> None:
    gone = built.ids[REPORT]
    assert gone not in live_ids(built)
    record = harvester.GetRecord(metadataPrefix="oai_dc", identifier=PREFIX + gone)
    assert record.deleted and record.header.datestamp == built.stamps[2] and record.header.setSpecs == []
    status, _, body = fetch(
        endpoint, [("verb", "GetRecord"), ("metadataPrefix", "oai_dc"), ("identifier", PREFIX + gone)]
    )
    header = parse(body).find(f".//{OAI}header")
    assert status == 200 and header.get("status") == "deleted"
    assert parse(body).find(f".//{OAI}metadata") is None
    deleted = [h for h in harvester.ListIdentifiers(metadataPrefix="oai_dc") if h.deleted]
    assert oai_ids(deleted) == [gone]
    # its formats can still be asked for: a deleted record is still a record
    assert [f.metadataPrefix for f in harvester.ListMetadataFormats(identifier=PREFIX + gone)] == ["oai_dc"]


# ---------------------------------------------------------------------------------------------
# errors: every code a bad request can earn, as a harvester sees it and as the schema allows it


def _token(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


GOOD_TOKEN_FIELDS = {"v": "ListRecords", "m": "oai_dc", "s": None, "f": None, "u": None, "a": "ed_0", "c": 10}

LIST = [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")]
GET = [("verb", "GetRecord"), ("metadataPrefix", "oai_dc")]
BAD_REQUESTS = [
    ("badVerb", []),
    ("badVerb", [("verb", "ListEverything")]),
    ("badVerb", [("verb", "Identify"), ("verb", "Identify")]),
    ("badArgument", [("verb", "Identify"), ("set", "site")]),
    ("badArgument", [("verb", "ListRecords")]),
    ("badArgument", [("verb", "GetRecord"), ("metadataPrefix", "oai_dc")]),
    ("badArgument", [*LIST, ("set", "site"), ("set", "type")]),
    ("badArgument", [*LIST, ("from", "2024-13-01")]),
    ("badArgument", [*LIST, ("from", "2024-01-01T00:00:00")]),
    ("badArgument", [*LIST, ("from", "2024-02-01"), ("until", "2024-01-01")]),
    ("badArgument", [*LIST, ("from", "2024-01-01"), ("until", "2024-02-01T00:00:00Z")]),
    ("badArgument", [*LIST, ("set", "site:has space")]),
    ("badArgument", [*LIST, ("resumptionToken", _token(GOOD_TOKEN_FIELDS))]),
    ("badArgument", [("verb", "ListRecords"), ("metadataPrefix", "")]),
    ("badResumptionToken", [("verb", "ListRecords"), ("resumptionToken", "junk")]),
    ("badResumptionToken", [("verb", "ListIdentifiers"), ("resumptionToken", _token(GOOD_TOKEN_FIELDS))]),
    ("badResumptionToken", [("verb", "ListRecords"), ("resumptionToken", _token({**GOOD_TOKEN_FIELDS, "c": -1}))]),
    ("badResumptionToken", [("verb", "ListRecords"), ("resumptionToken", _token({"v": "ListRecords"}))]),
    ("badResumptionToken", [("verb", "ListRecords"), ("resumptionToken", _token({**GOOD_TOKEN_FIELDS, "u": "x"}))]),
    ("badResumptionToken", [("verb", "ListSets"), ("resumptionToken", "anything")]),
    ("cannotDisseminateFormat", [("verb", "ListRecords"), ("metadataPrefix", "marc21")]),
    ("cannotDisseminateFormat", [("verb", "GetRecord"), ("metadataPrefix", "mods"), ("identifier", PREFIX + "x")]),
    ("idDoesNotExist", [*GET, ("identifier", PREFIX + "ed_000000000000")]),
    ("idDoesNotExist", [*GET, ("identifier", "ed_000000000000")]),
    ("idDoesNotExist", [("verb", "ListMetadataFormats"), ("identifier", 'oai:elsewhere:1"><x/>&amp;')]),
    ("noRecordsMatch", [*LIST, ("from", "2999-01-01")]),
    ("noRecordsMatch", [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"), ("set", "site:example.org")]),
]


@pytest.mark.parametrize(("code", "params"), BAD_REQUESTS, ids=[f"{c}-{i}" for i, (c, _) in enumerate(BAD_REQUESTS)])
@pytest.mark.parametrize("post", [False, True], ids=["GET", "POST"])
def test_each_bad_request_gets_its_error_code(endpoint: str, code: str, params: list, post: bool) -> None:
    status, headers, body = fetch(endpoint, params, post=post)
    assert status == 200 and headers["Content-Type"].startswith("text/xml")
    assert error_code(body) == code
    echoed = parse(body).find(f"{OAI}request")
    assert echoed.text == endpoint
    if code in ("badVerb", "badArgument"):  # spec 3.2: the request is echoed without its arguments
        assert dict(echoed.attrib) == {}
    else:
        assert dict(echoed.attrib) == dict(params)


def test_unsafe_request_text_is_echoed_as_well_formed_xml(endpoint: str) -> None:
    status, _, body = fetch(endpoint, [("verb", "ListMetadataFormats"), ("identifier", "\x01<a>&\ufffe")])
    assert status == 200 and error_code(body) == "idDoesNotExist"
    assert parse(body).find(f"{OAI}request").get("identifier") == "<a>&"


def test_a_harvester_raises_the_protocol_errors(harvester: Sickle) -> None:
    with pytest.raises(oaiexceptions.CannotDisseminateFormat):
        harvester.ListRecords(metadataPrefix="marc21")
    with pytest.raises(oaiexceptions.IdDoesNotExist):
        harvester.GetRecord(metadataPrefix="oai_dc", identifier=PREFIX + "ed_000000000000")
    with pytest.raises(oaiexceptions.BadResumptionToken):
        harvester.ListRecords(resumptionToken="junk")
    with pytest.raises(oaiexceptions.BadArgument):
        harvester.ListRecords(metadataPrefix="oai_dc", **{"from": "yesterday"})


def test_every_successful_answer_is_schema_valid(endpoint: str, built: Built) -> None:
    """No metadata format is missing for any item (every edition is in oai_dc), so noMetadataFormats
    never applies; noSetHierarchy applies only to an empty warehouse (the next test)."""
    requests = [
        [("verb", "Identify")],
        [("verb", "ListMetadataFormats")],
        [("verb", "ListMetadataFormats"), ("identifier", PREFIX + built.ids[MANUAL])],
        [("verb", "ListSets")],
        [("verb", "GetRecord"), ("metadataPrefix", "oai_dc"), ("identifier", PREFIX + built.ids[TOOLKIT_EN])],
        [("verb", "GetRecord"), ("metadataPrefix", "oai_dc"), ("identifier", PREFIX + built.ids[REPORT])],
        [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc"), ("set", "type")],
        [("verb", "ListRecords"), ("metadataPrefix", "oai_dc"), ("from", built.stamps[1])],
    ]
    for params in requests:
        status, _, body = fetch(endpoint, params)
        assert status == 200
        root = parse(body)
        assert root.find(f"{OAI}error") is None, body[:500]
        assert root.find(f"{OAI}request").get("verb") == params[0][1]
    # a full ListRecords chain, page by page, each page valid
    status, _, body = fetch(endpoint, [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])
    pages = 1
    while token := parse(body).findtext(f".//{OAI}resumptionToken"):
        status, _, body = fetch(endpoint, [("verb", "ListRecords"), ("resumptionToken", token)])
        pages += 1
    assert pages == -(-102 // PAGE_SIZE)


def test_empty_warehouse_has_no_sets_and_no_records(tmp_path: Path) -> None:
    db = tmp_path / "empty.duckdb"
    con = connect(db)
    migrate(con)
    con.close()
    with serving(db, tmp_path) as url:
        assert error_code(fetch(url, [("verb", "ListSets")])[2]) == "noSetHierarchy"
        listing = [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")]
        assert error_code(fetch(url, [*listing, ("set", "site")])[2]) == "noSetHierarchy"
        assert error_code(fetch(url, listing)[2]) == "noRecordsMatch"
        identify = parse(fetch(url, [("verb", "Identify")])[2])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", identify.findtext(f".//{OAI}earliestDatestamp"))


# ---------------------------------------------------------------------------------------------
# HTTP and the warehouse file


def test_concurrent_harvests_each_get_every_record(endpoint: str) -> None:
    def harvest(_: int) -> list[str]:
        return oai_ids(Sickle(endpoint, timeout=30).ListIdentifiers(metadataPrefix="oai_dc"))

    with ThreadPoolExecutor(max_workers=6) as pool:
        results = list(pool.map(harvest, range(6)))
    assert all(len(r) == 102 for r in results) and all(r == results[0] for r in results)


def test_http_outside_the_protocol(endpoint: str) -> None:
    assert fetch(endpoint.removesuffix("/oai") + "/admin")[0] == 404
    assert fetch(endpoint, [("verb", "Identify")], post=True, content_type="application/json")[0] == 415


def test_server_holds_no_connection_and_answers_503_while_another_process_writes(endpoint: str, built: Built) -> None:
    assert fetch(endpoint, [("verb", "Identify")])[0] == 200
    # another process takes the single writer lock (a read-write session); it could not if the server held the file
    writer = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"import duckdb; c = duckdb.connect({str(built.db)!r}); print('writing', flush=True); input()",
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert writer.stdout is not None and writer.stdin is not None
    try:
        assert writer.stdout.readline().strip() == "writing", writer.stderr.read() if writer.stderr else ""
        status, headers, body = fetch(endpoint, [("verb", "Identify")])
        assert status == 503 and int(headers["Retry-After"]) > 0, body
    finally:
        writer.communicate("\n", timeout=15)
    assert writer.returncode == 0
    assert fetch(endpoint, [("verb", "Identify")])[0] == 200


def test_a_run_publishes_while_serving_and_the_next_request_sees_it(tmp_path: Path, seed_archive, run_cli) -> None:
    db = tmp_path / "warehouse.duckdb"
    assert run_cli("ingest", "--offline").returncode == 0
    page = REPO_ROOT / "tests" / "real_pages" / "03_pub_detail_inner-journeys.txt"
    added = run_cli("archive", "add", str(page), "--source", PUB, "--format", "auto",
                    "--url", f"https://{PUB}/books/inner-journeys")  # fmt: skip
    assert added.returncode == 0, added.stderr
    with serving(db, tmp_path) as url:
        harvester = Sickle(url, timeout=30)
        before = set(oai_ids(harvester.ListIdentifiers(metadataPrefix="oai_dc")))
        run = run_cli("ingest", "--offline", timeout=120)
        assert run.returncode == 0, run.stderr  # the server kept no writer out
        after = set(oai_ids(harvester.ListIdentifiers(metadataPrefix="oai_dc")))
    assert before < after and len(after - before) == 1
    [new] = after - before
    assert ask(db, "SELECT count(*) FROM publications WHERE edition_id = ?", [new]) == [(1,)]


def test_cli_refuses_a_missing_warehouse_and_stops_on_sigterm(run_cli, built: Built, tmp_path: Path) -> None:
    result = run_cli("serve-oai", "--port", "0", "--db", str(tmp_path / "none.duckdb"))
    assert result.returncode == 5 and "no warehouse" in result.stderr
    help_text = run_cli("serve-oai", "--help").stdout
    assert all(option in help_text for option in ("--port", "--host", "--db", "--page-size", "127.0.0.1"))
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline", "serve-oai", "--port", "0", "--db", str(built.db)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and "http://127.0.0.1:" in proc.stdout.readline()
    proc.terminate()
    _, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
