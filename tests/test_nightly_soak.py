"""Night after night over a drifting replica: every night the warehouse equals the sites' truth.

The replica (`tests/replica/drift.py`) evolves night by night from a fixed seed: items are
inserted on top of sections (shifting every card of every pager page), removed, their teasers
and titles corrected, translated, moved between sections, and one section is renamed. Each
night a real crawl and ingest run into one real DuckDB file, as cron runs them. After every
night the test compares with what the replica says it serves (its truth, independent of the
pipeline):

- editions and works: pairwise precision 1.0 over every sighting ever loaded, and no publication
  split that night 0 did not already split (the first build's recall is the matcher's, measured
  in tests/test_dedup_replica.py; drift must cost none of it);
- ids: every item keeps the edition and work id it had the night before;
- live records: `publications` holds exactly the editions of the items served tonight, plus
  those removed too recently to be withdrawn (the grace of `withdraw_after_walks` complete walks);
- the change feed: `export --since <last night's run>` reports as added only new items, as
  withdrawn only removed ones, as changed only items that night's events touched.
Every fourth night and on the last, a rebuild of that night's archive in one offline run holds the
same editions, works and live editions.

`IOM_SOAK_NIGHTS` sets the number of nights (default 12: the tenth run and the drift's section
rename, on night 8 of its seed, both fall inside; `make soak` runs 30), `IOM_SOAK_REBUILD_EVERY`
how often the rebuild is compared (default 4; 1 compares every night).
"""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from pipeline.archive import Archive
from pipeline.dedup.evaluate import Scores, _pairwise, _path
from pipeline.export import select_records
from pipeline.ingest import IngestOptions, run_ingest
from pipeline.settings import load_settings
from pipeline.warehouse import connect, migrate
from tests.replica import Replica
from tests.replica.drift import DEFAULT_SEED, rename_night
from tests.test_crawl import crawl_ingest

NIGHTS = int(os.environ.get("IOM_SOAK_NIGHTS", "12"))
#: a from-scratch rebuild is compared with the nightly warehouse every this many nights, and on the last
REBUILD_EVERY = int(os.environ.get("IOM_SOAK_REBUILD_EVERY", "4"))
#: complete walks without an item before it is withdrawn (the default of withdraw_after_walks)
GRACE = load_settings().withdraw_after_walks


def served(rep: Replica) -> dict[tuple[str, str], tuple[str, str, str]]:
    """(site, path) -> (item id, edition key, work key) for every publication page served tonight."""
    out = {}
    for item in rep.truth():
        for site, url in item["urls"].items():
            out[(site, _path(urlsplit(url).path))] = (item["item_id"], item["edition_key"], item["work_key"])
    for item in rep.items:
        for site in item.get("sites") or {}:
            if item["kind"] == "publication":
                out[(site, f"/node/{item['nid']}")] = (item["id"], item["edition_key"], item["work_key"])
    return out


