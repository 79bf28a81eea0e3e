"""Withdrawal by absence, against the local replica over real HTTP and real ingest runs.

The archive keeps every page version, so an item the site stops listing keeps its sightings;
what tells that it is gone is a walk of its listing section that read every page and did not
show it. These tests take an item off the replica's listings (the replica's own item data: the
ground truth), run the real crawl and load into a DuckDB file, and check that the item is
withdrawn only after `withdraw_after_walks` (2) complete walks, with its reason, that the
export and the OAI-PMH endpoint report it deleted once, that a partial walk, a failed listing
page or an offline run withdraws nothing, that it is added again when it comes back, and that
nights with no change on the site log no change at all.
"""

from __future__ import annotations

import json
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import duckdb
import pytest
from click.testing import CliRunner
from lxml import etree

from pipeline import oai, report
from pipeline.archive import Archive, FetchLog
from pipeline.cli import main
from pipeline.export import export
from pipeline.ingest import IngestOptions, crawl_step, run_ingest
from pipeline.runs import RunSummary
from pipeline.sources import load_sources
from pipeline.urls import canonical_url
from pipeline.warehouse import WorkingCopy, migrate
from tests.replica import Fault, Replica
from tests.test_crawl import read

SITE = "migrantprotection.iom.int"
OAI = "{http://www.openarchives.org/OAI/2.0/}"


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


def run(workdir: Path, sources: Path | None) -> RunSummary:
    """One real run as the CLI makes it (crawl unless `sources` is None, then load and publish)."""
    work = WorkingCopy(workdir / "w.duckdb")
    con = work.open()
    try:
        migrate(con)
        archive = Archive(workdir / "raw")
        options = IngestOptions()
        fetch = crawl_step(load_sources(sources), archive, options) if sources is not None else None
        summary = run_ingest(con, archive, options, fetch=fetch)
        work.publish()
        return summary
    finally:
        work.close()


def a_lone_item(rep: Replica, *, pages: int = 1) -> dict[str, Any]:
    """A publication that one card of one section of one site shows, alone in its work.

    `pages`: the least number of listing pages its section has.
    """
    cards: dict[str, int] = {}
    for card in rep.expected_cards():
        if card["item_id"]:
            cards[card["item_id"]] = cards.get(card["item_id"], 0) + 1
    listing_pages = [urlsplit(u).path for u in rep.expected_listing_urls(SITE)]
    for item in rep.items:
        if (
            item["kind"] == "publication"
            and list(item["sites"]) == [SITE]
            and len(item["sites"][SITE]["sections"]) == 1
            and listing_pages.count(item["sites"][SITE]["sections"][0]) >= pages
            and cards.get(item["id"]) == 1
            # its work has no other edition (whose sightings could change the work's title meanwhile)
            and sum(1 for other in rep.items if other["work_key"] == item["work_key"]) == 1
        ):
            return item
    raise AssertionError("the replica has no item on exactly one listing")


def set_sections(rep: Replica, item_id: str, sections: list[str]) -> None:
    """Show the item on these listing sections of SITE only (none: still served, in the sitemap only).

    The replica has no mutation for this (tests/replica is another engineer's), so the test
    edits the item under the replica's lock and reindexes, as its own mutations do.
    """
    with rep._lock:
        rep._find(item_id)["sites"][SITE]["sections"] = list(sections)
        rep._reindex()


def edition_of(workdir: Path, item_url: str) -> str:
    """The edition of the item's detail page, found by the page's URL (not by the code under test)."""
    rows = read(
        workdir,
        "SELECT DISTINCT m.edition_id FROM sightings AS s JOIN edition_members AS m USING (sighting_id) "
        "WHERE s.canonical_url = ?",
        [canonical_url(item_url)],
    )
    assert len(rows) == 1, rows
    return rows[0][0]


def changes(workdir: Path, run_id: int | None = None, *ids: str) -> list[tuple]:
    """(run_id, level, id, op, reason) logged by a run (all runs: None), withdrawals and `ids` only if given.

    Unlisting one item moves the cards after it to other listing pages: new page versions, new
    sightings, so another work may choose another edition's title (works.title goes by the
    number of sightings) and log a change. Such changes are not the test's business.
    """
    where = "" if run_id is None else f"WHERE run_id = {int(run_id)}"
    rows = read(workdir, f"SELECT run_id, level, id, op, reason FROM record_changes {where} ORDER BY change_id")
    return [r for r in rows if not ids or r[3] == "withdrawn" or r[2] in ids]


def walks_of(workdir: Path, section_url: str) -> list[tuple]:
    return read(
        workdir, "SELECT run_id, walked_to_end FROM section_walks WHERE section = ? ORDER BY run_id", [section_url]
    )


def published(workdir: Path) -> set[str]:
    return {e for (e,) in read(workdir, "SELECT edition_id FROM publications")}


