"""Analysts never block a run and never see a half-loaded warehouse.

Real processes: one holds a read-only connection to the published warehouse, one a read-write
connection, and a poller opens fresh read-only connections, all through a whole `ingest` run
started from the command line.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import duckdb

REAL = Path(__file__).parent / "real_pages"

HOLD = """
import sys, duckdb
con = duckdb.connect(sys.argv[1], read_only=sys.argv[2] == "ro")
print(con.execute("SELECT count(*) FROM sightings").fetchone()[0], flush=True)
sys.stdin.readline()
print(con.execute("SELECT count(*) FROM sightings").fetchone()[0], flush=True)
"""

POLL = """
import json, os, sys, time, duckdb
seen = set()
while not os.path.exists(sys.argv[2]):
    try:
        con = duckdb.connect(sys.argv[1], read_only=True)
        seen.add(con.execute("SELECT count(*) FROM sightings").fetchone()[0])
        con.close()
    except duckdb.Error as exc:
        seen.add("error: " + str(exc).splitlines()[0])
    time.sleep(0.02)
print(json.dumps(sorted(map(str, seen))))
"""


def _count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    finally:
        con.close()


def _hold(db: Path, mode: str) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD, str(db), mode], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    return proc, int(proc.stdout.readline())


def _release(proc: subprocess.Popen[str]) -> int:
    out, _ = proc.communicate("\n", timeout=30)
    assert proc.returncode == 0
    return int(out.split()[-1])


def _add_real_page(run_cli) -> None:  # type: ignore[no-untyped-def]
    page = REAL / "03_pub_detail_inner-journeys.txt"
    done = run_cli("archive", "add", str(page), "--source", "publications.iom.int",
                   "--url", "https://publications.iom.int/books/inner-journeys", "--format", "auto")  # fmt: skip
    assert done.returncode == 0, done.stderr


def test_a_run_goes_through_while_analysts_hold_the_warehouse(tmp_path, seed_archive, run_cli):
    db = tmp_path / "warehouse.duckdb"
    first = run_cli("ingest", "--offline")
    assert first.returncode == 0, first.stderr
    before = _count(db)
    _add_real_page(run_cli)

    reader, reader_saw = _hold(db, "ro")
    stop = tmp_path / "stop-polling"
    poller = subprocess.Popen([sys.executable, "-c", POLL, str(db), str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        time.sleep(0.5)
        run = run_cli("ingest", "--offline", timeout=120)
        time.sleep(0.5)
    finally:
        reader_after = _release(reader)
        stop.touch()
    assert run.returncode == 0, run.stderr
    after = _count(db)
    assert after == before + 1
    # the open session keeps the snapshot it opened; nobody ever saw a count in between
    assert reader_saw == reader_after == before
    seen, _ = poller.communicate(timeout=60)
    assert set(json.loads(seen)) == {str(before), str(after)}, seen


def test_a_read_write_session_on_the_published_file_does_not_block_a_run(tmp_path, seed_archive, run_cli):
    db = tmp_path / "warehouse.duckdb"
    assert run_cli("ingest", "--offline").returncode == 0
    before = _count(db)
    _add_real_page(run_cli)
    writer, _ = _hold(db, "rw")
    try:
        run = run_cli("ingest", "--offline", timeout=120)
    finally:
        _release(writer)
    assert run.returncode == 0, run.stderr
    assert _count(db) == before + 1
    # a later run starts from what it published, not from the session's copy
    again = run_cli("ingest", "--offline")
    assert again.returncode == 0 and _count(db) == before + 1
    assert not list(tmp_path.glob("warehouse.duckdb.wal"))
