"""Hostile links and hostile text: only web URLs become record URLs, a bad href costs its card only,
`query --format csv` defuses formulas like the exports, and prose is not a listing (issue 18).

Pages are written here in our own words (a Drupal-like listing and detail page, prose in four
languages, a README, an email), archived and ingested into real DuckDB files, crawled from a
real server on 127.0.0.1, exported in every format and read back. What is expected comes from
the issue's rule (http/https only; one bad href, one card), never from the code under test.
"""

from __future__ import annotations

import csv
import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import duckdb
import pytest

from parsers import html_detail, html_listing
from parsers.base import NotWebLink, web_link
from parsers.detect import detect_format, shape
from pipeline import citation
from pipeline.archive import Archive
from pipeline.dedup import run_dedup
from pipeline.export import FORMATS, select_records
from pipeline.urls import url_refusal, web_url
from tests.conftest import REPO_RAW, ingest_archive
from tests.fault_table import fault_case
from tests.test_crawl import crawl_ingest
from tests.test_dedup_rules import MP, build_warehouse, page

LISTING_URL = f"https://{MP}/en/resources/guideline?page=1"

#: card hrefs as a hostile page writes them in its HTML source, and the scheme a browser reads
HOSTILE_HREFS = {
    "javascript": ("javascript:alert(document.cookie)", "javascript"),
    "mixed-case-leading-blanks": (" \t\n JaVaScRiPt:alert(1)", "javascript"),
    "tab-and-newline-inside-scheme": ("jav\tas\ncript:alert(1)", "javascript"),
    "entity-encoded": ("&#106;&#97;vascript&#58;alert(1)", "javascript"),
    "entity-encoded-tab": ("java&#x09;script:alert(1)", "javascript"),
    "data": ("data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==", "data"),
    "file": ("FILE:///etc/passwd", "file"),
    "vbscript": ("VBScript:MsgBox(1)", "vbscript"),
}
#: what none of them may leave behind in a stored or exported URL
PAYLOADS = ("alert(", "passwd", "msgbox", "base64,")


def card(n: int, href: str | None = None) -> str:
    href = f"/en/resources/guideline/item-{n}" if href is None else href
    return (
        f'<div class="views-row"><h3><a href="{href}">Field guide number {n} on return counselling</a></h3>'
        f'<div class="views-field-body">A practical guide for caseworkers who meet returning migrants, '
        f"number {n} of the series, with checklists and referral forms ...</div></div>"
    )


def listing(cards: list[str]) -> str:
    return (
        "<!DOCTYPE html><html><head><meta charset='utf-8'><title>Guidelines</title></head><body>"
        "<a href='#main'>Skip to main content</a><main id='main'><h1>Guideline</h1>"
        f"<div class='view-content'>{''.join(cards)}</div></main></body></html>"
    )


def _ingest_one(tmp_path: Path, body: bytes, fmt: str = "html-listing", url: str = LISTING_URL) -> Path:
    raw = tmp_path / "raw"
    Archive(raw).put(body, source=MP, url=url, format=fmt)
    db = tmp_path / "w.duckdb"
    summary = ingest_archive(raw, db)
    assert summary.status == "ok", summary.message
    return db


def _rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def _stored_urls(db: Path) -> list[str]:
    """Every URL the sightings hold, in any URL column."""
    rows = _rows(
        db,
        "SELECT url, canonical_url, detail_url, pdf_urls, edition_links FROM sightings",
    )
    urls: list[str] = []
    for url, canonical, detail, pdfs, editions in rows:
        urls += [u for u in (url, canonical, detail) if u] + list(pdfs or []) + list(editions or [])
    return urls


# -- the rule itself ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "link",
    [
        "javascript:alert(1)",
        " \t\nJaVaScRiPt:alert(1)",
        "java\tscript:alert(1)",
        "\x01javascript:alert(1)",
        "data:text/html,<script>alert(1)</script>",
        "file:///etc/passwd",
        "vbscript:msgbox(1)",
        "mailto:someone@example.org",
        "ftp://example.org/file.pdf",
        "http:no-host-here",
        "//example.org/no-scheme",
    ],
)
def test_only_http_and_https_links_are_web_urls(link: str) -> None:
    assert web_url(link) is None
    assert url_refusal(link)
    with pytest.raises(NotWebLink):
        web_link(link)


