"""The per-site scheduler and the archive writer, over real HTTP against the replica.

What a site operator and a user would check: detail pages are fetched while the listing walk
is still going (no idle slots waiting for the last listing page), the site never sees more
requests at once than the configured concurrency yet sees that many when there is work, and a
crawl whose archive cannot be written says so and leaves no fetch-log line pointing at nothing.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from pipeline.archive import Archive, FetchLog
from pipeline.crawl import CrawlOptions, CrawlReport, crawl
from pipeline.sources import load_sources
from tests.replica import Fault, Replica


def run_crawl(rep: Replica, root: Path) -> CrawlReport:
    sources = load_sources(rep.write_sources(root / "s.toml"))
    return asyncio.run(crawl(sources, Archive(root / "raw"), FetchLog(root / "raw"), CrawlOptions()))


def target(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def test_detail_pages_are_fetched_while_the_listing_walk_goes_on(tmp_path: Path) -> None:
    # three cards a page: every section is a walk of several pages, one after the other
    with Replica(page_size=3, rate_per_second=500.0, crawl_delay=0, concurrency=4) as rep:
        report = run_crawl(rep, tmp_path)
        assert all(s.status == "ok" for s in report.sources)
        checked = 0
        for site in rep.sites:
            listings = {target(u) for u in rep.expected_listing_urls(site)}
            details = {target(u) for u in rep.expected_detail_urls(site)}
            times = [(r.time, r.target) for r in rep.requests_for(site) if r.status == 200]
            listing_times = [t for t, path in times if path in listings]
            detail_times = [t for t, path in times if path in details]
            if len(listing_times) < 3 or not detail_times:
                continue
            checked += 1
            # the first detail request comes before the last listing page is asked for
            assert min(detail_times) < max(listing_times), site
        assert checked >= 2


def test_the_site_sees_as_many_requests_at_once_as_allowed_and_never_more(tmp_path: Path) -> None:
    # every detail page takes 0.2 s to answer: a scheduler that leaves slots idle shows fewer at once
    slow = Fault.slow(r"^/(?!robots\.txt|sitemap)", delay=0.2, times=None)
    with Replica(page_size=5, rate_per_second=500.0, crawl_delay=0, concurrency=3, faults=[slow]) as rep:
        report = run_crawl(rep, tmp_path)
        assert all(s.status == "ok" for s in report.sources)
        for site in rep.sites:
            assert rep.max_in_flight(site) == 3, site


def test_an_archive_that_cannot_be_written_stops_the_crawl_with_the_reason(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "objects").write_text("a file where the object directory should be")
    with Replica(page_size=10, rate_per_second=500.0, crawl_delay=0) as rep:
        report = run_crawl(rep, tmp_path)
    assert report.sources
    for source in report.sources:
        assert source.status == "failed", source
        assert "archive writes stopped" in (source.reason or ""), source.reason
    # nothing in the fetch log names a body the archive does not hold
    log = raw / "fetchlog.jsonl"
    lines = [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []
    assert not [r for r in lines if r.get("sha256")]


def test_pages_handed_from_the_crawl_load_exactly_what_a_reparse_of_the_archive_loads(tmp_path: Path) -> None:
    """The load takes the crawl's parses instead of parsing again; the rows must not differ."""
    from tests.test_crawl import cli

    with Replica(page_size=10, rate_per_second=500.0, crawl_delay=0) as rep:
        sources = rep.write_sources(tmp_path / "s.toml")
        raw = tmp_path / "raw"
        crawled = cli("ingest", "--db", str(tmp_path / "crawled.duckdb"), "--raw", str(raw), "--sources", str(sources),
                      "--no-dedup")  # fmt: skip
        assert crawled.returncode == 0, crawled.stderr
    reparsed = cli("ingest", "--offline", "--reparse", "--no-dedup", "--db", str(tmp_path / "reparsed.duckdb"),
                   "--raw", str(raw))  # fmt: skip
    assert reparsed.returncode == 0, reparsed.stderr
    query = """SELECT s.* EXCLUDE (run_id), p.url FROM sightings s JOIN raw_pages p USING (page_id)
               ORDER BY sighting_id"""
    rows = {}
    for name in ("crawled", "reparsed"):
        con = duckdb.connect(str(tmp_path / f"{name}.duckdb"), read_only=True)
        try:
            rows[name] = con.execute(query).fetchall()
        finally:
            con.close()
    assert len(rows["crawled"]) > 100
    assert rows["crawled"] == rows["reparsed"]


def test_ingest_source_limits_the_crawl_and_the_load_to_the_named_sources(tmp_path: Path) -> None:
    """Workers split the sources between them: each run touches its own sources only."""
    from tests.test_crawl import cli

    with Replica(page_size=10, rate_per_second=500.0, crawl_delay=0) as rep:
        toml = rep.write_sources(tmp_path / "s.toml")
        names = [s.name for s in load_sources(toml).sources]
        first, second = names[0], names[1]
        where = ["--db", str(tmp_path / "w.duckdb"), "--raw", str(tmp_path / "raw"), "--sources", str(toml)]

        wrong = cli("ingest", *where, "--source", "no-such-site.example")
        assert wrong.returncode == 2
        assert "no-such-site.example" in wrong.stderr and first in wrong.stderr
        assert rep.requests == []

        done = cli("ingest", *where, "--source", first, "--no-dedup")
        assert done.returncode == 0, done.stderr
        assert {r.site for r in rep.requests} == {first}
        counts_after_first = _counts(tmp_path)
        assert set(counts_after_first) == {first}

        rep.clear_requests()
        done = cli("ingest", *where, "--source", second, "--no-dedup")
        assert done.returncode == 0, done.stderr
        assert {r.site for r in rep.requests} == {second}
    counts = _counts(tmp_path)
    assert set(counts) == {first, second}
    assert counts[first] == counts_after_first[first]  # the other worker's rows untouched


def _counts(workdir: Path) -> dict[str, int]:
    con = duckdb.connect(str(workdir / "w.duckdb"), read_only=True)
    try:
        return dict(con.execute("SELECT source, count(*) FROM sightings GROUP BY source").fetchall())
    finally:
        con.close()
