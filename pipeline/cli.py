"""The command line: the only place that prints, and the only place that picks exit codes.

Exit codes: 0 success (some pages may have failed: see the run's rejects), 1 nothing could be
processed, 2 usage error (or a file `archive add` refuses), 3 strict run with a source unreachable
or a layout change, 4 the warehouse is locked by another process, 5 configuration or archive
error, or a run or `archive verify` that found the archive damaged.
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any, NoReturn

import click

from pipeline import __version__
from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import (
    ArchiveError,
    ConfigError,
    Interrupted,
    PipelineError,
    WarehouseError,
    WarehouseLockedError,
    io_failure,
    io_message,
)
from pipeline.settings import default_help

if TYPE_CHECKING:
    import duckdb
    from rich.progress import Progress

    from pipeline.archive import Archive
    from pipeline.backend import Location, Writer
    from pipeline.crawl import CrawlReport
    from pipeline.ingest import IngestOptions
    from pipeline.runs import RunSummary
    from pipeline.settings import Settings
    from pipeline.sources import SourcesFile

EXIT_NOTHING_PROCESSED = 1
EXIT_USAGE = 2
EXIT_STRICT = 3
EXIT_LOCKED = 4
EXIT_CONFIG = 5

_raw_option = click.option(
    "--raw",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help=f"Raw archive directory (pages as fetched). {default_help('raw_dir')}",
)
#: the sources file of the commands that crawl (`ingest`, `fetch`)
_sources_file_option = click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Sources file (TOML) declaring the sites to crawl. {default_help('sources_file')}",
)


#: commands that live beside their subsystem: name -> (module, attribute, first paragraph of its help).
#: Imported only when that command runs (or its own --help is asked for): `--help`, `stats` and
#: `ingest` do not pay for the OAI server, the report's tables or the exporters. The help
#: text is what `--help` lists; tests/test_cli.py checks it against each command's own.
LAZY_COMMANDS: dict[str, tuple[str, str, str]] = {
    "archive": ("pipeline.archive_cli", "archive", "Inspect or add to the raw archive."),
    "dedup": (
        "pipeline.dedup.cli",
        "dedup",
        "Group publication sightings into editions and works (a pass also runs after every ingest).",
    ),
    "fetch": (
        "pipeline.stages_cli",
        "fetch",
        "Crawl the sites into the raw archive (raw/) and nothing else: `parse` and `load` take it from there.",
    ),
    "export": (
        "pipeline.export_cli",
        "export_command",
        "Export editions or works: Parquet, CSV, JSON Lines, Dublin Core XML, CSL-JSON, RIS or BibTeX.",
    ),
    "lake": (
        "pipeline.lake_cli",
        "lake",
        "Run the warehouse as a DuckLake with its catalog in PostgreSQL (several writers at once).",
    ),
    "load": (
        "pipeline.stages_cli",
        "load",
        "Load the record files `parse` wrote into the warehouse, one transaction each, and remove them.",
    ),
    "parse": (
        "pipeline.stages_cli",
        "parse",
        "Parse the archived pages the warehouse has not parsed yet into record files, for `load`.",
    ),
    "query": (
        "pipeline.analyst",
        "query",
        "Run one read-only SQL statement against the warehouse and print the result.",
    ),
    "report": (
        "pipeline.report",
        "report",
        "Write the run report: counts per site, type, year and language; what the latest run added, changed "
        "and withdrew; merges and the rules behind them; quality flags, rejects, fetch failures.",
    ),
    "schema": ("pipeline.analyst", "schema", "Describe the warehouse's tables and views, with what each column means."),
    "settings": (
        "pipeline.settings_cli",
        "settings",
        "Show every setting with its value and where it came from (default, settings file, environment).",
    ),
    "search": (
        "pipeline.search_cli",
        "search",
        "Find publications in every language: ranked works, each with its editions, and why they matched.",
    ),
    "serve-oai": (
        "pipeline.oai_cli",
        "serve_oai",
        "Serve the warehouse over OAI-PMH 2.0 (oai_dc) at http://HOST:PORT/oai until Ctrl-C.",
    ),
}


class _LazyGroup(click.Group):
    """A group that imports a subcommand's module only when the command is looked up to run."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in self.commands and cmd_name in LAZY_COMMANDS:
            self.add_command(load_lazy_command(cmd_name), cmd_name)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        """Every command's I/O refusals (disk full, permission, read-only, not a file) end in one line, exit 5."""
        try:
            return super().invoke(ctx)
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # a closed pipe (`| head`): click's own quiet handling
                raise
            logging.getLogger(__name__).debug("I/O error", exc_info=True)
            _fail(os_error_line(exc), EXIT_CONFIG)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The listing, from the recorded help of commands not loaded yet (same text as click's)."""
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(len(n) for n in names)
        rows = []
        for name in names:
            if name in self.commands:
                cmd = self.commands[name]
                if not cmd.hidden:
                    rows.append((name, cmd.get_short_help_str(limit)))
            else:
                # click's own shortening, through a command that is only its help (the helper is deprecated)
                rows.append((name, click.Command(name, help=LAZY_COMMANDS[name][2]).get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)


def load_lazy_command(name: str) -> click.Command:
    """Import the module of a lazily registered command and return the command."""
    import importlib

    module, attribute, _help = LAZY_COMMANDS[name]
    return getattr(importlib.import_module(module), attribute)


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _exit_code(exc: PipelineError) -> int:
    if isinstance(exc, WarehouseLockedError):
        return EXIT_LOCKED
    if isinstance(exc, ConfigError | ArchiveError | WarehouseError):
        return EXIT_CONFIG
    return EXIT_NOTHING_PROCESSED


@click.group(cls=_LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="iom-pipeline")
@click.option("-v", "--verbose", is_flag=True, help="Log debug detail to stderr.")
def main(verbose: bool) -> None:
    """Keep a deduplicated DuckDB warehouse of the publications on the IOM knowledge sites."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # one line per request is the fetch log's job (raw/fetchlog.jsonl, table fetches), not stderr's
    logging.getLogger("httpx").setLevel(logging.DEBUG if verbose else logging.WARNING)


@main.command()
@warehouse_options()
@_raw_option
@_sources_file_option
@click.option("--offline", is_flag=True, help="Do not crawl: rebuild from the archive alone.")
@click.option(
    "--strict",
    is_flag=True,
    help="Exit 3 when a source could not be fetched, a listing's layout changed or pages were lost "
    "(run status partial), for cron alerts.",
)
@click.option(
    "--full", is_flag=True, help="Walk every listing page and re-validate every known page (conditional requests)."
)
@click.option("--reparse", is_flag=True, help="Parse every archived page again, not only new ones.")
@click.option(
    "--source",
    "only_sources",
    multiple=True,
    metavar="NAME",
    help="Crawl and load only this source (repeatable), e.g. to split the sources between workers. A NAME "
    "the sources file does not declare but the archive holds pages of is loaded and not crawled (a warning "
    "says so), online and offline alike; any other NAME is refused (exit 2).",
)
@click.option(
    "--no-dedup",
    "no_dedup",
    is_flag=True,
    help="Load only; editions and works are updated by the next run or by `pipeline dedup` "
    "(for several loads in a row, or to time the load apart).",
)
def ingest(
    db: str | None,
    data_path: Path | None,
    raw: Path | None,
    sources_path: Path | None,
    offline: bool,
    strict: bool,
    full: bool,
    reparse: bool,
    no_dedup: bool,
    only_sources: tuple[str, ...],
) -> None:
    """Crawl the sites into the raw archive, then build or update the warehouse from it.

    Sites that cannot be reached are reported in one line each and the warehouse is built from
    the archive that is there (run status `offline`, exit 0 unless --strict). Pages already
    processed by an earlier run (same source, URL and body) are skipped, so a second run adds a
    `runs` row and nothing else. Pages that cannot be parsed are recorded in `rejects` with their
    reason and the run goes on; it exits 1 only if nothing could be processed.
    """
    from pipeline import runs

    signals = Signals()
    run = _IngestRun(before=runs.last_started())  # a run started by an earlier ingest in this process is not ours
    with signals:
        try:
            settings = run.settings = settings_from(db, data_path, raw_dir=raw, sources_file=sources_path)
            request = _IngestRequest(offline, strict, full, reparse, no_dedup, only_sources, sources_path is not None)
            _run_ingest(run, settings, request, signals)
        except Interrupted as stop:
            _end_interrupted(run.work, run.settings, stop, run.ours(), signals)
        except click.ClickException:
            raise
        except BaseException as exc:
            _end_failed(run, exc, signals)
        finally:
            _close_quietly(run.work)
    _say_ending(run)


@dataclass(frozen=True)
class _IngestRequest:
    """What the command line asked of one ingest."""

    offline: bool
    strict: bool
    full: bool
    reparse: bool
    no_dedup: bool
    only_sources: tuple[str, ...]
    sources_named: bool


@dataclass
class _IngestRun:
    """What one ingest holds while it runs, for its ending (normal, refused, interrupted or failed)."""

    before: RunSummary | None
    settings: Settings | None = None
    work: Writer | None = None
    summary: RunSummary | None = None
    code: int = 0
    #: a refusal met after the run was recorded (errno, path): said last, exit 5
    refused: tuple[int, str | None] | None = None
    refused_note: str = ""

    def ours(self) -> RunSummary | None:
        """The run this ingest started, if it got that far."""
        from pipeline import runs

        return _ours(runs.last_started(), self.before)


def _run_ingest(run: _IngestRun, settings: Settings, request: _IngestRequest, signals: Signals) -> None:
    """Choose the sources, crawl and load in one recorded run, then publish it with its exit code."""

    from pipeline.archive import Archive
    from pipeline.ingest import crawl_step, run_ingest
    from pipeline.page_result import ParsedPages
    from pipeline.warehouse import migrate, open_writer

    archive = Archive(settings.raw_dir)
    options = _ingest_options(settings, request)
    sources = _sources_to_crawl(settings, archive, request)
    if sources is not None:
        probe_writable(settings.raw_dir)  # a crawl into a read-only raw/ is refused before it starts
    work = run.work = open_writer(settings.db_path)
    con = work.open()
    ui = ProgressUI(sys.stderr.isatty())
    migrate(con)
    parsed_pages = ParsedPages()  # the crawl's parses, handed to the load: no page parsed twice
    fetch = crawl_step(sources, archive, options, ui.crawl, parsed_pages) if sources else None

    def detach(con: duckdb.DuckDBPyConnection, crawl: Callable[[], None]) -> tuple[Any, Any]:
        work.detach()  # the crawl writes only raw/: no DuckDB lock while a site is slow
        error: BaseException | None = None
        try:
            crawl()
        except BaseException as exc:  # a signal too: the run is closed on the reopened copy
            error = exc
        with signals.shielded():
            return work.reopen(), error

    with ui:
        summary = run.summary = run_ingest(
            con, archive, options, fetch=fetch, progress=ui.parse, detach=detach, parsed_pages=parsed_pages
        )
    if signals.raised is not None:  # a signal some step took for an error of its own and went on
        raise signals.raised
    run.code = run_exit_code(summary, request.strict)
    failure = archive_write_failure(fetch.report if fetch is not None else None)
    if failure is not None:  # the run loaded what raw/ held; the crawl could not add to it
        run.refused = (failure[0], failure[1] or str(settings.raw_dir))
        run.refused_note = "the crawl stopped; the warehouse holds what raw/ held"
        run.code = EXIT_CONFIG
    with signals.shielded(deliver=False):  # the run is done: a signal now only waits for the publish
        _publish_run(run, work, settings, summary)


def _ingest_options(settings: Settings, request: _IngestRequest) -> IngestOptions:
    from pipeline.ingest import IngestOptions
    from pipeline.stages import records_dir

    sources = frozenset(request.only_sources) or None
    return IngestOptions(
        reparse=request.reparse,
        full=request.full,
        dedup=not request.no_dedup,
        sources=sources,
        records=records_dir(settings.db_path, sources),
        search_for=settings.db_path,
        batch_pages=settings.load_batch_pages,
        overrides_path=settings.overrides_file,
        embed_budget=settings.embed_budget,
        vector_cache=settings.vector_cache,
        parse_timeout_s=settings.parse_timeout_s,
        parse_workers=settings.parse_workers,
        stop_early=not settings.walk_to_end,
        withdraw_after_walks=settings.withdraw_after_walks,
    )


def _sources_to_crawl(settings: Settings, archive: Archive, request: _IngestRequest) -> SourcesFile | None:
    """The sites this run crawls (None: none), after checking every `--source` name is known.

    The sources file is read offline too when it is there or named: a bad file or an unknown
    --source is refused alike with or without the network, never a run that says `ok` over nothing.
    """
    from pipeline.sources import load_sources

    declared_in = None
    if not request.offline or request.sources_named or settings.sources_file.exists():
        declared_in = load_sources(settings.sources_file, contact=settings.contact)
    sources = None if request.offline else declared_in
    if not request.only_sources:
        return sources
    _check_source_names(settings, archive, request.only_sources, declared_in)
    if sources is None:
        return None
    kept = [s for s in sources.sources if s.name in request.only_sources]
    return sources.model_copy(update={"sources": kept}) if kept else None


def _check_source_names(
    settings: Settings, archive: Archive, only_sources: tuple[str, ...], declared_in: SourcesFile | None
) -> None:
    """Refuse a `--source` neither declared nor archived (exit 2); warn that an archived-only one is not crawled.

    A name is known alike online and offline: declared in the sources file, or held by the
    archive (whose pages load either way; only a declared site is crawled). The archive's names
    come from `archive.entries()`, the listing the load reuses while the manifest is unchanged:
    the check costs no second read of the manifest.
    """
    declared = [s.name for s in declared_in.sources] if declared_in is not None else []
    undeclared = sorted(set(only_sources) - set(declared))
    if not undeclared:
        return
    archived = {e.source for e in archive.entries()}
    unknown = sorted(set(undeclared) - archived)
    if unknown:  # a usage error, in one line like every other refusal
        where = settings.sources_file if declared_in is not None else f"{settings.sources_file} (absent)"
        names = ", ".join(declared) or "none", ", ".join(sorted(archived)) or "none"
        known = f"declared: {names[0]}; archived: {names[1]}"
        _fail(
            f"--source {', '.join(unknown)} is not declared in {where} and the archive holds no page of it ({known})",
            EXIT_USAGE,
        )
    click.echo(
        f"warning: --source {', '.join(undeclared)} is not declared in {settings.sources_file}: "
        "its archived pages are loaded, it is not crawled",
        err=True,
    )


def _publish_run(run: _IngestRun, work: Writer, settings: Settings, summary: RunSummary) -> None:
    """Record the exit code on the run, publish it, and write the monitoring file beside the warehouse."""
    from pipeline.runs import record_exit_code

    code = run.code
    final = work.con
    assert final is not None
    record_exit_code(final, summary.run_id, code)
    work.publish()  # analysts see the finished run at once, never a half-loaded one
    if summary.search_index is not None:  # the index of what was just published, never before it
        try:
            summary.search_index.install()
        except OSError as exc:
            logging.getLogger(__name__).warning("search index not installed (%s); the next run builds it", exc)
    try:
        _write_last_run(settings.db_path, summary, code)
    except OSError as exc:  # published already: only the monitoring file is missing
        failure = io_failure(exc) or (exc.errno or errno.EIO, exc.filename)
        run.refused = (failure[0], failure[1])
        run.code = EXIT_CONFIG
        run.refused_note = f"run {summary.run_id} was published; its last-run file is not written"


def _end_failed(run: _IngestRun, exc: BaseException, signals: Signals) -> None:
    """End a run that raised: a signal DuckDB took for its own, a full disk, a refusal, a damaged file, a bug."""
    import duckdb

    from pipeline.warehouse import rebuild_hint

    work, settings = run.work, run.settings
    if signals.raised is not None and not isinstance(exc, SystemExit):
        # DuckDB checks for signals itself: it ran the handler, cancelled the query and raised
        # its own "Query interrupted" in place of ours
        _end_interrupted(work, settings, signals.raised, run.ours(), signals)
    if isinstance(exc, SystemExit | KeyboardInterrupt):
        raise exc
    failure = io_failure(exc)
    if failure is not None:
        with signals.shielded(deliver=False):  # a signal now waits for the cleanup, then exit 5
            _end_io_failure(work, settings, exc, failure, run.ours())
    if isinstance(exc, PipelineError):
        _close_quietly(work)
        _fail(str(exc), _exit_code(exc))
    if isinstance(exc, duckdb.IOException):  # the file itself is damaged: no run can be recorded in it
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        _close_quietly(work)
        first = str(exc).strip().splitlines()[0]
        assert settings is not None
        _fail(f"warehouse {settings.db_path} is damaged ({first}); {rebuild_hint(settings.db_path)}", EXIT_CONFIG)
    if isinstance(exc, OSError):  # any other refusal of the machine: one line, exit 5
        _close_quietly(work)
        _fail(os_error_line(exc), EXIT_CONFIG)
    # the run is already recorded as failed; say why in one line
    logging.getLogger(__name__).debug("ingest failed", exc_info=True)
    _close_quietly(work)
    _fail(f"ingest failed: {type(exc).__name__}: {exc} (run with -v for the traceback)", EXIT_NOTHING_PROCESSED)


def _say_ending(run: _IngestRun) -> None:
    """The run's last words: a refusal met after it was recorded, warnings, failures, its summary."""
    if run.refused is not None:
        _fail(io_message(*run.refused, unchanged=run.refused_note), EXIT_CONFIG)
    summary = run.summary
    assert summary is not None
    for name in summary.sources_unreachable:
        reason = (summary.crawl or {}).get(name, {}).get("reason")
        click.echo(f"warning: {name}: {reason}; using the archive", err=True)
    for alert in summary.layout_alerts:
        click.echo(f"warning: layout change? {alert}", err=True)
    for failure in summary.failures:
        click.echo(f"error: {failure}", err=True)
    click.echo(summary.message)
    if run.code:
        sys.exit(run.code)


def probe_writable(folder: Path) -> None:
    """Create and remove a file in `folder` (made if missing): a read-only or forbidden raw/ fails here, whole.

    Raises the OSError (EROFS, EACCES...) with the path, for the command boundary to report.
    """
    import tempfile

    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".write-probe-", dir=folder)
    except OSError as exc:
        exc.filename = str(folder)  # the folder is what the user named and must fix, not the probe
        raise
    os.close(fd)
    os.unlink(name)


def archive_write_failure(report: CrawlReport | None) -> tuple[int, str | None] | None:
    """(errno, path) when the crawl stopped because raw/ refused a write: disk full, permission, read-only.

    The crawl reports it as a source that stopped, like a site that went away; it is the
    machine's failure, not the site's, so the run exits 5 with the path instead of `partial`, 0.
    Told by the writer's typed error and its errno (`ArchiveWriteError`), never by the report's words.
    """
    error = report.archive_write_error if report is not None else None
    if error is None or not error.machine_refused or error.errno is None:
        return None
    return error.errno, error.path


def os_error_line(exc: OSError) -> str:
    """One line for an OSError: a full disk, permission or read-only mount with what to do; else the OS's words."""
    failure = io_failure(exc)
    if failure is not None:
        return io_message(*failure)
    where = exc.filename if exc.filename is not None else "(path not reported)"
    return f"{where}: {exc.strerror or type(exc).__name__}"


#: (module prefix, function qualname or None for any) -> the stage a signal found the run in; first match wins
_STAGES = (
    ("pipeline.dedup", None, "dedup"),
    ("pipeline.ingest", "dedup_step", "dedup"),
    ("pipeline.crawl", None, "crawl"),
    ("pipeline.ingest", "CrawlStep.__call__", "crawl"),
    ("pipeline.ingest", "parse_and_load", "load"),
    ("pipeline.ingest", "quarantine_step", "load"),
    ("pipeline.stages", None, "load"),  # `pipeline load` run alone
    ("pipeline.ingest", "run_ingest", "start"),
)
#: stages after which the working copy holds nothing this run loaded: publishing it hides nothing half-done
_PUBLISHABLE = {"setup", "start", "crawl"}


def _stage(frame: FrameType | None) -> str:
    """The step the main thread was in when the signal came, read from its stack."""
    seen: list[tuple[str, str]] = []
    while frame is not None and len(seen) < 500:
        seen.append((frame.f_globals.get("__name__", ""), frame.f_code.co_qualname))
        frame = frame.f_back
    for module, function, stage in _STAGES:
        if any(m.startswith(module) and (function is None or f == function) for m, f in seen):
            return stage
    return "setup"


class Signals:
    """SIGTERM and SIGINT raise `Interrupted` in the main thread, once, and never inside `shielded()`.

    Python runs a signal handler between two bytecodes of the main thread, so the exception
    comes out of whatever the run was doing: a DuckDB transaction rolls back on the way
    (`warehouse.transaction`), the crawl's event loop cancels its tasks, the parse pool kills its
    workers. Publishing and the run's last writes are shielded: a signal then waits for them.
    A second signal while the first is being handled is ignored: the run is already ending.
    """

    def __init__(self) -> None:
        self.depth = 0
        self.pending: Interrupted | None = None
        self.raised: Interrupted | None = None
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> Signals:
        import threading

        if threading.current_thread() is not threading.main_thread():
            return self  # only the main thread may set handlers (a command run from a test's or a worker's thread)
        for signum in (signal.SIGTERM, signal.SIGINT):
            self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.raised is not None or self.pending is not None:
            return
        stop = Interrupted(signum, _stage(frame))
        if self.depth:
            self.pending = stop
            return
        self.raised = stop
        raise stop

    @contextlib.contextmanager
    def shielded(self, deliver: bool = True) -> Iterator[None]:
        """Hold a signal back until the block ends; then raise it (deliver) or let the finished run exit."""
        self.depth += 1
        try:
            yield
        finally:
            self.depth -= 1
        if deliver and not self.depth and self.pending is not None and self.raised is None:
            self.raised = self.pending
            raise self.raised


def _ours(started: RunSummary | None, before: RunSummary | None) -> RunSummary | None:
    return started if started is not None and started is not before else None


def _close_quietly(work: Writer | None) -> None:
    """Release the run lock whatever state the connection is in (invalidated by a full disk, closed)."""
    if work is None:
        return
    try:
        work.close()  # releases the run lock even when the connection refuses to close
    except Exception:  # an invalidated DuckDB refuses even to close
        logging.getLogger(__name__).debug("closing the working copy failed", exc_info=True)


def _end_interrupted(
    work: Writer | None,
    settings: Settings | None,
    stop: Interrupted,
    summary: RunSummary | None,
    signals: Signals,
) -> None:
    """Close a run a signal stopped: `interrupted` with its exit code, published when safe, one line, exit 128+n.

    Stopped before it loaded anything (setup, the crawl), the working copy is the published
    warehouse plus this run's row, and is published. Stopped in the load or the dedup pass, the
    copy holds part of this run's pages: the published warehouse stays the previous run's, and
    the next run goes on from the copy (pages loaded are not loaded twice). `last-run.json` is
    written in both cases: it is what monitoring reads.
    """
    from pipeline.runs import finish_interrupted

    log = logging.getLogger(__name__)
    why = f"stopped by {stop.signal_name} during {stop.stage}"
    published = False
    trouble = ""
    with signals.shielded(deliver=False):
        if summary is not None and work is not None and work.con is not None:
            try:
                finish_interrupted(work.con, summary, why, stop.exit_code)
                # a copy opened with an earlier stopped run's writes in it is not this run's to publish
                if work.may_publish_interrupted(partly_loaded=stop.stage not in _PUBLISHABLE):
                    work.publish()
                    published = True
            except Exception as exc:
                log.debug("recording the interrupted run failed", exc_info=True)
                failure = io_failure(exc)
                trouble = "; " + (io_message(*failure) if failure else f"not recorded: {type(exc).__name__}: {exc}")
        _close_quietly(work)
        run = f"run {summary.run_id}" if summary is not None else "ingest (before its run started)"
        where = (
            "recorded as interrupted in the warehouse"
            if published
            else "the published warehouse stays the previous run's; the next run goes on from here"
        )
        line = f"interrupted: {run} {why} (exit {stop.exit_code}); {where}{trouble}"
        if settings is not None:
            try:
                _write_last_run(settings.db_path, summary, stop.exit_code, status="interrupted", message=line)
            except OSError:
                log.debug("last-run.json not written", exc_info=True)
        _forget_cut_short_coroutines()
        click.echo(line, err=True)
    sys.exit(stop.exit_code)


def _forget_cut_short_coroutines() -> None:
    """Keep the ending line last on stderr, where cron mail and monitoring look for it.

    A signal that lands while the crawl opens a connection leaves the connect attempt anyio had
    created but not yet started; the interpreter frees it at exit and prints "coroutine ... was
    never awaited" after the ending line. That attempt was cut short on purpose, so the warning
    says nothing; anything else still warns.
    """
    import gc
    import warnings

    warnings.filterwarnings("ignore", message=r"coroutine .* was never awaited", category=RuntimeWarning)
    gc.collect()


def _end_io_failure(
    work: Writer | None,
    settings: Settings | None,
    exc: BaseException,
    failure: tuple[int, str | None],
    summary: RunSummary | None,
) -> None:
    """A full disk, a permission denied or a read-only mount: one `error:` line naming the path, exit 5.

    The published warehouse is never the one written (the run writes its working copy and
    swaps it in whole), so it stays the last good run's. A working copy whose write failed,
    or whose connection DuckDB invalidated ("FATAL"), is dropped: the next run copies the
    published file again and loads from raw/, and the space it took is free again.
    """
    logging.getLogger(__name__).debug("ingest stopped by an I/O error", exc_info=exc)
    code, path = failure
    line = io_message(code, path, unchanged="the published warehouse was not changed")
    if work is not None:
        work.after_io_failure(path, summary.run_id if summary is not None else None, line, EXIT_CONFIG)
    if settings is not None and summary is not None:
        try:
            _write_last_run(settings.db_path, summary, EXIT_CONFIG, status="failed", message=line)
        except OSError:
            logging.getLogger(__name__).debug("last-run.json not written", exc_info=True)
    _close_quietly(work)
    _fail(line, EXIT_CONFIG)


def run_exit_code(summary: RunSummary, strict: bool) -> int:
    """The exit status of an ingest (README "Exit status"), stored with the run as runs.exit_code."""
    if summary.status == "failed":
        return EXIT_NOTHING_PROCESSED
    if summary.archive_damage:  # status partial: pages kept their rows, the archive needs a look
        return EXIT_CONFIG
    if strict and (summary.sources_unreachable or summary.layout_alerts or summary.status == "partial"):
        return EXIT_STRICT
    return 0


def _write_last_run(
    db_path: Location,
    summary: RunSummary | None,
    code: int,
    *,
    status: str | None = None,
    message: str | None = None,
) -> None:
    """`<warehouse>.last-run.json` beside the warehouse: what monitoring reads without opening it.

    A lake has no file beside it, and several workers' runs at once: its monitoring reads `runs`.
    `status` and `message` override the summary's for a run that did not end by itself (a
    signal, a full disk); `summary` is None when it stopped before its run row existed. Written
    whole or not at all: a full disk leaves the previous file, never half of a new one.
    """
    from pipeline.backend import file_of

    beside = file_of(db_path)
    if beside is None:
        return
    target = beside.with_name(beside.name + ".last-run.json")
    data = {
        "run_id": summary.run_id if summary else None,
        "status": status or (summary.status if summary else None),
        "exit_code": code,
        "message": message or (summary.message if summary else None),
        "pages_parsed": summary.pages_parsed if summary else 0,
        "pages_failed": summary.pages_failed if summary else 0,
        "sources_unreachable": summary.sources_unreachable if summary else [],
        "layout_alerts": summary.layout_alerts if summary else [],
        "failures": summary.failures if summary else [],
        "dedup": summary.dedup if summary else None,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise


#: (section title, SQL) of `stats`; the JSON keys are the titles in snake case
STATS_SECTIONS = [
    (
        "Sightings per source and kind",
        """
        SELECT source, kind, count(DISTINCT page_id) AS pages, count(*) AS sightings,
               count(*) FILTER (abstract_truncated) AS truncated_abstracts,
               count(*) FILTER (len(quality_flags) > 0) AS flagged_sightings
        FROM sightings GROUP BY ALL ORDER BY source, kind
        """,
    ),
    (
        "Pages per source and parse status",
        "SELECT source, format, parse_status, count(*) AS pages FROM raw_pages GROUP BY ALL ORDER BY ALL",
    ),
    (
        "Editions and works",
        """
        SELECT (SELECT count(*) FROM publications) AS editions,
               (SELECT count(*) FROM works) AS works,
               (SELECT count(*) FROM works WHERE edition_count > 1) AS works_with_several_editions,
               (SELECT count(*) FROM publications WHERE title_derived) AS editions_with_derived_titles,
               (SELECT count(*) FROM edition_withdrawals) AS editions_no_longer_listed
        """,
    ),
    (
        "Changes per run",
        """
        SELECT run_id, level,
               count(*) FILTER (op = 'added') AS added,
               count(*) FILTER (op = 'changed') AS changed,
               count(*) FILTER (op = 'withdrawn') AS withdrawn
        FROM record_changes
        WHERE run_id IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT 5)
        GROUP BY ALL ORDER BY run_id DESC, level
        """,
    ),
    (
        "Withdrawal reasons per run",
        """
        SELECT run_id, level,
               CASE WHEN starts_with(reason, 'merged into ') THEN 'merged into another id'
                    ELSE coalesce(reason, '(not recorded)') END AS reason,
               count(*) AS records
        FROM record_changes
        WHERE op = 'withdrawn' AND run_id IN (SELECT run_id FROM runs ORDER BY run_id DESC LIMIT 5)
        GROUP BY ALL ORDER BY run_id DESC, level, records DESC, reason
        """,
    ),
    (
        "Rejects per stage",
        "SELECT stage, count(*) AS rejects, any_value(reason) AS example FROM rejects GROUP BY ALL ORDER BY ALL",
    ),
    (
        "Last runs",
        """
        SELECT run_id, status, exit_code, strftime(started_at, '%Y-%m-%d %H:%M:%S') AS started,
               pages_parsed, pages_failed, pages_skipped, sightings_added AS sightings_written, rejects_added
        FROM runs ORDER BY run_id DESC LIMIT 5
        """,
    ),
]


@main.command()
@warehouse_options(read_only=True)
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as one JSON object.")
def stats(db: str | None, data_path: Path | None, as_json: bool) -> None:
    """Print what the warehouse holds, per source and kind, and the last runs."""
    import duckdb

    from pipeline.warehouse import connect, rebuild_hint

    if as_json:  # only --json needs the analyst module's value conversion
        from pipeline.analyst import _jsonable

    try:
        settings = settings_from(db, data_path)
        con = connect(settings.db_path, read_only=True)
    except PipelineError as exc:
        _fail(str(exc), _exit_code(exc))
    out: dict[str, list[dict[str, Any]]] = {}
    try:
        for title, sql in STATS_SECTIONS:
            if as_json:
                rel = con.sql(sql)
                key = title.lower().replace(" ", "_")
                out[key] = [dict(zip(rel.columns, map(_jsonable, r), strict=True)) for r in rel.fetchall()]
            else:
                _print_table(con, title, sql)
    except duckdb.Error as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        _fail(
            f"{settings.db_path} is not a readable warehouse ({reason}); {rebuild_hint(settings.db_path)}", EXIT_CONFIG
        )
    finally:
        con.close()
    if as_json:
        click.echo(json.dumps(out, indent=1, ensure_ascii=False))


def _print_table(con: duckdb.DuckDBPyConnection, title: str, sql: str) -> None:
    rel = con.sql(sql)
    rows = rel.fetchall()
    click.echo(f"\n{title}")
    headers = rel.columns
    widths = [max(len(str(h)), *(len(str(r[i])) for r in rows)) if rows else len(str(h)) for i, h in enumerate(headers)]
    click.echo("  ".join(str(h).ljust(w) for h, w in zip(headers, widths, strict=True)))
    for row in rows:
        click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths, strict=True)))


class ProgressUI:
    """Progress bars per source on a terminal; plain, throttled log lines otherwise (cron)."""

    def __init__(self, tty: bool) -> None:
        self.tty = tty
        self._bars: Progress | None = None
        self._tasks: dict[str, Any] = {}
        self._last: dict[str, int] = {}

    def __enter__(self) -> ProgressUI:
        if self.tty:
            from rich.progress import Progress

            self._bars = Progress(transient=False)
            self._bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bars is not None:
            self._bars.stop()

    def crawl(self, source: str, stage: str, done: int, total: int) -> None:
        self._show(f"{source} {stage}", done, total)

    def parse(self, stage: str, done: int, total: int) -> None:
        self._show(stage, done, total)

    def _show(self, label: str, done: int, total: int) -> None:
        if self._bars is not None:
            if label not in self._tasks:
                self._tasks[label] = self._bars.add_task(label, total=total or None)
            self._bars.update(self._tasks[label], completed=done, total=total or None)
            return
        step = max(total // 10, 1) if total else 10
        if done == total or done - self._last.get(label, 0) >= step:
            self._last[label] = done
            click.echo(f"{label}: {done}" + (f"/{total}" if total else "") + " pages", err=True)
