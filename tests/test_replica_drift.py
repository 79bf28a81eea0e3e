"""The replica night by night: the seeded drift over real HTTP on 127.0.0.1, and its truth.

Expected values come from the events (what each kind promises to do), checked against what the
server answers; the drift is never re-run to produce the answer it is compared with.
"""

from __future__ import annotations

import copy
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from html import escape
from pathlib import Path

import httpx
import pytest
from selectolax.lexbor import LexborHTMLParser

from pipeline.sources import load_sources
from tests.replica import Replica
from tests.replica.dataset import load_items
from tests.replica.drift import DEFAULT_SEED, KINDS, Event, state_at

PUB = "publications.iom.int"
NIGHTS = 30
STRUCTURAL = {"insert", "remove", "move", "translation", "rename"}  # kinds that change what a listing shows
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def events() -> list[Event]:
    """Nights 1..30 of the default seed, as a replica moved to night 30 reports them."""
    with Replica(night=NIGHTS) as rep:
        return [e for nightly in rep.night_events().values() for e in nightly]


@pytest.fixture(scope="module")
def shared_replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


@pytest.fixture
def rep(shared_replica: Replica) -> Iterator[Replica]:
    """The module's replica, back at night 0 after each test."""
    yield shared_replica
    shared_replica.set_night(0)


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=5.0) as http:
        yield http


def cards(html: str) -> list[str]:
    """The detail links of a listing page's cards, in order (either theme)."""
    tree = LexborHTMLParser(html)
    return [a.attributes["href"] for a in tree.css(".views-row .node__title a, .views-row .views-field-title a")]


def listing_cards(client: httpx.Client, url: str) -> list[str]:
    """Every card of a listing section, page after page until an empty one."""
    out: list[str] = []
    for page in range(100):
        found = cards(client.get(url, params={"page": page}, follow_redirects=True).text)
        if not found:
            return out
        out += found
    raise AssertionError(f"{url} has more than 100 pages")


def sitemap(client: httpx.Client, base: str) -> str:
    return client.get(base + "/sitemap.xml").text


def path_of(url: str) -> str:
    return httpx.URL(url).raw_path.decode()


def first(events: list[Event], kind: str) -> Event:
    return next(e for e in events if e.kind == kind)


def by_night(events: list[Event]) -> dict[int, list[Event]]:
    nights: dict[int, list[Event]] = {}
    for e in events:
        nights.setdefault(e.night, []).append(e)
    return nights


# --- night 0 and the schedule ------------------------------------------------------------------


def test_night_zero_serves_what_the_replica_served_before_drift(client: httpx.Client) -> None:
    with Replica() as today, Replica(night=0) as zero:
        assert zero.night == 0 and zero.night_events() == {}
        assert zero.items == today.items
        for site, base in today.sites.items():
            other = zero.sites[site]
            paths = ["/robots.txt", "/sitemap.xml"]
            paths += [httpx.URL(u).raw_path.decode() for u in today.expected_listing_urls(site)]
            paths += [path_of(u) for u in today.sitemap_urls(site)]
            for path in paths:
                want, got = client.get(base + path), client.get(other + path)
                assert got.status_code == want.status_code == 200, path
                assert got.text.replace(other, "BASE") == want.text.replace(base, "BASE"), path
        publications = {i["id"] for i in today.items if i["kind"] == "publication"}
        assert {t["item_id"] for t in zero.truth()} == publications


def test_every_kind_happens_within_30_nights_and_nights_stay_small(events: list[Event]) -> None:
    assert set(Counter(e.kind for e in events)) == set(KINDS)
    assert Counter(e.kind for e in events)["rename"] == 1
    per_night = Counter(e.night for e in events)
    assert set(per_night) == set(range(1, NIGHTS + 1))
    assert all(1 <= n <= 4 for n in per_night.values())


def test_state_at_is_deterministic_and_leaves_its_input_alone() -> None:
    items = load_items()
    before = copy.deepcopy(items)
    one = state_at(items, 12, DEFAULT_SEED)
    two = state_at(items, 12, DEFAULT_SEED)
    assert one == two
    assert items == before
    assert state_at(items, 12, DEFAULT_SEED + 1)[1] != one[1]
    assert state_at(items, 0, DEFAULT_SEED) == (before, [])
    # night k's events are night k-1's plus that night's own: the past does not change
    assert state_at(items, 11, DEFAULT_SEED)[1] == [e for e in one[1] if e.night <= 11]


