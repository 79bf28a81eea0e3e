"""The command line: the only place that prints, and the only place that picks exit codes.

Exit codes: 0 success (some pages may have failed: see the run's rejects), 1 nothing could be
processed, 2 usage error (or a file `archive add` refuses), 3 strict run with a source unreachable
or a layout change, 4 the warehouse is locked by another process, 5 configuration or archive
error, or a run or `archive verify` that found the archive damaged.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline import __version__
from pipeline.archive import FORMATS, Archive
from pipeline.errors import (
    ArchiveError,
    ConfigError,
    PageRefused,
    PipelineError,
    WarehouseError,
    WarehouseLockedError,
)
from pipeline.settings import load_settings

if TYPE_CHECKING:
    from pipeline.runs import RunSummary

EXIT_NOTHING_PROCESSED = 1
EXIT_USAGE = 2
EXIT_STRICT = 3
EXIT_LOCKED = 4
EXIT_CONFIG = 5

_db_option = click.option(
    "--db",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="DuckDB warehouse file. Default: warehouse/iom.duckdb, or $IOM_DB.",
)
_raw_option = click.option(
    "--raw",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Raw archive directory (pages as fetched). Default: raw/, or $IOM_RAW.",
)


def _fail(message: str, code: int) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def _exit_code(exc: PipelineError) -> int:
    if isinstance(exc, WarehouseLockedError):
        return EXIT_LOCKED
    if isinstance(exc, ConfigError | ArchiveError | WarehouseError):
        return EXIT_CONFIG
    return EXIT_NOTHING_PROCESSED


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
@_db_option
@_raw_option
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sources file (TOML) declaring the sites to crawl. Default: sources.toml, or $IOM_SOURCES.",
)
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
    "--no-dedup",
    "no_dedup",
    is_flag=True,
    help="Load only; editions and works are updated by the next run or by `pipeline dedup` "
    "(for several loads in a row, or to time the load apart).",
)
def ingest(
    db: Path | None,
    raw: Path | None,
    sources_path: Path | None,
    offline: bool,
    strict: bool,
    full: bool,
    reparse: bool,
    no_dedup: bool,
) -> None:
    """Crawl the sites into the raw archive, then build or update the warehouse from it.

    Sites that cannot be reached are reported in one line each and the warehouse is built from
    the archive that is there (run status `offline`, exit 0 unless --strict). Pages already
    processed by an earlier run (same source, URL and body) are skipped, so a second run adds a
    `runs` row and nothing else. Pages that cannot be parsed are recorded in `rejects` with their
    reason and the run goes on; it exits 1 only if nothing could be processed.
    """
    import duckdb

    from pipeline.ingest import IngestOptions, crawl_step, run_ingest
    from pipeline.parse import ParsedPages
    from pipeline.sources import load_sources
    from pipeline.warehouse import WorkingCopy, migrate, rebuild_hint

    try:
        settings = load_settings().with_overrides(db_path=db, raw_dir=raw, sources_file=sources_path)
        archive = Archive(settings.raw_dir)
        options = IngestOptions(
            reparse=reparse,
            full=full,
            dedup=not no_dedup,
            batch_pages=settings.load_batch_pages,
            overrides_path=settings.overrides_file,
            embed_budget=settings.embed_budget,
            parse_timeout_s=settings.parse_timeout_s,
        )
        sources = None if offline else load_sources(settings.sources_file)
        work = WorkingCopy(settings.db_path)
        con = work.open()
    except PipelineError as exc:
        _fail(str(exc), _exit_code(exc))
    ui = ProgressUI(sys.stderr.isatty())
    try:
        migrate(con)
        parsed_pages = ParsedPages()  # the crawl's parses, handed to the load: no page parsed twice
        fetch = crawl_step(sources, archive, options, ui.crawl, parsed_pages) if sources else None

        def detach(con: duckdb.DuckDBPyConnection, crawl: Callable[[], None]) -> tuple[Any, Exception | None]:
            work.detach()  # the crawl writes only raw/: no DuckDB lock while a site is slow
            error = None
            try:
                crawl()
            except Exception as exc:
                error = exc
            return work.reopen(), error

        with ui:
            summary = run_ingest(
                con, archive, options, fetch=fetch, progress=ui.parse, detach=detach, parsed_pages=parsed_pages
            )
        code = run_exit_code(summary, strict)
        work.con.execute("UPDATE runs SET exit_code = ? WHERE run_id = ?", [code, summary.run_id])
        work.publish()  # analysts see the finished run at once, never a half-loaded one
        _write_last_run(settings.db_path, summary, code)
    except PipelineError as exc:
        _fail(str(exc), _exit_code(exc))
    except duckdb.IOException as exc:  # the file itself is damaged: no run can be recorded in it
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        first = str(exc).strip().splitlines()[0]
        _fail(f"warehouse {settings.db_path} is damaged ({first}); {rebuild_hint(settings.db_path)}", EXIT_CONFIG)
    except Exception as exc:  # the run is already recorded as failed; say why in one line
        logging.getLogger(__name__).debug("ingest failed", exc_info=True)
        _fail(f"ingest failed: {type(exc).__name__}: {exc} (run with -v for the traceback)", EXIT_NOTHING_PROCESSED)
    finally:
        work.close()
    for name in summary.sources_unreachable:
        click.echo(f"warning: {name}: {summary.crawl[name]['reason']}; using the archive", err=True)
    for alert in summary.layout_alerts:
        click.echo(f"warning: layout change? {alert}", err=True)
    for failure in summary.failures:
        click.echo(f"error: {failure}", err=True)
    click.echo(summary.message)
    if code:
        sys.exit(code)


def run_exit_code(summary: RunSummary, strict: bool) -> int:
    """The exit status of an ingest (README "Exit status"), stored with the run as runs.exit_code."""
    if summary.status == "failed":
        return EXIT_NOTHING_PROCESSED
    if summary.archive_damage:  # status partial: pages kept their rows, the archive needs a look
        return EXIT_CONFIG
    if strict and (summary.sources_unreachable or summary.layout_alerts or summary.status == "partial"):
        return EXIT_STRICT
    return 0


def _write_last_run(db_path: Path, summary: RunSummary, code: int) -> None:
    """`<warehouse>.last-run.json` beside the warehouse: what monitoring reads without opening it."""
    if str(db_path) == ":memory:":
        return
    target = db_path.with_name(db_path.name + ".last-run.json")
    data = {
        "run_id": summary.run_id,
        "status": summary.status,
        "exit_code": code,
        "message": summary.message,
        "pages_parsed": summary.pages_parsed,
        "pages_failed": summary.pages_failed,
        "sources_unreachable": summary.sources_unreachable,
        "layout_alerts": summary.layout_alerts,
        "failures": summary.failures,
        "dedup": summary.dedup,
        "finished_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    tmp = target.with_name(target.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str) + "\n", encoding="utf-8")
    os.replace(tmp, target)


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
               (SELECT count(*) FROM publications WHERE title_derived) AS editions_with_derived_titles
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
@_db_option
@click.option("--json", "as_json", is_flag=True, help="Print the same figures as one JSON object.")
def stats(db: Path | None, as_json: bool) -> None:
    """Print what the warehouse holds, per source and kind, and the last runs."""
    import duckdb

    from pipeline.analyst import _jsonable
    from pipeline.warehouse import connect, rebuild_hint

    try:
        settings = load_settings().with_overrides(db_path=db)
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


@main.group()
def archive() -> None:
    """Inspect or add to the raw archive."""


@archive.command("add")
@_raw_option
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--source", required=True, help="Site the page came from, e.g. migrantprotection.iom.int.")
@click.option("--url", default=None, help="URL the page was retrieved from, if known.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(("auto", *FORMATS)),
    required=True,
    help="Page format (picks the parser); auto recognises listing, catalogue, detail and news pages by their shape.",
)
@click.option("--retrieved-at", default=None, help="When it was retrieved (ISO 8601); default now.")
def archive_add(file: Path, raw: Path | None, source: str, url: str | None, fmt: str, retrieved_at: str | None) -> None:
    """Add a page supplied as a file (a text dump, a saved page) to the archive, byte for byte.

    Refused with exit 2, and nothing written, when the source is not declared in the sources
    file, the file is over the crawler's size limit, or it is not the text of a page (empty,
    binary, NUL bytes, neither UTF-8 nor the charset it declares).
    """
    from datetime import datetime

    from parsers import ParseError
    from parsers.detect import detect_format
    from pipeline.admit import admit_page
    from pipeline.sources import load_sources

    try:
        settings = load_settings().with_overrides(raw_dir=raw)
        body = admit_page(file, source, load_sources(settings.sources_file), settings.sources_file)
    except PageRefused as exc:
        _fail(f"{file.name}: not archived: {exc}", EXIT_USAGE)
    except (PipelineError, OSError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    if fmt == "auto":
        try:
            found, why = detect_format(body, url)
        except ParseError as exc:
            _fail(f"{file.name}: not archived: {exc}", EXIT_CONFIG)
        if found is None:
            _fail(f"{file.name}: not archived: {why}; give --format if you know what it is", EXIT_CONFIG)
        fmt = found
        click.echo(f"{file.name}: {fmt} ({why})", err=True)
    try:
        when = datetime.fromisoformat(retrieved_at) if retrieved_at else None
        entry = Archive(settings.raw_dir).put(
            body, source=source, url=url, format=fmt, retrieved_at=when, label=file.name
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--retrieved-at") from exc
    except (PipelineError, OSError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    click.echo(f"{entry.sha256}  {entry.page_id}  {file.name}  {fmt}")


@archive.command("verify")
@_raw_option
def archive_verify(raw: Path | None) -> None:
    """Check every object against its hash and every manifest and fetch-log line.

    Unreadable lines are moved to manifest.rejected.jsonl / fetchlog.rejected.jsonl with their
    reason, so the next run reads clean files. One line per problem, then a summary. Exit 0 when
    the archive is intact, 5 when problems were found (objects are never changed: the crawler
    fetches a missing or corrupt page again).
    """
    from pipeline.verify import verify_archive

    try:
        settings = load_settings().with_overrides(raw_dir=raw)
        report = verify_archive(Archive(settings.raw_dir))
    except (PipelineError, OSError) as exc:
        _fail(str(exc), EXIT_CONFIG)
    for problem in report.problems:
        click.echo(f"problem: {problem}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}")
    click.echo(report.summary)
    if not report.clean:
        sys.exit(EXIT_CONFIG)


def _print_table(con, title: str, sql: str) -> None:  # type: ignore[no-untyped-def]
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
        self._bars = None
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


def _register_subcommands() -> None:
    """Commands that live beside their subsystem, registered here so `--help` lists them."""
    from pipeline.analyst import query, schema
    from pipeline.dedup.cli import dedup
    from pipeline.export_cli import export_command
    from pipeline.oai_cli import serve_oai
    from pipeline.replica.cli import replica
    from pipeline.report import report

    main.add_command(query)
    main.add_command(schema)
    main.add_command(replica)
    main.add_command(dedup)
    main.add_command(export_command)
    main.add_command(report)
    main.add_command(serve_oai)


_register_subcommands()
