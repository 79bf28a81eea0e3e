"""The warehouse options every command shares, declared once: `--warehouse` (alias `--db`) and `--data-path`."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from pipeline.settings import Settings, default_help, load_settings

F = TypeVar("F", bound=Callable[..., Any])


def warehouse_options(read_only: bool = False) -> Callable[[F], F]:
    """Add `--warehouse/--db` and `--data-path` to a command, passed to it as `db` and `data_path`."""
    opened = "opened read-only" if read_only else "written"

    def decorate(fn: F) -> F:
        fn = click.option(
            "--data-path",
            "data_path",
            type=click.Path(file_okay=False, path_type=Path),
            default=None,
            help="Folder of a new lake's Parquet files (a lake remembers its own). " + default_help("lake_data"),
        )(fn)
        return click.option(
            "--warehouse",
            "--db",
            "db",
            default=None,
            metavar="PATH|ducklake:postgres:CONNINFO",
            help=f"Warehouse, {opened}: a DuckDB file, or a DuckLake with its catalog in PostgreSQL "
            "(ducklake:postgres:host=... dbname=...). " + default_help("db_path"),
        )(fn)

    return decorate


def settings_from(db: str | None, data_path: Path | None, **overrides: object) -> Settings:
    """The settings with the command line's warehouse and other values on top."""
    return load_settings().with_overrides(db_path=db, lake_data=data_path, **overrides)
