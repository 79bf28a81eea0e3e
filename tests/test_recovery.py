"""A damaged warehouse, and warehouses that are not files: clear errors and a way back from raw/.

Real files damaged by the test (truncated), real commands; the way back is the exact command
the error prints, run as printed.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from pipeline.warehouse import WorkingCopy, connect
from tests.fault_table import fault_case


def _count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    finally:
        con.close()


@pytest.mark.fault(
    fault="warehouse file truncated",
    does="`stats`, `query`, `ingest` stop with the exact rebuild command; that command rebuilds it from raw/",
    status="",
    exit=5,
    recorded="one `error:` line",
)
def test_a_truncated_warehouse_says_how_to_rebuild_and_that_command_works(tmp_path, seed_archive, run_cli, request):
    assert run_cli("ingest", "--offline").returncode == 0
    db = tmp_path / "warehouse.duckdb"
    before = _count(db)
    with open(db, "r+b") as fh:
        fh.truncate(db.stat().st_size // 3)

    for command in (("stats",), ("ingest", "--offline")):
        failed = run_cli(*command)
        assert failed.returncode == fault_case(request)["exit"], (command, failed.stderr)
        assert "Traceback" not in failed.stderr and "rebuild it from raw/" in failed.stderr
    hint = re.search(r"rebuild it from raw/: (.+)$", failed.stderr.strip().splitlines()[-1]).group(1)
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}",
           "IOM_RAW": str(seed_archive)}  # fmt: skip
    env = {k: v for k, v in env.items() if k != "IOM_DB"}
    rebuilt = subprocess.run(["/bin/sh", "-c", hint], env=env, capture_output=True, text=True, timeout=300)
    assert rebuilt.returncode == 0, rebuilt.stderr
    assert _count(db) == before
    assert (tmp_path / "warehouse.duckdb.damaged").exists()
    assert run_cli("stats").returncode == 0


@pytest.mark.fault(
    fault="`--db :memory:`, `md:...`, `s3://...`",
    does="refused before anything runs",
    status="",
    exit=5,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("where", [":memory:", "md:analytics", "s3://bucket/iom.duckdb"])
def test_a_warehouse_that_is_not_a_file_is_refused(tmp_path, seed_archive, run_cli, where, request):
    done = run_cli("ingest", "--offline", "--db", where)
    assert done.returncode == fault_case(request)["exit"]
    assert "not a warehouse file" in done.stderr
    assert not list(tmp_path.glob("**/*memory*")) and not list(tmp_path.glob("**/md*"))


def test_duckdb_never_installs_or_loads_extensions_by_itself(tmp_path):
    con = connect(tmp_path / "w.duckdb")
    try:
        settings = dict(
            con.execute(
                "SELECT name, value FROM duckdb_settings() "
                "WHERE name IN ('autoinstall_known_extensions', 'autoload_known_extensions')"
            ).fetchall()
        )
    finally:
        con.close()
    assert settings == {"autoinstall_known_extensions": "false", "autoload_known_extensions": "false"}
    with pytest.raises(Exception, match="not a warehouse file"):
        WorkingCopy(Path(":memory:")).open()
