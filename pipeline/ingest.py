"""Run the pipeline once: (fetch into raw/,) register archived pages, parse and load the new ones."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TypeVar

import duckdb

from pipeline.archive import Archive, ArchiveEntry
from pipeline.load import register_pages, write_batch
from pipeline.parse import parse_entry
from pipeline.runs import RunSummary, finish_run, start_run

log = logging.getLogger(__name__)

T = TypeVar("T")

#: progress callback: (stage, done, total)
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class IngestOptions:
    reparse: bool = False
    batch_pages: int = 200


def parse_and_load(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    summary: RunSummary,
    options: IngestOptions,
    progress: Progress | None = None,
) -> RunSummary:
    """Register every archived page, then parse and load those not processed yet.

    A page already parsed (or already failed) by an earlier run is skipped unless `reparse`:
    the archive never changes under a page_id, so parsing it again would only repeat work.
    """
    entries = archive.entries()
    summary.pages_archived = len(entries)
    summary.pages_new = register_pages(con, summary.run_id, entries)
    wanted = "TRUE" if options.reparse else "parse_status = 'pending'"
    todo_ids = {row[0] for row in con.execute(f"SELECT page_id FROM raw_pages WHERE {wanted}").fetchall()}
    todo = [e for e in entries if e.page_id in todo_ids]
    summary.pages_skipped = len(entries) - len(todo)
    done = 0
    for batch in _chunks(todo, options.batch_pages):
        results = [parse_entry(archive, entry) for entry in batch]
        added, rejected = write_batch(con, summary.run_id, results)
        summary.sightings_added += added
        summary.rejects_added += rejected
        for result in results:
            if result.ok:
                summary.pages_parsed += 1
            else:
                summary.pages_failed += 1
                summary.failures.append(_describe(result.entry, result.error or ""))
        done += len(batch)
        if progress:
            progress("parse", done, len(todo))
    if summary.status == "running":
        if todo and summary.pages_parsed == 0:
            summary.status = "failed"
        elif summary.pages_failed:
            summary.status = "partial"
        else:
            summary.status = "ok"
    return summary


def run_ingest(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    options: IngestOptions,
    *,
    command: str = "ingest",
    fetch: Callable[[RunSummary], None] | None = None,
    progress: Progress | None = None,
) -> RunSummary:
    """One run, recorded in `runs` whatever happens inside it."""
    summary = start_run(con, command, {"reparse": options.reparse})
    try:
        if fetch is not None:
            fetch(summary)
        parse_and_load(con, archive, summary, options, progress)
    except BaseException as exc:
        summary.status = "failed"
        summary.failures.insert(0, f"{type(exc).__name__}: {exc}")
        finish_run(con, summary)
        raise
    finish_run(con, summary)
    return summary


def _describe(entry: ArchiveEntry, reason: str) -> str:
    where = entry.url or entry.label or entry.sha256[:12]
    return f"{entry.format} page {entry.page_id} ({where}): {reason}"


def _chunks(items: Sequence[T], size: int) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
