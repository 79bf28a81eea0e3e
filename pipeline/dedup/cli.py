"""The `dedup` command: run a pass, measure it against labels, explain a decision.

Only this module prints; the library raises PipelineError subclasses, turned here into one
line on stderr and the exit codes of pipeline/cli.py (4 locked warehouse, 5 configuration).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import PipelineError, WarehouseLockedError
from pipeline.settings import default_help

if TYPE_CHECKING:  # DuckDB loads when a command runs, not for `--help`
    import duckdb

EXIT_NO_PASS = 1
EXIT_LOCKED = 4
EXIT_CONFIG = 5


@click.command()
@warehouse_options()
@click.option(
    "--overrides",
    "overrides_path",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help=f"Pin/forbid decisions (TOML). {default_help('overrides_file')}",
)
@click.option(
    "--evaluate",
    "labels",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    default=None,
    help="Label file (tests/labels/*.csv, or the replica's dataset.json): print pairwise precision "
    "and recall of the warehouse's editions and works. Read-only.",
)
@click.option(
    "--explain",
    "explaining",
    is_flag=True,
    help="Explain SIGHTINGS (one or two: sighting ids, or <page label or URL>#<position>): why they "
    "were joined, or kept apart, and what was refused between them. Read-only.",
)
@click.argument("sightings", nargs=-1, metavar="[SIGHTING_ID [SIGHTING_ID]]")
def dedup(
    db: str | None,
    data_path: Path | None,
    overrides_path: Path | None,
    labels: Path | None,
    explaining: bool,
    sightings: tuple[str, ...],
) -> None:
    """Group publication sightings into editions and works (a pass also runs after every ingest).

    Without options, run a pass now and print its counts. Ids of editions and works are kept
    across passes. Rules: pipeline/dedup/match.py (editions) and match_works.py (works).
    """
    from pipeline.dedup import overrides as overrides_mod
    from pipeline.dedup.evaluate import evaluate
    from pipeline.dedup.explain import explain
    from pipeline.dedup.run import run_dedup
    from pipeline.warehouse import connect, exclusive_dedup, migrate, open_writer

    try:
        settings = settings_from(db, data_path, overrides_file=overrides_path)
        if labels is not None:
            con = connect(settings.db_path, read_only=True)
            try:
                _require_pass(con)
                result = evaluate(con, labels)
            finally:
                con.close()
            for line in result.lines():
                click.echo(line)
            for line in result.errors:
                click.echo(f"  {line}")
            return
        if explaining:
            if not 1 <= len(sightings) <= 2:
                raise click.UsageError("--explain takes one or two sighting references")
            con = connect(settings.db_path, read_only=True)
            try:
                _require_pass(con)
                lines = explain(con, list(sightings), overrides_mod.load(settings.overrides_file))
            finally:
                con.close()
            for line in lines:
                click.echo(line)
            return
        if sightings:
            raise click.UsageError("sighting ids are only taken with --explain")
        work = open_writer(settings.db_path)
        con = work.open()
        try:
            migrate(con)
            with exclusive_dedup(con):  # a lake's workers may be running one: wait for it
                summary = run_dedup(
                    con,
                    settings.overrides_file,
                    settings.embed_budget,
                    withdraw_after_walks=settings.withdraw_after_walks,
                    vector_cache=settings.vector_cache,
                )
            from pipeline.search import refresh

            built, indexed = refresh(con, settings.db_path, settings.embed_budget, settings.vector_cache)
            work.publish()
            if built is not None:  # the index of what was just published, never before it
                built.install()
        finally:
            work.close()
        click.echo(summary.message)
        if indexed:
            click.echo(indexed)
        for ref in summary.unresolved_overrides:
            click.echo(f"warning: override reference matched nothing: {ref}", err=True)
    except _NoPass as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_NO_PASS)
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_LOCKED if isinstance(exc, WarehouseLockedError) else EXIT_CONFIG)


class _NoPass(Exception):
    pass


def _require_pass(con: duckdb.DuckDBPyConnection) -> None:
    try:
        found = con.execute("SELECT count(*) FROM dedup_runs").fetchall()[0][0]
    except Exception as exc:  # the table is missing: the schema was never migrated
        raise _NoPass("no deduplication pass in this warehouse yet: run `python -m pipeline dedup`") from exc
    if not found:
        raise _NoPass("no deduplication pass in this warehouse yet: run `python -m pipeline dedup`")
