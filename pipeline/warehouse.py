"""Open the DuckDB warehouse and bring its schema up to date from `warehouse/schema/*.sql`."""

from __future__ import annotations

from pathlib import Path

import duckdb

from pipeline.errors import WarehouseError, WarehouseLockedError

SCHEMA_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "schema"


#: DuckDB otherwise takes up to 80% of RAM; the dedup pass at 1M sightings fits in 4 GB with this
MEMORY_LIMIT = "2GB"


def connect(path: Path, *, read_only: bool = False, memory_limit: str = MEMORY_LIMIT) -> duckdb.DuckDBPyConnection:
    """Open the warehouse file; a second writer gets a clear error, not a stack trace.

    DuckDB allows one writing process per file: a cron ingest that overlaps a running one must
    stop and say so rather than wait or corrupt anything.
    """
    path = Path(path)
    if read_only and not path.exists():
        raise WarehouseError(f"no warehouse at {path}: run `make ingest` first")
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        return duckdb.connect(str(path), read_only=read_only, config={"memory_limit": memory_limit})
    except duckdb.IOException as exc:
        if "lock" in str(exc).lower():
            raise WarehouseLockedError(
                f"warehouse {path} is in use by another process (DuckDB allows one writer): {exc}"
            ) from exc
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc
    except duckdb.Error as exc:
        raise WarehouseError(f"cannot open warehouse {path}: {exc}") from exc


def schema_steps() -> list[Path]:
    """The named, ordered SQL steps; the number prefix is the order."""
    return sorted(SCHEMA_DIR.glob("*.sql"))


def migrate(con: duckdb.DuckDBPyConnection) -> None:
    """Apply every schema step; each is idempotent, so this runs at the start of every run."""
    for step in schema_steps():
        try:
            con.execute(step.read_text(encoding="utf-8"))
        except duckdb.Error as exc:
            raise WarehouseError(f"schema step {step.name} failed: {exc}") from exc