@pytest.mark.parametrize(
    ("link", "read"),
    [
        ("https://publications.iom.int/books/a-guide", "https://publications.iom.int/books/a-guide"),
        ("HTTP://Example.org/A?b=1#c", "HTTP://Example.org/A?b=1#c"),
        ("  https://example.org/a\n/b  ", "https://example.org/a/b"),  # as a browser reads the attribute
        ("https://example.org/files/a report.pdf", "https://example.org/files/a report.pdf"),
    ],
)
def test_web_links_are_kept_as_a_browser_reads_them(link: str, read: str) -> None:
    assert web_url(link) == read and url_refusal(link) is None


@pytest.mark.parametrize("link", ["https://example.org/a\x00b", "https://example.org/a\ufffdb", "http://[::1/x"])
def test_a_link_with_a_nul_or_a_broken_host_is_not_a_url(link: str) -> None:
    with pytest.raises(ValueError) as raised:
        web_link(link)
    assert not isinstance(raised.value, NotWebLink)  # not "drop the link": the card is unreadable
    assert web_url(link) is None


# -- card links: dropped, recorded, the card kept -------------------------------------------------------


@pytest.mark.fault(
    fault="a card link `javascript:`, `data:`, `file:` or `vbscript:` (any case, blanks, tabs or newlines "
    "in the scheme, entity-encoded)",
    does="the link is dropped and the card loads without it; never stored or exported",
    status="ok",
    exit=0,
    recorded="`rejects` (stage parse, position, scheme)",
)
@pytest.mark.parametrize("name", list(HOSTILE_HREFS))
def test_a_card_linking_to_a_script_loads_without_its_link(request, tmp_path: Path, name: str) -> None:
    href, scheme = HOSTILE_HREFS[name]
    cards = [card(n, href if n == 3 else None) for n in range(1, 7)]
    db = _ingest_one(tmp_path, listing(cards).encode())
    rows = _rows(db, "SELECT position, title, url, canonical_url FROM sightings ORDER BY position")
    assert [r[0] for r in rows] == [1, 2, 3, 4, 5, 6]
    assert rows[2][1] == "Field guide number 3 on return counselling"
    assert rows[2][2:] == (None, None)
    for position, _title, url, canonical in rows[:2] + rows[3:]:
        assert url == f"https://{MP}/en/resources/guideline/item-{position}"
        assert canonical == f"https://{MP}/resources/guideline/item-{position}"
    [(position, stage, reason, excerpt)] = _rows(db, "SELECT position, stage, reason, excerpt FROM rejects")
    assert (position, stage) == (3, "parse")
    assert "link dropped, card kept" in reason and f"{scheme}:" in reason
    assert not any(p in (reason + excerpt).lower() for p in PAYLOADS)  # the reject names the scheme only
    assert all(u.lower().startswith("https://") for u in _stored_urls(db))
    [(status,)] = _rows(db, "SELECT status FROM runs")
    assert status == fault_case(request)["status"]


@pytest.mark.fault(
    fault="one NUL byte in one card's href",
    does="that card is rejected with its reason and position; the other five load",
    status="ok",
    exit=0,
    recorded="`rejects` (stage parse, position)",
)
@pytest.mark.parametrize("where", ["first-4-KiB", "far-down-the-page"])
def test_one_nul_byte_in_one_href_costs_that_card_only(request, tmp_path: Path, where: str) -> None:
    cards = [card(n) for n in range(1, 7)]
    cards[3] = card(4, "/en/resources/guideline/item-\x004")
    html = listing(cards)
    if where == "far-down-the-page":
        html = html.replace("<main", "<!-- " + "padding " * 1200 + "--><main")
    body = html.encode()
    assert body.count(b"\x00") == 1
    db = _ingest_one(tmp_path, body)
    assert [p for (p,) in _rows(db, "SELECT position FROM sightings ORDER BY position")] == [1, 2, 3, 5, 6]
    [(position, reason)] = _rows(db, "SELECT position, reason FROM rejects")
    assert position == 4 and "NUL" in reason
    [(parse_status, count)] = _rows(db, "SELECT parse_status, sightings_count FROM raw_pages")
    assert (parse_status, count) == ("parsed", 5)
    [(status,)] = _rows(db, "SELECT status FROM runs")
    assert status == fault_case(request)["status"]


