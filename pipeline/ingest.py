"""Run the pipeline once: crawl into raw/ (unless offline), then parse and load the new pages."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from pipeline.archive import Archive, FetchLog
from pipeline.errors import ArchiveError
from pipeline.load import write_rejects
from pipeline.page_result import ParsedPages
from pipeline.runs import RunSummary, finish_run, record_dedup, start_run
from pipeline.settings import default
from pipeline.sources import SourcesFile
from pipeline.stages import Parse, Progress, load_stage, run_status
from pipeline.verify import bad_line_problem, index_problem, quarantine_archive_lines
from pipeline.warehouse import commit_retries, exclusive_dedup, hold_sources

if TYPE_CHECKING:
    from pipeline.backend import Location
    from pipeline.crawl import CrawlProgress, CrawlReport, SourceReport

#: (open connection, crawl) -> (new connection, the crawl's exception or None); see run_ingest
Detach = Callable[[duckdb.DuckDBPyConnection, Callable[[], None]], tuple[duckdb.DuckDBPyConnection, Exception | None]]

log = logging.getLogger(__name__)

__all__ = ["IngestOptions", "Progress", "crawl_step", "dedup_step", "parse_and_load", "quarantine_step", "run_ingest"]


@dataclass(frozen=True)
class IngestOptions:
    reparse: bool = False
    full: bool = False
    batch_pages: int = default("load_batch_pages")
    #: run the deduplication pass after the load (when its inputs changed)
    dedup: bool = True
    overrides_path: Path | None = None
    #: new texts the dedup pass embeds for cross-language matching (see Settings.embed_budget)
    embed_budget: int = default("embed_budget")
    #: vectors shared between warehouses (see Settings.vector_cache); None: the warehouse's own only
    vector_cache: Path | None = None
    #: per-page parse time limit in seconds (see Settings.parse_timeout_s)
    parse_timeout_s: float = default("parse_timeout_s")
    #: parser processes, each parsing one batch of pages at a time
    parse_workers: int = default("parse_workers")
    #: load only the archived pages of these sources (None: all); see `ingest --source`
    sources: frozenset[str] | None = None
    #: stop paging a section at known cards instead of walking it to its end (Settings.walk_to_end)
    stop_early: bool = False
    #: complete walks without an edition before it is withdrawn (Settings.withdraw_after_walks)
    withdraw_after_walks: int = default("withdraw_after_walks")
    #: where parse leaves its record files for the load (stages.records_dir); None: a private folder
    records: Path | None = None
    #: the warehouse's location, whose search index is brought up to date after the dedup pass
    #: (warehouse.search_index); None: no index (a run inside a test or a benchmark)
    search_for: Location | None = None


def parse_and_load(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    summary: RunSummary,
    options: IngestOptions,
    progress: Progress | None = None,
    parsed_pages: ParsedPages | None = None,
) -> RunSummary:
    """Parse, load and dedup in order (pipeline/stages.py), the load taking each record file as it is written.

    Pages in `parsed_pages` (parsed by this run's crawl, from the bytes it archived) are written
    to record files without being read and parsed again. A page already parsed (or already
    failed) by an earlier run is skipped unless `reparse`: the archive never changes under a
    page_id. Record files an earlier parse left are loaded first and their pages not parsed again.
    """
    with _records_folder(options) as folder:
        parse = Parse(
            con,
            archive,
            folder,
            reparse=options.reparse,
            sources=options.sources,
            batch_pages=options.batch_pages,
            parse_timeout_s=options.parse_timeout_s,
            parse_workers=options.parse_workers,
            parsed_pages=parsed_pages,
        )
        summary.pages_skipped = parse.skipped
        loaded = load_stage(
            con, archive, summary, parse, sources=options.sources, total=len(parse.todo), progress=progress
        )
    if options.dedup:
        dedup_step(
            con,
            summary,
            options.overrides_path,
            options.embed_budget,
            new_walks=loaded.new_walks,
            withdraw_after_walks=options.withdraw_after_walks,
            vector_cache=options.vector_cache,
        )
        if options.search_for is not None:
            from pipeline.search import refresh

            summary.search_index, note = refresh(con, options.search_for, options.embed_budget, options.vector_cache)
            if note:
                summary.notes.append(note)
    if summary.status == "running" or (summary.archive_damage and summary.status == "offline"):
        summary.status = run_status(summary, loaded.had_work)
    return summary


@contextlib.contextmanager
def _records_folder(options: IngestOptions) -> Iterator[Path]:
    """The run's record files: the warehouse's folder (`stages.records_dir`), or a private one removed after.

    A caller that names no folder (a test, a benchmark) gets a run that leaves nothing behind.
    """
    if options.records is not None:
        yield options.records
        return
    with tempfile.TemporaryDirectory(prefix="iom-records-") as private:
        yield Path(private)


def dedup_step(
    con: duckdb.DuckDBPyConnection,
    summary: RunSummary,
    overrides_path: Path | None,
    embed_budget: int = default("embed_budget"),
    *,
    new_walks: int = 0,
    withdraw_after_walks: int = default("withdraw_after_walks"),
    vector_cache: Path | None = None,
) -> None:
    """Re-cluster editions and works, unless nothing it reads changed since the last pass.

    Its inputs are the publication sightings and the overrides file; when neither changed, a
    pass would rewrite the same clusters, so it is skipped. The change log is still brought up
    to date when the run loaded `new_walks`: walks that show nothing new are exactly what
    withdraws an edition the sites stopped listing (pipeline/changes.py), and the clusters they
    are judged against are the last pass's, which are current.

    On a lake, workers finishing together queue for one lease (`warehouse.exclusive_dedup`):
    the first runs the pass and records its fingerprint on its run at once, the next ones
    then find it current, or run it again for the rows loaded since.
    """
    with exclusive_dedup(con):
        fingerprint = _dedup_fingerprint(con, overrides_path)
        last = con.execute(
            "SELECT dedup->>'fingerprint', coalesce(TRY_CAST(dedup->>'texts_pending' AS INTEGER), 0) FROM runs "
            "WHERE dedup->>'dedup_run_id' IS NOT NULL AND run_id <> ? "
            "ORDER BY TRY_CAST(dedup->>'dedup_run_id' AS BIGINT) DESC LIMIT 1",
            [summary.run_id],
        ).fetchone()
        # a pass that left texts without vectors (embed budget) is not finished: run it again
        if last and last[0] == fingerprint and last[1] == 0:
            summary.dedup = {"fingerprint": fingerprint, "skipped": True}
            last_pass = con.execute("SELECT max(dedup_run_id) FROM dedup_runs").fetchone()
            if new_walks and last_pass and last_pass[0] is not None:
                from pipeline import changes

                logged = changes.record(con, int(last_pass[0]), summary.run_id, withdraw_after_walks)
                if logged:
                    summary.dedup["changes"] = logged
                    summary.notes.append(changes.describe(logged))
            return
        from pipeline.dedup import run_dedup

        result = run_dedup(con, overrides_path, embed_budget, summary.run_id, withdraw_after_walks, vector_cache)
        summary.dedup = {"fingerprint": fingerprint, **result.as_dict()}
        summary.notes.append(f"{result.editions} editions, {result.works} works")
        record_dedup(con, summary)


def _dedup_fingerprint(con: duckdb.DuckDBPyConnection, overrides_path: Path | None) -> str:
    count, last_run, ids = con.execute(
        "SELECT count(*), max(run_id), bit_xor(hash(sighting_id)) FROM sightings WHERE kind = 'publication'"
    ).fetchone() or (0, None, None)
    overrides = ""
    if overrides_path is not None and overrides_path.exists():
        overrides = hashlib.sha256(overrides_path.read_bytes()).hexdigest()[:16]
    return f"{count}:{last_run}:{ids}:{overrides}"


def quarantine_step(con: duckdb.DuckDBPyConnection, archive: Archive, summary: RunSummary) -> None:
    """Move unreadable manifest and fetch-log lines aside before anything reads them.

    One bad line used to fail every later run at the bulk load; moved out with its reason (a
    reject of stage `archive`, a failure of this run), it is reported once and the rest loads.
    """
    moved = quarantine_archive_lines(archive)
    rows = []
    for line in moved:
        problem = str(bad_line_problem(archive, line))
        summary.failures.append(f"archive: {problem}")
        summary.archive_damage.append(problem)
        rows.append({"stage": "archive", "reason": problem, "excerpt": line.text[:120]})
    if rows:
        summary.rejects_added += write_rejects(con, summary.run_id, rows)


def crawl_step(
    sources: SourcesFile,
    archive: Archive,
    options: IngestOptions,
    progress: CrawlProgress | None = None,
    parsed_pages: ParsedPages | None = None,
) -> CrawlStep:
    """The fetch stage as a step of a run: crawl, then note what happened on the run.

    With `parsed_pages`, the pages the crawl parsed are kept for the load (see `run_ingest`).
    """
    return CrawlStep(sources, archive, options, progress, parsed_pages)


class CrawlStep:
    """Crawl once, note the outcome on the run, and keep the report for the caller.

    The report stays typed after the step (`report.archive_write_error`): the command line tells
    a raw/ that refused a write by the error's type and errno, not by the words of `runs.crawl`.
    """

    def __init__(
        self,
        sources: SourcesFile,
        archive: Archive,
        options: IngestOptions,
        progress: CrawlProgress | None = None,
        parsed_pages: ParsedPages | None = None,
    ) -> None:
        self.sources = sources
        self.archive = archive
        self.options = options
        self.progress = progress
        self.parsed_pages = parsed_pages
        self.report: CrawlReport | None = None

    def __call__(self, summary: RunSummary) -> None:
        from pipeline.crawl import CrawlOptions, crawl

        options = self.options
        crawl_options = CrawlOptions(
            full=options.full,
            run_id=summary.run_id,
            parse_timeout_s=options.parse_timeout_s,
            stop_early=options.stop_early,
        )
        crawling = crawl(
            self.sources, self.archive, FetchLog(self.archive.root), crawl_options, self.progress, self.parsed_pages
        )
        self.report = asyncio.run(crawling)
        _note_crawl(summary, self.report)


def _note_crawl(summary: RunSummary, report: CrawlReport) -> None:
    """What the crawl tells the run: per-source outcomes, alerts, losses and the run's status."""
    summary.crawl = report.as_dict()
    summary.layout_alerts = report.layout_alerts
    summary.sources_unreachable = [s.name for s in report.unreachable]
    if report.unreachable:
        summary.notes.append(
            f"{len(report.unreachable)} of {len(report.sources)} sources not crawled, archive used for them"
        )
    for lost in report.lost_listings:
        summary.failures.append(f"listing lost: {lost}")
    for source in report.sources:
        _note_details(summary, source)
    stopped = [s for s in report.sources if s.status in ("stopped", "failed")]
    for source in stopped:
        summary.failures.append(f"{source.name}: {source.reason}")
    if report.offline:
        summary.status = "offline"
    elif report.lost_listings or report.lost_details or stopped:
        summary.status = "partial"  # cards of those listings, or those detail pages, are missing


#: detail pages named one by one among a run's failures (the rest are counted, and in runs.crawl)
DETAILS_NAMED = 20


def _note_details(summary: RunSummary, source: SourceReport) -> None:
    """A source's detail pages given up become failures; gone and disallowed ones only a note.

    Bounded: a site answering 503 to every page would otherwise print thousands of lines.
    """
    for lost in source.lost_details[:DETAILS_NAMED]:
        summary.failures.append(f"detail page given up: {source.name}: {lost}")
    if len(source.lost_details) > DETAILS_NAMED:
        more = len(source.lost_details) - DETAILS_NAMED
        summary.failures.append(f"{source.name}: {more} more detail pages given up (see runs.crawl)")
    if source.gone_details:
        summary.notes.append(
            f"{source.name}: {len(source.gone_details)} detail pages gone from the site (404/410), their cards loaded"
        )
    if source.disallowed_details:
        summary.notes.append(f"{source.name}: {len(source.disallowed_details)} detail pages disallowed by robots.txt")


def run_ingest(
    con: duckdb.DuckDBPyConnection,
    archive: Archive,
    options: IngestOptions,
    *,
    command: str = "ingest",
    fetch: Callable[[RunSummary], None] | None = None,
    progress: Progress | None = None,
    detach: Detach | None = None,
    parsed_pages: ParsedPages | None = None,
) -> RunSummary:
    """One run, recorded in `runs` whatever happens inside it.

    With `detach`, the fetch runs with the warehouse closed: detach(con, crawl) closes the
    connection, crawls (which writes only raw/) and returns a new connection and the crawl's
    error, if any. A crawl that hangs until its budget then holds no DuckDB lock.

    Refused before it starts (ArchiveError) when the manifest is lost while objects remain:
    see `verify.index_problem`.

    `parsed_pages`, shared with `crawl_step`, carries the crawl's parses to the load.
    """
    lost = index_problem(archive)
    if lost:
        raise ArchiveError(lost)
    retries_before = commit_retries()
    # before the run row: a worker refused its sources (exit 4) leaves nothing behind
    hold_sources(con, sorted(options.sources) if options.sources is not None else None)
    summary = start_run(con, command, {"reparse": options.reparse, "full": options.full, "crawl": fetch is not None})

    def close(con: duckdb.DuckDBPyConnection) -> None:
        retries, alone = (now - before for now, before in zip(commit_retries(), retries_before, strict=True))
        summary.commit_retries = retries
        if retries:
            summary.notes.append(
                f"{retries} lake commits redone after conflicts with other workers ({alone} of them alone)"
            )
        finish_run(con, summary)

    try:
        quarantine_step(con, archive, summary)
        if fetch is not None and detach is not None:
            con, error = detach(con, lambda: fetch(summary))
            if error is not None:
                raise error
        elif fetch is not None:
            fetch(summary)
        parse_and_load(con, archive, summary, options, progress, parsed_pages)
    except BaseException as exc:
        summary.status = "failed"
        summary.failures.insert(0, f"{type(exc).__name__}: {exc}")
        close(con)
        raise
    close(con)
    return summary
