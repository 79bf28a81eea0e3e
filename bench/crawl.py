"""Crawl the local replica as whole processes: this project's `ingest` against a Scrapy spider.

The goal (issue 10): a full crawl-ingest of the replica, politeness off, at least 1.5x the pages
per second of the Scrapy spider a user would write instead (bench/peers/scrapy_spider.py), at the
replica's size and at 10 times it (`Replica(scale=10)`: every item ten times over, distinct ids,
titles and aliases). Both sides are whole processes timed from outside (time.perf_counter around
subprocess.run), start-up included, on the same replica, the same start URLs and the same per-site
concurrency (8), with no crawl delay and a rate limit far above what either reaches.

This project's side is `python -m pipeline ingest --no-dedup` into a fresh archive and warehouse:
crawl, parse, validate and load into DuckDB, the work Scrapy's side does (crawl, extract, write a
JSON Lines feed of the same fields); the ratio compares those two. The deduplication pass that a
normal ingest ends with has no counterpart in the spider: it is run next as its own process
(`pipeline dedup`), timed apart, and the whole ingest (both processes) is printed beside it. The
crawl's own share comes from runs.crawl.

Pages are counted on the replica's own request log (status 200), cleared between runs, and the
two sides' URL sets must be equal: a MISMATCH is printed with examples, and no ratio is claimed.

The HTTP transport under httpx's client API is judged in the same run (issue 21): the project's
side runs on its default transport (aiohttp, `http_transport` in [crawler]), then once more per
repeat with httpx's own transport, and the naive loop below runs on each. The figures decide the
default, not the other way round.

Also measured, as before: a naive sequential GET loop over the same URLs (what the machinery costs
or saves) and the no-change incremental re-run (a second ingest: requests sent, how many were
conditional).

    python -m bench crawl [--repeat N] [--scales 1,10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from bench.procs import child_env, timed
from pipeline import http
from pipeline.sources import SourcesFile, load_sources
from tests.replica import Replica

REPO = Path(__file__).resolve().parent.parent
SPIDER = REPO / "bench" / "peers" / "scrapy_spider.py"
#: fast enough that the crawler is held back by neither the replica nor its own politeness
BENCH_RATE = 2000.0
TARGET = 1.5
#: goal lines (bench/__main__.py prints them again at the end of a full run)
GOALS: list[str] = []


@dataclass
class Side:
    """One side's runs at one scale."""

    seconds: list[float] = field(default_factory=list)
    pages: list[int] = field(default_factory=list)
    crawl: list[float] = field(default_factory=list)

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    def rate(self, seconds: float | None = None) -> float:
        return statistics.median(self.pages) / (seconds if seconds is not None else self.median)


def _fetched(rep: Replica) -> set[str]:
    return {f"{r.site} {r.target}" for r in rep.requests if r.status == 200}


def _phases(db: Path) -> tuple[float | None, float | None]:
    """(crawl seconds: the slowest source, dedup seconds) of the warehouse's last run, if recorded."""
    import duckdb

    try:
        con = duckdb.connect(str(db), read_only=True)
    except duckdb.Error:
        return None, None
    try:
        crawl_json = con.sql("SELECT crawl FROM runs ORDER BY run_id DESC LIMIT 1").fetchone()
        crawl = json.loads(crawl_json[0]) if crawl_json and crawl_json[0] else {}
        elapsed = [s.get("elapsed_s") for s in crawl.values() if isinstance(s, dict) and s.get("elapsed_s")]
        dedup = con.sql("SELECT seconds FROM dedup_runs ORDER BY dedup_run_id DESC LIMIT 1").fetchone()
        return (max(elapsed) if elapsed else None), (dedup[0] if dedup else None)
    except duckdb.Error:
        return None, None
    finally:
        con.close()


#: the transports compared; the first is the default (pipeline/sources.py CrawlerConfig)
TRANSPORTS = ("aiohttp", "httpx")


async def _naive(urls: list[str], sources: SourcesFile, transport: str) -> float:
    config = sources.crawler.model_copy(update={"http_transport": transport})
    async with http.make_client(config) as client:
        started = time.perf_counter()
        for url in urls:
            response = await client.get(url)
            response.read()
        return time.perf_counter() - started