def test_a_fallback_listing_and_its_pager_keep_web_links_only() -> None:
    """Without Drupal's card markup the listing is read from its visible text: same rule there."""
    body = (
        b"<html><body><main><h1>Guidelines</h1>"
        b"<p><a href='vbscript:msgbox(1)'>Field guide one on return counselling</a></p>"
        b"<p>A practical guide for caseworkers who meet returning migrants, with checklists ...</p>"
        b"<p><a href='/en/resources/guideline/item-2'>Field guide two on return counselling</a></p>"
        b"<p>A second guide for caseworkers, on referrals to local partners and follow-up visits ...</p>"
        b"<nav class='pager'><a rel='next' href='javascript:next()'>Next</a></nav>"
        b"</main></body></html>"
    )
    page = html_listing.parse(body, LISTING_URL)
    assert page.page_info["layout"] == "fallback-text"
    assert [(r["title"], r["url"]) for r in page.records] == [
        ("Field guide one on return counselling", None),
        ("Field guide two on return counselling", f"https://{MP}/en/resources/guideline/item-2"),
    ]
    [problem] = page.problems
    assert problem.position == 1 and "vbscript:" in problem.reason
    assert page.page_info["pager"]["next"] is None


def test_a_binary_body_is_still_refused_as_a_whole() -> None:
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 4
    utf16 = listing([card(1)]).encode("utf-16-le")
    for body in (png, utf16):
        with pytest.raises(Exception, match="binary content"):
            html_detail.parse(body, LISTING_URL)


def _detail(pdf: str, canonical: str) -> bytes:
    return (
        "<html><head><meta charset='utf-8'>"
        f"<link rel='canonical' href='{canonical}'>"
        "<title>Return counselling in practice</title></head><body><main>"
        "<h1>Return counselling in practice</h1>"
        "<div class='field--name-body'><p>How caseworkers prepare a return interview, step by step, "
        "with the forms used in twelve countries.</p></div>"
        f"<a href='{pdf}' type='application/pdf'>Download the guide (PDF)</a>"
        "<a href='/sites/default/files/guide-en.pdf'>English PDF</a>"
        "</main></body></html>"
    ).encode()


@pytest.mark.fault(
    fault="a detail page whose PDF or canonical link is `javascript:`/`file:`, or a page archived under a `file:` URL",
    does="those links are dropped, the record loads with its web links only",
    status="ok",
    exit=0,
    recorded="`rejects` (stage parse, position 1)",
)
def test_a_detail_page_keeps_only_its_web_links(request, tmp_path: Path) -> None:
    page_url = f"https://{MP}/en/resources/guide/return-counselling-in-practice"
    db = _ingest_one(
        tmp_path,
        _detail("javascript:window.open('guide.pdf')", "file:///var/www/guide.html"),
        fmt="html-detail",
        url=page_url,
    )
    [(url, canonical, pdfs)] = _rows(db, "SELECT url, canonical_url, pdf_urls FROM sightings")
    assert url == page_url  # the file: canonical link is not the page's URL: the page's own stays
    assert canonical == f"https://{MP}/resources/guide/return-counselling-in-practice"
    assert pdfs == [f"https://{MP}/sites/default/files/guide-en.pdf"]
    reasons = [r for (r,) in _rows(db, "SELECT reason FROM rejects WHERE position = 1")]
    assert any("PDF link dropped" in r and "javascript:" in r for r in reasons), reasons
    [(status,)] = _rows(db, "SELECT status FROM runs")
    assert status == fault_case(request)["status"]

    # a page archived under a non-web URL (archive add --url file:...): its record has no URL
    other = tmp_path / "other"
    other.mkdir()
    db = _ingest_one(other, _detail("/guide.pdf", ""), fmt="html-detail", url="file:///home/me/page.html")
    [(url, canonical, pdfs)] = _rows(db, "SELECT url, canonical_url, pdf_urls FROM sightings")
    assert (url, canonical, pdfs) == (None, None, [])
    rejects = _rows(db, "SELECT position, reason FROM rejects ORDER BY reason")
    # its relative PDF links resolve to file: URLs against it, and go too
    assert {p for p, _ in rejects} == {1}
    assert any("page link dropped" in r and "file:" in r for _, r in rejects), rejects
    assert all("file:" in r for _, r in rejects), rejects


