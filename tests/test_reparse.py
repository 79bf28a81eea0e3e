"""Re-parse through the batch pool: same warehouse, a slow page costs only itself, bounded look-ahead.

Also the shortcuts the parsers take on the way (a depth check before the rewrite, plain links
joined without urljoin), each held to the slow path it replaces on generated input.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from urllib.parse import urljoin

import duckdb
import pytest
from hypothesis import given
from hypothesis import strategies as st

from parsers.base import absolute
from parsers.html_common import _deeper_than, _flatten
from pipeline.archive import Archive, ArchiveEntry
from pipeline.parse import parse_entry
from pipeline.parse_pool import PagePool
from pipeline.runs import RunSummary
from pipeline.urls import _canonical, canonical_url

BASE = "http://127.0.0.1/en/resources"


def listing(n: int, cards: int = 3) -> bytes:
    rows = "".join(
        f'<div class="views-row"><h3><a href="/en/resources/item-{n}-{k}">Item {n}.{k}</a></h3>'
        f'<div class="views-field-body">Teaser {n}.{k} about return and reintegration of migrants ...</div></div>'
        for k in range(cards)
    )
    return f"<html><body><main><div class='view-content'>{rows}</div></main></body></html>".encode()


def slow_page() -> bytes:
    """A detail page nested 150,000 deep: seconds of parsing, far over the limits used here."""
    inner = "".join(
        f'<div class="field--name-field-f{n}"><div class="field__item">v {n}</div><ul><li>i' for n in range(150_000)
    )
    return f"<html><body><main><h1>T</h1>{inner}{'</li></ul></div>' * 150_000}</main></body></html>".encode()


def test_reparse_through_the_pool_gives_the_rows_of_an_in_process_parse(
    seed_archive: Path, tmp_path: Path, ingest: Callable[..., RunSummary], table_rows: Callable[..., list[tuple]]
) -> None:
    archive = Archive(seed_archive)
    for n in range(12):
        archive.put(listing(n), source="migrantprotection.iom.int", url=f"{BASE}?page={n}", format="html-listing")
    pooled, in_process = tmp_path / "pooled.duckdb", tmp_path / "in_process.duckdb"
    # batches of 5 pages: several batches, and two workers taking them in turn
    ingest(seed_archive, pooled, reparse=True, batch_pages=5, dedup=False)
    ingest(seed_archive, in_process, reparse=True, batch_pages=5, dedup=False, parse_timeout_s=0)
    with duckdb.connect(str(pooled), read_only=True) as a, duckdb.connect(str(in_process), read_only=True) as b:
        for table in ("raw_pages", "sightings", "rejects"):
            assert table_rows(a, table) == table_rows(b, table), table
        assert a.execute("SELECT count(*) FROM sightings").fetchone()[0] > 36


@pytest.mark.fault(
    fault="a page over `parse_timeout_s` inside a batch",
    does="that page is a parse-timeout reject; a fresh worker parses the rest of its batch",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`rejects` (parse timeout)",
)
def test_a_page_over_the_time_limit_costs_only_that_page_of_its_batch(
    tmp_path: Path, ingest: Callable[..., RunSummary]
) -> None:
    raw = tmp_path / "raw"
    archive = Archive(raw)
    for n in range(4):
        archive.put(listing(n), source="example", url=f"{BASE}?page={n}", format="html-listing")
    slow = archive.put(slow_page(), source="example", url=f"{BASE}/slow", format="html-detail")
    for n in range(4, 8):
        archive.put(listing(n), source="example", url=f"{BASE}?page={n}", format="html-listing")
    db = tmp_path / "w.duckdb"
    summary = ingest(raw, db, batch_pages=50, parse_workers=1, parse_timeout_s=1.5, dedup=False)
    assert (summary.pages_parsed, summary.pages_failed, summary.status) == (8, 1, "partial")
    with duckdb.connect(str(db), read_only=True) as con:
        failed = con.execute("SELECT page_id, parse_error FROM raw_pages WHERE parse_status = 'failed'").fetchall()
        assert failed == [(slow.page_id, "parse timeout: page not parsed within 1.5 s")]
        per_page = con.execute("SELECT count(DISTINCT page_id), count(*) FROM sightings").fetchone()
        assert per_page == (8, 24)


def test_the_pool_reads_ahead_a_bounded_number_of_batches(seed_archive: Path) -> None:
    """However slow the loader, at most workers + ahead batches are taken before it asks for more."""
    entries = Archive(seed_archive).entries()
    taken: list[int] = []

    def batches() -> Iterator[Sequence[ArchiveEntry]]:
        for n in range(12):
            taken.append(n)
            yield entries[n % len(entries) : n % len(entries) + 1]

    consumed = 0
    with PagePool(timeout_s=30, workers=2, root=seed_archive, ahead=2) as pool:
        for results in pool.map(batches()):
            assert len(results) == 1 and results[0].ok
            consumed += 1
            assert len(taken) - consumed <= 2 + 2
    assert consumed == 12


def test_the_pool_turns_a_damaged_object_into_an_archive_failure_of_its_page(seed_archive: Path) -> None:
    archive = Archive(seed_archive)
    entries = archive.entries()
    damaged = entries[1]
    path = seed_archive / "objects" / damaged.sha256[:2] / f"{damaged.sha256}.gz"
    shutil.copy(seed_archive / "objects" / entries[0].sha256[:2] / f"{entries[0].sha256}.gz", path)
    with PagePool(timeout_s=30, workers=1, root=seed_archive) as pool:
        [results] = list(pool.map([entries]))
    assert [r.entry for r in results] == entries
    assert results[1].archive_error and "does not match its hash" in (results[1].error or "")
    expected = parse_entry(archive, entries[0]).as_rows()
    assert results[0].rows == expected.rows and results[0].rejects == expected.rejects


# -- shortcuts held to the slow path -------------------------------------------------------------

MARKUP = st.lists(
    st.sampled_from(
        [
            "<div>",
            "</div>",
            "<DIV class='a>b'>",
            "<p>",
            "</p>",
            "<li>",
            "<span>",
            "</span>",
            "<script>",
            "</SCRIPT>",
            "<style>",
            "</style >",
            "<title>",
            "</title>",
            "<!--",
            "-->",
            "<!-->",
            "<",
            ">",
            "</",
            "text",
            "<br/>",
            "<scripts>",
            "<a href='/x'>",
            "</a>",
            "<textarea>",
            "<xmp>",
            "</xmp>",
            "\n",
        ]
    ),
    max_size=40,
).map("".join)


@given(text=MARKUP, depth=st.integers(0, 6))
def test_the_depth_check_agrees_with_the_rewrite_it_skips(text: str, depth: int) -> None:
    assert _deeper_than(text, depth) == (_flatten(text, depth) != text)


HREFS = st.one_of(
    st.text(alphabet="/?.;#%:@ab=&-_~[]\t \\A", max_size=14),
    st.sampled_from(
        ["/a/b", "/a//b", "/a/./b", "/a/../b", "/a?", "?page=2", "?", "/a;x", "//127.0.0.1/x", "/A.pdf", "/a/b."]
    ),
)
BASES = st.sampled_from(
    ["https://127.0.0.1/en/resources", "https://127.0.0.1:443/a/b?x=1#f", "http://127.0.0.1", "https://127.0.0.1/a;p",
     "ftp://127.0.0.1/x", "HTTPS://127.0.0.1/a/b/", "https://127.0.0.1/a/b?page=3", "http://[::1/x", "mailto:x@y"]
)  # fmt: skip


@given(base=BASES, href=HREFS)
def test_plain_links_are_joined_as_urljoin_joins_them(base: str, href: str) -> None:
    try:
        expected: str | None = urljoin(base, href.strip()) if href else None
    except ValueError:
        with pytest.raises(ValueError):
            absolute(base, href)
        return
    assert absolute(base, href) == expected


URL_PARTS = st.sampled_from(["en", "es", "fr", "ar", "EN", "a-b", "x_y", "Res", "", "1", "enx", "en-gb", "a.b", "%41"])


@given(
    scheme=st.sampled_from(["http", "https", "HTTP", "ftp"]),
    host=st.sampled_from(["example.org", "Migrantprotection.IOM.int", "h", "a-b.c", "xn--bcher-kva.ch", "h:8080"]),
    path=st.lists(URL_PARTS, max_size=4).map(lambda parts: "".join("/" + p for p in parts)),
    tail=st.sampled_from(["", "/", "?utm_source=x", "?b=2&a=1", "#top", "//"]),
)
def test_plain_urls_are_canonical_as_w3lib_makes_them(scheme: str, host: str, path: str, tail: str) -> None:
    url = f"{scheme}://{host}{path}{tail}"
    assert canonical_url(url) == _canonical(url, ())
