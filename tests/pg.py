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
import itertools
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

#: the role the tests connect as (trust authentication on 127.0.0.1 only)
USER = "lake"
_NAMES = itertools.count(1)


def find_bindir() -> Path | None:
    """Debian keeps the server binaries out of PATH, one folder per major version: take the newest."""
    candidates = []
    for root in sorted(Path("/usr/lib/postgresql").glob("*/bin")):
        if (root / "initdb").exists() and (root / "pg_ctl").exists():
            candidates.append(root)
    if candidates:
        return max(candidates, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0)
    found = shutil.which("pg_ctl")
    if found and shutil.which("initdb"):
        return Path(found).resolve().parent
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class PgCluster:
    """A running cluster: where it is, how to reach it, how to make databases in it."""

    bindir: Path
    folder: Path
    port: int
    run_as: str | None  # the OS user the server runs as when we are root

    @property
    def datadir(self) -> Path:
        return self.folder / "data"

    def conninfo(self, dbname: str = "postgres") -> str:
        """A libpq key/value string, the form `ducklake:postgres:<conninfo>` takes."""
        return f"host=127.0.0.1 port={self.port} user={USER} dbname={dbname}"

    def _server_cmd(self, *args: str) -> list[str]:
        cmd = [str(self.bindir / args[0]), *args[1:]]
        return ["runuser", "-u", self.run_as, "--", *cmd] if self.run_as else cmd

    def psql(self, sql: str, dbname: str = "postgres") -> str:
        """Run SQL with Debian's psql client (a client may run as root), stop on the first error."""
        out = subprocess.run(
            [str(self.bindir / "psql"), "-X", "-q", "-v", "ON_ERROR_STOP=1", "-At", "-d", self.conninfo(dbname),
             "-c", sql],
            capture_output=True, text=True, check=False, timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}")
        return out.stdout

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        name = name or f"lake_{os.getpid()}_{next(_NAMES)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def stop(self) -> None:
        subprocess.run(self._server_cmd("pg_ctl", "-D", str(self.datadir), "-m", "immediate", "-w", "stop"),
                       capture_output=True, check=False, timeout=60)


def start_cluster(bindir: Path, folder: Path) -> PgCluster:
    """initdb and start a cluster listening on 127.0.0.1 only, with its socket in its own folder.

    fsync is off: the cluster lives as long as the test session, and durability across a power cut
    is not what the tests check. The socket goes in the cluster's folder because /var/run/postgresql
    may not exist (or belong to another cluster) on a CI machine.
    """
    run_as = None
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise RuntimeError("running as root and no `postgres` user to run the server as") from exc
        run_as = "postgres"
        shutil.chown(folder, user="postgres")
    cluster = PgCluster(bindir=bindir, folder=folder, port=0, run_as=run_as)
    init = subprocess.run(
        cluster._server_cmd("initdb", "-D", str(cluster.datadir), "-U", USER, "--auth=trust", "-E", "UTF8",
                            "--no-locale", "--no-sync"),
        capture_output=True, text=True, check=False, timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    last_error = ""
    for _ in range(5):  # another process may take the free port between our probe and the server's bind
        cluster.port = _free_port()
        opts = f"-h 127.0.0.1 -p {cluster.port} -k {folder} -c fsync=off -c max_connections=200"
        started = subprocess.run(
            cluster._server_cmd("pg_ctl", "-D", str(cluster.datadir), "-l", str(folder / "server.log"),
                                "-o", opts, "-w", "-t", "60", "start"),
            capture_output=True, text=True, check=False, timeout=120,
        )
        if started.returncode == 0:
            return cluster
        log = folder / "server.log"
        last_error = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
    raise RuntimeError(f"PostgreSQL did not start: {last_error.strip()}")


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