def _median_or_none(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def measure(scale: int, repeat: int, env: dict[str, str], naive: bool) -> dict[str, object]:
    """Every measurement at one scale: both sides `repeat` times, alternating which goes first."""
    project, scrapy, incremental, dedup, other = Side(), Side(), Side(), Side(), Side()
    conditional: list[int] = []
    naive_times: dict[str, list[float]] = {t: [] for t in TRANSPORTS}
    mismatch: tuple[set[str], set[str]] | None = None
    py = sys.executable
    with Replica(page_size=10, rate_per_second=BENCH_RATE, crawl_delay=0, concurrency=8, scale=scale) as rep:
        for n in range(repeat):
            with tempfile.TemporaryDirectory(prefix="bench-crawl-") as tmp_name:
                tmp = Path(tmp_name)
                toml = rep.write_sources(tmp / "s.toml")
                other_toml = rep.write_sources(tmp / "other.toml", http_transport=TRANSPORTS[1])
                db, raw = tmp / "w.duckdb", tmp / "raw"
                where = ["--db", str(db), "--raw", str(raw)]
                ingest = [py, "-m", "pipeline", "ingest", *where, "--sources", str(toml), "--no-dedup"]
                dedup_cmd = [py, "-m", "pipeline", "dedup", "--db", str(db)]
                spider = [py, str(SPIDER), "--sources", str(toml), "--out", str(tmp / "items.jsonl")]
                sets: dict[str, set[str]] = {}
                for side in (("project", "scrapy") if n % 2 == 0 else ("scrapy", "project")):
                    rep.clear_requests()
                    if side == "project":
                        project.seconds.append(timed(ingest, env))
                        sets["project"] = _fetched(rep)
                        project.pages.append(len(sets["project"]))
                        crawl_s, _ = _phases(db)
                        if crawl_s is not None:
                            project.crawl.append(crawl_s)
                        dedup.seconds.append(timed(dedup_cmd, env))
                    else:
                        scrapy.seconds.append(timed(spider, env))
                        sets["scrapy"] = _fetched(rep)
                        scrapy.pages.append(len(sets["scrapy"]))
                if sets["project"] != sets["scrapy"] and mismatch is None:
                    mismatch = (sets["project"] - sets["scrapy"], sets["scrapy"] - sets["project"])
                rep.clear_requests()
                incremental.seconds.append(timed(ingest, env))
                incremental.pages.append(len(rep.requests))
                conditional.append(sum(r.conditional for r in rep.requests))
                rep.clear_requests()
                other_where = ["--db", str(tmp / "other.duckdb"), "--raw", str(tmp / "other-raw")]
                other_ingest = [*ingest[:4], *other_where, "--sources", str(other_toml), "--no-dedup"]
                other.seconds.append(timed(other_ingest, env))
                other.pages.append(len(_fetched(rep)))
                crawl_s, _ = _phases(tmp / "other.duckdb")
                if crawl_s is not None:
                    other.crawl.append(crawl_s)
                if naive:
                    urls = [rep.sites[key.split(" ", 1)[0]] + key.split(" ", 1)[1] for key in sorted(sets["project"])]
                    for transport in TRANSPORTS[:: 1 if n % 2 == 0 else -1]:
                        rep.clear_requests()
                        naive_times[transport].append(asyncio.run(_naive(urls, load_sources(toml), transport)))
                rep.clear_requests()
    return {
        "project": project,
        "scrapy": scrapy,
        "incremental": incremental,
        "dedup": dedup,
        "other_transport": other,
        "conditional": conditional,
        "naive": naive_times,
        "mismatch": mismatch,
    }


def verdict(ratio: float, target: float = TARGET) -> str:
    return "met" if ratio >= target else f"MISSED by {1 - ratio / target:.0%}"


def report(scale: int, repeat: int, m: dict[str, object]) -> None:
    project, scrapy, incremental = m["project"], m["scrapy"], m["incremental"]
    assert isinstance(project, Side) and isinstance(scrapy, Side) and isinstance(incremental, Side)
    pages_p, pages_s = statistics.median(project.pages), statistics.median(scrapy.pages)
    mismatch = m["mismatch"]
    label = f"{scale}x replica" if scale != 1 else "replica"
    print(f"\n{label}: whole processes, politeness off, 8 per site, median of {repeat} runs")
    check = "equal" if mismatch is None and pages_p == pages_s else "MISMATCH"
    print(f"  pages fetched (status 200, replica's log): project {pages_p:g}, Scrapy {pages_s:g}: {check}")
    if mismatch is not None:
        only_p, only_s = mismatch  # type: ignore[misc]
        print(f"    only the project: {len(only_p)} e.g. {sorted(only_p)[:3]}")
        print(f"    only Scrapy:      {len(only_s)} e.g. {sorted(only_s)[:3]}")
    print(f"  {'':44}{'seconds':>9}{'pages/s':>9}")
    print(f"  {'Scrapy spider (crawl + JSON Lines feed)':44}{scrapy.median:9.2f}{scrapy.rate():9.1f}")
    print(f"  {'this project: ingest --no-dedup (crawl+load)':44}{project.median:9.2f}{project.rate():9.1f}")
    crawl_s = _median_or_none(project.crawl)
    if crawl_s is not None:
        print(f"  {'  of which the crawl (slowest source)':44}{crawl_s:9.2f}")
    dedup = m["dedup"]
    assert isinstance(dedup, Side)
    if dedup.seconds:
        whole = project.median + dedup.median
        print(f"  {'then the dedup pass (no Scrapy counterpart)':44}{dedup.median:9.2f}")
        print(f"  {'whole ingest: load and dedup':44}{whole:9.2f}{pages_p / whole:9.1f}")
    ratio = project.rate() / scrapy.rate()
    shown = verdict(ratio) if check == "equal" else "not comparable (page sets differ)"
    print(f"  ratio project/Scrapy, pages/s, same work: {ratio:.2f}x (target {TARGET:g}x): {shown}")
    if dedup.seconds:
        print(f"  (the whole ingest, dedup included: {pages_p / (project.median + dedup.median) / scrapy.rate():.2f}x)")
    GOALS.append(f"crawl {label}: project/Scrapy {ratio:.2f}x, dedup apart (target {TARGET:g}x) {shown}")
    conditional = statistics.median(m["conditional"])  # type: ignore[arg-type]
    print(
        f"  no-change re-run (second ingest): {incremental.median:.2f} s, {statistics.median(incremental.pages):g} "
        f"requests ({conditional:g} conditional, {statistics.median(incremental.pages) / pages_p:.1%} of the first run)"
    )
    other = m["other_transport"]
    assert isinstance(other, Side)
    if other.seconds:
        default, alternative = TRANSPORTS
        other_crawl = _median_or_none(other.crawl)
        print(f"  transports under httpx's API, same ingest --no-dedup (default {default}):")
        print(f"  {f'  over {alternative} (httpx own pool)':44}{other.median:9.2f}{other.rate():9.1f}")
        if other_crawl is not None and crawl_s is not None:
            print(f"  {'    of which the crawl (slowest source)':44}{other_crawl:9.2f}")
        print(f"  {default}/{alternative}, pages/s: {project.rate() / other.rate():.2f}x whole process"
              + (f", {other_crawl / crawl_s:.2f}x the crawl" if other_crawl and crawl_s else ""))  # fmt: skip
    naive = m["naive"]
    assert isinstance(naive, dict)
    for transport, times in naive.items():
        if times:
            naive_s = statistics.median(times)
            print(f"  naive sequential GET loop over the same URLs, in-process, {transport}: {naive_s:.2f} s, "
                  f"{pages_p / naive_s:.1f} pages/s")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench crawl", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is kept)")
    parser.add_argument("--scales", default="1,10", help="replica sizes, comma-separated multiples (default 1,10)")
    args = parser.parse_args(argv)
    if not SPIDER.exists():
        raise SystemExit(f"{SPIDER} missing")
    try:
        import scrapy  # noqa: F401
    except ImportError:
        raise SystemExit("Scrapy is not installed: `make bench` installs requirements-bench.lock") from None
    env = child_env()
    GOALS.clear()
    scales = [int(s) for s in args.scales.split(",") if s.strip()]
    print(f"load average at start {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other work skews both sides)")
    for scale in scales:
        report(scale, args.repeat, measure(scale, args.repeat, env, naive=scale == 1))
    print(f"load average at end {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
