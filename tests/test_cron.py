"""The nightly run as cron starts it: the installed command, an emptied environment, another folder.

Cron gives a job almost no environment (PATH=/usr/bin:/bin, HOME, SHELL, LOGNAME) and starts it in
the home directory; the exit status must reach cron unchanged and the log must land where the
README says.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import duckdb

COMMAND = Path(sys.executable).parent / "iom-pipeline"


def _cron(line: str, home: Path) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/bin:/bin", "HOME": str(home), "SHELL": "/bin/sh", "LOGNAME": "cron"}
    return subprocess.run(["/bin/sh", "-c", line], env=env, cwd=home, capture_output=True, text=True, timeout=180)


def test_the_installed_command_runs_from_cron_and_passes_its_status_through(tmp_path, seed_archive):
    assert COMMAND.exists(), "run `make venv`: it installs the iom-pipeline command"
    home = tmp_path / "home"
    home.mkdir()
    logs = tmp_path / "logs"
    logs.mkdir()
    db = tmp_path / "warehouse.duckdb"
    closed = tmp_path / "closed.toml"
    closed.write_text(
        '[crawler]\nconnect_timeout = 0.5\nread_timeout = 0.5\nprobe_timeout = 0.5\nmax_retries = 0\n\n'
        '[[sources]]\nname = "closed-port.test"\nbase_url = "http://127.0.0.1:9"\nstart_urls = ["/listing"]\n'
        'allowed_hosts = ["127.0.0.1:9"]\n',
        encoding="utf-8",
    )
    base = f"{COMMAND} ingest --db {db} --raw {seed_archive} --sources {closed}"

    done = _cron(f"{base} >> {logs}/ingest.log 2>&1", home)
    assert done.returncode == 0, (logs / "ingest.log").read_text()
    strict = _cron(f"{base} --strict >> {logs}/ingest.log 2>&1", home)
    assert strict.returncode == 3

    log = (logs / "ingest.log").read_text(encoding="utf-8").splitlines()
    summaries = [line for line in log if line.startswith("run ")]
    assert [line.split()[1] for line in summaries] == ["1", "2"]
    con = duckdb.connect(str(db), read_only=True)
    try:
        stored = con.execute("SELECT run_id, status, exit_code FROM runs ORDER BY run_id").fetchall()
    finally:
        con.close()
    assert stored == [(1, "offline", 0), (2, "offline", 3)]
    last = json.loads((tmp_path / "warehouse.duckdb.last-run.json").read_text(encoding="utf-8"))
    assert (last["run_id"], last["exit_code"]) == (2, 3)
