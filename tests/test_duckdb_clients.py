"""The warehouse opens in the DuckDB clients analysts can install: the CLI from PyPI, plain Python, old releases.

The pipeline writes with the pinned `duckdb` (1.5.5, see pyproject.toml). These tests open a real
warehouse built by the real ingest with the DuckDB CLI from PyPI (`duckdb-cli` 1.5.x, in the `dev`
extra and so in the venv), read-only, with a Python client that has no pytz, the way an analyst's
fresh `pip install duckdb` has none, and with the exact Python packages of every DuckDB line from
1.0 to 2.x (installed once into `.venv/duckdb-clients/`, docs/analysts.md "Which DuckDB opens the warehouse").
"""

from __future__ import annotations

import csv
import fcntl
import hashlib
import io
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import textwrap
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import WarehouseError
from pipeline.warehouse import connect

REPO_ROOT = Path(__file__).resolve().parent.parent

#: numbers an analyst checks first, computed the same way by every client
COUNTS = """
SELECT (SELECT count(*) FROM publications)                 AS publications,
       (SELECT count(DISTINCT work_id) FROM publications)  AS works,
       (SELECT count(*) FROM sightings)                    AS sightings,
       (SELECT count(*) FROM runs)                         AS runs,
       (SELECT max(run_id) FROM runs)                      AS last_run,
       (SELECT string_agg(status, ',' ORDER BY run_id) FROM runs) AS statuses,
       (SELECT epoch_us(max(started_at)) FROM runs)        AS last_started_us,
       (SELECT typeof(max(started_at)) FROM runs)          AS started_at_type
"""


def duckdb_cli() -> Path:
    """The `duckdb` executable that `duckdb-cli` installs beside this interpreter."""
    found = shutil.which("duckdb", path=sysconfig.get_path("scripts"))
    if found is None:
        pytest.fail("no duckdb CLI beside this Python: install the dev extra (`pip install -r requirements.lock`)")
    return Path(found)


