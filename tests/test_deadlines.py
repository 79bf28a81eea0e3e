"""Night runs that cannot hang: deadlines per request, caps on what a site may ask, a run budget.

Each case is a hostile site served by the replica on 127.0.0.1 (tests/replica faults) and a
real crawl-ingest; the expected outcome (how long, which status, which exit code) follows from
the fault and the configured limits, not from the crawler's own output.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

import duckdb
import pytest

from tests.fault_table import fault_case
from tests.replica import Fault, Replica
from tests.test_crawl import cli, crawl_ingest


def _runs(workdir: Path) -> list[tuple]:
    con = duckdb.connect(str(workdir / "w.duckdb"), read_only=True)
    try:
        return con.execute("SELECT run_id, status, exit_code FROM runs ORDER BY run_id").fetchall()
    finally:
        con.close()


GUIDELINE = "/en/resources/guideline"


@pytest.mark.fault(
    fault="a listing that drips one byte at a time",
    does="the request stops at `request_deadline` (total, not per read); the listing's cards are lost to this run",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`runs.message` failures, `runs.crawl` lost_listings, `fetches`",
)
def test_a_server_dripping_bytes_costs_one_request_deadline_not_the_night(tmp_path: Path, request) -> None:
    # every read gets a byte within the read timeout, so only a total deadline ends it
    with Replica(page_size=10, faults=[Fault.drip(GUIDELINE + "$", delay=0.3, times=None)]) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", request_deadline=1.5, read_timeout=5.0, max_retries=1)
        summary = crawl_ingest(tmp_path, sources)
    assert summary.status == fault_case(request)["status"]
    assert any("request deadline" in f and GUIDELINE in f for f in summary.failures), summary.failures


@pytest.mark.fault(
    fault="`Retry-After: 3600` (above `retry_after_cap`)",
    does="the URL is given up at once, not retried",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`runs.message` failures, `fetches` reason",
)
def test_retry_after_above_the_cap_gives_the_url_up_at_once(tmp_path: Path, request) -> None:
    with Replica(page_size=10, faults=[Fault.rate_limited(GUIDELINE + "$", retry_after=3600, times=None)]) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", retry_after_cap=5.0, max_retries=4)
        summary = crawl_ingest(tmp_path, sources)
        asked = Counter(r.site for r in rep.requests if r.path == GUIDELINE and not r.query)
    # once per site that has the section: not retried, waiting an hour is not an option
    assert asked and set(asked.values()) == {1}, asked
    assert summary.status == fault_case(request)["status"]
    assert any("above the 5s cap" in f for f in summary.failures), summary.failures


@pytest.mark.fault(
    fault="robots.txt `Crawl-delay: 86400` (above `crawl_delay_cap`)",
    does="the source is not crawled; the archive is used for it",
    status="offline",
    exit=3,
    recorded="stderr warning, `runs.sources_unreachable`, `runs.crawl` reason",
)
def test_a_crawl_delay_above_the_cap_skips_the_source_with_a_strict_exit(tmp_path: Path, request) -> None:
    with Replica(page_size=10, crawl_delay=86400) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", crawl_delay_cap=30.0)
        done = cli("ingest", "--strict", "--sources", str(sources), "--db", str(tmp_path / "w.duckdb"),
                   "--raw", str(tmp_path / "raw"))  # fmt: skip
        fetched = [r for r in rep.requests if r.path != "/robots.txt"]
    case = fault_case(request)
    assert done.returncode == case["exit"], done.stderr
    assert "Crawl-delay of 86400s" in done.stderr
    assert fetched == []  # robots.txt was read and obeyed by not crawling at all
    assert _runs(tmp_path)[-1][1:] == (case["status"], case["exit"])


@pytest.mark.fault(
    fault="a slow site and the crawl's `run_budget` spent",
    does="the crawl stops; what was fetched is loaded; unfinished sections are walked by the next run",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr warning, `runs.crawl` reason",
)
@pytest.mark.parametrize("strict", [False, True])
def test_the_run_budget_ends_the_crawl_and_the_run_says_why(tmp_path: Path, strict: bool, request) -> None:
    slow = [Fault.slow(r"/resources/.+", delay=0.5, times=None)]
    with Replica(page_size=5, faults=slow, rate_per_second=5.0) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", run_budget=3.0)
        args = ["ingest", "--sources", str(sources), "--db", str(tmp_path / "w.duckdb"), "--raw", str(tmp_path / "raw")]
        done = cli(*args, *(["--strict"] if strict else []))
    assert done.returncode == (3 if strict else 0), done.stderr
    assert "time budget of 3s" in done.stderr
    _, status, exit_code = _runs(tmp_path)[-1]
    assert (status, exit_code) == (fault_case(request)["status"], done.returncode)


def test_the_crawl_holds_no_warehouse_lock(tmp_path: Path) -> None:
    """While a slow site is crawled, the warehouse files are closed; a second run is still refused."""
    import subprocess
    import sys

    from tests.conftest import REPO_ROOT

    slow = [Fault.slow(r"/resources/.+", delay=0.3, times=None)]
    with Replica(page_size=5, faults=slow, rate_per_second=5.0) as rep:
        sources = rep.write_sources(tmp_path / "s.toml")
        args = ["ingest", "--sources", str(sources), "--db", str(tmp_path / "w.duckdb"), "--raw", str(tmp_path / "raw")]
        env = {"PYTHONPATH": str(REPO_ROOT), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
        run = subprocess.Popen([sys.executable, "-m", "pipeline", *args], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)  # fmt: skip
        deadline = time.monotonic() + 60
        while len(rep.requests) < 8 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert run.poll() is None, "the crawl ended before the check"
        working = tmp_path / ".build" / "w.duckdb"
        assert working.exists()  # the run recorded itself, then closed the file for the crawl
        con = duckdb.connect(str(working))  # a writer's lock: refused if the crawl held the file
        assert con.execute("SELECT status FROM runs").fetchall() == [("running",)]
        con.close()
        second = cli(*args)
        assert second.returncode == 4 and "a run is in progress" in second.stderr
        _, err = run.communicate(timeout=180)
    assert run.returncode == 0, err
    assert _runs(tmp_path) == [(1, "ok", 0)]


@pytest.mark.fault(
    fault="a listing that drips one byte at a time, `max_retries` 4",
    does="asked twice per site (the deadline retried once, not `max_retries` times): at most two deadlines per URL",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`runs.message` failures, `fetches` attempts",
)
def test_a_dripping_listing_is_asked_twice_not_max_retries_times(tmp_path: Path, request) -> None:
    with Replica(page_size=10, faults=[Fault.drip(GUIDELINE + "$", delay=0.3, times=None)]) as rep:
        sources = rep.write_sources(tmp_path / "s.toml", request_deadline=1.0, read_timeout=5.0, max_retries=4)
        summary = crawl_ingest(tmp_path, sources)
        asked = Counter(r.site for r in rep.requests if r.path == GUIDELINE and not r.query)
    assert asked and set(asked.values()) == {2}, asked  # 5 each before: max_retries + 1 deadlines per URL
    assert summary.status == fault_case(request)["status"]
    assert any("request deadline" in f and GUIDELINE in f for f in summary.failures), summary.failures