# --- what each kind does to the pages ---------------------------------------------------------


def test_an_insert_pushes_the_last_card_of_page_0_to_the_top_of_page_1(
    rep: Replica, client: httpx.Client, events: list[Event]
) -> None:
    nights = by_night(events)
    tried = 0
    for night, tonight in sorted(nights.items()):
        inserts = [e for e in tonight if e.kind == "insert"]
        if len(inserts) != 1 or len([e for e in tonight if e.kind in STRUCTURAL]) != 1:
            continue  # another change tonight could move cards too
        insert = inserts[0]
        assert insert.site and insert.section and insert.item_id
        listing = rep.sites[insert.site] + insert.section
        rep.set_night(night - 1)
        page0_before = cards(client.get(listing, follow_redirects=True).text)
        if len(page0_before) < rep.page_size:
            continue  # a one-page section: nothing to push over
        rep.set_night(night)
        page0 = cards(client.get(listing).text)
        page1 = cards(client.get(listing, params={"page": 1}).text)
        assert page0[0] == path_of(rep.item_url(insert.item_id, insert.site))
        assert page0[1:] == page0_before[:-1]
        assert page1[0] == page0_before[-1]
        tried += 1
    assert tried >= 2


def test_a_removed_item_answers_404_and_leaves_sitemap_and_listings(
    rep: Replica, client: httpx.Client, events: list[Event]
) -> None:
    removal = first(events, "remove")
    rep.set_night(removal.night - 1)
    gone = next(t for t in rep.truth() if t["item_id"] == removal.item_id)
    assert any(gone["listings"].values())
    for site, url in gone["urls"].items():
        assert client.get(url).status_code == 200
        assert url in sitemap(client, rep.sites[site])
    rep.set_night(removal.night)
    assert removal.item_id not in {t["item_id"] for t in rep.truth()}
    for site, url in gone["urls"].items():
        assert client.get(url).status_code == 404
        assert url not in sitemap(client, rep.sites[site])
        for section in rep.sections[site]:
            assert path_of(url) not in listing_cards(client, rep.sites[site] + section)


def test_a_renamed_section_answers_301_from_its_old_path(
    rep: Replica, client: httpx.Client, events: list[Event], tmp_path: Path
) -> None:
    rename = first(events, "rename")
    assert rename.site and rename.before and rename.section and rename.after
    base = rep.sites[rename.site]
    rep.set_night(rename.night - 1)
    old_cards = listing_cards(client, base + rename.before)
    assert client.get(base + rename.section).status_code == 404
    rep.set_night(rename.night)
    moved = client.get(base + rename.before)
    assert moved.status_code == 301
    assert moved.headers["location"] == base + rename.section
    assert client.get(base + rename.before, params={"page": 1}).headers["location"] == base + rename.section + "?page=1"
    page = client.get(base + rename.section)
    assert page.status_code == 200
    assert LexborHTMLParser(page.text).css_first("h1").text() == rename.after
    structural = [e for e in by_night(events)[rename.night] if e.kind in STRUCTURAL and e.kind != "rename"]
    if not any(e.site == rename.site for e in structural):
        assert listing_cards(client, base + rename.before) == old_cards  # through the redirect
    config = load_sources(rep.write_sources(tmp_path / "sources.toml"))
    start = next(s for s in config.sources if s.name == rename.site).start_urls
    assert base + rename.section in start and base + rename.before not in start


def test_title_and_teaser_fixes_keep_the_edition_and_show_on_the_page(
    rep: Replica, client: httpx.Client, events: list[Event]
) -> None:
    for kind in ("title_fix", "teaser_fix"):
        fix = first(events, kind)
        assert fix.before and fix.after
        rep.set_night(fix.night - 1)
        before = next(t for t in rep.truth() if t["item_id"] == fix.item_id)
        rep.set_night(fix.night)
        after = next(t for t in rep.truth() if t["item_id"] == fix.item_id)
        assert (after["edition_key"], after["work_key"], after["urls"]) == (
            before["edition_key"],
            before["work_key"],
            before["urls"],
        )
        for url in after["urls"].values():
            html = client.get(url).text
            assert escape(fix.after) in html
            if kind == "title_fix":
                assert before["title"] == fix.before and after["title"] == fix.after


