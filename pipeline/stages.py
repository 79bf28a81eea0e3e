"""The stages of a run and the record files between parse and load.

Why files: a stage that hands off in memory cannot be run alone, and a crash loses its work.
`parse` writes one JSON Lines file per batch of pages (a page result per line, its sightings
serialised through `models.SightingRecord`) under the warehouse's build folder; `load` reads
them, writes each batch in one transaction and removes its file once that is committed. A
killed parse leaves whole files only (each is written aside and renamed into place), so the next
`parse` skips the pages they hold and the next `load` loads them: nothing parsed is lost or
loaded twice. `ingest` runs the same functions in order, the load taking each file as soon as
the parse has written it, so both cores parse while the loading process loads.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.archive import AUXILIARY_FORMATS, Archive, ArchiveEntry, FetchLog
from pipeline.backend import build_dir
from pipeline.load import complete_from_details, register_fetches, register_pages, register_walks, write_batch
from pipeline.page_result import PageResult, ParsedPages, archive_failure

if TYPE_CHECKING:
    from pipeline.backend import Location
    from pipeline.runs import RunSummary

#: progress callback: (stage, done, total)
Progress = Callable[[str, int, int], None]

#: the record files' folder inside the warehouse's build folder
RECORDS = "records"
#: gzip, level 1: the record files share the warehouse's disk, and shrink to a quarter (92 KB -> 21 KB, the seeds)
SUFFIX = ".jsonl.gz"


def records_dir(where: Location, sources: frozenset[str] | None = None) -> Path:
    """Where the record files of a warehouse wait for their load.

    One folder per selection of sources: lake workers split by `--source` each load only the
    batches they parsed. A DuckDB file keeps them beside its working copy (`.build/`); a lake
    in its data folder's `.build/`.
    """
    build = build_dir(where)
    part = "all" if sources is None else hashlib.sha256("\n".join(sorted(sources)).encode()).hexdigest()[:12]
    return build / RECORDS / part


def batch_key(page_ids: Sequence[str]) -> str:
    """A batch's name: the hash of its pages, so the same pages cut the same way name the same file."""
    return hashlib.sha256("\n".join(page_ids).encode()).hexdigest()[:20]


#: an archive entry's fields, as its manifest line has them (asdict copies deeply, for nothing here)
_ENTRY_FIELDS = tuple(f.name for f in fields(ArchiveEntry))


# -- the record file format --------------------------------------------------------------------


def _line(result: PageResult, counted: bool) -> str:
    """One page result as one JSON line; `counted` False for a damaged page not parsed this run.

    Its sightings are `models.SightingRecord`s in their JSON form (field for field, `extra` an
    object), written from the warehouse rows the parse workers send (`PageResult.as_rows`): a
    model built and dumped again here would cost the loading process's core a second per
    thousand pages, for the same bytes.
    """
    sightings = []
    for row in result.sighting_rows():
        record = {name: value for name, value in row.items() if name != "source"}  # the page's own source
        record["extra"] = json.loads(row["extra"]) if row["extra"] else {}
        sightings.append(record)
    line = {
        "entry": {name: getattr(result.entry, name) for name in _ENTRY_FIELDS},
        "sightings": sightings,
        "rejects": result.rejects,
        "error": result.error,
        "page_info": result.page_info,
        "shape_mismatch": result.shape_mismatch,
        "archive_error": result.archive_error,
        "keep_rows": result.keep_rows,
        "counted": counted,
    }
    return json.dumps(line, ensure_ascii=False, default=str)


