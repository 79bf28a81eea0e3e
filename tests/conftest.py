"""Shared fixtures: real archives, real DuckDB files, the real CLI in a subprocess.

Nothing here writes into the repository's `raw/` or `warehouse/`: archives are copied into a
temporary directory first, warehouses are created under `tmp_path`, and every subprocess gets
`IOM_DB` / `IOM_RAW` pointing at temporary paths.

Helpers (for module- or session-scoped fixtures, which cannot use `tmp_path`)
    copy_seed_archive(dest)          copy the committed archive to dest
    ingest_archive(raw, db, reparse) one real ingest run, in-process
    pipeline_env(env)                the caller's environment minus IOM_*, this checkout importable, plus env
    pipeline_process(args, env)      `python -m pipeline *args` run to its end, output captured as text
    start_pipeline(args, env)        the same, started and left running (a Popen), for signals and races

Fixtures
    seed_archive      a copy of the committed `raw/` archive (the five seed dumps) under tmp_path
    empty_archive     an empty archive directory under tmp_path (no manifest yet)
    ingest            callable running the real ingest in-process into a DuckDB file
    built_warehouse   path of a DuckDB file built once per session from the seed archive
    warehouse         read-only connection to `built_warehouse` (session-wide, do not write)
    run_cli           callable running `python -m pipeline ...` in a subprocess
    table_rows        callable returning a whole table's rows in key order, to compare snapshots
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from pipeline.archive import Archive
from pipeline.ingest import IngestOptions, run_ingest
from pipeline.runs import RunSummary
from pipeline.warehouse import connect, migrate
from tests.pg import lake_catalog, pg_cluster  # noqa: F401 (fixtures: a throwaway PostgreSQL for the lake tests)

REPO_ROOT = Path(__file__).resolve().parent.parent
REPO_RAW = REPO_ROOT / "raw"

#: how long a pipeline subprocess may take before it counts as hung: a liveness bound, not a speed claim,
#: so generous enough for a full ingest on a 2-core machine that other jobs load (one took 60 s at load 14)
PATIENCE_S = 240.0

#: key columns to order each table by when comparing whole tables
TABLE_KEYS = {
    "runs": "run_id",
    "raw_pages": "page_id",
    "sightings": "sighting_id",
    "rejects": "reject_id",
}


def copy_seed_archive(dest: Path) -> Path:
    """Copy the repository's committed archive to `dest` (which must not exist); return `dest`."""
    shutil.copytree(REPO_RAW, dest)
    return dest


@pytest.fixture
def seed_archive(tmp_path: Path) -> Path:
    """Directory `tmp_path/raw`: a copy of the repository's committed archive (five seeds).

    Tests may add, tear or corrupt anything in it; the repository's `raw/` stays untouched.
    """
    return copy_seed_archive(tmp_path / "raw")


@pytest.fixture
def empty_archive(tmp_path: Path) -> Path:
    """Directory `tmp_path/raw`, empty: an archive that holds only what the test puts in it."""
    root = tmp_path / "raw"
    root.mkdir()
    return root


def ingest_archive(raw: Path, db: Path, *, reparse: bool = False, **options: Any) -> RunSummary:
    """One real ingest run of the archive at `raw` into the DuckDB file `db`, offline, in-process.

    `options` are further IngestOptions fields (embed_budget=...).
    """
    con = connect(db)
    try:
        migrate(con)
        return run_ingest(con, Archive(raw), IngestOptions(reparse=reparse, **options))
    finally:
        con.close()


@pytest.fixture
def ingest() -> Callable[..., RunSummary]:
    """`ingest(raw_dir, db_path, reparse=False) -> RunSummary`: one real run, in-process.

    Opens the DuckDB file for writing, applies the schema, runs the ingest and closes the file,
    exactly as `python -m pipeline ingest` does minus the printing.
    """
    return ingest_archive


