"""Corrections on the sites reach the warehouse: a changed card sends its detail page to be fetched again.

Nightly runs fetch a detail page once; afterwards only the listings are read. When a site
corrects an item's title or abstract, the card shows it, and only the card: these tests make such
corrections on the local replica (`touch_item`, and the drift's `title_fix` / `teaser_fix`
events), run the real crawl and load into a DuckDB file over HTTP, and check that exactly the
corrected item's detail page is fetched again, that `publications` then holds the correction, and
that `export --since` reports the edition changed, naming the field. Expected titles, abstracts
and pages come from the replica's own items, not from the crawler.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from pipeline.archive import FetchLog, check_fetch_record
from pipeline.export import select_records
from pipeline.urls import canonical_url
from tests.replica import Fault, Replica
from tests.test_crawl import crawl_ingest, read

MP = "migrantprotection.iom.int"
BOOKS = "publications.iom.int"


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


def detail_paths(rep: Replica) -> set[tuple[str, str]]:
    """(site, path) of every detail page the replica serves by its alias."""
    return {(site, urlsplit(url).path) for site in rep.sites for url in rep.expected_detail_urls(site)}


def detail_hits(rep: Replica) -> list[tuple[str, str, int | None]]:
    """Requests for detail pages since the last `clear_requests`: (site, path, status)."""
    pages = detail_paths(rep)
    return sorted((r.site, r.path, r.status) for r in rep.requests if (r.site, r.path) in pages)


def card_paths(rep: Replica, item_id: str) -> set[tuple[str, str]]:
    """Where the listings link an item: the detail pages a change of its cards should fetch again."""
    return {(c["site"], urlsplit(c["url"]).path) for c in rep.expected_cards() if c["item_id"] == item_id}


def an_item(rep: Replica, workdir: Path, site: str) -> dict:
    """A publication listed on `site` only, whose abstract the warehouse holds exactly as the replica has it."""
    listed: dict[str, set[str]] = {}
    for card in rep.expected_cards():
        if card["item_id"]:
            listed.setdefault(card["item_id"], set()).add(card["site"])
    for item_id in sorted(i for i, sites in listed.items() if sites == {site}):
        item = rep.item(item_id)
        if item["kind"] != "publication" or not item["title"]:
            continue
        held = read(workdir, "SELECT abstract FROM publications WHERE title = ?", [item["title"]])
        if held == [(item["abstract"],)]:
            return item
    raise AssertionError(f"the replica has no publication listed on {site} alone")


def edition_of(workdir: Path, rep: Replica, item_id: str, site: str) -> str:
    """The edition holding the sightings of an item's detail page."""
    url = canonical_url(rep.item_url(item_id, site))
    ((edition,),) = read(
        workdir,
        "SELECT DISTINCT m.edition_id FROM sightings AS s JOIN edition_members AS m USING (sighting_id) "
        "WHERE s.canonical_url = ?",
        [url],
    )
    return edition


def last_run(workdir: Path) -> int:
    return read(workdir, "SELECT max(run_id) FROM runs")[0][0]


def feed_since(workdir: Path, run_id: int) -> list[tuple[str, str, str | None]]:
    """export --since: (edition, operation, change_reason) of every edition logged after `run_id`."""
    with duckdb.connect(str(workdir / "w.duckdb"), read_only=True) as con:
        records = select_records(con, "edition", since=run_id).to_pylist()
    return [(r["edition_id"], r["operation"], r["change_reason"]) for r in records]


def test_a_title_fix_and_a_teaser_fix_are_fetched_again_and_exported_as_changed(
    replica: Replica, tmp_path: Path
) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    assert crawl_ingest(tmp_path, sources).status == "ok"
    first = last_run(tmp_path)
    titled = an_item(replica, tmp_path, BOOKS)  # Drupal 7 cards
    teased = an_item(replica, tmp_path, MP)  # Drupal 8 cards
    new_title = titled["title"].replace(" ", " - ", 1) + " (Revised)"
    # a correction at the start of the abstract: the card's teaser shows it
    new_abstract = "Revised edition. " + teased["abstract"]
    replica.touch_item(titled["id"], title=new_title)
    replica.touch_item(teased["id"], abstract=new_abstract)
    replica.clear_requests()

    summary = crawl_ingest(tmp_path, sources)
    assert summary.status == "ok", summary.message
    expected = card_paths(replica, titled["id"]) | card_paths(replica, teased["id"])
    assert len(expected) == 2
    assert detail_hits(replica) == sorted((site, path, 200) for site, path in expected)
    assert summary.crawl[BOOKS]["changed_cards"] == 1 and summary.crawl[MP]["changed_cards"] == 1

    titled_edition = edition_of(tmp_path, replica, titled["id"], BOOKS)
    teased_edition = edition_of(tmp_path, replica, teased["id"], MP)
    held = dict(read(tmp_path, "SELECT edition_id, title FROM publications"))
    assert held[titled_edition] == new_title
    abstracts = dict(read(tmp_path, "SELECT edition_id, abstract FROM publications"))
    assert abstracts[teased_edition] == new_abstract

    feed = {edition: (op, reason) for edition, op, reason in feed_since(tmp_path, first)}
    assert set(feed) == {titled_edition, teased_edition}
    assert feed[titled_edition][0] == "changed" and "title" in feed[titled_edition][1].split(", ")
    assert feed[teased_edition][0] == "changed" and "abstract" in feed[teased_edition][1].split(", ")

    # the next night nothing changed: no detail page is fetched again, nothing is exported
    second = last_run(tmp_path)
    replica.clear_requests()
    assert crawl_ingest(tmp_path, sources).status == "ok"
    assert detail_hits(replica) == []
    assert feed_since(tmp_path, second) == []


