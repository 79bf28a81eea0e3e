"""The one seam of the warehouse: what every caller needs from it, whichever backend holds it.

The warehouse is a DuckDB file (`pipeline/warehouse.py`) or a DuckLake whose catalog is in
PostgreSQL (`pipeline/lake.py`). Both implement `Backend`; `warehouse.backend_for(location)` and
`warehouse.backend_of(connection)` pick the one in use, and no other module asks which it is.
Where the two differ in what a caller sees, `Backend` says so by a method or a capability
(`concurrent_writers`, `read_snapshot`, `record_status`), never by SQL text rewritten afterwards.

This module is the bottom layer of the two: the protocol, the location (`--warehouse` parsed),
and the pieces both implementations share (DuckDB's safe configuration, the schema steps, a
transaction). It imports neither implementation, so they never import each other:

    backend.py  <-  lake.py  <-  warehouse.py (the file, and the functions callers import)
"""

from __future__ import annotations

import contextlib
import importlib.util
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol, TypeVar

import duckdb

from pipeline.errors import WarehouseError

T = TypeVar("T")

#: the ordered schema steps both backends apply (a lake translates them: pipeline/lake.py)
SCHEMA_DIR = Path(__file__).resolve().parent.parent / "warehouse" / "schema"
#: DuckDB otherwise takes up to 80% of RAM; the dedup pass at 1M sightings fits in 4 GB with this
MEMORY_LIMIT = "2GB"
#: DuckDB must never download or load code at run time (no network here, and no surprises in cron)
SAFE_CONFIG: dict[str, str | bool | int | float | list[str]] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
}
#: the name a lake is attached and used as (pipeline/lake.py), so queries read the same on both
LAKE_CATALOG = "lake"
#: how `--warehouse` names a lake rather than a file
LAKE_PREFIX = "ducklake:postgres:"


# ---------------------------------------------------------------------------------------------
# where a warehouse is


@dataclass(frozen=True)
class LakeSpec:
    """Where a lake's catalog is: a libpq conninfo (`host=... dbname=...` or `postgresql://...`).

    `data_path` is the folder of its Parquet files: a new lake needs it, an existing one
    remembers its own (DuckLake stores it in the catalog), so readers may leave it out. Given
    (`--data-path`), it must be the lake's own: DuckLake refuses another. `default_data_path` (the
    configured one) is used only to create a lake, so a configured default never clashes.
    """

    conninfo: str
    data_path: Path | None = None
    default_data_path: Path | None = None

    def __str__(self) -> str:
        return LAKE_PREFIX + self.conninfo


#: where a warehouse is: a DuckDB file, or a DuckLake whose catalog is in PostgreSQL
Location = Path | LakeSpec


def is_lake_spec(spec: str | Path) -> bool:
    """A `--warehouse` value names a lake rather than a DuckDB file."""
    return str(spec).startswith(LAKE_PREFIX)


_KEYVAL = re.compile(r"""\s*([A-Za-z_]+)\s*=\s*('(?:[^'\\]|\\.)*'|\S+)""")


def parse_spec(spec: str | Path, data_path: Path | None = None, default_data_path: Path | None = None) -> LakeSpec:
    """Check a `ducklake:postgres:<conninfo>` spec early, so a typo fails before any work is done.

    Only the shape is checked (libpq reports the rest when it connects): key=value pairs, or a
    postgres:// URI. Other catalogs (`ducklake:sqlite:`, `ducklake:file.ducklake`) are refused:
    they allow one writer at a time, which is what the file warehouse already is.
    """
    text = str(spec)
    if not is_lake_spec(text):
        raise WarehouseError(
            f"{text!r} is not a lake this pipeline writes: give ducklake:postgres:<conninfo>, e.g. "
            "ducklake:postgres:host=127.0.0.1 dbname=iom (a DuckDB or SQLite catalog allows one writer at a "
            "time, which a DuckDB file warehouse already is)"
        )
    conninfo = text[len(LAKE_PREFIX) :].strip()
    if not conninfo:
        raise WarehouseError("ducklake:postgres: needs a PostgreSQL conninfo after it, e.g. host=127.0.0.1 dbname=iom")
    if not conninfo.startswith(("postgres://", "postgresql://")):
        rest = _KEYVAL.sub("", conninfo).strip()
        if rest or not _KEYVAL.search(conninfo):
            raise WarehouseError(
                f"cannot read the PostgreSQL conninfo {conninfo!r}: write key=value pairs "
                "separated by spaces (host=... port=... dbname=... user=...) or a postgresql:// URI"
            )
    return LakeSpec(
        conninfo,
        Path(data_path) if data_path is not None else None,
        Path(default_data_path) if default_data_path is not None else None,
    )