def test_a_translation_is_a_new_edition_of_the_same_work_linked_both_ways(
    rep: Replica, client: httpx.Client, events: list[Event]
) -> None:
    translation = first(events, "translation")
    rep.set_night(translation.night)
    truth = {t["item_id"]: t for t in rep.truth()}
    new, source = truth[translation.item_id], truth[translation.source_id or ""]
    assert new["work_key"] == source["work_key"]
    assert new["edition_key"] == f"{source['work_key']}:{translation.after}" != source["edition_key"]
    assert new["text_language"] == translation.after
    new_url, source_url = new["urls"][PUB], source["urls"][PUB]
    for page_url, other_url, lang in (
        (new_url, source_url, source["text_language"]),
        (source_url, new_url, new["text_language"]),
    ):
        tree = LexborHTMLParser(client.get(page_url).text)
        alternates = {a.attributes["hreflang"]: a.attributes["href"] for a in tree.css('link[rel="alternate"]')}
        assert alternates[lang] == other_url
        also = [a.attributes["href"] for a in tree.css(".field-name-field-also-available-in a")]
        assert path_of(other_url) in also
    listing = cards(client.get(rep.sites[PUB] + (translation.section or "")).text)
    assert path_of(new_url) in listing


def test_a_moved_item_leaves_one_section_for_another(rep: Replica, client: httpx.Client, events: list[Event]) -> None:
    move = first(events, "move")
    assert move.site and move.before and move.after
    base = rep.sites[move.site]
    rep.set_night(move.night - 1)
    url = path_of(rep.item_url(move.item_id or "", move.site))
    assert url in listing_cards(client, base + move.before)
    assert url not in listing_cards(client, base + move.after)
    rep.set_night(move.night)
    assert url not in listing_cards(client, base + move.before)
    assert url in listing_cards(client, base + move.after)
    assert client.get(base + url).status_code == 200


# --- truth --------------------------------------------------------------------------------------


def test_truth_continues_night_to_night(rep: Replica, events: list[Event]) -> None:
    nights = by_night(events)
    rep.set_night(0)
    previous = {t["item_id"]: t for t in rep.truth()}
    for night in range(1, NIGHTS + 1):
        rep.set_night(night)
        current = {t["item_id"]: t for t in rep.truth()}
        tonight = nights[night]
        removed = {e.item_id for e in tonight if e.kind == "remove"}
        added = {e.item_id for e in tonight if e.kind in ("insert", "translation")}
        assert set(previous) - set(current) == removed, night
        assert set(current) - set(previous) == added, night
        for item_id in set(previous) & set(current):  # present items keep their keys
            keys = ("edition_key", "work_key")
            assert [current[item_id][k] for k in keys] == [previous[item_id][k] for k in keys], item_id
        editions_before = {t["edition_key"] for t in previous.values()}
        works_before = {t["work_key"] for t in previous.values()}
        for e in tonight:
            new = current.get(e.item_id or "")
            if e.kind == "insert":
                assert new and new["edition_key"] not in editions_before and new["work_key"] not in works_before
                assert new["listings"][e.site or ""] == [e.section]
            elif e.kind == "translation":
                assert new and new["work_key"] == current[e.source_id or ""]["work_key"]
                assert new["edition_key"] not in editions_before
        assert len(current) >= 0.9 * len([i for i in load_items() if i["kind"] == "publication"])
        previous = current


def test_cli_serves_a_given_night(tmp_path: Path) -> None:
    sources = tmp_path / "replica.toml"
    code = "from tests.replica.cli import replica; replica()"
    args = ["--port", "0", "--night", str(NIGHTS), "--drift-seed", str(DEFAULT_SEED), "--write-sources", str(sources)]
    proc = subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 15
        while not sources.exists() and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        config = load_sources(sources)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0, err
    assert f"night {NIGHTS}" in out
    expected = Replica(night=NIGHTS).sections
    assert {s.name: [path_of(u) for u in s.start_urls] for s in config.sources} == expected
    assert expected != Replica().sections  # the rename shows in the start URLs