# -- a real crawl of a hostile site on 127.0.0.1 --------------------------------------------------------


class _Site(BaseHTTPRequestHandler):
    pages: ClassVar[dict[str, bytes]] = {}
    requested: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.requested.append(self.path)
        body = self.pages.get(self.path)
        if body is None:
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hostile_site() -> Iterator[str]:
    cards = [card(n) for n in range(1, 7)]
    cards[1] = card(2, "JaVa&#x09;ScRipt:alert(document.cookie)")
    cards[3] = card(4, "/en/resources/guideline/item-\x004")
    cards[4] = card(5, "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==")
    pages = {"/en/resources/guideline": listing(cards).encode()}
    for n in (1, 3, 6):
        pages[f"/en/resources/guideline/item-{n}"] = _detail(f"/files/guide-{n}.pdf", "").replace(
            b"Return counselling in practice", f"Field guide number {n} on return counselling".encode()
        )
    _Site.pages, _Site.requested = pages, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Site)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_crawl_of_a_hostile_listing_stores_web_links_only(hostile_site: str, tmp_path: Path) -> None:
    sources = tmp_path / "s.toml"
    sources.write_text(
        '[crawler]\nuser_agent = "iom-pubwarehouse-test"\ncontact = "test@example.org"\nconnect_timeout = 2.0\n'
        "read_timeout = 5.0\nmax_retries = 0\nbackoff_base = 0.05\nprobe_timeout = 2.0\n\n"
        f'[[sources]]\nname = "hostile.test"\nbase_url = "{hostile_site}"\n'
        'start_urls = ["/en/resources/guideline"]\n'
        f'allowed_hosts = ["{hostile_site.removeprefix("http://")}"]\n'
        'rate_per_second = 50.0\nrobots = false\nsitemap = ""\n'
        'pager = { param = "page", first = 0, max_pages = 3 }\n'
        'listing_format = "html-listing"\ndetail_format = "html-detail"\n',
        encoding="utf-8",
    )
    crawl_ingest(tmp_path, sources)
    db = tmp_path / "w.duckdb"
    cards = _rows(
        db,
        "SELECT s.position, s.url FROM sightings s JOIN raw_pages p USING (page_id) "
        "WHERE p.format = 'html-listing' ORDER BY s.position",
    )
    base = hostile_site  # sightings.url is the link as the page gave it, made absolute
    assert cards == [
        (1, f"{base}/en/resources/guideline/item-1"),
        (2, None),
        (3, f"{base}/en/resources/guideline/item-3"),
        (5, None),
        (6, f"{base}/en/resources/guideline/item-6"),
    ]
    rejects = dict(_rows(db, "SELECT position, reason FROM rejects WHERE stage = 'parse' AND position IS NOT NULL"))
    assert "javascript:" in rejects[2] and "data:" in rejects[5] and "NUL" in rejects[4]
    assert all(u.startswith(("http://", "https://")) for u in _stored_urls(db))
    # the crawler followed only the web links: no request for a script or a NUL path
    assert not any("script" in p.lower() or "%00" in p or "data:" in p for p in _Site.requested), _Site.requested


# -- exports: nothing but web URLs, even from a warehouse an older version built -----------------------