def location(value: str | Path, data_path: Path | None = None, default_data_path: Path | None = None) -> Location:
    """`--warehouse` as given: `ducklake:postgres:<conninfo>` is a lake, anything else a DuckDB file.

    A lake spec is checked here, so a typo fails before a crawl, not after it. `data_path` is a
    lake's Parquet folder as the user gave it; `default_data_path` the configured one, used only
    to create a new lake.
    """
    if str(value).startswith("ducklake:"):  # parse_spec explains why only a PostgreSQL catalog will do
        return parse_spec(str(value), data_path, default_data_path)
    return Path(value)


def with_data_path(where: Location, data_path: Path) -> Location:
    """A lake's location with its Parquet folder given (`--data-path`); a DuckDB file has none to give."""
    if not isinstance(where, LakeSpec):
        raise WarehouseError(f"--data-path is for a lake; {where} is a DuckDB file")
    return replace(where, data_path=Path(data_path))


def lake_only(where: Location) -> LakeSpec | None:
    """The lake `where` names, or None for a file: for the commands only a lake has (`lake workers`)."""
    return where if isinstance(where, LakeSpec) else None


def build_dir(where: Location) -> Path:
    """The local folder a run keeps its work in (`.build/`: the working copy, the record files).

    A DuckDB file keeps it beside itself; a lake in its data folder, the only local folder it names.
    """
    if isinstance(where, LakeSpec):
        return (where.data_path or where.default_data_path or Path("warehouse")) / ".build"
    return Path(where).parent / ".build"


#: extension name -> the PyPI wheel (module) that ships its signed binary. The binary's file name
#: must be `<name>.duckdb_extension`: DuckDB derives the entry point from it, which is why the
#: postgres extension comes from `duckdb-extension-postgres-scanner` (same binary as
#: `duckdb-extension-postgres`, whose `postgres.duckdb_extension` fails with "did not contain the
#: expected entrypoint function 'postgres_duckdb_cpp_init'"). json and parquet are statically
#: linked into the duckdb 1.5.5 wheel; their wheels are used only if a build ever lacks them.
EXTENSION_WHEELS = {
    "json": "duckdb_extension_json",
    "parquet": "duckdb_extension_parquet",
    "postgres_scanner": "duckdb_extension_postgres_scanner",
    "ducklake": "duckdb_extension_ducklake",
    # not the lake's: the search index's full-text search (pipeline/search.py), on both backends
    "fts": "duckdb_extension_fts",
}


def extension_file(name: str) -> Path | None:
    """The extension binary shipped by its wheel for this DuckDB version, or None if not installed."""
    found = importlib.util.find_spec(EXTENSION_WHEELS[name])
    if found is None or not found.submodule_search_locations:
        return None
    for root in found.submodule_search_locations:
        path = Path(root) / "extensions" / f"v{duckdb.__version__}" / f"{name}.duckdb_extension"
        if path.exists():
            return path
    return None


def load_extension(con: duckdb.DuckDBPyConnection, *names: str) -> None:
    """Load extensions from their installed wheels: no download, no autoload, same in cron; loaded
    ones are skipped. The wheels hold signed binaries built for exactly this DuckDB (their folder is
    named after its version), so signature checks stay on."""
    loaded = {name for (name,) in con.execute("SELECT extension_name FROM duckdb_extensions() WHERE loaded").fetchall()}
    for name in names:
        if name in loaded:
            continue
        path = extension_file(name)
        if path is None:
            wheel = EXTENSION_WHEELS[name].replace("_", "-")
            raise WarehouseError(
                f"the DuckDB extension {name} is not installed: pip install {wheel}=={duckdb.__version__} "
                "(it is in requirements.lock: make venv)"
            )
        quoted = str(path).replace("'", "''")
        con.execute(f"LOAD '{quoted}'")


def file_of(where: Location) -> Path | None:
    """The file the warehouse is on this machine, or None (a lake, or `:memory:`).

    What may sit beside it (monitoring's `last-run.json`) needs a folder; a lake has none.
    """
    if isinstance(where, LakeSpec) or str(where) == ":memory:":
        return None
    return Path(where)


# ---------------------------------------------------------------------------------------------
# what both backends share


