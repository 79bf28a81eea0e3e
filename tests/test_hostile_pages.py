"""Pages built to hurt the parsers: deep nesting, a broken card link, lying charsets, empty listings."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from parsers import html_detail, html_listing
from pipeline.archive import Archive
from pipeline.parse import parse_entry
from pipeline.parse_pool import PagePool, ParseTimeout

BASE = "https://example.org/en/resources"


def card(n: int, href: str | None = None) -> str:
    href = href or f"/en/resources/item-{n}"
    return (
        f'<div class="views-row"><h3><a href="{href}">Title {n}</a></h3>'
        f'<div class="views-field-body">Teaser of item {n} about return and reintegration ...</div></div>'
    )


def nested_cards(depth: int) -> bytes:
    inner = "".join(card(n)[: -len("</div>")] for n in range(depth))
    return f"<html><body><main><div class='view-content'>{inner}{'</div>' * depth}</div></main></body></html>".encode()


def nested_detail(depth: int) -> bytes:
    inner = "".join(
        f'<div class="field--name-field-f{n}"><div class="field__label">Label {n}</div>'
        f'<div class="field__item">value {n}</div><ul><li>item {n}'
        for n in range(depth)
    )
    return f"<html><body><main><h1>T</h1>{inner}{'</li></ul></div>' * depth}</main></body></html>".encode()


def _seconds(parse, body: bytes) -> float:
    """CPU seconds of this thread for one parse (the best of two): other processes on a busy machine
    (the suite's other worker, a CI job) do not count, as they would in wall-clock time."""
    best = float("inf")
    for _ in range(2):
        started = time.thread_time()
        parse(body, BASE)
        best = min(best, time.thread_time() - started)
    return best


@pytest.mark.fault(
    fault="page nested thousands deep",
    does="parsed in time linear in its size (10x nesting < 25x time)",
    status="ok",
    exit=0,
    recorded="-",
)
@pytest.mark.parametrize(("parse", "make"), [(html_listing.parse, nested_cards), (html_detail.parse, nested_detail)])
def test_parse_time_grows_linearly_with_nesting(parse, make) -> None:
    small, large = make(300), make(3000)
    ratio = _seconds(parse, large) / _seconds(parse, small)
    assert ratio < 25, f"10x the nesting took {ratio:.1f}x the time"


@pytest.mark.fault(
    fault="a card whose link is a malformed IPv6 URL",
    does="that card is rejected with its reason; its neighbours load",
    status="ok",
    exit=0,
    recorded="`rejects` (stage parse, position)",
)
def test_broken_card_link_costs_that_card_only(tmp_path: Path) -> None:
    body = f"<html><body><main><div class='view-content'>{card(1)}{card(2, 'http://[::1/x')}{card(3)}</div></main>"
    archive = Archive(tmp_path / "raw")
    entry = archive.put(body.encode(), source="example", url=BASE, format="html-listing")
    result = parse_entry(archive, entry)
    assert result.ok
    assert [s.title for s in result.sightings] == ["Title 1", "Title 3"]
    [reject] = result.rejects
    assert reject["position"] == 2 and "IPv6" in reject["reason"]


LATIN = "Migração e reintegração: état des lieux à São Tomé"


@pytest.mark.fault(
    fault="Latin-1 page declaring UTF-8 or nothing",
    does="decoded right (charset-normalizer)",
    status="ok",
    exit=0,
    recorded="-",
)
@pytest.mark.parametrize("head", ['<meta charset="utf-8">', ""])
def test_latin1_page_lying_about_or_omitting_its_charset_reads_right(head: str) -> None:
    page = f"<html><head>{head}</head><body><h1>{LATIN}</h1><p>Un résumé déjà publié, où ça va.</p></body></html>"
    [record] = html_detail.parse(page.encode("latin-1"), None).records
    assert record["title"] == LATIN


@pytest.mark.fault(
    fault="listing page with no cards",
    does="no record is invented; a layout alert",
    status="ok",
    exit="0 (3 with --strict)",
    recorded="`runs.layout_alerts`",
)
def test_listing_without_cards_invents_no_record(tmp_path: Path) -> None:
    body = b"<html><body><main><h1>Resources</h1><p>We redesigned. Nothing here.</p></main></body></html>"
    page = html_listing.parse(body, BASE)
    assert page.records == [] and page.page_info["cards"] == 0
    archive = Archive(tmp_path / "raw")
    entry = archive.put(body, source="example", url=BASE, format="html-listing")
    assert parse_entry(archive, entry).sightings == []


@pytest.mark.fault(
    fault="a page whose parse exceeds `parse_timeout_s`",
    does="the worker is stopped; the page is a reject, the run goes on",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`rejects` (parse timeout)",
)
def test_page_over_the_time_limit_is_a_parse_timeout_and_the_pool_goes_on(tmp_path: Path) -> None:
    slow = nested_detail(60000)  # about 6 MB: far over a 0.2 s limit
    with PagePool(timeout_s=0.2, workers=1) as pool:
        with pytest.raises(ParseTimeout, match="parse timeout"):
            pool.parse("html-detail", slow, None)
        archive = Archive(tmp_path / "raw")
        entry = archive.put(slow, source="example", url=BASE, format="html-detail")
        assert parse_entry(archive, entry, pool).error.startswith("parse timeout")
        pool.timeout_s = 30
        [record] = pool.parse("html-listing", nested_cards(1), BASE).records
        assert record["title"] == "Title 0"


def test_a_malformed_pager_link_is_skipped_not_fatal() -> None:
    """Found by the nightly fuzz profile: a pager link `http://[::1/x` raised ValueError."""
    body = (
        b'<html><body><div class="views-row"><h3><a href="/en/item">Item</a></h3><p>Teaser text here.</p></div>'
        b'<nav class="pager"><a class="pager" rel="next" href="http://[::1/x">next</a></nav></body></html>'
    )
    page = html_listing.parse(body, None)  # no page URL to resolve against: the raw href is tried
    assert page.page_info["pager"]["next"] is None