@pytest.fixture
def old_warehouse(tmp_path: Path) -> Path:
    """A warehouse as an older version left it: non-web URLs stored in every URL column."""
    pages = [
        page(
            f"old{k}", "html-detail", MP, f"https://{MP}/en/r/old-{k}",
            {"title": f"Field guide number {k} on return counselling",
             "abstract": f"A practical guide for caseworkers, part {k}, with checklists and referral forms.",
             "url": f"https://{MP}/en/r/old-{k}", "pdf_urls": [f"https://{MP}/files/old-{k}.pdf"]},
        )
        for k in range(3)
    ]  # fmt: skip
    db = tmp_path / "old.duckdb"
    con = build_warehouse(db, pages)
    # what the parsers and the model now refuse, written as an older version stored it
    con.execute(
        "UPDATE sightings SET url = 'javascript:alert(1)', canonical_url = 'javascript:alert(1)', "
        "detail_url = 'file:///etc/passwd', pdf_urls = ['data:application/pdf;base64,JVBERi0=', pdf_urls[1]] "
        "WHERE title LIKE '%number 0 %'"
    )
    con.execute("UPDATE sightings SET canonical_url = ' JaVa\tScRiPt:alert(1)' WHERE title LIKE '%number 1 %'")
    con.execute("UPDATE raw_pages SET url = 'vbscript:msgbox(1)' WHERE label = 'old2'")
    run_dedup(con, None)
    stored = con.execute("SELECT count(*) FROM publications WHERE url NOT LIKE 'https://%'").fetchone()[0]
    con.close()
    assert stored == 2, "the old warehouse should hold hostile URLs for the export to refuse"
    return db


@pytest.mark.fault(
    fault="a warehouse an older version built holds `javascript:`/`data:`/`file:`/`vbscript:` URLs",
    does="every export format and the OAI records leave them out (web URLs kept)",
    status="",
    exit=0,
    recorded="-",
)
@pytest.mark.parametrize("fmt", FORMATS)
def test_no_export_hands_out_a_non_web_url(request, old_warehouse: Path, tmp_path: Path, run_cli, fmt: str) -> None:
    out = tmp_path / f"out.{fmt}"
    done = run_cli("export", "--format", fmt, "--out", str(out), env={"IOM_DB": str(old_warehouse)})
    assert done.returncode == fault_case(request)["exit"], done.stderr
    assert "3 editions written" in done.stdout + done.stderr
    if fmt == "parquet":
        import pyarrow.parquet as pq

        text = json.dumps(pq.read_table(out).to_pylist(), default=str)
    else:
        text = out.read_text(encoding="utf-8")
    lowered = text.lower()
    for bad in ("javascript", "vbscript", "file:", "data:application", "alert(", "passwd", "msgbox"):
        assert bad not in lowered, (fmt, bad)
    # the web links are still there: the guard drops links, not records
    if fmt not in ("csl-json", "bibtex"):  # these carry one link a record
        assert f"https://{MP}/files/old-0.pdf" in text
    assert f"{MP}/r/old-2" in text or f"{MP}/en/r/old-2" in text


def test_oai_records_carry_web_identifiers_only(old_warehouse: Path) -> None:
    con = duckdb.connect(str(old_warehouse), read_only=True)
    try:
        ids = [i for (i,) in con.execute("SELECT edition_id FROM publications ORDER BY 1").fetchall()]
        records = select_records(con, "edition", ids=ids).to_pylist()
    finally:
        con.close()
    identifiers = [
        element.text
        for rec in records
        for element in citation.dublin_core(rec, "edition")
        if element.tag.endswith("}identifier") and element.text and ":" in element.text
    ]
    assert identifiers and all(i.startswith(("https://", "urn:")) for i in identifiers), identifiers


@pytest.mark.parametrize("hostile", ["javascript:alert(1)", "data:text/html,x", "file:///etc/passwd", "vbscript:x"])
def test_citation_renderers_refuse_non_web_urls_on_their_own(hostile: str) -> None:
    rec = {
        "edition_id": "ed_x", "title": "Field guide", "url": hostile, "source_urls": [hostile],
        "pdf_urls": [hostile, "https://example.org/guide.pdf"], "pdf_available": True, "language": "en",
        "other_editions": [{"edition_id": "ed_y", "language": "fr", "title": "Guide", "url": hostile}],
    }  # fmt: skip
    rendered = [
        citation.to_ris([rec], "edition"),
        citation.to_bibtex([rec], "edition"),
        citation.to_csl_json([rec], "edition"),
    ]
    buffer = io.BytesIO()
    citation.write_dublin_core([rec], "edition", buffer)
    rendered.append(buffer.getvalue().decode())
    for text in rendered:
        assert hostile not in text and hostile.split(":")[0] + ":" not in text.lower()
        assert "https://example.org/guide.pdf" in text


