"""Crawl the declared sources into raw/: robots.txt, sitemap, then listings and details together.

Never loads the warehouse: every body goes to the archive and every request's outcome to the
fetch log; the parse stage reads them later. Listing and detail bodies are parsed here only to
discover links (cards, pager, language editions), with the same pure parsers the parse stage
uses, in worker processes.

Incremental by default: every listing section is walked to its end with conditional requests
(a walk that saw every page is what lets a run withdraw an item the site no longer lists; with
`stop_early` a section stops paging at the first page whose cards are all known, once it has been
walked to its end at least once), and known detail pages are not fetched again. `full=True`
re-validates every page, details too, with conditional requests.

A page counts as known only while its archived body is intact: a detail page whose object is
missing or corrupt is fetched again (without validators, so the site sends the body and not a
304 that would point back at the damaged copy), and the fresh body repairs the object.

The jobs, one module each: `robots.py` (robots.txt and sitemap), `listings.py` (section walks
and layout alerts), `details.py` (the detail queue and language editions), `recorder.py` (the
archive and fetch log, written by one thread in group commits), `site.py` (one scheduler per
site that keeps the host's allowed slots busy).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from pipeline import http
from pipeline.archive import Archive, FetchLog
from pipeline.crawl.listings import page_url
from pipeline.crawl.recorder import ArchiveWriter
from pipeline.crawl.report import CrawlOptions, CrawlProgress, CrawlReport, SourceReport
from pipeline.crawl.site import Site
from pipeline.errors import ArchiveError
from pipeline.page_result import ParsedPages
from pipeline.parse_pool import PagePool
from pipeline.sources import SourcesFile

__all__ = ["CrawlOptions", "CrawlProgress", "CrawlReport", "SourceReport", "crawl", "page_url"]

log = logging.getLogger(__name__)


async def crawl(
    sources: SourcesFile,
    archive: Archive,
    fetch_log: FetchLog,
    options: CrawlOptions,
    progress: CrawlProgress | None = None,
    parsed_pages: ParsedPages | None = None,
) -> CrawlReport:
    """Crawl every source concurrently (each behind its own host gate).

    `parsed_pages` receives the pages the crawl parsed, for the load of the same run.
    """
    state = fetch_log.state()
    budget = sources.crawler.run_budget
    writer = ArchiveWriter(archive, fetch_log)
    sites: list[Site] = []
    try:
        with PagePool(options.parse_timeout_s) as pool:
            pool.warm()
            async with contextlib.AsyncExitStack() as clients:
                for source in sources.sources:
                    client = await clients.enter_async_context(
                        http.make_client(sources.crawler, connections=source.concurrency)
                    )
                    site = Site(
                        client, sources.crawler, source, archive, writer, state, options, progress, pool, parsed_pages
                    )
                    sites.append(site)
                try:
                    async with asyncio.timeout(budget):
                        results = await asyncio.gather(*(s.run() for s in sites), return_exceptions=True)
                except TimeoutError:
                    # pages archived so far are kept and loaded; unfinished sections stay incomplete
                    # in the fetch log, so the next run walks them again
                    results = []
                    for site in sites:
                        if not site.report.finished and site.report.status == "ok":
                            site.report.status = "stopped"
                            site.report.reason = (
                                f"the crawl's time budget of {budget:g}s ran out; what was fetched is loaded"
                            )
                        results.append(site.report)
    finally:
        try:
            writer.close()  # everything submitted is durable before the parse stage reads it
        except ArchiveError as exc:
            log.error("%s", exc)
            for site in sites:
                if site.report.status == "ok":
                    site.report.status = "failed"
                    site.report.reason = str(exc)
    reports = []
    for site, result in zip(sites, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            log.error("crawl of %s stopped: %s: %s", site.source.name, type(result).__name__, result)
            site.report.status = "failed"
            site.report.reason = f"crawl stopped: {type(result).__name__}: {result}"
            result = site.report
        reports.append(result)
    return CrawlReport(reports, archive_write_error=writer.failure)
