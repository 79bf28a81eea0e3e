"""The `export` command: write the warehouse's editions or works to a file for catalogues and reference managers.

Only this module prints; pipeline/export.py raises, and this turns its errors into one line on
stderr and the exit codes of pipeline/cli.py: 1 the file could not be written, 2 a bad option
(an unknown --since run), 4 the warehouse is locked by a writer, 5 no readable warehouse or a
sources file that is not valid.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import ConfigError, PipelineError, UnknownRunError, WarehouseError, WarehouseLockedError
from pipeline.settings import default_help

#: kept here, not imported from pipeline.export, so `--help` does not load pyarrow and DuckDB
#: (tests/test_export.py checks they are the same)
FORMATS = ("parquet", "csv", "jsonl", "dc", "csl-json", "ris", "bibtex")
LEVELS = ("edition", "work")

EXIT_NOT_WRITTEN = 1
EXIT_LOCKED = 4
EXIT_CONFIG = 5


@click.command("export")
@click.option("--format", "fmt", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    required=True,
    help="File to write; replaced whole (written beside it, then renamed), never half-written.",
)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="edition",
    show_default=True,
    help="One record per edition (a publication in one language) or per work (all its languages).",
)
@click.option(
    "--since",
    type=click.IntRange(min=0),
    default=None,
    metavar="RUN",
    help="Only records added, changed or withdrawn in runs after RUN, with an `operation` field "
    "(withdrawn records carry only their id). 0: every change ever logged.",
)
@click.option(
    "--since-snapshot",
    "since_snapshot",
    type=click.IntRange(min=0),
    default=None,
    metavar="SNAPSHOT",
    help="On a lake: the same, for changes committed after lake snapshot SNAPSHOT (each lake export "
    "names the snapshot it read, to pass next time).",
)
@click.option(
    "--sources",
    "sources_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Sources file whose `owner`s are the publisher of records whose pages name none. "
    + default_help("sources_file"),
)
@warehouse_options(read_only=True)
def export_command(
    fmt: str,
    out: Path,
    level: str,
    since: int | None,
    since_snapshot: int | None,
    sources_path: Path | None,
    db: str | None,
    data_path: Path | None,
) -> None:
    """Export editions or works: Parquet, CSV, JSON Lines, Dublin Core XML, CSL-JSON, RIS or BibTeX.

    Every record has its stable id, all its fields (organisation, type, publisher, series...),
    its source URLs, when it was last seen and last changed, and the other language editions of
    its work. It reads the last run's build even while a session holds the published file
    read-write; exit 4 only when the file changed since that run and a session holds it.
    """
    if since is not None and since_snapshot is not None:
        raise click.UsageError("give --since or --since-snapshot, not both")
    try:
        from pipeline.export import export
        from pipeline.sources import load_sources, owners

        settings = settings_from(db, data_path, sources_file=sources_path)
        # a sources file named or present must be valid (exit 5); with none at all, no owner is known
        declared: dict[str, str] = {}
        if sources_path is not None or settings.sources_file.exists():
            declared = owners(load_sources(settings.sources_file))
        summary = export(settings.db_path, out, fmt, level, since, since_snapshot, owners=declared)
    except UnknownRunError as exc:
        if since_snapshot is not None:
            text = str(exc).removeprefix(f"--since-snapshot {since_snapshot}: ")
            raise click.BadParameter(text, param_hint="'--since-snapshot'") from exc
        raise click.BadParameter(str(exc).removeprefix(f"--since {since}: "), param_hint="'--since'") from exc
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        if isinstance(exc, WarehouseLockedError):
            sys.exit(EXIT_LOCKED)
        sys.exit(EXIT_CONFIG if isinstance(exc, WarehouseError | ConfigError) else EXIT_NOT_WRITTEN)
    click.echo(summary.message)