def export_since(workdir: Path, since: int) -> list[dict[str, Any]]:
    out = workdir / f"since-{since}.jsonl"
    export(workdir / "w.duckdb", out, "jsonl", "edition", since=since)
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]


def oai_headers(workdir: Path) -> list[tuple[str, bool]]:
    """(identifier, deleted) of every header a real OAI-PMH ListIdentifiers answers over HTTP."""
    server = oai.OaiServer(oai.OaiConfig(workdir / "w.duckdb", "admin@example.org", page_size=10_000))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/oai?verb=ListIdentifiers&metadataPrefix=oai_dc"
        with urllib.request.urlopen(url, timeout=30) as response:
            root = etree.fromstring(response.read())
    finally:
        server.shutdown()
        server.server_close()
    assert root.find(f"{OAI}ListIdentifiers/{OAI}resumptionToken") is None or not (
        root.find(f"{OAI}ListIdentifiers/{OAI}resumptionToken").text
    )
    return [(h.findtext(f"{OAI}identifier"), h.get("status") == "deleted") for h in root.iter(f"{OAI}header")]


def test_an_unlisted_item_is_withdrawn_after_two_complete_walks_and_added_when_listed_again(
    replica: Replica, tmp_path: Path
) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    item = a_lone_item(replica)
    section = item["sites"][SITE]["sections"][0]
    section_url = replica.sites[SITE] + section
    reason = f"not listed by 2 complete walks of {section_url}"
    first = run(tmp_path, sources)
    assert first.status == "ok", first.message
    edition = edition_of(tmp_path, replica.item_url(item["id"], SITE))
    work = read(tmp_path, "SELECT work_id FROM edition_members WHERE edition_id = ? LIMIT 1", [edition])[0][0]
    # the walk read every page of the section the replica serves
    pages = {u for u in replica.expected_listing_urls(SITE) if urlsplit(u).path == section}
    assert read(tmp_path, "SELECT walked_to_end, pages FROM section_walks WHERE section = ?", [section_url]) == [
        (True, len(pages))
    ]

    set_sections(replica, item["id"], [])  # still served and in the sitemap, on no listing
    second = run(tmp_path, sources)
    assert second.status == "ok", second.message
    assert edition in published(tmp_path), "one walk without it is not enough"
    assert changes(tmp_path, 2, edition, work) == []
    third = run(tmp_path, sources)
    assert third.status == "ok", third.message
    assert edition not in published(tmp_path)
    assert [(c[1], c[2], c[3], c[4]) for c in changes(tmp_path, 3, edition, work)] == [
        ("edition", edition, "withdrawn", reason),
        ("work", work, "withdrawn", "all its editions withdrawn"),
    ]
    assert read(tmp_path, "SELECT edition_id, reason, withdrawn_run_id FROM withdrawn_editions") == [
        (edition, reason, 3)
    ]
    assert work not in {w for (w,) in read(tmp_path, "SELECT work_id FROM works")}

    # incremental consumers: deleted exactly once, and the live export no longer has it
    since = [r for r in export_since(tmp_path, 1) if r["edition_id"] == edition]
    assert [r["operation"] for r in since] == ["withdrawn"]
    assert edition not in {r["edition_id"] for r in export_since(tmp_path, 0) if r["operation"] != "withdrawn"}
    assert [h for h in oai_headers(tmp_path) if h[0] == f"oai:iom-pubwarehouse:{edition}"] == [
        (f"oai:iom-pubwarehouse:{edition}", True)
    ]
    # a further walk without it withdraws nothing more
    run(tmp_path, sources)
    assert changes(tmp_path, 4, edition, work) == []
    # what users read: `stats` and the run report, per run and per reason
    stats = json.loads(CliRunner().invoke(main, ["stats", "--db", str(tmp_path / "w.duckdb"), "--json"]).output)
    per_run = {(r["run_id"], r["level"]): r for r in stats["changes_per_run"]}
    assert (per_run[(3, "edition")]["withdrawn"], per_run[(3, "work")]["withdrawn"]) == (1, 1)
    assert {(r["run_id"], r["level"], r["reason"], r["records"]) for r in stats["withdrawal_reasons_per_run"]} == {
        (3, "edition", reason, 1),
        (3, "work", "all its editions withdrawn", 1),
    }
    assert stats["editions_and_works"][0]["editions_no_longer_listed"] == 1
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        history = {r.run_id: r for r in report.gather(con).change_history}
    finally:
        con.close()
    withdrawn = {run: {k: n for k, n in h.counts.items() if k[1] == "withdrawn"} for run, h in history.items()}
    assert withdrawn == {1: {}, 2: {}, 3: {("edition", "withdrawn"): 1, ("work", "withdrawn"): 1}, 4: {}}
    assert history[3].withdrawn == [("edition", reason, 1), ("work", "all its editions withdrawn", 1)]

    set_sections(replica, item["id"], [section])
    back = run(tmp_path, sources)
    assert back.status == "ok", back.message
    assert edition in published(tmp_path)
    assert [(c[1], c[2], c[3], c[4]) for c in changes(tmp_path, 5, edition, work)] == [
        ("edition", edition, "added", "listed again"),
        ("work", work, "added", "listed again"),
    ]
    assert read(tmp_path, "SELECT count(*) FROM withdrawn_editions")[0][0] == 0
    assert [r["operation"] for r in export_since(tmp_path, 4) if r["edition_id"] == edition] == ["added"]
    assert (f"oai:iom-pubwarehouse:{edition}", False) in oai_headers(tmp_path)


