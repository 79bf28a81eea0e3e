"""What parsing one archived page yields, as plain data: light to import and to pickle.

Why a module of its own: the loading process receives these from parse worker processes (and
from the crawl's hand-off); unpickling a class imports its module, and the parsers, pydantic
models and language tables behind `pipeline/parse.py` cost a quarter of a second to import in a
process that only loads rows.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from pipeline.archive import ArchiveEntry

if TYPE_CHECKING:
    from pipeline.models import SightingRecord


@dataclass
class PageResult:
    """Everything one page yields: records to load, rejects to record, or the page's failure."""

    entry: ArchiveEntry
    sightings: list[SightingRecord] = field(default_factory=list)
    rejects: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None
    page_info: dict[str, Any] = field(default_factory=dict)
    #: the page is not of its format's shape (a detail page archived as a listing, a redesign)
    shape_mismatch: bool = False
    #: its body could not be read from the archive (missing, unreadable, not matching its hash)
    archive_error: bool = False
    #: leave the page's warehouse rows as they are (a body that cannot be read replaces nothing)
    keep_rows: bool = False
    #: sightings already turned into warehouse rows (see `as_rows`), loaded like `sightings`
    rows: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def sighting_count(self) -> int:
        return len(self.sightings) + len(self.rows)

    def sighting_rows(self) -> list[dict[str, Any]]:
        """Every sighting of the page as a row of the `sightings` table, without its run_id."""
        return self.rows + [sighting_row(s, self.entry.source) for s in self.sightings]

    def as_rows(self) -> PageResult:
        """The same result with its sightings as plain rows.

        Why: a parse worker sends its results to the loading process, and a pydantic model
        costs several times a dict to pickle, unpickle and dump there; the loader's core is the
        scarce one in a re-parse, so the dump is done where the record was validated.
        """
        return replace(self, sightings=[], rows=self.sighting_rows())


class ParsedPages:
    """Pages the crawl parsed and validated (to find their links), by page_id, for the load.

    Every page fetched is parsed by the crawler anyway; handing its rows to the load of the same
    run saves reading, decompressing, parsing and validating it a second time. Bounded: past
    `limit` pages, the rest are parsed again by the load, as they would be without the hand-off.
    """

    def __init__(self, limit: int = 5_000) -> None:
        self.limit = limit
        self._pages: dict[str, PageResult] = {}

    def add(self, page_id: str, result: PageResult) -> None:
        if len(self._pages) < self.limit:
            self._pages[page_id] = result

    def take(self, page_id: str) -> PageResult | None:
        return self._pages.pop(page_id, None)

    def __len__(self) -> int:
        return len(self._pages)


def sighting_row(record: SightingRecord, source: str) -> dict[str, Any]:
    """A validated record as a row of the `sightings` table (its run_id is the loader's)."""
    row = dict(record.__dict__)  # model_dump, minus its cost: every field is a plain value here
    row["source"] = source
    row["extra"] = json.dumps(row["extra"], ensure_ascii=False) if row["extra"] else None
    return row


def archive_failure(entry: ArchiveEntry, reason: str) -> PageResult:
    """A page whose archived body cannot be read: a reject of stage `archive`, nothing parsed."""
    result = PageResult(entry, error=reason, archive_error=True)
    result.rejects.append({"stage": "archive", "position": None, "reason": reason, "excerpt": None})
    return result


def failed(result: PageResult, reason: str) -> PageResult:
    result.error = reason
    result.rejects.append({"stage": "parse", "position": None, "reason": reason, "excerpt": None})
    return result
