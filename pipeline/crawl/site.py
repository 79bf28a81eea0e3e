"""One site's crawl: robots.txt and sitemap first, then one scheduler for listings and details.

Listing pages and detail pages share one job queue per site, served by a few more workers than
the site's concurrency allows in flight, so that every slot of the host gate stays busy: a detail
page starts as soon as its card is seen instead of after the last listing page. Listing pages go
first in the queue (they discover the work); the host gate (`pipeline/fetch.py`) alone sets the
pace, exactly as configured: at most `concurrency` requests in flight, spaced by the rate and the
robots.txt Crawl-delay.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import Awaitable, Callable

from parsers import PARSERS, ParsedPage, ParseError
from pipeline import http
from pipeline.archive import Archive, ArchiveEntry, FetchState
from pipeline.crawl.details import DetailQueue
from pipeline.crawl.listings import SectionWalk
from pipeline.crawl.recorder import ArchiveWriter, Recorder
from pipeline.crawl.report import CrawlOptions, CrawlProgress, SourceReport
from pipeline.crawl.robots import read_robots, read_sitemaps
from pipeline.fetch import Fetcher, HostGate
from pipeline.page_result import ParsedPages
from pipeline.parse_pool import PagePool
from pipeline.sources import CrawlerConfig, Source

log = logging.getLogger(__name__)

_LISTING, _DETAIL = 0, 1
Job = Callable[[], Awaitable[None]]


class Site:
    """Everything one source's crawl shares: fetcher, recorder, report, state, queues."""

    def __init__(
        self,
        client: http.AsyncClient,
        config: CrawlerConfig,
        source: Source,
        archive: Archive,
        writer: ArchiveWriter,
        state: FetchState,
        options: CrawlOptions,
        progress: CrawlProgress | None,
        pool: PagePool,
        parsed_pages: ParsedPages | None = None,
    ) -> None:
        self.config = config
        self.parsed_pages = parsed_pages
        self.source = source
        self.state = state
        self.options = options
        self.progress = progress
        self.pool = pool
        self.report = SourceReport(source.name)
        self.fetcher = Fetcher(client, config, source, HostGate(source.rate_per_second, source.concurrency))
        self.recorder = Recorder(source, archive, writer, state, options, self.report)
        self.details = DetailQueue(self, set())
        self._jobs: asyncio.PriorityQueue[tuple[int, int, Job]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._walking = 0
        self._after_walks: list[str] = []
        self._sitemap_count = 0

    async def run(self) -> SourceReport:
        started = time.monotonic()
        try:
            if await read_robots(self):
                known, refetch = self.recorder.known_details()
                self.details = DetailQueue(self, known)
                sitemap_urls = await read_sitemaps(self)
                # sitemap pages not shown on any listing are queued once the walks are over, so
                # that `sitemap_only` counts exactly those; damaged details are fetched again then
                self._after_walks = [*sitemap_urls, *refetch]
                self._sitemap_count = len(sitemap_urls)
                walks = [SectionWalk(s, self.source.pager.first, s) for s in self.source.start_urls]
                self._walking = len(walks)
                for walk in walks:
                    self._put(_LISTING, self._walk_job(walk))
                if not walks:
                    self._walks_over()
                await self._serve()
                for walk in walks:
                    self.recorder.section(walk.log_record(self))
            self.report.finished = True
        finally:
            self.report.elapsed_s = time.monotonic() - started
        return self.report

    # -- the scheduler ----------------------------------------------------------------------
    def schedule_detail(self, url: str) -> None:
        self._put(_DETAIL, lambda: self.details.fetch(url))

    def _put(self, priority: int, job: Job) -> None:
        self._jobs.put_nowait((priority, next(self._order), job))

    def _walk_job(self, walk: SectionWalk) -> Job:
        async def job() -> None:
            if await walk.step(self):
                self._put(_LISTING, self._walk_job(walk))
            else:
                self._walking -= 1
                if self._walking == 0:
                    self._walks_over()

        return job

    def _walks_over(self) -> None:
        for i, url in enumerate(self._after_walks):
            if self.details.enqueue(url) and i < self._sitemap_count:
                self.report.sitemap_only += 1

    async def _serve(self) -> None:
        """Run jobs until none is queued or running; a job's error stops the site's crawl."""
        workers = [asyncio.create_task(self._worker()) for _ in range(2 * self.source.concurrency)]
        finished = asyncio.create_task(self._jobs.join())
        try:
            await asyncio.wait([finished, *workers], return_when=asyncio.FIRST_COMPLETED)
            for worker in workers:
                if worker.done() and worker.exception() is not None:
                    raise worker.exception()  # type: ignore[misc]
        finally:
            for task in (finished, *workers):
                task.cancel()
            await asyncio.gather(finished, *workers, return_exceptions=True)

    async def _worker(self) -> None:
        while True:
            _, _, job = await self._jobs.get()
            try:
                await job()
            finally:
                self._jobs.task_done()

    # -- parsing ----------------------------------------------------------------------------
    async def parse(self, fmt: str, body: bytes, url: str, entry: ArchiveEntry | None = None) -> ParsedPage | None:
        """Parse off the event loop, in a worker process under the time limit: a slow page
        costs that page, never the other sources' crawls.

        A page just archived (`entry`) is parsed at its archived URL, as the load would parse it,
        and handed to the load (`parsed_pages`), which then does not parse it again.
        """
        if fmt not in PARSERS:
            self.report.problems.append(f"no parser for format {fmt!r} ({url})")
            return None
        try:
            if entry is None:
                return await asyncio.to_thread(self.pool.parse, fmt, body, url)
            parsed, result = await asyncio.to_thread(self.pool.parse_for_load, body, entry)
            if self.parsed_pages is not None:
                self.parsed_pages.add(entry.page_id, result)
            return parsed
        except ParseError as exc:
            self.report.problems.append(f"{url}: {exc}")
        except Exception as exc:  # a parser bug must cost one page, not the crawl
            log.exception("parser %s crashed on %s", fmt, url)
            self.report.problems.append(f"{url}: parser crashed: {type(exc).__name__}: {exc}")
        return None