# -- query --format csv escapes like the exports ---------------------------------------------------------

FORMULAS = ["=cmd|' /C calc'!A0", "+SUM(1+1)", "@SUM(A1)", "-2+3", "\tTAB", "\rCR"]


@pytest.mark.fault(
    fault="`query --format csv` of formula-like text (`=cmd|...`, `+SUM`, `@SUM`, `-`, tab, CR)",
    does="each such cell is prefixed with `'` as the exports do; numbers untouched",
    status="",
    exit=0,
    recorded="-",
)
def test_query_csv_defuses_formulas_like_the_exports(request, old_warehouse: Path, run_cli) -> None:
    sql = (
        "SELECT '=cmd|'' /C calc''!A0' AS c0, '+SUM(1+1)' AS c1, '@SUM(A1)' AS c2, '-2+3' AS c3, "
        "chr(9) || 'TAB' AS c4, chr(13) || 'CR' AS c5, -5 AS n, 'plain' AS p"
    )
    done = run_cli("query", sql, "--format", "csv", env={"IOM_DB": str(old_warehouse)})
    assert done.returncode == fault_case(request)["exit"], done.stderr
    [header, row] = list(csv.reader(io.StringIO(done.stdout)))
    assert header == [f"c{i}" for i in range(len(FORMULAS))] + ["n", "p"]
    # the subprocess's text mode reads a lone CR as a line break; the cell still opens with the quote
    assert row == ["'" + v.replace("\r", "\n") for v in FORMULAS] + ["-5", "plain"]


# -- prose is not a listing --------------------------------------------------------------------------------

PROSE = {
    "english-one-line": (
        "Migration has shaped the towns along the river for two centuries, and the archives of the parish "
        "show families arriving, leaving and coming back again as the harvests failed or prospered. "
        "Nobody in the valley today can name a household that has not sent someone abroad.\n"
    ),
    "spanish-paragraphs": (
        "La tarde en que llegamos al puerto, el viento traía olor a sal y a gasoil. Nadie nos esperaba.\n\n"
        "Mi abuela contaba que su padre había cruzado el mismo mar sesenta años antes, con una maleta de cartón "
        "y una dirección escrita en un papel.\n\n"
        "Hoy la ciudad es otra, pero los muelles siguen oliendo igual.\n"
    ),
    "french-paragraphs": (
        "Le rapport annuel a été remis au conseil la semaine dernière. Il décrit les activités de l'année.\n\n"
        "Les membres ont salué la qualité du travail accompli par les équipes sur le terrain.\n\n"
        "Une version abrégée sera publiée au printemps prochain pour le grand public.\n"
    ),
    "portuguese-one-line": (
        "A cooperativa reuniu as famílias do bairro para discutir a nova escola, e ficou decidido que as aulas "
        "começariam em março, depois das chuvas, quando as estradas voltassem a ser transitáveis.\n"
    ),
    "readme-without-a-title": (
        "Small command-line helpers for reading tide tables and ship arrival logs.\n\n"
        "Install it with pip and run the command with the name of a port to see today's tides.\n\n"
        "Contributions are welcome: open an issue first so that we can discuss the change.\n"
    ),
    "email": (
        "Hi Marta,\n\n"
        "Thanks for sending the draft yesterday. I read it on the train and I think the second chapter "
        "works much better now that the interviews come first.\n\n"
        "Could we meet on Thursday to go through the figures? I am free after three.\n\n"
        "Best,\nJonas\n"
    ),
    "trailing-off": (
        "I keep thinking about what she said at the station, about leaving and staying and how the two "
        "are never as different as people believe...\n"
    ),
}


