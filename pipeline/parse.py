"""Turn archived pages into validated sighting records; reads only raw/, never the warehouse.

The result types live in `pipeline/page_result.py`, which imports no parser and no model, so the
loading process can receive results from parse workers without importing what made them.
"""

from __future__ import annotations

import json
from typing import Protocol

from pydantic import ValidationError

from parsers import PARSERS, ParsedPage, ParseError, ShapeError
from pipeline.archive import Archive, ArchiveEntry
from pipeline.errors import ArchiveError
from pipeline.models import SightingRecord
from pipeline.page_result import PageResult, ParsedPages, archive_failure, sighting_row
from pipeline.page_result import failed as _failed


class PageParser(Protocol):
    """What runs a parser for `parse_entry` (`parse_pool.PagePool`: in a worker, under a time limit).

    Declared here rather than imported: the pool runs this module's validation in its workers, so
    it depends on this module, and this module only on the one method it calls.
    """

    def parse(self, fmt: str, body: bytes, url: str | None) -> ParsedPage: ...


def parse_entry(archive: Archive, entry: ArchiveEntry, pool: PageParser | None = None) -> PageResult:
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


def _one_line(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        where = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{where}: {err['msg']}")
    return "; ".join(parts)


__all__ = [
    "PageParser",
    "PageResult",
    "ParsedPages",
    "archive_failure",
    "parse_entry",
    "result_from_parsed",
    "sighting_row",
]
