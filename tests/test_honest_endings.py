"""Stopped and starved runs end honestly (issue 18, item 4): real signals, real full and read-only filesystems.

A run stopped by SIGTERM or SIGINT ends its step, records itself `interrupted` with the shell's
exit code (143, 130), says so in one line and frees the lock: the next run starts at once, reports
no crash and ends where an uninterrupted run ends. A full disk, a permission denied or a read-only
folder gives one `error:` line naming the path, exit 5, and leaves the published warehouse as
the last good run left it.

Everything is real: `python -m pipeline` in a subprocess crawling the replica on 127.0.0.1,
signals sent with os.kill once the run is seen in the step (its fetch log growing, its progress
lines, its `-v` log), tmpfs mounts filled or remounted read-only (root only: the tests skip
otherwise, with the reason), permissions denied by dropping the capability that lets root write
anywhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import pytest

from tests.conftest import PATIENCE_S, pipeline_env, pipeline_process, start_pipeline
from tests.fault_table import fault_case
from tests.replica import Fault, Replica

# --- subprocesses -------------------------------------------------------------------------------


class Run:
    """`python -m pipeline ARGS` started in its own session, its stderr read line by line as it comes."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        # its own session: its parse workers share it, and none may outlive the run
        self.proc = start_pipeline(args, env, cwd=cwd, start_new_session=True)
        self.lines: list[str] = []
        self.stdout = ""
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line.rstrip("\n"))

    def wait_until(self, ready: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + PATIENCE_S
        while not ready():
            if self.proc.poll() is not None:
                self.finish()
                pytest.fail(f"the run ended before {what}: exit {self.proc.returncode}\n{self.stderr}")
            if time.monotonic() > deadline:
                self.proc.kill()
                self.finish()
                pytest.fail(f"never reached {what}\n{self.stderr}")
            time.sleep(0.01)

    def signal_when(self, ready: Callable[[], bool], what: str, signum: int) -> int:
        """Send `signum` once the run is seen in `what`; its exit status once it has ended."""
        self.wait_until(ready, what)
        os.kill(self.proc.pid, signum)
        return self.finish()

    def finish(self) -> int:
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout.read()  # stderr is the reader thread's: communicate() would race it
        self.proc.stdout.close()
        code = self.proc.wait(timeout=PATIENCE_S)
        self._reader.join(10)
        assert self.proc.stderr is not None
        self.proc.stderr.close()
        return code

    @property
    def stderr(self) -> str:
        return "\n".join(self.lines)


def session_processes(sid: int) -> list[int]:
    """Live (non-zombie) processes of session `sid`: the run and anything it started."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[3]) == sid and fields[0] != "Z":  # fields: state ppid pgrp session ...
                found.append(int(stat.parent.name))
    return found


def no_process_left(sid: int) -> list[int]:
    deadline = time.monotonic() + 30
    while (left := session_processes(sid)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


def expected_exits(request: pytest.FixtureRequest) -> dict[int, int]:
    """signal -> exit status, as the test's fault marker promises them ("143 SIGTERM, 130 SIGINT")."""
    exit_text = str(fault_case(request)["exit"])
    return {int(signal.Signals[name]): int(code) for code, name in re.findall(r"(\d+) (SIG[A-Z]+)", exit_text)}


def one_error_line(stderr: str) -> str:
    """The run's single `error:` line; no traceback anywhere."""
    assert "Traceback" not in stderr, stderr
    errors = [line for line in stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, stderr
    return errors[0]


def last_run(db: Path) -> dict:
    return json.loads(db.with_name(db.name + ".last-run.json").read_text(encoding="utf-8"))


def rows(db: Path, sql: str) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def outcome(db: Path) -> dict[str, int]:
    """What a finished warehouse holds, to compare a resumed run with an uninterrupted one."""
    (sightings, keys, editions, works, pending) = rows(
        db,
        "SELECT (SELECT count(*) FROM sightings), (SELECT count(DISTINCT (page_id, position)) FROM sightings), "
        "(SELECT count(*) FROM publications), (SELECT count(*) FROM works), "
        "(SELECT count(*) FROM raw_pages WHERE parse_status = 'pending')",
    )[0]
    assert sightings == keys, "a page's record loaded twice"
    return {"sightings": sightings, "editions": editions, "works": works, "pending": pending}


def sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# --- the replica, and one uninterrupted run as the yardstick ------------------------------------


@pytest.fixture(scope="module")
def replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


@pytest.fixture
def rep(replica: Replica) -> Iterator[Replica]:
    replica.clear_faults()
    yield replica
    replica.clear_faults()


def environment(tmp: Path, rep: Replica, raw: Path, db: Path, **extra: str) -> dict[str, str]:
    sources = rep.write_sources(tmp / "replica-sources.toml")
    return pipeline_env({"IOM_DB": str(db), "IOM_RAW": str(raw), "IOM_SOURCES": str(sources), **extra})


def run(args: list[str], env: dict[str, str], cwd: Path, **popen: Any) -> subprocess.CompletedProcess[str]:
    return pipeline_process(args, env, cwd=cwd, **popen)


def run_without_write_anywhere(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """`run` as root without the capability to write anywhere (skips where it cannot be dropped)."""
    try:
        return run(args, env, cwd, preexec_fn=_drop_write_anywhere)
    except subprocess.SubprocessError as exc:
        pytest.skip(f"cannot drop CAP_DAC_OVERRIDE here: {exc}")


@pytest.fixture(scope="module")
def reference(replica: Replica, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, int]]:
    """The replica crawled once without interruption: its raw/ and what the warehouse then holds."""
    replica.clear_faults()
    tmp = tmp_path_factory.mktemp("reference")
    db = tmp / "warehouse.duckdb"
    done = run(["ingest"], environment(tmp, replica, tmp / "raw", db), tmp)
    assert done.returncode == 0, done.stderr
    return tmp / "raw", outcome(db)


# --- signals --------------------------------------------------------------------------------------


@pytest.mark.fault(
    fault="SIGTERM or SIGINT during the crawl",
    does="the crawl stops, the run is recorded `interrupted` and published; one `interrupted:` line; "
    "the next run starts at once and ends as an uninterrupted one",
    status="interrupted",
    exit="143 SIGTERM, 130 SIGINT",
    recorded="`runs` (published), last-run JSON, stderr",
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_in_the_crawl_ends_the_run_interrupted_and_the_next_run_finishes(
    tmp_path, rep, reference, signum, request
):
    db, raw = tmp_path / "warehouse.duckdb", tmp_path / "raw"
    env = environment(tmp_path, rep, raw, db)
    rep.add_fault(Fault.slow(r".*", delay=0.3, times=None))  # a crawl long enough to be caught in
    ingest = Run(["ingest"], env, tmp_path)
    fetchlog = raw / "fetchlog.jsonl"
    code = ingest.signal_when(lambda: fetchlog.exists() and fetchlog.read_text().count("\n") >= 3, "the crawl", signum)
    rep.clear_faults()

    assert code == expected_exits(request)[signum], ingest.stderr
    assert "Traceback" not in ingest.stderr
    said = [line for line in ingest.lines if line.startswith("interrupted:")]
    assert said == [ingest.lines[-1]], ingest.stderr
    assert f"run 1 stopped by {signal.Signals(signum).name} during crawl" in said[0]
    assert last_run(db)["status"] == fault_case(request)["status"] and last_run(db)["exit_code"] == code
    # stopped before it loaded anything: published, with its status and exit code
    assert rows(db, "SELECT run_id, status, exit_code FROM runs") == [(1, fault_case(request)["status"], code)]
    assert not no_process_left(ingest.proc.pid)

    again = run(["ingest"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert rows(db, "SELECT run_id, status FROM runs ORDER BY run_id") == [(1, "interrupted"), (2, "ok")]
    assert outcome(db) == reference[1]


def _offline_env(tmp_path: Path, rep: Replica, reference: tuple[Path, dict[str, int]], **extra: str):
    raw = shutil.copytree(reference[0], tmp_path / "raw")
    db = tmp_path / "warehouse.duckdb"
    return db, environment(tmp_path, rep, raw, db, **extra)


@pytest.mark.fault(
    fault="SIGTERM or SIGINT during the load (parse workers busy)",
    does="the load stops between transactions, the workers die with it, the lock is freed; the published "
    "warehouse stays the previous run's; the next run goes on without loading a page twice",
    status="interrupted",
    exit="143 SIGTERM, 130 SIGINT",
    recorded="last-run JSON, stderr; `runs` with the next run",
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_in_the_load_keeps_the_published_warehouse_and_the_next_run_goes_on(
    tmp_path, rep, reference, signum, request
):
    db, env = _offline_env(tmp_path, rep, reference, IOM_LOAD_BATCH_PAGES="4")
    first = run(["ingest", "--offline", "--source", "migrantprotection.iom.int"], env, tmp_path)
    assert first.returncode == 0, first.stderr
    published = sha(db)

    ingest = Run(["ingest", "--offline"], env, tmp_path)
    code = ingest.signal_when(lambda: any(line.startswith("parse:") for line in ingest.lines), "the load", signum)

    assert code == expected_exits(request)[signum], ingest.stderr
    assert "Traceback" not in ingest.stderr
    assert ingest.lines[-1].startswith(f"interrupted: run 2 stopped by {signal.Signals(signum).name} during load")
    assert sha(db) == published  # never a half-loaded warehouse
    assert (last_run(db)["run_id"], last_run(db)["status"], last_run(db)["exit_code"]) == (
        2,
        fault_case(request)["status"],
        code,
    )
    assert not no_process_left(ingest.proc.pid), "a parse worker outlived the run"

    again = run(["ingest", "--offline"], env, tmp_path)
    assert again.returncode == 0, again.stderr  # not 4: nothing holds the lock
    assert rows(db, "SELECT run_id, status, exit_code FROM runs ORDER BY run_id") == [
        (1, "ok", 0),
        (2, "interrupted", code),
        (3, "ok", 0),
    ]
    assert outcome(db) == reference[1]


def test_a_run_stopped_in_its_crawl_never_publishes_an_earlier_stopped_run_s_half_load(tmp_path, rep, reference):
    # run 2 is stopped in its load: its first batches stay in the working copy, unpublished; run 3,
    # stopped in its crawl, opens that copy: publishing it would hand analysts run 2's half load
    db, env = _offline_env(tmp_path, rep, reference, IOM_LOAD_BATCH_PAGES="4")
    assert run(["ingest", "--offline", "--source", "migrantprotection.iom.int"], env, tmp_path).returncode == 0
    published = sha(db)
    load = Run(["ingest", "--offline"], env, tmp_path)
    code = load.signal_when(lambda: any(line.startswith("parse:") for line in load.lines), "the load", signal.SIGTERM)
    assert code == 143, load.stderr

    rep.add_fault(Fault.slow(r".*", delay=0.3, times=None))
    fetchlog = tmp_path / "raw" / "fetchlog.jsonl"
    lines_before = fetchlog.read_text().count("\n") if fetchlog.exists() else 0
    crawl = Run(["ingest"], env, tmp_path)
    code = crawl.signal_when(
        lambda: fetchlog.exists() and fetchlog.read_text().count("\n") >= lines_before + 3, "the crawl", signal.SIGTERM
    )
    rep.clear_faults()

    assert code == 143, crawl.stderr
    assert "the published warehouse stays the previous run's" in crawl.lines[-1], crawl.stderr
    assert sha(db) == published
    again = run(["ingest", "--offline"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert outcome(db) == reference[1]


@pytest.mark.fault(
    fault="SIGTERM during the dedup pass",
    does="the pass is rolled back, the run recorded `interrupted`; the published warehouse stays the previous "
    "run's; the next run runs the pass",
    status="interrupted",
    exit="143 SIGTERM",
    recorded="last-run JSON, stderr; `runs` with the next run",
)
def test_a_signal_in_the_dedup_pass_is_rolled_back_and_the_next_run_runs_it(tmp_path, rep, reference, request):
    db, env = _offline_env(tmp_path, rep, reference)
    ingest = Run(["-v", "ingest", "--offline"], env, tmp_path)
    code = ingest.signal_when(
        lambda: any("dedup step: started" in line for line in ingest.lines), "the dedup pass", signal.SIGTERM
    )

    assert code == expected_exits(request)[signal.SIGTERM], ingest.stderr
    assert "Traceback" not in ingest.stderr
    assert ingest.lines[-1].startswith("interrupted: run 1 stopped by SIGTERM during dedup")
    assert not db.exists()  # the first run never published: nothing half-done was
    assert last_run(db)["status"] == fault_case(request)["status"]

    again = run(["ingest", "--offline"], env, tmp_path)
    assert again.returncode == 0, again.stderr
    assert rows(db, "SELECT run_id, status FROM runs ORDER BY run_id") == [(1, "interrupted"), (2, "ok")]
    assert outcome(db) == reference[1]


# --- full, read-only and forbidden filesystems ----------------------------------------------------


@pytest.fixture
def mounts() -> Iterator[Callable[..., Path]]:
    """`mount(path, size)`: a tmpfs of `size` at `path` (root only), unmounted afterwards."""
    mounted: list[Path] = []
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (CI runs as root)")

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def read_only(path: Path) -> None:
    done = subprocess.run(["mount", "-o", "remount,ro", str(path)], capture_output=True)
    if done.returncode:
        pytest.skip(f"cannot remount read-only: {done.stderr.decode().strip()}")


def fill(folder: Path, leave: int) -> Path:
    """Fill the filesystem of `folder` up to `leave` bytes free."""
    filler = folder / "filler"
    free = os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize
    with open(filler, "wb") as fh, contextlib.suppress(OSError):
        fh.write(b"\0" * max(free - leave, 0))
    return filler


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.name.endswith((".publishing", ".tmp")))


#: free space left -> the write that then fails (measured: the load's WAL, the working copy's checkpoint, the publish).
#: The publish copies the whole warehouse (6 MB on the seeds); a --reparse checkpoint grows the working copy by
#: more than 3 MB (the readers' copy also sits in .build), so the publish case leaves 5 MB.
FULL_AT = {64 << 10: ".build/warehouse.duckdb.wal", 1 << 20: ".build/warehouse.duckdb:", 5 << 20: ".publishing"}


@pytest.mark.fault(
    fault="warehouse folder full during the load, the checkpoint or the publish",
    does="one `error:` line naming the file; the published warehouse stays the last good one; temp files and "
    "the broken working copy removed; the next run (space freed) is ok",
    status="failed",
    exit=5,
    recorded="`error:` line, last-run JSON",
)
@pytest.mark.parametrize("leave", sorted(FULL_AT), ids=["wal", "checkpoint", "publish"])
def test_a_full_warehouse_folder_exits_5_and_keeps_the_published_warehouse(
    tmp_path, seed_archive, run_cli, mounts, leave, request
):
    # the published file, the working copy, the readers' copy, a publish's copy and the search index
    # with the new one built aside: 32 MB held them all only without the index
    folder = mounts(tmp_path / "wh", "40m")
    db = folder / "warehouse.duckdb"
    env = {"IOM_DB": str(db)}
    assert run_cli("ingest", "--offline", env=env).returncode == 0
    good = sha(db)
    filler = fill(folder, leave)

    failed = run_cli("ingest", "--offline", "--reparse", env=env)
    assert failed.returncode == fault_case(request)["exit"], failed.stderr
    line = one_error_line(failed.stderr)
    assert "no space left on device (ENOSPC)" in line and str(folder) in line and FULL_AT[leave] in line
    assert sha(db) == good
    assert leftovers(folder) == []
    if db.with_name(db.name + ".last-run.json").exists():  # written unless the disk is too full even for that
        assert (last_run(db)["status"], last_run(db)["exit_code"]) == (fault_case(request)["status"], 5)

    filler.unlink()
    again = run_cli("ingest", "--offline", "--reparse", env=env)
    assert again.returncode == 0, again.stderr
    runs = rows(db, "SELECT run_id, status, exit_code FROM runs ORDER BY run_id")
    if FULL_AT[leave] == ".publishing":  # the working copy was whole: kept, with the run as cron saw it
        assert runs == [(1, "ok", 0), (2, fault_case(request)["status"], 5), (3, "ok", 0)]
    else:  # a copy DuckDB could not write is dropped, its run with it; the next run starts from the published file
        assert runs == [(1, "ok", 0), (2, "ok", 0)]


@pytest.mark.fault(
    fault="raw/ full during the crawl (also with the warehouse folder full)",
    does="one `error:` line naming the full folder, no abort; what raw/ holds is loaded (or, the warehouse folder "
    "full too, the published warehouse is unchanged)",
    status="partial",
    exit=5,
    recorded="`error:` line, `runs`, last-run JSON",
)
@pytest.mark.parametrize("warehouse_full", [False, True], ids=["raw-full", "both-full"])
def test_a_full_raw_folder_during_the_crawl_exits_5_naming_it(tmp_path, rep, mounts, warehouse_full, request):
    raw = mounts(tmp_path / "rawfs", "160k") / "raw"
    folder = mounts(tmp_path / "wh", "3m") if warehouse_full else tmp_path
    db = folder / "warehouse.duckdb"
    done = run(["ingest"], environment(tmp_path, rep, raw, db), tmp_path)

    assert done.returncode == fault_case(request)["exit"], done.stderr
    line = one_error_line(done.stderr)
    assert "no space left on device (ENOSPC)" in line
    if warehouse_full:
        assert str(folder) in line or str(raw.parent) in line
        assert not db.exists() and leftovers(folder) == []
    else:
        assert str(raw.parent) in line
        assert rows(db, "SELECT status, exit_code FROM runs") == [(fault_case(request)["status"], 5)]
        assert rows(db, "SELECT count(*) FROM raw_pages")[0][0] > 0  # what was archived before it filled up


@pytest.mark.fault(
    fault="raw/ or the warehouse folder on a read-only mount",
    does="refused before anything is written, one `error:` line naming the folder; `stats` still reads a "
    "read-only warehouse",
    status="no run",
    exit=5,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("which", ["raw", "warehouse"])
def test_a_read_only_folder_is_refused_in_one_line(tmp_path, rep, seed_archive, run_cli, mounts, which, request):
    folder = mounts(tmp_path / "ro", "32m")
    raw = folder / "raw" if which == "raw" else seed_archive
    db = folder / "warehouse.duckdb" if which == "warehouse" else tmp_path / "warehouse.duckdb"
    if which == "raw":
        shutil.copytree(seed_archive, raw)
    else:
        assert run_cli("ingest", "--offline", env={"IOM_DB": str(db)}).returncode == 0
    good = sha(db) if db.exists() else None
    read_only(folder)

    done = run(["ingest"], environment(tmp_path, rep, raw, db), tmp_path)
    assert done.returncode == fault_case(request)["exit"], done.stderr
    line = one_error_line(done.stderr)
    assert "read-only file system (EROFS)" in line and str(folder) in line
    if which == "warehouse":
        assert sha(db) == good
        assert run_cli("stats", env={"IOM_DB": str(db)}).returncode == 0  # analysts still read it
    else:
        assert not db.exists()
        offline = run(["ingest", "--offline"], environment(tmp_path, rep, raw, db), tmp_path)
        assert offline.returncode == fault_case(request)["exit"], offline.stderr  # raw/ takes a lock file
        assert str(folder) in one_error_line(offline.stderr)
        page = tmp_path / "page.txt"
        page.write_text("A guide to safe return, written for caseworkers and their partners.\n", encoding="utf-8")
        add = run(
            ["archive", "add", str(page), "--source", "publications.iom.int", "--format", "text-detail"],
            environment(tmp_path, rep, raw, db),
            tmp_path,
        )
        assert add.returncode == fault_case(request)["exit"], add.stderr  # the machine's refusal, not the file's
        assert str(folder) in one_error_line(add.stderr)


def _drop_write_anywhere() -> None:  # pragma: no cover - runs in the child before exec
    """Take CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the child: root then obeys file modes."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


@pytest.mark.fault(
    fault="permission denied on raw/ or the warehouse folder",
    does="refused before anything is written, one `error:` line naming the folder",
    status="no run",
    exit=5,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("which", ["raw", "warehouse"])
def test_a_forbidden_folder_is_refused_in_one_line(tmp_path, rep, seed_archive, which, request):
    if os.geteuid() != 0:
        pytest.skip("runs as root without the capability to override file modes (CI runs as root)")
    locked = tmp_path / "locked"
    locked.mkdir()
    raw = locked / "raw" if which == "raw" else seed_archive
    db = locked / "warehouse.duckdb" if which == "warehouse" else tmp_path / "warehouse.duckdb"
    locked.chmod(0o555)
    try:
        done = run_without_write_anywhere(["ingest"], environment(tmp_path, rep, raw, db), tmp_path)
    finally:
        locked.chmod(0o755)
    assert done.returncode == fault_case(request)["exit"], done.stderr
    line = one_error_line(done.stderr)
    assert "permission denied (EACCES)" in line and str(locked) in line
    assert not db.exists()


@pytest.mark.fault(
    fault="`--db` a directory, `/proc/self/mem`, `/dev/null`, or in a folder that cannot be created",
    does="refused before anything runs, by `ingest`, `stats`, `query` and `export` alike",
    status="",
    exit=5,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("where", ["directory", "/proc/self/mem", "/dev/null", "under-a-file"])
def test_a_warehouse_path_that_is_no_file_is_refused_in_one_line(tmp_path, seed_archive, run_cli, where, request):
    if where == "directory":
        db = tmp_path / "a-folder"
        db.mkdir()
    elif where == "under-a-file":
        (tmp_path / "plain").write_text("not a folder")
        db = tmp_path / "plain" / "warehouse.duckdb"
    else:
        db = Path(where)
    for command in (
        ["ingest", "--offline"],
        ["stats"],
        ["query", "SELECT 1"],
        ["export", "--format", "csv", "--out", str(tmp_path / "out.csv")],
    ):
        done = run_cli(*command, "--db", str(db))
        assert done.returncode == fault_case(request)["exit"], (command, done.stderr)
        line = one_error_line(done.stderr)
        assert str(db) in line, (command, line)
        assert "mv " not in line, "a rebuild hint that would move a system file aside"
    assert not (tmp_path / "out.csv").exists()


@pytest.mark.fault(
    fault="`last-run.json` cannot be written (permission denied) after the run was published",
    does="the run stays published; one `error:` line naming the file",
    status="ok",
    exit=5,
    recorded="`runs`, one `error:` line",
)
def test_a_last_run_file_that_cannot_be_written_is_said_in_one_line(tmp_path, seed_archive, request):
    if os.geteuid() != 0:
        pytest.skip("runs as root without the capability to override file modes (CI runs as root)")
    db = tmp_path / "warehouse.duckdb"
    blocker = tmp_path / "warehouse.duckdb.last-run.json.tmp"
    blocker.write_text("")
    blocker.chmod(0o444)
    env = pipeline_env({"IOM_DB": str(db), "IOM_RAW": str(seed_archive)})
    done = run_without_write_anywhere(["ingest", "--offline"], env, tmp_path)
    assert done.returncode == fault_case(request)["exit"], done.stderr
    line = one_error_line(done.stderr)
    assert "permission denied (EACCES)" in line and str(blocker) in line and "was published" in line
    assert rows(db, "SELECT run_id, status FROM runs") == [(1, fault_case(request)["status"])]