@pytest.mark.fault(
    fault="plain prose (one long line, paragraphs in en/es/fr/pt, an untitled README, an email) given to "
    "`archive add --format auto`",
    does="refused as no known shape: a listing needs evidence of cards; nothing archived",
    status="",
    exit=2,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("name", list(PROSE))
def test_prose_is_not_taken_for_a_listing(request, tmp_path: Path, empty_archive: Path, run_cli, name: str) -> None:
    body = PROSE[name].encode()
    found, why = shape(body.decode())
    assert found != "listing", why
    assert detect_format(body) == (None, why)
    text = tmp_path / "prose.txt"
    text.write_bytes(body)
    done = run_cli("archive", "add", str(text), "--source", "publications.iom.int", "--format", "auto")
    assert done.returncode == fault_case(request)["exit"], done.stdout + done.stderr
    assert "not archived" in done.stderr and "give --format" in done.stderr
    assert list(empty_archive.iterdir()) == []


def test_a_readme_with_a_title_is_not_a_listing() -> None:
    """A title line then paragraphs is the shape of a detail page without labels (real pages 11, 15,
    24 have it), so a README that opens with its name reads as one; what it must never be is cards."""
    readme = (
        "harbour-tools\n\n"
        "Small command-line helpers for reading tide tables and ship arrival logs.\n\n"
        "Install it with pip and run the command with the name of a port to see today's tides.\n"
    )
    assert shape(readme)[0] != "listing"


TEASER = (
    "This handbook gives caseworkers a step-by-step method for planning the reintegration of returning "
    "migrants, from the first interview to the follow-up visits, with forms for each stage and advice on "
    "referrals to local partners..."
)
LISTINGS = {
    "skip-link-and-trimmed-teasers": ("Skip to main content\n\n" + "\n".join([TEASER] * 3) + "\n", None),
    "trimmed-teasers-only": (
        "\n".join(TEASER.replace("caseworkers", f"team {n}") for n in range(4)) + "\n",
        None,
    ),
    "one-trimmed-card-and-a-pager": ("Guideline\n\n" + TEASER + "\n\n‹ Previous\n", None),
    "untrimmed-news-leads-on-a-pager-url": (
        "The centre opened its doors to returning families last week.\n"
        "Spotlight\n"
        "A new training course for border officials began in the capital on Monday.\n"
        "Volunteers from three towns met to share what they learned this year.\n",
        "https://migrantprotection.iom.int/en/spotlight/articles?page=3",
    ),
    "one-untrimmed-abstract-on-a-pager-url": (
        "Depuis vingt ans, l'organisation publie une série de rapports sur la migration dans le monde. "
        "Cette édition aide le public à mieux comprendre les déplacements.\n",
        "https://publications.iom.int/search-books?subject=450&page=5",
    ),
}


@pytest.mark.parametrize("name", list(LISTINGS))
def test_listings_with_evidence_of_cards_are_still_listings(name: str) -> None:
    text, url = LISTINGS[name]
    found, why = shape(text, url)
    assert found == "listing", why
    assert detect_format(text.encode(), url)[0] == "text-listing"


def test_the_seed_dumps_keep_their_shape() -> None:
    archive = Archive(REPO_RAW)
    seeds = {e.label: (e.format, e.url, archive.read(e.sha256)) for e in archive.entries() if e.label}
    assert len(seeds) == 5
    for label, (fmt, url, body) in seeds.items():
        assert detect_format(body, url)[0] == fmt, label
        assert detect_format(body)[0] == fmt, label  # without their URL too: their cards show


@pytest.mark.parametrize("url", ["javascript:alert(1)", "file:///etc/passwd", " data:text/html,x", "http://[::1/x"])
def test_archive_add_refuses_a_url_that_is_no_web_url(tmp_path: Path, empty_archive: Path, run_cli, url: str) -> None:
    page = tmp_path / "page.txt"
    page.write_text("A guide to safe return, written for caseworkers and their partners.\n", encoding="utf-8")
    done = run_cli(
        "archive", "add", str(page), "--source", "publications.iom.int", "--format", "text-detail", "--url", url
    )
    assert done.returncode == 2, done.stdout + done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: page.txt: not archived: --url "), line
    assert list(empty_archive.iterdir()) == []  # nothing stored: the manifest would keep the URL for good
