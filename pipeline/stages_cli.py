"""`fetch`, `parse` and `load`: the stages of `ingest`, each run alone from its input files.

Registered lazily by pipeline/cli.py. Each reads what the stage before it left on disk and
leaves its own output there: fetch the network into raw/, parse raw/ into record files, load the
record files into the warehouse (`pipeline dedup` then groups editions and works). A stage
killed half-way is run again and finishes the job from the files it finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from pipeline.cli import (
    EXIT_CONFIG,
    EXIT_NOTHING_PROCESSED,
    EXIT_USAGE,
    _exit_code,
    _fail,
    _raw_option,
    _sources_file_option,
    os_error_line,
)
from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import Interrupted, PipelineError, WarehouseError, io_message

if TYPE_CHECKING:
    import duckdb

    from pipeline.backend import Writer
    from pipeline.cli import Signals
    from pipeline.runs import RunSummary
    from pipeline.settings import Settings


def last_run_file(settings: Settings, summary: RunSummary, code: int) -> None:
    """The monitoring file beside the warehouse, as ingest writes it: a stage run alone is a run too.

    Written after the publish; a file that cannot be written leaves the run published and says so.
    """
    from pipeline.cli import _write_last_run

    try:
        _write_last_run(settings.db_path, summary, code)
    except OSError as exc:
        click.echo(f"warning: run {summary.run_id} was published; its last-run file is not written: {exc}", err=True)


def _finish_and_publish(
    con: duckdb.DuckDBPyConnection, work: Writer, settings: Settings, summary: RunSummary, strict: bool
) -> int:
    """A stage's run ended: its record and exit code, the warehouse published, last-run.json; the exit code.

    One step, run shielded by the caller, so a signal arriving now waits until the run is recorded.
    """
    from pipeline.cli import run_exit_code
    from pipeline.runs import finish_run, record_exit_code

    finish_run(con, summary)
    code = run_exit_code(summary, strict)
    record_exit_code(con, summary.run_id, code)
    work.publish()
    last_run_file(settings, summary, code)
    return code


def _end_failed_stage(
    exc: Exception, work: Writer | None, settings: Settings | None, summary: RunSummary | None, signals: Signals
) -> NoReturn:
    """A stage that raised: a signal DuckDB took for its own, a refusal, an I/O error, else a bug (re-raised)."""
    from pipeline.cli import _end_interrupted

    if signals.raised is not None:  # DuckDB ran the handler itself and raised "Query interrupted"
        _end_interrupted(work, settings, signals.raised, summary, signals)
    if isinstance(exc, PipelineError):
        _fail(str(exc), _exit_code(exc))
    if isinstance(exc, OSError):
        _fail(os_error_line(exc), EXIT_CONFIG)
    raise exc


_source_option = click.option(
    "--source",
    "only_sources",
    multiple=True,
    metavar="NAME",
    help="Only this source (repeatable), as `ingest --source`.",
)


@click.command()
@warehouse_options()
@_raw_option
@_sources_file_option
@_source_option
@click.option(
    "--full", is_flag=True, help="Walk every listing page and re-validate every known page (conditional requests)."
)
@click.option("--strict", is_flag=True, help="Exit 3 when a source could not be fetched or pages were lost.")
def fetch(
    db: str | None,
    data_path: Path | None,
    raw: Path | None,
    sources_path: Path | None,
    only_sources: tuple[str, ...],
    full: bool,
    strict: bool,
) -> None:
    """Crawl the sites into the raw archive (raw/) and nothing else: `parse` and `load` take it from there.

    The warehouse only records the run (its row in `runs`); the crawl's requests go to raw/'s
    fetch log, which `load` copies into `fetches`.
    """
    from pipeline.archive import Archive
    from pipeline.cli import Signals, _end_interrupted, archive_write_failure, probe_writable
    from pipeline.ingest import IngestOptions, crawl_step
    from pipeline.runs import start_run
    from pipeline.sources import load_sources
    from pipeline.warehouse import hold_sources, migrate, open_writer

    work = settings = summary = None
    signals = Signals()
    with signals:
        try:
            settings = settings_from(db, data_path, raw_dir=raw, sources_file=sources_path)
            declared = load_sources(settings.sources_file, contact=settings.contact)
            if only_sources:
                unknown = sorted(set(only_sources) - {s.name for s in declared.sources})
                if unknown:
                    _fail(f"--source {', '.join(unknown)} is not declared in {settings.sources_file}", EXIT_USAGE)
                kept = [s for s in declared.sources if s.name in only_sources]
                declared = declared.model_copy(update={"sources": kept})
            archive = Archive(settings.raw_dir)
            probe_writable(settings.raw_dir)
            before = len(archive.entries())
            options = IngestOptions(
                full=full, parse_timeout_s=settings.parse_timeout_s, stop_early=not settings.walk_to_end
            )
            work = open_writer(settings.db_path)
            con = work.open()
            migrate(con)
            hold_sources(con, sorted(only_sources) or None)
            summary = start_run(con, "fetch", {"full": full, "crawl": True})
            step = crawl_step(declared, archive, options)
            work.detach()  # the crawl writes only raw/: no warehouse lock while a site is slow
            try:
                step(summary)
            finally:
                con = work.reopen()
            if summary.status == "running":
                summary.status = "ok"
            failure = archive_write_failure(step.report)
            with signals.shielded(deliver=False):  # the run is done: a signal now waits for its record
                code = _finish_and_publish(con, work, settings, summary, strict)
        except Interrupted as stop:
            _end_interrupted(work, settings, stop, summary, signals)
        except Exception as exc:
            _end_failed_stage(exc, work, settings, summary, signals)
        finally:
            if work is not None:
                work.close()
    assert summary is not None and settings is not None  # every other ending has exited
    for failure_line in summary.failures:
        click.echo(f"error: {failure_line}", err=True)
    if failure is not None:
        _fail(io_message(failure[0], failure[1] or str(settings.raw_dir), unchanged="the crawl stopped"), EXIT_CONFIG)
    added = len(archive.entries()) - before
    click.echo(
        f"run {summary.run_id} {summary.status}: {added} pages added to {settings.raw_dir}; "
        "`pipeline parse` then `pipeline load` bring them to the warehouse"
        + ("; " + "; ".join(summary.notes) if summary.notes else "")
    )
    if code:
        raise SystemExit(code)


@click.command()
@warehouse_options(read_only=True)
@_raw_option
@_source_option
@click.option("--reparse", is_flag=True, help="Parse every archived page again, not only new ones.")
def parse(
    db: str | None, data_path: Path | None, raw: Path | None, only_sources: tuple[str, ...], reparse: bool
) -> None:
    """Parse the archived pages the warehouse has not parsed yet into record files, for `load`.

    One JSON Lines file per batch under the warehouse's `.build/records/`; pages already in a
    record file (a parse killed half-way) are not parsed again. Exits 1 when there were pages to
    parse and none could be, 5 when the archive is damaged.
    """
    from pipeline.archive import Archive
    from pipeline.stages import Parse, records_dir
    from pipeline.verify import index_problem
    from pipeline.warehouse import connect

    sources = frozenset(only_sources) or None
    try:
        settings = settings_from(db, data_path, raw_dir=raw)
        archive = Archive(settings.raw_dir)
        lost = index_problem(archive)
        if lost:
            _fail(lost, EXIT_CONFIG)
        try:
            con = connect(settings.db_path, read_only=True)
        except WarehouseError:  # none yet (or unreadable): every archived page is new to it
            con = None
        folder = records_dir(settings.db_path, sources)
        try:
            stage = Parse(
                con,
                archive,
                folder,
                reparse=reparse,
                sources=sources,
                batch_pages=settings.load_batch_pages,
                parse_timeout_s=settings.parse_timeout_s,
                parse_workers=settings.parse_workers,
            )
        finally:
            if con is not None:
                con.close()
        for _ in stage:
            pass
    except PipelineError as exc:
        _fail(str(exc), _exit_code(exc))
    except OSError as exc:
        _fail(os_error_line(exc), EXIT_CONFIG)
    click.echo(
        f"parse: {stage.pages_ok} pages parsed, {stage.pages_failed} failed, {stage.skipped} already done; "
        f"{stage.files_written} record files written, {stage.files_waiting} already waiting, in {folder}"
        + (f"; archive damaged: {stage.damaged} bodies unreadable (see `archive verify`)" if stage.damaged else "")
    )
    if stage.damaged:
        raise SystemExit(EXIT_CONFIG)
    if stage.todo and stage.pages_ok == 0 and stage.pages_failed:
        raise SystemExit(EXIT_NOTHING_PROCESSED)


@click.command()
@warehouse_options()
@_raw_option
@_source_option
def load(db: str | None, data_path: Path | None, raw: Path | None, only_sources: tuple[str, ...]) -> None:
    """Load the record files `parse` wrote into the warehouse, one transaction each, and remove them.

    Registers the archived pages and copies raw/'s fetch log too; editions and works are
    updated by `pipeline dedup` (or the next ingest). Exit codes as `ingest`'s.
    """
    from pipeline.archive import Archive
    from pipeline.cli import Signals, _end_interrupted
    from pipeline.ingest import quarantine_step
    from pipeline.runs import finish_run, start_run
    from pipeline.stages import load_stage, pending_files, records_dir, run_status
    from pipeline.verify import index_problem
    from pipeline.warehouse import hold_sources, migrate, open_writer

    sources = frozenset(only_sources) or None
    work = settings = summary = None
    signals = Signals()
    with signals:
        try:
            settings = settings_from(db, data_path, raw_dir=raw)
            archive = Archive(settings.raw_dir)
            lost = index_problem(archive)
            if lost:
                _fail(lost, EXIT_CONFIG)
            folder = records_dir(settings.db_path, sources)
            work = open_writer(settings.db_path)
            con = work.open()
            migrate(con)
            hold_sources(con, sorted(sources) if sources is not None else None)
            summary = start_run(con, "load", {"sources": sorted(sources) if sources is not None else None})
            try:
                quarantine_step(con, archive, summary)
                loaded = load_stage(con, archive, summary, pending_files(folder), sources=sources)
                summary.status = run_status(summary, loaded.had_work)
            except Exception as exc:
                summary.status = "failed"
                summary.failures.insert(0, f"{type(exc).__name__}: {exc}")
                finish_run(con, summary)
                raise
            with signals.shielded(deliver=False):  # the run is done: a signal now waits for its record
                code = _finish_and_publish(con, work, settings, summary, strict=False)
        except Interrupted as stop:
            _end_interrupted(work, settings, stop, summary, signals)
        except Exception as exc:
            _end_failed_stage(exc, work, settings, summary, signals)
        finally:
            if work is not None:
                work.close()
    assert summary is not None  # every other ending has exited
    for failure in summary.failures:
        click.echo(f"error: {failure}", err=True)
    click.echo(summary.message)
    if code:
        raise SystemExit(code)