def sightings(db: Path) -> list[tuple[str, str, str | None, str, str]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(
            """
            SELECT s.sighting_id, s.source, coalesce(s.canonical_url, s.detail_url), m.edition_id, m.work_id
            FROM sightings AS s JOIN edition_members AS m USING (sighting_id)
            """
        ).fetchall()


def score(pairs: list[tuple[str, str]]) -> tuple[Scores, set[str]]:
    """Pairwise scores, and the true clusters the warehouse splits."""
    parts: dict[str, set[str]] = defaultdict(set)
    for true, predicted in pairs:
        parts[true].add(predicted)
    return _pairwise(pairs), {true for true, found in parts.items() if len(found) > 1}


def rebuild_equals_nightly(root: Path, night: int) -> None:
    """A from-scratch offline rebuild of tonight's archive holds the same editions, works and live editions."""
    rebuilt = root / f"rebuilt-{night}.duckdb"
    con = connect(rebuilt)
    try:
        migrate(con)
        assert run_ingest(con, Archive(root / "raw"), IngestOptions()).status in ("ok", "offline")
    finally:
        con.close()
    nightly, again = clusters(root / "w.duckdb"), clusters(rebuilt)
    assert nightly == again, f"night {night}: the rebuild differs from the nightly warehouse"
    rebuilt.unlink()


def clusters(db: Path) -> tuple[set[frozenset[str]], ...]:
    """Editions, works and live editions, each as a set of sighting-id sets (ids differ between builds)."""
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute(
            "SELECT m.sighting_id, m.edition_id, m.work_id, m.edition_id IN (SELECT edition_id FROM publications) "
            "FROM edition_members AS m"
        ).fetchall()
    out = []
    for level in (1, 2):
        groups: dict[str, set[str]] = defaultdict(set)
        for row in rows:
            groups[row[level]].add(row[0])
        out.append({frozenset(g) for g in groups.values()})
    live: dict[str, set[str]] = defaultdict(set)
    for sid, edition, _, is_live in rows:
        if is_live:
            live[edition].add(sid)
    out.append({frozenset(g) for g in live.values()})
    return tuple(out)


@pytest.mark.slow
@pytest.mark.timeout(1800)  # nights of crawls: minutes on a loaded 2-core machine
def test_nights_of_drift_keep_the_warehouse_equal_to_the_sites(tmp_path: Path) -> None:
    # the tenth run and the night a section is renamed are what a shorter soak must still reach
    assert NIGHTS >= 10 and rename_night(DEFAULT_SEED) <= NIGHTS, (NIGHTS, rename_night(DEFAULT_SEED))
    known: dict[tuple[str, str], tuple[str, str, str]] = {}
    ids_before: dict[str, set[tuple[str, str]]] = {}
    present_before: set[str] = set()
    last_run = 0
    figures = []
    split_at_first: tuple[set[str], set[str]] | None = None
    removed_at: dict[str, int] = {}
    feeds: list[tuple[int, int, int, int]] = []
    with Replica(page_size=10, crawl_delay=0) as rep:
        for night in range(NIGHTS + 1):
            rep.set_night(night)
            tonight = served(rep)
            known.update(tonight)
            present = {v[0] for v in tonight.values()}
            summary = crawl_ingest(tmp_path, rep.write_sources(tmp_path / "sources.toml"))
            assert summary.status == "ok", summary.message
            db = tmp_path / "w.duckdb"

            # every sighting against the truth of the item it shows
            ed_pairs, wk_pairs = [], []
            ids_now: dict[str, set[tuple[str, str]]] = defaultdict(set)
            unknown = []
            for _sid, site, url, edition, work in sightings(db):
                if url is None:
                    continue
                found = known.get((site, _path(urlsplit(url).path)))
                if found is None:
                    unknown.append(url)
                    continue
                item, edition_key, work_key = found
                ed_pairs.append((edition_key, edition))
                wk_pairs.append((work_key, work))
                ids_now[item].add((edition, work))
            assert not unknown, f"night {night}: sightings of pages the replica never served: {unknown[:5]}"
            (editions, ed_split), (works, wk_split) = score(ed_pairs), score(wk_pairs)
            figures.append((night, editions.precision, editions.recall, works.precision, works.recall))
            assert editions.precision == 1.0, f"night {night} editions: {editions}"
            assert works.precision == 1.0, f"night {night} works: {works}"
            if split_at_first is None:
                split_at_first = (ed_split, wk_split)
            assert ed_split <= split_at_first[0], f"night {night}: editions split {ed_split - split_at_first[0]}"
            assert wk_split <= split_at_first[1], f"night {night}: works split {wk_split - split_at_first[1]}"

            # ids: an item keeps the ids it had
            for item, ids in ids_before.items():
                if item in present:
                    assert ids_now[item] == ids, f"night {night}: {item} moved from {ids} to {ids_now[item]}"
            ids_before = {item: set(ids) for item, ids in ids_now.items()}

            # items tonight's events touched (a fix, a translation of it, a move): the only ones to change
            tonight_events = rep.night_events().get(night, [])
            touched = {e.item_id for e in tonight_events} | {e.source_id for e in tonight_events if e.source_id}

            # live records: tonight's items, and removed ones only while their grace lasts
            for item in present_before - present:
                removed_at[item] = night
            with duckdb.connect(str(db), read_only=True) as con:
                live = {e for (e,) in con.execute("SELECT edition_id FROM publications").fetchall()}
                run_id = con.execute("SELECT max(run_id) FROM runs").fetchone()[0]
            for item, ids in ids_now.items():
                editions_of_item = {e for e, _ in ids}
                gone = removed_at.get(item)
                # withdrawn on the walk that makes GRACE complete walks without it: night gone + GRACE - 1
                if item in present or (gone is not None and night < gone + GRACE - 1):
                    assert editions_of_item <= live, f"night {night}: {item} is served but not live"
                else:
                    assert not editions_of_item & live, f"night {night}: {item} (removed night {gone}) still live"
            assert live <= {e for ids in ids_now.values() for e, _ in ids}, f"night {night}: live editions of no item"

            # the change feed since last night: only new items added, only removed ones withdrawn
            with duckdb.connect(str(db), read_only=True) as con:
                if last_run:
                    feed = select_records(con, "edition", since=last_run).to_pylist()
                    ops = [rec["operation"] for rec in feed]
                    feeds.append((night, *(ops.count(op) for op in ("added", "changed", "withdrawn"))))
                    # one edition may hold two items: one publication's nodes on two sites
                    items_of: dict[str, set[str]] = defaultdict(set)
                    for item, ids in ids_now.items():
                        for e, _ in ids:
                            items_of[e].add(item)
                    for rec in feed:
                        items = items_of.get(rec["edition_id"], set())
                        if rec["operation"] == "added":
                            assert not items & present_before, f"night {night}: {items} added again"
                        if rec["operation"] == "withdrawn":
                            assert not items & present, f"night {night}: {items} withdrawn while served"
                        if rec["operation"] == "changed":
                            assert items & touched, f"night {night}: {items} changed with no event: {rec}"
            last_run = run_id
            present_before = present
            if night % REBUILD_EVERY == 0 or night == NIGHTS:
                rebuild_equals_nightly(tmp_path, night)

    print("night, edition P, edition R, work P, work R:", *figures, sep="\n")
    print("night, editions added, changed, withdrawn (export --since the night before):", *feeds, sep="\n")