def write_records(folder: Path, results: Sequence[PageResult], *, counted: bool = True) -> Path:
    """Write one batch's record file atomically (aside, then renamed); returns its path."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{batch_key([r.entry.page_id for r in results])}{SUFFIX}"
    aside = path.with_name(path.name + ".tmp")
    try:
        with aside.open("wb") as raw, gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=1, mtime=0) as out:
            for result in results:
                out.write((_line(result, counted) + "\n").encode())
            out.close()
            raw.flush()
            os.fsync(raw.fileno())
        os.replace(aside, path)
    except OSError as exc:  # a full or read-only disk: no half file left, and the error names the file
        aside.unlink(missing_ok=True)
        if exc.filename is None:
            exc.filename = str(path)
        raise
    return path


def read_records(path: Path) -> list[tuple[PageResult, bool]]:
    """The page results of one record file, each with whether it counts as a page parsed this run.

    Sightings come back as warehouse rows (`PageResult.rows`): the loading process never
    imports the models, and writes what the parse validated.
    """
    results = []
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for text in lines:
            line = json.loads(text)
            entry = ArchiveEntry(**line["entry"])
            rows = []
            for record in line["sightings"]:
                extra = json.dumps(record["extra"], ensure_ascii=False) if record["extra"] else None
                rows.append({**record, "source": entry.source, "extra": extra})
            result = PageResult(
                entry,
                rows=rows,
                rejects=line["rejects"],
                error=line["error"],
                page_info=line["page_info"],
                shape_mismatch=line["shape_mismatch"],
                archive_error=line["archive_error"],
                keep_rows=line["keep_rows"],
            )
            results.append((result, bool(line["counted"])))
    return results


def pending_files(folder: Path) -> list[Path]:
    """Record files waiting for their load, oldest first (the order they were parsed in)."""
    if not folder.is_dir():
        return []
    return sorted(folder.glob(f"*{SUFFIX}"), key=lambda p: (p.stat().st_mtime_ns, p.name))


@dataclass(frozen=True)
class RecordFile:
    """A record file for the load, with its results when this process has just written it.

    Within one `ingest`, the load takes the results the parse holds in memory and does not read
    the file back (half a second per thousand pages on the loading process's core); the file is
    what a crash leaves for the next run, removed once the batch is committed either way.
    """

    path: Path
    written: list[tuple[PageResult, bool]] | None = None

    def results(self) -> list[tuple[PageResult, bool]]:
        return self.written if self.written is not None else read_records(self.path)


def _covered(files: Iterable[Path]) -> set[str]:
    """Pages the record files already hold (parsed by a run that did not load them)."""
    covered: set[str] = set()
    for path in files:
        with gzip.open(path, "rt", encoding="utf-8") as lines:
            covered.update(ArchiveEntry(**json.loads(text)["entry"]).page_id for text in lines)
    return covered


# -- parse: raw/ -> record files ----------------------------------------------------------------


def archived_entries(archive: Archive, sources: frozenset[str] | None) -> list[ArchiveEntry]:
    """The archived pages a run considers: not auxiliary files, and only the sources asked for."""
    return [
        e for e in archive.entries() if e.format not in AUXILIARY_FORMATS and (sources is None or e.source in sources)
    ]


class Parse:
    """The parse stage, planned: which pages to parse; iterating it writes their record files.

    Planned from the warehouse (read only: which pages an earlier run parsed) and the archive;
    every body is checked against its hash, parsed or not: a page not parsed this run whose
    body is damaged gets a record of its reject (its warehouse rows are kept, since nothing
    replaces them). Pages the record files already hold are not parsed again. Iterating yields
    every record file the load should take: those already there first, then each new one as
    soon as it is written.
    """

    def __init__(
        self,
        con: duckdb.DuckDBPyConnection | None,
        archive: Archive,
        folder: Path,
        *,
        reparse: bool = False,
        sources: frozenset[str] | None = None,
        batch_pages: int = 200,
        parse_timeout_s: float = 60.0,
        parse_workers: int = 2,
        parsed_pages: ParsedPages | None = None,
    ) -> None:
        self.archive = archive
        self.folder = folder
        self.batch_pages = batch_pages
        self.parse_timeout_s = parse_timeout_s
        self.parse_workers = parse_workers
        self.parsed_pages = parsed_pages
        self.entries = archived_entries(archive, sources)
        checked: dict[str, str | None] = {}

        def problem(sha: str) -> str | None:
            """Each object read and hashed at most once here; pages parsed this run are checked by their read."""
            if sha not in checked:
                checked[sha] = archive.object_problem(sha)
            return checked[sha]

        status = _statuses(con, self.entries, problem)
        if reparse:  # every page is parsed again: what waits from an earlier parse is stale
            for path in pending_files(folder):
                path.unlink()
        self.todo = [e for e in self.entries if reparse or status.get(e.page_id, "pending") == "pending"]
        todo_ids = {e.page_id for e in self.todo}
        self.skipped = len(self.entries) - len(self.todo)
        #: pages parsed already: a damaged body among them is said and recorded, its rows kept
        self.untouched = [
            archive_failure(e, why) for e in self.entries if e.page_id not in todo_ids and (why := problem(e.sha256))
        ]
        for result in self.untouched:
            result.keep_rows = True
        #: a page that was parsed before keeps its rows when its body cannot be read now
        self.parsed_before = {page_id for page_id, s in status.items() if s != "pending"}
        #: what iterating did, for the `parse` command's line: files found waiting, files written,
        #: pages written (parsed, or failed with their reason), damaged bodies met
        self.files_waiting = 0
        self.files_written = 0
        self.pages_ok = 0
        self.pages_failed = 0
        self.damaged = 0

    def _write(self, results: Sequence[PageResult], counted: bool = True) -> RecordFile:
        path = write_records(self.folder, results, counted=counted)
        self.files_written += 1
        for result in results:
            self.damaged += result.archive_error
            if counted:
                self.pages_ok += result.ok
                self.pages_failed += not result.ok
        return RecordFile(path, [(result, counted) for result in results])

    def __iter__(self) -> Iterator[RecordFile]:
        if self.folder.is_dir():  # a file a killed parse was writing: its pages are parsed again
            for torn in self.folder.glob(f"*{SUFFIX}.tmp"):
                torn.unlink()
        waiting = pending_files(self.folder)
        covered = _covered(waiting)
        self.files_waiting = len(waiting)
        yield from (RecordFile(path) for path in waiting)
        untouched = [r for r in self.untouched if r.entry.page_id not in covered]
        if untouched:
            yield self._write(untouched, counted=False)
        handed: list[PageResult] = []
        rest: list[ArchiveEntry] = []
        for entry in self.todo:
            if entry.page_id in covered:
                continue
            ready = self.parsed_pages.take(entry.page_id) if self.parsed_pages is not None else None
            if ready is None:
                rest.append(entry)
            else:
                ready.entry = entry
                handed.append(ready)
        for results in _chunks(handed, self.batch_pages):
            yield self._write(results)
        if not rest:
            return
        # the parse stack is imported only when there is a page to parse: a run with nothing new,
        # or one whose crawl handed every page over, never loads the parsers
        from pipeline.parse_pool import PagePool

        # workers read, check, parse and validate each batch; this process writes its record file
        with PagePool(self.parse_timeout_s, self.parse_workers, root=self.archive.root) as pool:
            for results in pool.map(_chunks(rest, self.batch_pages)):
                for result in results:
                    if result.archive_error:
                        result.keep_rows = result.entry.page_id in self.parsed_before
                yield self._write(results)


def _statuses(
    con: duckdb.DuckDBPyConnection | None, entries: Sequence[ArchiveEntry], problem: Callable[[str], str | None]
) -> dict[str, str]:
    """Each known page's parse status, a page that failed only on a body now whole counting as pending.

    The crawler fetches such a body again (same bytes, same page_id); without this the page
    would stay `failed` until someone ran --reparse.
    """
    if con is None:  # no warehouse yet: every page is new
        return {}
    status = dict(con.execute("SELECT page_id, parse_status FROM raw_pages").fetchall())
    failed = con.execute(
        "SELECT page_id, sha256 FROM raw_pages "
        "WHERE parse_status = 'failed' AND starts_with(parse_error, 'archive object ')"
    ).fetchall()
    listed = {e.page_id for e in entries}
    for page_id, sha in failed:
        if page_id in listed and problem(sha) is None:
            status[page_id] = "pending"
    return status


# -- load: record files -> warehouse ------------------------------------------------------------


def load_stage(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    summary: RunSummary,
    files: Iterable[RecordFile | Path],
    *,
    sources: frozenset[str] | None = None,
    total: int = 0,
    progress: Progress | None = None,
) -> Loaded:
    """Register the archived pages, load each record file in one transaction and remove it, then the fetch log."""
    entries = archived_entries(archive, sources)
    summary.pages_archived = len(entries)
    summary.pages_new = register_pages(con, summary.run_id, entries)
    done = 0
    had_work = False
    for batch in files:
        record_file = batch if isinstance(batch, RecordFile) else RecordFile(batch)
        lines = record_file.results()
        counted = [result for result, count in lines if count]
        for result, count in lines:
            if not count:  # a damaged page parsed before: said, its reject recorded, its rows kept
                summary.failures.append(describe(result.entry, result.error or ""))
                summary.archive_damage.append(describe(result.entry, result.error or ""))
            elif result.archive_error:
                summary.archive_damage.append(describe(result.entry, result.error or ""))
        if counted:
            had_work = True
            done = _load_batch(con, summary, [r for r, _ in lines], done, max(total, done + len(counted)), progress)
        else:
            summary.rejects_added += write_batch(con, summary.run_id, [r for r, _ in lines])[1]
        record_file.path.unlink()  # committed: the batch is in the warehouse, its file has done its job
    logged = [r for r in FetchLog(archive.root).records() if sources is None or r.get("source") in sources]
    register_fetches(con, logged)
    walks = register_walks(con, logged)
    complete_from_details(con)
    return Loaded(had_work, walks)


@dataclass(frozen=True)
class Loaded:
    """What a load tells the steps after it."""

    #: some page was to be parsed: a run that had work and parsed nothing failed
    had_work: bool
    #: section walks the fetch log added: the dedup step brings the change log up to date for them
    new_walks: int


def _load_batch(
    con: duckdb.DuckDBPyConnection,
    summary: RunSummary,
    results: list[PageResult],
    done: int,
    total: int,
    progress: Progress | None,
) -> int:
    """Write one batch of parsed pages and count its outcomes on the run; returns pages done."""
    added, rejected = write_batch(con, summary.run_id, results)
    summary.sightings_added += added
    summary.rejects_added += rejected
    for result in results:
        if result.ok:
            summary.pages_parsed += 1
        else:
            summary.pages_failed += 1
            summary.failures.append(describe(result.entry, result.error or ""))
            if result.shape_mismatch:
                summary.layout_alerts.append(describe(result.entry, result.error or ""))
            continue
        # a record given up on inside a good page is named too, with its position
        for reject in result.rejects:
            where = f"record {reject.get('position')} rejected at {reject['stage']}"
            summary.failures.append(describe(result.entry, f"{where}: {reject['reason']}"))
    done += len(results)
    if progress:
        progress("parse", done, total)
    return done


def run_status(summary: RunSummary, had_work: bool) -> str:
    """A loaded run's status: failed when it had pages to parse and parsed none, partial when any failed."""
    if had_work and summary.pages_parsed == 0:
        return "failed"
    if summary.pages_failed or summary.archive_damage:
        return "partial"
    return "ok"


def describe(entry: ArchiveEntry, reason: str) -> str:
    where = entry.url or entry.label or entry.sha256[:12]
    return f"{entry.format} page {entry.page_id} ({where}): {reason}"


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]