def schema_steps(folder: Path = SCHEMA_DIR) -> list[Path]:
    """The named, ordered SQL steps; the number prefix is the order."""
    return sorted(folder.glob("*.sql"))


def first_line(exc: BaseException) -> str:
    """An error's first line, for a message a user reads (DuckDB's carry a stack of context after it)."""
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


@contextlib.contextmanager
def transaction(con: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """BEGIN ... COMMIT, rolled back on error (unless the failed COMMIT rolled it back already).

    A lake's COMMIT can fail on a conflict with another worker, after which DuckDB has ended the
    transaction: a ROLLBACK then would hide the conflict behind "no transaction is active".
    """
    con.execute("BEGIN TRANSACTION")
    try:
        yield con
    except BaseException:
        with contextlib.suppress(duckdb.TransactionException):
            con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")


# ---------------------------------------------------------------------------------------------
# the protocol


class Readers(Protocol):
    """Read-only connections for a long-lived reader such as the OAI-PMH server, one per request."""

    def open(self) -> duckdb.DuckDBPyConnection: ...


class Writer(Protocol):
    """A run's way into the warehouse: opened at the start, published (or closed) at the end.

    A file is written as a private working copy and published whole; a lake is written in
    place, each commit a snapshot readers see whole. The run does not need to know which.
    """

    con: duckdb.DuckDBPyConnection | None

    def open(self) -> duckdb.DuckDBPyConnection: ...

    def detach(self) -> None:
        """Let go of the connection, not of the run's claim (the crawl runs with the warehouse closed)."""

    def reopen(self) -> duckdb.DuckDBPyConnection: ...

    def publish(self) -> None: ...

    def close(self) -> None: ...

    def may_publish_interrupted(self, partly_loaded: bool) -> bool:
        """A run a signal stopped may still publish: never half a load of a file; a lake's commits are whole."""
        ...

    def after_io_failure(self, failed_path: str | None, run_id: int | None, message: str, exit_code: int) -> None:
        """A write failed (a full disk, a read-only mount): drop or keep what the run wrote, as is safe."""


class Backend(Protocol):
    """One kind of warehouse: everything callers need that the file and the lake do differently."""

    #: several writers may be at work at once: a run still `running` may be alive, not only dead
    concurrent_writers: bool

    def connect(
        self, where: Location, *, read_only: bool = False, memory_limit: str = MEMORY_LIMIT
    ) -> duckdb.DuckDBPyConnection:
        """A connection on which the warehouse's tables are the unqualified names, as on the other backend."""
        ...

    def open_writer(self, where: Location) -> Writer: ...

    def open_readers(self, where: Location) -> Readers: ...

    def rebuild_hint(self, where: Location) -> str:
        """The exact commands that rebuild a damaged warehouse from the raw archive."""
        ...

    def migrate(self, con: duckdb.DuckDBPyConnection) -> None:
        """Bring the schema up to date from `warehouse/schema/*.sql`."""

    def committed(self, con: duckdb.DuckDBPyConnection, work: Callable[[], T]) -> T:
        """Run `work` (one whole transaction) until it commits."""
        ...

    def next_ids(self, con: duckdb.DuckDBPyConnection, sequence: str, n: int) -> list[int]: ...

    def new_run_id(self, con: duckdb.DuckDBPyConnection) -> tuple[int, list[int]]:
        """The id of a new run, and the ids of runs left `running` by a process that died."""
        ...

    def hold_sources(self, con: duckdb.DuckDBPyConnection, names: list[str] | None) -> None:
        """Claim the sources a run loads (None: all of them) against other writers."""

    def exclusive_dedup(self, con: duckdb.DuckDBPyConnection) -> contextlib.AbstractContextManager[None]:
        """Hold off every other dedup pass while this one runs."""
        ...

    def read_snapshot(self, con: duckdb.DuckDBPyConnection) -> int | None:
        """Begin a read at one snapshot and name it; None where the warehouse keeps no snapshots."""
        ...

    def search_index(self, con: duckdb.DuckDBPyConnection, where: Location) -> Path:
        """The search index's file (pipeline/search.py): beside a DuckDB file, in a lake's data folder.

        A file of its own for both: DuckDB's full-text index is tables and macros that a DuckLake
        catalog cannot hold (it refuses their NULL-typed columns), and a file readers open
        read-only serves the lake's analysts as it serves the file's.
        """
        ...

    def record_status(self) -> str:
        """A FROM item with `record_status`'s level, id, withdrawn and last_changed_at, as harvesters see them."""
        ...