def test_a_shortening_abstract_correction_shows_in_publications(replica: Replica, tmp_path: Path) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    crawl_ingest(tmp_path, sources)
    item = an_item(replica, tmp_path, MP)
    rest = item["abstract"].split(" ", 1)[1]
    new_abstract = rest[0].upper() + rest[1:]  # the opening word struck out: the card's teaser shows it
    replica.touch_item(item["id"], abstract=new_abstract)
    replica.clear_requests()
    crawl_ingest(tmp_path, sources)
    assert detail_hits(replica) == sorted((site, path, 200) for site, path in card_paths(replica, item["id"]))
    edition = edition_of(tmp_path, replica, item["id"], MP)
    assert dict(read(tmp_path, "SELECT edition_id, abstract FROM publications"))[edition] == new_abstract


def test_a_re_saved_page_whose_card_did_not_change_is_not_fetched_again(replica: Replica, tmp_path: Path) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    crawl_ingest(tmp_path, sources)
    item = an_item(replica, tmp_path, MP)
    replica.touch_item(item["id"])  # a new "last updated" on the detail page, the same card
    replica.clear_requests()
    assert crawl_ingest(tmp_path, sources).status == "ok"
    assert detail_hits(replica) == []


def test_a_failed_refetch_is_tried_again_by_the_next_run(tmp_path: Path) -> None:
    with Replica(page_size=10) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", max_retries=1)
        crawl_ingest(tmp_path, sources)
        item = an_item(rep, tmp_path, MP)
        ((_, path),) = card_paths(rep, item["id"])
        new_title = item["title"] + " (Second Edition)"
        rep.touch_item(item["id"], title=new_title)
        rep.add_fault(Fault.server_error(path + "$", times=2))  # both attempts of the next run
        rep.clear_requests()
        crawl_ingest(tmp_path, sources)
        assert [status for _, _, status in detail_hits(rep)] == [503, 503]
        edition = edition_of(tmp_path, rep, item["id"], MP)
        assert dict(read(tmp_path, "SELECT edition_id, title FROM publications"))[edition] == item["title"]

        rep.clear_requests()
        crawl_ingest(tmp_path, sources)
        assert detail_hits(rep) == [(MP, path, 200)]
        assert dict(read(tmp_path, "SELECT edition_id, title FROM publications"))[edition] == new_title


def test_a_fetch_log_without_fingerprints_refetches_nothing_then_catches_the_next_fix(
    replica: Replica, tmp_path: Path
) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    crawl_ingest(tmp_path, sources)
    log = FetchLog(tmp_path / "raw")
    # the fetch log of a crawler from before cards were remembered
    lines = [json.loads(line) for line in log.path.read_text().splitlines()]
    assert any(rec.get("card_fingerprints") for rec in lines if rec.get("kind") == "section")
    for rec in lines:
        rec.pop("card_fingerprints", None)
    log.path.write_text("".join(json.dumps(rec) + "\n" for rec in lines))
    assert log.state().card_fingerprints == {}

    item = an_item(replica, tmp_path, MP)
    replica.touch_item(item["id"], title=item["title"] + " (Unremembered)")
    replica.clear_requests()
    assert crawl_ingest(tmp_path, sources).status == "ok"
    assert detail_hits(replica) == [], "with nothing to compare, no known page is fetched again"

    new_title = item["title"] + " (Remembered)"
    replica.touch_item(item["id"], title=new_title)
    replica.clear_requests()
    crawl_ingest(tmp_path, sources)
    assert detail_hits(replica) == sorted((site, path, 200) for site, path in card_paths(replica, item["id"]))
    assert new_title in {t for (t,) in read(tmp_path, "SELECT title FROM publications")}


def test_drift_title_and_teaser_fixes_refetch_only_the_items_they_touched(tmp_path: Path) -> None:
    with Replica(page_size=10, crawl_delay=0) as rep:
        sources = rep.write_sources(tmp_path / "s.toml")
        crawl_ingest(tmp_path, sources)
        known = {(site, path) for site, path, status in detail_hits(rep) if status == 200}
        # the first night by which the drift has corrected a title (teaser fixes come along)
        for night in range(1, 40):
            rep.set_night(night)
            fixes = [e for evs in rep.night_events().values() for e in evs if e.kind in ("title_fix", "teaser_fix")]
            if any(e.kind == "title_fix" for e in fixes):
                break
        fixed = {p for item_id in {e.item_id for e in fixes} for p in card_paths(rep, item_id)} & known
        title_fixed = {p for e in fixes if e.kind == "title_fix" for p in card_paths(rep, e.item_id)} & known
        assert title_fixed, "the drift corrected no title of a page the first run fetched"
        rep.clear_requests()
        assert crawl_ingest(tmp_path, rep.write_sources(tmp_path / "s.toml")).status == "ok"
        refetched = {(site, path) for site, path, _ in detail_hits(rep)} & known
    assert refetched <= fixed, f"pages fetched again with no fix of their item: {refetched - fixed}"
    # a title shows whole on its card; a teaser fix only where the teaser shows the corrected words
    assert title_fixed <= refetched


def test_check_fetch_record_reads_card_fingerprints_and_old_lines() -> None:
    section = {"kind": "section", "url": "https://example.org/en/resources/manual", "complete": True, "pages": 1}
    check_fetch_record(section)  # a line from before fingerprints
    check_fetch_record({**section, "card_fingerprints": {"https://example.org/item": "0123456789abcdef"}})
    for bad in ([], {"https://example.org/item": "xyz"}, {"https://example.org/item": 7}, {" ": "0123456789abcdef"}):
        with pytest.raises(ValueError, match="card_fingerprints"):
            check_fetch_record({**section, "card_fingerprints": bad})
