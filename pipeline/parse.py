"""Turn archived pages into validated sighting records; reads only raw/, never the warehouse."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from pydantic import ValidationError

from parsers import PARSERS, ParsedPage, ParseError, ShapeError
from pipeline.archive import Archive, ArchiveEntry
from pipeline.errors import ArchiveError
from pipeline.models import SightingRecord
from pipeline.parse_pool import PagePool


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


def parse_entry(archive: Archive, entry: ArchiveEntry, pool: PagePool | None = None) -> PageResult:
    """Parse one archived page; a failure is returned as data so the run can go on.

    With a `pool` the parser runs in a worker process under the pool's time limit, so a page
    that never finishes becomes a reject ("parse timeout") instead of stalling the run.
    """
    result = PageResult(entry)
    parser = PARSERS.get(entry.format)
    if parser is None:
        return _failed(result, f"unknown page format {entry.format!r} (known: {', '.join(sorted(PARSERS))})")
    try:
        body = archive.read(entry.sha256)
    except ArchiveError as exc:
        return archive_failure(entry, str(exc))
    try:
        parsed = pool.parse(entry.format, body, entry.url) if pool is not None else parser(body, entry.url)
    except ParseError as exc:
        result.shape_mismatch = isinstance(exc, ShapeError)
        return _failed(result, str(exc))
    except Exception as exc:  # a parser bug costs this page, recorded, not the run
        return _failed(result, f"parser crashed: {type(exc).__name__}: {exc}")
    return result_from_parsed(entry, parsed, result)


def result_from_parsed(entry: ArchiveEntry, parsed: ParsedPage, result: PageResult | None = None) -> PageResult:
    """Validate what a parser returned for one archived page into the records to load.

    Shared by the load (which parses archived bodies) and by the crawl's hand-off (pages the
    crawler already parsed to find their links are not parsed a second time).
    """
    result = result if result is not None else PageResult(entry)
    result.page_info = parsed.page_info
    if parsed.problems and not parsed.records:
        # records were there but none could be read (e.g. one truncated catalogue entry): the
        # page yields nothing, so it counts as failed, not as parsed
        first = parsed.problems[0]
        _failed(result, f"no readable record on the page (position {first.position}: {first.reason})")
    for problem in parsed.problems:
        result.rejects.append(
            {"stage": "parse", "position": problem.position, "reason": problem.reason, "excerpt": problem.excerpt}
        )
    for record in parsed.records:
        data = {"sighting_id": f"{entry.page_id}:{record['position']}", "page_id": entry.page_id, **record}
        try:
            result.sightings.append(SightingRecord.model_validate(data))
        except ValidationError as exc:
            result.rejects.append(
                {
                    "stage": "validate",
                    "position": record.get("position"),
                    "reason": _one_line(exc),
                    "excerpt": str(record.get("title") or record.get("abstract") or "")[:120],
                    "record": json.dumps(record, ensure_ascii=False, default=str),
                }
            )
    if parsed.records and not result.sightings and result.error is None:
        # every record failed validation: the page yields nothing, like an unreadable page
        _failed(result, f"no valid record on the page ({len(parsed.records)} rejected at validation)")
    return result


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


def _failed(result: PageResult, reason: str) -> PageResult:
    result.error = reason
    result.rejects.append({"stage": "parse", "position": None, "reason": reason, "excerpt": None})
    return result


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)
