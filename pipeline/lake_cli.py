"""`lake start`, `lake workers` and `lake compact`: running the warehouse as a DuckLake (pipeline/lake.py).

`start` gives one machine a PostgreSQL catalog of its own to try a lake with; `workers` is how
a scheduler splits one ingest between processes; `compact` is the lake's maintenance.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import click

from pipeline.cli import EXIT_CONFIG, EXIT_USAGE, _fail, _raw_option
from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import PipelineError
from pipeline.settings import env_names

#: where `lake start` keeps its spec for `lake workers` and the Makefile (relative to the project root)
SPEC_FILE = Path("warehouse/lake.spec")


def _spec_or(db: str | None) -> str | None:
    """--warehouse as given, else the lake `lake start` made here (else the configured warehouse)."""
    if db is None and SPEC_FILE.exists():
        return SPEC_FILE.read_text(encoding="utf-8").strip()
    return db


@click.group()
def lake() -> None:
    """Run the warehouse as a DuckLake with its catalog in PostgreSQL (several writers at once)."""


#: `lake start` and `lake stop` name the same local cluster
_folder_option = click.option(
    "--folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("warehouse/lake-pg"),
    show_default=True,
    help="Folder of the local PostgreSQL cluster (created by the first `lake start`).",
)


@lake.command("start")
@_folder_option
@click.option("--dbname", default="iom", show_default=True, help="Catalog database of the lake.")
def lake_start(folder: Path, dbname: str) -> None:
    """Start a local PostgreSQL on 127.0.0.1 for a lake's catalog and print the lake's --warehouse value.

    Debian's `postgresql` package provides the server. The spec is also written to
    warehouse/lake.spec, which `make lake-ingest` reads. A cluster already running is reused.
    """
    from pipeline.pgcluster import start_local

    try:
        _cluster, conninfo = start_local(folder, dbname)
    except RuntimeError as exc:
        _fail(str(exc), EXIT_CONFIG)
    spec = f"ducklake:postgres:{conninfo}"
    SPEC_FILE.parent.mkdir(parents=True, exist_ok=True)
    SPEC_FILE.write_text(spec + "\n", encoding="utf-8")
    click.echo(spec)


@lake.command("stop")
@_folder_option
def lake_stop(folder: Path) -> None:
    """Stop the local PostgreSQL that `lake start` started (its data stays for the next start)."""
    from pipeline.pgcluster import running

    cluster = running(folder.resolve())
    if cluster is None:
        click.echo(f"no cluster running in {folder}")
        return
    cluster.stop(mode="fast")
    click.echo(f"stopped the cluster in {folder}")


@lake.command("workers")
@warehouse_options()
@_raw_option
@click.option("-n", "--workers", "count", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--offline", is_flag=True, help="Load the archive only (each worker its sources), no crawl.")
@click.option("--no-dedup", "no_dedup", is_flag=True, help="Leave the dedup pass to a later `dedup`.")
def lake_workers(
    db: str | None, data_path: Path | None, raw: Path | None, count: int, offline: bool, no_dedup: bool
) -> None:
    """Split the sources between N `ingest --source` workers running at once, then run one dedup pass.

    Sources are dealt round-robin in the order the sources file (online) or the archive
    (offline) lists them; with fewer sources than workers, the extra workers are not started.
    Each worker is a separate process, as on separate machines; the command exits with the
    worst worker's status.
    """
    from pipeline.archive import Archive
    from pipeline.backend import lake_only
    from pipeline.sources import load_sources

    try:
        settings = settings_from(_spec_or(db), data_path, raw_dir=raw)
        lake_spec = lake_only(settings.db_path)
        if lake_spec is None:
            raise click.UsageError("lake workers needs a lake: --warehouse ducklake:postgres:... (or `lake start`)")
        if offline:
            names = list(dict.fromkeys(e.source for e in Archive(settings.raw_dir).iter_entries()))
        else:
            names = [s.name for s in load_sources(settings.sources_file).sources]
    except PipelineError as exc:
        _fail(str(exc), EXIT_CONFIG)
    if not names:
        _fail(
            f"no sources to load: {'the archive is empty' if offline else 'the sources file declares none'}",
            EXIT_CONFIG,
        )
    groups = [names[i::count] for i in range(count) if names[i::count]]
    if len(groups) < count:
        click.echo(f"{len(names)} sources for {count} workers: starting {len(groups)}", err=True)
    spec = str(lake_spec)
    base = [sys.executable, "-m", "pipeline", "ingest", "--warehouse", spec, "--raw", str(settings.raw_dir)]
    if lake_spec.data_path is not None:
        base += ["--data-path", str(lake_spec.data_path)]
    if offline:
        base.append("--offline")
    # each ingest starts parse processes: N workers on one machine share its cores instead of
    # each taking two (IOM_PARSE_WORKERS, if set, wins)
    env = dict(os.environ)
    env.setdefault(env_names("parse_workers")[0], str(max(1, (os.cpu_count() or 2) // len(groups))))
    started = time.perf_counter()
    procs = [
        subprocess.Popen([*base, "--no-dedup", *[arg for name in group for arg in ("--source", name)]], env=env)
        for group in groups
    ]
    # a worker killed by a signal has a negative code: the shell's 128 + signal, so it is not "0"
    codes = [code if code >= 0 else 128 - code for code in (p.wait() for p in procs)]
    click.echo(f"{len(procs)} workers finished in {time.perf_counter() - started:.1f}s, exit codes {codes}")
    worst = max(codes, default=0)
    if not no_dedup:
        dedup = [sys.executable, "-m", "pipeline", "dedup", "--warehouse", spec]
        worst = max(worst, subprocess.call(dedup))
    if worst:
        sys.exit(worst)


@lake.command("compact")
@warehouse_options()
@click.option(
    "--older-than",
    default="1 hour",
    show_default=True,
    help="Expire snapshots older than this (a DuckDB interval); time travel reaches back only that far afterwards.",
)
def lake_compact(db: str | None, data_path: Path | None, older_than: str) -> None:
    """Merge the lake's small Parquet files and delete what no kept snapshot needs.

    Each worker commit writes at least one file; run this after loads (from cron, say nightly).
    Safe beside running workers: the merge commits like any other writer.
    """
    import duckdb

    from pipeline.backend import lake_only
    from pipeline.lake import compact
    from pipeline.warehouse import connect

    try:
        settings = settings_from(_spec_or(db), data_path)
        lake_spec = lake_only(settings.db_path)
        if lake_spec is None:
            _fail(
                "compact is for a lake: --warehouse ducklake:postgres:... (a DuckDB file needs no compaction)",
                EXIT_USAGE,
            )
            return
        con = connect(lake_spec)
        try:
            done = compact(con, older_than)
        finally:
            con.close()
    except PipelineError as exc:
        _fail(str(exc), EXIT_CONFIG)
    except duckdb.Error as exc:  # e.g. commit conflicts beyond the retries: say it, run it again later
        _fail(
            f"compaction stopped: {str(exc).strip().splitlines()[0]} (what it committed is kept; run it again)",
            EXIT_CONFIG,
        )
    click.echo(
        f"data files {done.files_before} -> {done.files_after}, snapshots {done.snapshots_before} -> "
        f"{done.snapshots_after}, orphaned files deleted {done.orphans_deleted}"
    )
