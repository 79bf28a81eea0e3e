"""A throwaway PostgreSQL cluster for the DuckLake tests: Debian's binaries, 127.0.0.1, a temp folder.

The lake's catalog lives in PostgreSQL, so its tests need a real server: a mock would not show
the transaction conflicts, the connection limits or the commit behaviour the lake depends on.
Each session gets one cluster (initdb costs a few seconds); each test gets its own database in it,
so tests never see each other's catalog.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then runs as the `postgres`
user that Debian's package creates, in a folder handed to that user. When no PostgreSQL is
installed the fixtures skip and say how to get one (`.ci/run` installs it).

Fixtures (imported by tests/conftest.py)
    pg_cluster    the session's running cluster (PgCluster)
    lake_catalog  a fresh, empty database in it and a data folder: (conninfo, data_path)
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from pipeline.pgcluster import USER, PgCluster, find_bindir, start_cluster

__all__ = ["USER", "PgCluster", "find_bindir", "lake_catalog", "pg_cluster", "start_cluster"]

@pytest.fixture(scope="session")
def pg_cluster() -> Iterator[PgCluster]:
    """One PostgreSQL cluster for the session, removed at its end; skips when PostgreSQL is missing."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql; .ci/run does it): no lake tests")
    # not under pytest's tmp folder: that one is private to root (0700) and the server runs as `postgres`
    folder = Path(tempfile.mkdtemp(prefix="iom-pg-"))
    try:
        cluster = start_cluster(bindir, folder)
    except RuntimeError:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    try:
        yield cluster
    finally:
        cluster.stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(folder)


@pytest.fixture
def lake_catalog(pg_cluster: PgCluster, tmp_path: Path) -> tuple[str, Path]:
    """A fresh catalog database and an empty data folder: what `connect_lake` needs for a new lake."""
    name = pg_cluster.create_database()
    data = tmp_path / "lake-data"
    data.mkdir()
    return pg_cluster.conninfo(name), data
