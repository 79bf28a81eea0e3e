"""What the crawl's jobs may use of their site: the one seam between the scheduler and its jobs.

`site.py` runs a site and owns its scheduler; the jobs (`robots.py`, `listings.py`, `details.py`)
need only this view of it, so they import this module and never `site.py`, which imports them:
the jobs can be read, and tested, without the scheduler.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from parsers import ParsedPage
    from pipeline.archive import ArchiveEntry, FetchState
    from pipeline.crawl.recorder import Recorder
    from pipeline.crawl.report import CrawlOptions, CrawlProgress, SourceReport
    from pipeline.fetch import Fetcher
    from pipeline.sources import CrawlerConfig, Source


class DetailPages(Protocol):
    """The site's detail queue as a listing walk sees it (`details.DetailQueue`)."""

    @property
    def known_before(self) -> frozenset[str]: ...

    @property
    def known(self) -> set[str]: ...

    @property
    def stale(self) -> set[str]: ...

    @property
    def fetched(self) -> set[str]: ...

    def enqueue(self, url: str) -> bool: ...

    def refetch(self, url: str) -> bool: ...


class SiteContext(Protocol):
    """One site's crawl as its jobs see it (`site.Site`): settings, state, fetcher, recorder, report."""

    @property
    def config(self) -> CrawlerConfig: ...

    @property
    def source(self) -> Source: ...

    @property
    def state(self) -> FetchState: ...

    @property
    def options(self) -> CrawlOptions: ...

    @property
    def progress(self) -> CrawlProgress | None: ...

    @property
    def report(self) -> SourceReport: ...

    @property
    def fetcher(self) -> Fetcher: ...

    @property
    def recorder(self) -> Recorder: ...

    @property
    def details(self) -> DetailPages: ...

    def schedule_detail(self, url: str) -> None: ...

    async def parse(self, fmt: str, body: bytes, url: str, entry: ArchiveEntry | None = None) -> ParsedPage | None: ...
