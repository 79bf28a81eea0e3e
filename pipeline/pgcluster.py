"""A PostgreSQL cluster of our own for the lake's catalog: Debian's binaries, 127.0.0.1, one folder.

Used by the tests (a throwaway cluster per session, tests/pg.py) and by `iom-pipeline lake start`
(a local cluster under warehouse/, the README's way to try a lake on one machine). The server
listens on 127.0.0.1 only and trusts local connections: a lake for one machine or a test, not a
production catalog, which belongs to a managed PostgreSQL.

PostgreSQL refuses to run as root, and CI runs as root: the cluster then runs as the `postgres`
user that Debian's package creates, in a folder handed to that user.
"""

from __future__ import annotations

import itertools
import os
import pwd
import shutil
import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

#: the role clients connect as (trust authentication on 127.0.0.1 only)
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
            [
                str(self.bindir / "psql"),
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-At",
                "-d",
                self.conninfo(dbname),
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            check=False,
            timeout=60,
        )
        if out.returncode != 0:
            raise RuntimeError(f"psql failed: {out.stderr.strip()}")
        return out.stdout

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its name."""
        name = name or f"lake_{os.getpid()}_{next(_NAMES)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return name

    def stop(self, mode: str = "immediate") -> None:
        """Stop the server: `immediate` for a throwaway cluster, `fast` for one whose data is kept."""
        subprocess.run(
            self._server_cmd("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop"),
            capture_output=True,
            check=False,
            timeout=60,
        )


def _run_as() -> str | None:
    """The OS user the server runs as: PostgreSQL refuses root, so as root Debian's `postgres` user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam("postgres")
    except KeyError as exc:
        raise RuntimeError("running as root and no `postgres` user to run the server as") from exc
    return "postgres"


def _pg_start(cluster: PgCluster, opts: str) -> subprocess.CompletedProcess[str]:
    """pg_ctl start with the server options `opts`, its log in the cluster's folder; waits up to a minute."""
    log = str(cluster.folder / "server.log")
    return subprocess.run(
        cluster._server_cmd("pg_ctl", "-D", str(cluster.datadir), "-l", log, "-o", opts, "-w", "-t", "60", "start"),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


def start_cluster(bindir: Path, folder: Path, *, port: int | None = None, fsync: bool = False) -> PgCluster:
    """initdb and start a cluster listening on 127.0.0.1 only, with its socket in its own folder.

    fsync is off unless asked for: a test cluster lives as long as the test session, and
    durability across a power cut is not what the tests check. `port` None takes a free one.
    The socket goes in the cluster's folder because /var/run/postgresql
    may not exist (or belong to another cluster) on a CI machine.
    """
    run_as = _run_as()
    if run_as:
        shutil.chown(folder, user=run_as)
    cluster = PgCluster(bindir=bindir, folder=folder, port=0, run_as=run_as)
    init = subprocess.run(
        cluster._server_cmd(
            "initdb", "-D", str(cluster.datadir), "-U", USER, "--auth=trust", "-E", "UTF8", "--no-locale", "--no-sync"
        ),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    if init.returncode != 0:
        raise RuntimeError(f"initdb failed: {init.stderr.strip()}")
    last_error = ""
    for _ in range(5):  # another process may take the free port between our probe and the server's bind
        cluster.port = port or _free_port()
        opts = f"-h 127.0.0.1 -p {cluster.port} -k {folder} -c fsync={'on' if fsync else 'off'} -c max_connections=200"
        started = _pg_start(cluster, opts)
        if started.returncode == 0:
            return cluster
        log = folder / "server.log"
        last_error = log.read_text(errors="replace")[-2000:] if log.exists() else started.stderr
    raise RuntimeError(f"PostgreSQL did not start: {last_error.strip()}")


def running(folder: Path) -> PgCluster | None:
    """The cluster a previous `start_local` left running in `folder`, or None."""
    bindir = find_bindir()
    state = folder / "cluster.port"
    if bindir is None or not state.exists():
        return None
    port = int(state.read_text().strip())
    cluster = PgCluster(bindir=bindir, folder=folder, port=port, run_as=_run_as())
    status = subprocess.run(
        cluster._server_cmd("pg_ctl", "-D", str(cluster.datadir), "status"),
        capture_output=True,
        check=False,
        timeout=30,
    )
    return cluster if status.returncode == 0 else None


def start_local(folder: Path, dbname: str = "iom", port: int | None = None) -> tuple[PgCluster, str]:
    """A cluster in `folder` (created on first use, started if stopped) and a database for the lake.

    Returns the cluster and its conninfo. Kept across calls: the port is remembered in
    `folder/cluster.port`, and the data folder is reused, so a lake outlives a restart.
    """
    bindir = find_bindir()
    if bindir is None:
        raise RuntimeError("PostgreSQL is not installed: apt-get install postgresql (Debian)")
    folder = folder.resolve()
    cluster = running(folder)
    if cluster is None:
        folder.mkdir(parents=True, exist_ok=True)
        if (folder / "data" / "PG_VERSION").exists():
            state = folder / "cluster.port"
            # the port it had, so the lake's spec (warehouse/lake.spec, cron lines) stays valid
            previous = int(state.read_text().strip()) if state.exists() else None
            cluster = PgCluster(bindir=bindir, folder=folder, port=port or previous or _free_port(), run_as=_run_as())
            opts = f"-h 127.0.0.1 -p {cluster.port} -k {folder} -c max_connections=200"
            started = _pg_start(cluster, opts)
            if started.returncode != 0:
                raise RuntimeError(f"PostgreSQL did not start: {started.stderr.strip()} (see {folder}/server.log)")
        else:
            cluster = start_cluster(bindir, folder, port=port, fsync=True)
        (folder / "cluster.port").write_text(f"{cluster.port}\n")
    exists = cluster.psql(f"SELECT 1 FROM pg_database WHERE datname = '{dbname}'").strip()
    if not exists:
        cluster.create_database(dbname)
    return cluster, cluster.conninfo(dbname)
