"""Benchmark the crawler against the local replica: pages per second and request counts.

Baseline, measured in the same run against the same replica: a naive sequential loop that GETs
every page the crawler fetched, one after the other, with no politeness, no retries, no archive
and no link discovery. The crawler's figure is printed as a ratio to it, so the number says what
the crawler's machinery (robots, gates, conditional requests, archive writes, link discovery)
costs or saves on this machine.

    python -m bench crawl [--repeat N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from pipeline import http
from pipeline.archive import Archive, FetchLog
from pipeline.crawl import CrawlOptions, crawl
from pipeline.replica import Replica
from pipeline.sources import SourcesFile, load_sources

#: fast enough that the crawler is held back by neither the replica nor its own politeness
BENCH_RATE = 2000.0


def _crawl(sources: SourcesFile, root: Path) -> float:
    started = time.perf_counter()
    asyncio.run(crawl(sources, Archive(root), FetchLog(root), CrawlOptions()))
    return time.perf_counter() - started


async def _naive(urls: list[str], sources: SourcesFile) -> float:
    async with http.make_client(sources.crawler) as client:
        started = time.perf_counter()
        for url in urls:
            response = await client.get(url)
            response.read()
        return time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench crawl", description=__doc__)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is kept)")
    args = parser.parse_args(argv)

    crawl_times, naive_times = [], []
    with Replica(page_size=10, rate_per_second=BENCH_RATE, crawl_delay=0, concurrency=8) as rep:
        for _ in range(args.repeat):
            with tempfile.TemporaryDirectory() as tmp:
                root = Path(tmp)
                sources = load_sources(rep.write_sources(root / "s.toml"))
                rep.clear_requests()
                crawl_times.append(_crawl(sources, root / "raw"))
                full_requests = len(rep.requests)
                urls = [rep.sites[r.site] + r.target for r in rep.requests if r.status == 200]
                rep.clear_requests()
                _crawl(sources, root / "raw")
                incremental_requests = len(rep.requests)
                conditional = sum(r.conditional for r in rep.requests)
                rep.clear_requests()
                naive_times.append(asyncio.run(_naive(urls, sources)))
                rep.clear_requests()
    pages = len(urls)
    crawl_s, naive_s = statistics.median(crawl_times), statistics.median(naive_times)
    print(f"crawl of the replica (3 sites, {pages} pages), median of {args.repeat} runs")
    print(f"{'':30}{'seconds':>9}{'pages/s':>9}{'ratio':>7}")
    print(f"{'naive sequential GET loop':30}{naive_s:9.2f}{pages / naive_s:9.1f}{1.0:7.2f}")
    print(f"{'crawler, first (full) run':30}{crawl_s:9.2f}{pages / crawl_s:9.1f}{naive_s / crawl_s:7.2f}")
    print(
        f"requests: first run {full_requests}; incremental re-run {incremental_requests} "
        f"({conditional} conditional, {incremental_requests / full_requests:.1%} of the first run)"
    )


if __name__ == "__main__":
    main()