@pytest.fixture(scope="session")
def built_warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A DuckDB file built once per session by the real ingest of a copy of the seed archive.

    Shared by many tests: open it read-only (or use the `warehouse` fixture), never write.
    """
    base = tmp_path_factory.mktemp("built")
    raw = copy_seed_archive(base / "raw")
    db = base / "warehouse.duckdb"
    summary = ingest_archive(raw, db)
    assert summary.status == "ok", summary.message
    return db


@pytest.fixture(scope="session")
def warehouse(built_warehouse: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """Read-only connection to `built_warehouse`."""
    con = duckdb.connect(str(built_warehouse), read_only=True)
    yield con
    con.close()


@pytest.fixture
def table_rows() -> Callable[[duckdb.DuckDBPyConnection, str], list[tuple]]:
    """`table_rows(con, table, exclude=())`: every row of a table ordered by its key.

    Values come back as text. `exclude` names columns left out (e.g. `run_id`, which a
    re-parse legitimately changes).
    """

    def rows(con: duckdb.DuckDBPyConnection, table: str, exclude: tuple[str, ...] = ()) -> list[tuple]:
        columns = [
            name
            for (name,) in con.execute(
                "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
            ).fetchall()
            if name not in exclude
        ]
        # as text: comparable, and TIMESTAMPTZ values need no pytz to reach Python
        select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
        return con.execute(f"SELECT {select} FROM {table} ORDER BY {TABLE_KEYS[table]}").fetchall()

    return rows


#: site names `archive add` accepts in tests (it takes only declared sources), all on the closed port
DECLARED_SOURCES = (
    "closed-port.test",
    "migrantprotection.iom.int",
    "returnandreintegration.iom.int",
    "publications.iom.int",
)
_CLOSED_PORT_SOURCES = """\
# written by tests/conftest.py: sites nobody listens on, so no test can crawl the internet
[crawler]
connect_timeout = 0.5
read_timeout = 0.5
probe_timeout = 0.5
max_retries = 0
""" + "".join(
    f'''
[[sources]]
name = "{name}"
base_url = "http://127.0.0.1:9"
start_urls = ["/listing"]
allowed_hosts = ["127.0.0.1:9"]
'''
    for name in DECLARED_SOURCES
)


#: one vector cache (Settings.vector_cache) for every pipeline subprocess of the session, set by
#: `_shared_vectors`: the suite builds hundreds of warehouses from the same pages, and a text's
#: vector is the same in each, so only the first process to meet a text pays the encoder for it
SHARED_VECTORS: list[Path] = []


@pytest.fixture(scope="session", autouse=True)
def _shared_vectors(tmp_path_factory: pytest.TempPathFactory) -> None:
    # under xdist the parent of a worker's base folder is the run's, shared by every worker
    base = tmp_path_factory.getbasetemp()
    SHARED_VECTORS[:] = [(base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base) / "vectors.sqlite"]


def pipeline_env(env: Mapping[str, str | None] | None = None) -> dict[str, str]:
    """The environment a pipeline subprocess gets: no `IOM_*` variable of the caller leaks into it.

    This checkout goes first on PYTHONPATH (the code under test, not an installed copy), and the
    session's shared vector cache is set (`SHARED_VECTORS`); `env` then adds or overrides
    variables, and a value of None removes one.
    """
    full = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    full["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    if SHARED_VECTORS:
        full["IOM_VECTOR_CACHE"] = str(SHARED_VECTORS[0])
    for key, value in (env or {}).items():
        if value is None:
            full.pop(key, None)
        else:
            full[key] = value
    return full


def pipeline_process(
    args: Sequence[str],
    env: Mapping[str, str | None] | None = None,
    *,
    cwd: Path | None = None,
    timeout: float = PATIENCE_S,
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """`python -m pipeline *args` as cron runs it, to its end, its output captured as text.

    `env` is applied over `pipeline_env()`; `timeout` bounds a hang (a liveness bound, never a
    speed claim: PATIENCE_S by default); `popen` passes on to subprocess.run (`preexec_fn=...`).
    """
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        cwd=cwd,
        env=pipeline_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        **popen,
    )


def start_pipeline(
    args: Sequence[str], env: Mapping[str, str | None] | None = None, *, cwd: Path | None = None, **popen: Any
) -> subprocess.Popen[str]:
    """`python -m pipeline *args` started and left running, for a test that signals, kills or races it.

    stdout and stderr are pipes unless `popen` says otherwise (`stderr=subprocess.DEVNULL`,
    `start_new_session=True`, ...).
    """
    options: dict[str, Any] = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, **popen}
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args], cwd=cwd, env=pipeline_env(env), text=True, **options
    )


@pytest.fixture
def run_cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    """`run_cli(*args, env=None, timeout=PATIENCE_S) -> CompletedProcess`: `python -m pipeline *args`.

    The subprocess runs in `tmp_path` with every `IOM_*` variable of the caller removed, and
    `IOM_DB=tmp_path/warehouse.duckdb`, `IOM_RAW=tmp_path/raw` (the directory `seed_archive` /
    `empty_archive` fill). `env` adds or overrides variables; a value of None removes one.

    Pass `--offline` to `ingest` unless the test is about crawling. As a safety net,
    `IOM_SOURCES` points at a sources file whose sites (`DECLARED_SOURCES`: the three real names,
    so `archive add --source` accepts them, and `closed-port.test`) all sit on a closed port on
    127.0.0.1, so a forgotten `--offline` fails fast and never reaches the live sites.
    """
    sources = tmp_path / "sources-closed-port.toml"
    sources.write_text(_CLOSED_PORT_SOURCES, encoding="utf-8")
    defaults = {
        "IOM_DB": str(tmp_path / "warehouse.duckdb"),
        "IOM_RAW": str(tmp_path / "raw"),
        "IOM_SOURCES": str(sources),
    }

    def run(
        *args: str, env: dict[str, str | None] | None = None, timeout: float = PATIENCE_S
    ) -> subprocess.CompletedProcess[str]:
        return pipeline_process(args, {**defaults, **(env or {})}, cwd=tmp_path, timeout=timeout)

    return run
