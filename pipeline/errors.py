"""The pipeline's exception tree, sorted by what the caller must do.

    PipelineError                 base; the CLI turns it into a one-line message and an exit code
    ├── ConfigError               stop: settings or the sources file are wrong
    ├── ArchiveError              stop: raw/ is unreadable or an object does not match its hash
    ├── WarehouseError            stop: the DuckDB file cannot be opened or written
    │   └── WarehouseLockedError  stop: another process holds the single writer lock
    ├── ExportError               stop: the export file cannot be written (the previous one is kept)
    │   └── UnknownRunError       stop: `export --since` names a run the warehouse does not have
    ├── PageRefused               stop: a page supplied by hand is not one the archive takes
    ├── PageError                 skip with a reason: one page could not be parsed
    └── FetchError                skip with a reason: one URL could not be fetched
        └── RetryableFetchError   retry: timeout, connection reset, 429, 5xx

Parsers raise `parsers.base.ParseError`; the parse stage wraps it in PageError with the page's
identity, so a message always names the page and its URL.
"""

from __future__ import annotations


class PipelineError(Exception):
    """Base of every error the pipeline raises on purpose."""


class ConfigError(PipelineError):
    pass


class ArchiveError(PipelineError):
    pass


class WarehouseError(PipelineError):
    pass


class WarehouseLockedError(WarehouseError):
    pass


class ExportError(PipelineError):
    pass


class UnknownRunError(ExportError):
    pass


class PageRefused(PipelineError):
    """A file handed to `archive add` that is refused at the door (the CLI exits 2)."""


class PageError(PipelineError):
    """A page that cannot be turned into records; recorded in `rejects`, the run goes on."""

    def __init__(self, page_id: str, url: str | None, reason: str) -> None:
        self.page_id = page_id
        self.url = url
        self.reason = reason
        super().__init__(f"page {page_id} ({url or 'no URL'}): {reason}")


class FetchError(PipelineError):
    """A URL that could not be fetched; recorded in `fetches`, the crawl goes on."""

    def __init__(self, url: str, reason: str) -> None:
        self.url = url
        self.reason = reason
        super().__init__(f"{url}: {reason}")


class RetryableFetchError(FetchError):
    def __init__(self, url: str, reason: str, retry_after: float | None = None) -> None:
        self.retry_after = retry_after
        super().__init__(url, reason)