def test_partial_walks_failed_pages_and_offline_runs_withdraw_nothing(tmp_path: Path) -> None:
    with Replica(page_size=10) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", max_retries=0)
        item = a_lone_item(rep)
        section = item["sites"][SITE]["sections"][0]
        section_url = rep.sites[SITE] + section
        run(tmp_path, sources)
        edition = edition_of(tmp_path, rep.item_url(item["id"], SITE))
        set_sections(rep, item["id"], [])

        # the section's first page fails: its walk reads nothing after it and is not complete
        fault = rep.add_fault(Fault.server_error(section + "$", status=503, times=None, site=SITE))
        failed = run(tmp_path, sources)
        assert fault.fired >= 1
        assert failed.status == "partial"
        rep.clear_faults()
        offline = run(tmp_path, None)  # no crawl at all: `ingest --offline`
        assert offline.status == "ok", offline.message
        assert walks_of(tmp_path, section_url) == [(1, True), (2, False)]
        assert edition in published(tmp_path)

        one = run(tmp_path, sources)  # the first complete walk without it
        assert one.status == "ok", one.message
        assert edition in published(tmp_path)
        assert [c for c in changes(tmp_path, None, edition) if c[0] != 1] == []
        two = run(tmp_path, sources)  # the second
    assert edition not in published(tmp_path)
    assert [(c[0], c[3]) for c in changes(tmp_path) if c[2] == edition] == [(1, "added"), (two.run_id, "withdrawn")]


def test_a_walk_that_stops_early_withdraws_nothing(replica: Replica, tmp_path: Path) -> None:
    """`walk_to_end = false`: a section stops at the first page of known cards, and proves nothing."""
    sources = replica.write_sources(tmp_path / "s.toml")
    item = a_lone_item(replica, pages=3)  # still two pages once it is gone
    section = item["sites"][SITE]["sections"][0]
    section_url = replica.sites[SITE] + section
    n_pages = [urlsplit(u).path for u in replica.expected_listing_urls(SITE)].count(section)
    run(tmp_path, sources)
    edition = edition_of(tmp_path, replica.item_url(item["id"], SITE))
    set_sections(replica, item["id"], [])
    for _ in range(3):
        work = WorkingCopy(tmp_path / "w.duckdb")
        con = work.open()
        try:
            migrate(con)
            archive = Archive(tmp_path / "raw")
            options = IngestOptions(stop_early=True)
            run_ingest(con, archive, options, fetch=crawl_step(load_sources(sources), archive, options))
            work.publish()
        finally:
            work.close()
    walks = read(
        tmp_path,
        "SELECT run_id, walked_to_end, pages FROM section_walks WHERE section = ? ORDER BY run_id",
        [section_url],
    )
    assert walks[0] == (1, True, n_pages)
    assert [(w[0], w[1]) for w in walks[1:]] == [(2, False), (3, False), (4, False)]
    assert all(w[2] < n_pages for w in walks[1:])
    lines = [r for r in FetchLog(tmp_path / "raw").records() if r.get("kind") == "section" and r["url"] == section_url]
    assert [r["walked_to_end"] for r in lines] == [True, False, False, False]
    assert edition in published(tmp_path)
    assert [c for c in changes(tmp_path, None, edition) if c[0] != 1] == []


def test_ten_nights_without_a_change_on_the_site_log_no_change(replica: Replica, tmp_path: Path) -> None:
    sources = replica.write_sources(tmp_path / "s.toml")
    for night in range(10):
        summary = run(tmp_path, sources)
        assert summary.status == "ok", (night, summary.message)
    logged = read(tmp_path, "SELECT DISTINCT run_id, op FROM record_changes ORDER BY ALL")
    assert logged == [(1, "added")]
    sections = sum(len(s) for s in replica.sections.values())
    assert read(tmp_path, "SELECT count(*), count(*) FILTER (walked_to_end) FROM section_walks")[0] == (
        10 * sections,
        10 * sections,
    )
    assert read(tmp_path, "SELECT count(*) FROM withdrawn_editions")[0][0] == 0