def run_cli(db: Path, sql: str, *options: str) -> subprocess.CompletedProcess[str]:
    """Run one statement in the CLI on `db` (no ~/.duckdbrc), output as CSV with a header."""
    return subprocess.run(
        [str(duckdb_cli()), "-no-init", "-readonly", "-csv", "-header", *options, str(db), "-c", sql],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def cli_rows(db: Path, sql: str) -> list[dict[str, str]]:
    result = run_cli(db, sql)
    assert result.returncode == 0, f"the DuckDB CLI could not read {db}: {result.stderr}"
    return list(csv.DictReader(io.StringIO(result.stdout)))


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_pinned_cli_is_of_the_1_5_line() -> None:
    version = subprocess.run([str(duckdb_cli()), "-version"], capture_output=True, text=True, check=True).stdout
    assert version.startswith("v1.5."), version


def test_the_duckdb_cli_reads_the_warehouse_and_agrees_with_python(
    built_warehouse: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    before = sha256(built_warehouse)
    (from_cli,) = cli_rows(built_warehouse, COUNTS)
    names = [d[0] for d in warehouse.execute(COUNTS).description]
    from_python = dict(zip(names, warehouse.execute(COUNTS).fetchone(), strict=True))

    assert {k: str(v) for k, v in from_python.items()} == from_cli
    assert int(from_cli["publications"]) > 0 and int(from_cli["runs"]) >= 1
    assert from_cli["started_at_type"] == "TIMESTAMP WITH TIME ZONE"
    assert sha256(built_warehouse) == before, "a read-only CLI session changed the file"


def test_the_cli_lists_the_publications_like_python(
    built_warehouse: Path, warehouse: duckdb.DuckDBPyConnection
) -> None:
    sql = """
        SELECT edition_id, work_id, coalesce(title, '') AS title, sighting_count
        FROM publications ORDER BY edition_id
    """
    from_cli = [tuple(row.values()) for row in cli_rows(built_warehouse, sql)]
    from_python = [tuple(str(v) for v in row) for row in warehouse.execute(sql).fetchall()]
    assert from_cli == from_python
    assert len(from_cli) == warehouse.execute("SELECT count(*) FROM publications").fetchone()[0]


def test_the_cli_opens_the_warehouse_read_only(built_warehouse: Path) -> None:
    result = run_cli(built_warehouse, "CREATE TABLE analyst_scratch (i INTEGER)")
    assert result.returncode != 0
    assert "read-only" in result.stderr.lower() or "read only" in result.stderr.lower(), result.stderr


# A Python client as an analyst installs it: duckdb without pytz (the pipeline's own venv has
# pytz, so it is hidden here). The duckdb package converts TIMESTAMPTZ values to datetime through
# pytz, which it does not depend on; 1.5.5 and 2.0 alike. The file is fine: the CLI reads the
# timestamps, and so does Python once pytz is installed or the query hands them over as UTC
# TIMESTAMP or text.
#: runs.started_at as UTC text, the same in every client and time zone
STARTED_UTC = "strftime(started_at AT TIME ZONE 'UTC', '%Y-%m-%d %H:%M:%S.%f')"

_NO_PYTZ = textwrap.dedent(
    """
    import json, sys
    sys.modules["pytz"] = None  # import pytz now fails, as where it is not installed
    import duckdb
    con = duckdb.connect(sys.argv[1], read_only=True)
    out = {}
    try:
        con.execute("SELECT started_at FROM runs").fetchall()
        out["plain"] = "ok"
    except Exception as exc:
        out["plain"] = str(exc).splitlines()[0]
    out["utc"] = [str(v) for (v,) in con.execute(
        "SELECT started_at AT TIME ZONE 'UTC' FROM runs ORDER BY run_id").fetchall()]
    out["text"] = [v for (v,) in con.execute(f"SELECT {sys.argv[2]} FROM runs ORDER BY run_id").fetchall()]
    print(json.dumps(out))
    """
)


def test_timestamps_reach_python_without_pytz_as_utc(built_warehouse: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", _NO_PYTZ, str(built_warehouse), STARTED_UTC],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    # what the issue reported: the bare column needs pytz (README says so, and how to do without)
    assert "pytz" in out["plain"], f"duckdb no longer needs pytz for TIMESTAMPTZ: update README ({out['plain']})"
    # the recipes in README work without it, and give the instant the CLI shows
    from_cli = [row["t"] for row in cli_rows(built_warehouse, f"SELECT {STARTED_UTC} AS t FROM runs ORDER BY run_id")]
    assert out["text"] == from_cli
    assert len(out["utc"]) == len(from_cli) and out["utc"][0].startswith(from_cli[0][:19])


_KILLED_WRITER = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from pipeline.warehouse import connect, migrate
    db = Path(sys.argv[1])
    for _ in range(2):  # the second run re-applies the schema to an existing file, as every ingest does
        con = connect(db)
        migrate(con)
    con.execute("INSERT INTO rejects (run_id, stage, reason) VALUES (1, 'parse', 'killed before checkpoint')")
    os._exit(9)  # like SIGKILL: no checkpoint, the .wal file stays
    """
)


def test_a_warehouse_left_by_a_killed_writer_opens_again(tmp_path: Path) -> None:
    """DuckDB 1.5 cannot replay a column comment on `rejects` (its DEFAULTs call functions) from the
    WAL; the schema is checkpointed at once, so the WAL a killed run leaves holds only data."""
    db = tmp_path / "w.duckdb"
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    done = subprocess.run([sys.executable, "-c", _KILLED_WRITER, str(db)], env=env, timeout=120, check=False)
    assert done.returncode == 9
    assert db.with_name("w.duckdb.wal").exists()

    con = connect(db)
    try:
        assert con.execute("SELECT reason FROM rejects").fetchall() == [("killed before checkpoint",)]
    finally:
        con.close()
    assert cli_rows(db, "SELECT count(*) AS n FROM rejects") == [{"n": "1"}]


def test_a_warehouse_written_by_duckdb_2_is_refused_with_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the message DuckDB 1.5.5 gives for a file DuckDB 2.0 wrote (no 2.x here to write one)
    refusal = (
        "IO Error: Trying to read a database file with version number 999, but we can only read versions"
        " between 64 and 68.\nThe database file was created with a newer version of DuckDB.\n"
    )

    def refuse(*args: object, **kwargs: object) -> None:
        raise duckdb.IOException(refusal)

    monkeypatch.setattr(duckdb, "connect", refuse)
    with pytest.raises(WarehouseError) as caught:
        connect(tmp_path / "w.duckdb")
    message = str(caught.value)
    assert "newer DuckDB (2.x)" in message and "Which DuckDB opens the warehouse" in message
    assert "\n" not in message


# Which released DuckDB opens the file: the latest patch of each line, as an analyst would
# `pip install duckdb==...`. Each is installed once, beside this venv's own packages, and reused.
#: (version, what opening the warehouse read-only gives: "ok" or the exception's class name)
RELEASES = [
    ("1.0.0", "SerializationException"),
    ("1.1.3", "ok"),
    ("1.2.2", "ok"),
    ("1.3.2", "ok"),
    ("1.4.5", "ok"),
    ("1.5.5", "ok"),
    ("2.0.1", "ok"),
]
#: in the project's venv (made anew by `make test` on a fresh clone), else a temp folder
CLIENTS = (
    Path(sys.prefix) / "duckdb-clients"
    if sys.prefix != sys.base_prefix
    else Path(tempfile.gettempdir()) / "iom-duckdb-clients"
)
#: what pip says when it cannot reach an index (then the release is skipped, with pip's words)
_OFFLINE = ("Could not fetch", "NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
            "Network is unreachable", "No matching distribution")  # fmt: skip

_OPEN = textwrap.dedent(
    """
    import json, sys
    import duckdb
    out = {"version": duckdb.__version__}
    try:
        con = duckdb.connect(sys.argv[1], read_only=sys.argv[3] == "ro")
        out["counts"] = [str(v) for v in con.execute(sys.argv[2]).fetchone()]
        out["comments"] = con.execute(
            "SELECT count(*) FROM duckdb_columns() WHERE comment IS NOT NULL").fetchone()[0]
        if sys.argv[3] == "rw":
            con.execute("CREATE TABLE written_by_this_client AS SELECT 1 AS i")
        con.close()
        out["result"] = "ok"
    except duckdb.Error as exc:
        out["result"] = type(exc).__name__
        out["message"] = str(exc).splitlines()[0]
    print(json.dumps(out))
    """
)


def release(version: str) -> Path | None:
    """The folder holding `duckdb==version` (None: the venv's own), installed on first use."""
    if version == duckdb.__version__:
        return None
    target = CLIENTS / version
    if target.is_dir():
        return target
    CLIENTS.mkdir(parents=True, exist_ok=True)
    with open(CLIENTS / ".lock", "w") as lock:  # two pytest processes install a release once
        fcntl.flock(lock, fcntl.LOCK_EX)
        if target.is_dir():
            return target
        partial = CLIENTS / f".{version}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        done = subprocess.run(
            [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-compile",
             "--disable-pip-version-check", "--target", str(partial), f"duckdb=={version}"],
            capture_output=True, text=True, timeout=280, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            shutil.rmtree(partial, ignore_errors=True)
            said = (done.stderr or done.stdout).strip()
            if any(sign in said for sign in _OFFLINE):
                pytest.skip(f"duckdb=={version} could not be installed here: {said.splitlines()[-1]}")
            pytest.fail(f"pip install duckdb=={version} failed: {said}")
        os.replace(partial, target)  # whole or not at all: an interrupted install is not taken as cached
    return target


def open_with(version: str, db: Path, mode: str = "ro") -> dict[str, object]:
    folder = release(version)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if folder is not None:
        env["PYTHONPATH"] = str(folder)  # ahead of the venv's site-packages and its duckdb 1.5.5
    done = subprocess.run(
        [sys.executable, "-s", "-c", _OPEN, str(db), COUNTS, mode],
        capture_output=True, text=True, timeout=120, check=False, env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["version"] == version, f"imported duckdb {out['version']}, not the {version} installed for the test"
    return out


@pytest.mark.parametrize(("version", "expected"), RELEASES, ids=[v for v, _ in RELEASES])
def test_each_duckdb_release_opens_the_warehouse_as_the_readme_says(
    built_warehouse: Path, warehouse: duckdb.DuckDBPyConnection, version: str, expected: str
) -> None:
    before = sha256(built_warehouse)
    out = open_with(version, built_warehouse)
    assert out["result"] == expected, out
    if expected == "ok":
        assert out["counts"] == [str(v) for v in warehouse.execute(COUNTS).fetchone()]
        comments = warehouse.execute("SELECT count(*) FROM duckdb_columns() WHERE comment IS NOT NULL").fetchone()[0]
        assert out["comments"] == comments > 0
    assert sha256(built_warehouse) == before


def test_a_duckdb_2_session_that_writes_keeps_the_file_readable_by_1_x(built_warehouse: Path, tmp_path: Path) -> None:
    copy = tmp_path / "analyst.duckdb"
    shutil.copyfile(built_warehouse, copy)
    assert open_with("2.0.1", copy, "rw")["result"] == "ok"
    reopened = duckdb.connect(str(copy), read_only=True)  # the pipeline's 1.5.5
    try:
        assert reopened.execute("SELECT i FROM written_by_this_client").fetchall() == [(1,)]
    finally:
        reopened.close()
    assert open_with("1.1.3", copy)["result"] == "ok"
