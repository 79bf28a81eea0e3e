"""The product's readers answer while an analyst holds the published warehouse read-write.

DuckDB takes a whole-file lock: one process with the file open read-write keeps every other open
out, read-only ones too. Everything here is real: the analyst is another process (a Python
`duckdb.connect(path)` session, or the DuckDB CLI from the `duckdb-cli` package), the warehouse
is built and published by `python -m pipeline ingest`, and `query`, `stats`, `export`, `report`
and a `serve-oai` server are run as users run them. Each build is told apart by a value only it
has: its run id and the real page it loaded last.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import sysconfig
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipeline.warehouse import _set_wal_aside
from tests.fault_table import fault_case
from tests.oai_serving import serving

REAL = Path(__file__).parent / "real_pages"
PUB = "publications.iom.int"
#: the real pages the builds load, and how each one's title opens (read on the page, by hand)
INNER_JOURNEYS = ("03_pub_detail_inner-journeys.txt", "inner-journeys", "Inner Journeys")
WCA_STRATEGY = ("04_pub_detail_wca-regional-strategy-2020-2024.txt", "wca-regional-strategy", "West and Central Africa")

#: per build: the last run's id, whether the page it added is there, and whether the analyst's table shows
BUILD = """
SELECT (SELECT max(run_id) FROM runs) AS last_run,
       (SELECT count(*) FROM publications WHERE title LIKE ?) AS added_page,
       (SELECT count(*) FROM duckdb_tables() WHERE table_name = 'analyst_scratch') AS analyst_table
"""

#: an analyst's read-write Python session: one statement a line in, its rows as JSON out
ANALYST = """
import json, sys, duckdb
con = duckdb.connect(sys.argv[1])
print(json.dumps("open"), flush=True)
for line in sys.stdin:
    try:
        rows = con.execute(line).fetchall()
        print(json.dumps([[str(v) for v in row] for row in rows]), flush=True)
    except duckdb.Error as exc:
        print(json.dumps({"error": str(exc).splitlines()[0]}), flush=True)
con.close()
print(json.dumps("closed"), flush=True)
"""

DONE = "--statement-done--"


def duckdb_cli() -> Path:
    """The `duckdb` executable that `duckdb-cli` (the dev extra) installs beside this interpreter."""
    found = shutil.which("duckdb", path=sysconfig.get_path("scripts"))
    if found is None:
        pytest.fail("no duckdb CLI beside this Python: install the dev extra (`pip install -r requirements.lock`)")
    return Path(found)


def fetch(url: str, params: list[tuple[str, str]]) -> tuple[int, bytes]:
    """One GET as a harvester sends it (no proxy): status and body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"{url}?{urllib.parse.urlencode(params)}", timeout=30) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, exc.read()


class Analyst:
    """A read-write session on the published file in another process, statement by statement."""

    def __init__(self, db: Path, client: str = "python") -> None:
        self.client = client
        if client == "python":
            command = [sys.executable, "-c", ANALYST, str(db)]
        else:
            command = [str(duckdb_cli()), "-no-init", "-batch", "-csv", "-noheader", str(db)]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1
        )
        if client == "python":
            assert self._line() == "open", self._failure()
        else:
            assert self.sql("SELECT 'open'") == [["open"]], self._failure()

    def _line(self) -> object:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        assert line, self._failure()
        return json.loads(line)

    def _failure(self) -> str:
        self.proc.kill()
        _, err = self.proc.communicate(timeout=30)
        return f"the analyst's session ended: {err}"

    def sql(self, statement: str) -> list[list[str]]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        if self.client == "python":
            self.proc.stdin.write(statement.replace("\n", " ") + "\n")
            self.proc.stdin.flush()
            rows = self._line()
            assert isinstance(rows, list), rows
            return rows
        self.proc.stdin.write(f"{statement};\n.print {DONE}\n")
        self.proc.stdin.flush()
        rows = []
        while (line := self.proc.stdout.readline()) and line.strip() != DONE:
            rows.append(line.rstrip("\n").split(","))
        assert line, self._failure()
        return rows

    def end(self) -> str:
        """Close the session as the analyst would (end of input): DuckDB checkpoints then."""
        out, err = self.proc.communicate("" if self.client == "cli" else None, timeout=60)
        assert self.proc.returncode == 0, err
        return out

    def kill(self) -> None:
        """The session dies (kill -9, a laptop closed): its write-ahead log stays beside the file."""
        self.proc.send_signal(signal.SIGKILL)
        self.proc.communicate(timeout=30)


def wal(db: Path) -> Path:
    return db.with_name(db.name + ".wal")


def stale_wals(db: Path) -> list[Path]:
    return sorted(db.parent.glob(f"{db.name}.wal.stale-*"))


def build_of(db: Path, title: str) -> tuple[int, int, int]:
    """What the published file itself holds (the test's own read-only connection, closed at once)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(BUILD, [f"{title}%"]).fetchone()
    finally:
        con.close()


def add_page(run_cli, page: tuple[str, str, str]) -> None:  # type: ignore[no-untyped-def]
    name, slug, _ = page
    done = run_cli("archive", "add", str(REAL / name), "--source", PUB,
                   "--url", f"https://{PUB}/books/{slug}", "--format", "auto")  # fmt: skip
    assert done.returncode == 0, done.stderr


def ingest(run_cli) -> None:  # type: ignore[no-untyped-def]
    run = run_cli("ingest", "--offline", timeout=180)
    assert run.returncode == 0, run.stderr


@pytest.fixture
def published(tmp_path: Path, seed_archive: Path, run_cli) -> Iterator[Path]:  # type: ignore[no-untyped-def]
    """Two runs published: the seed archive (run 1), then the Inner Journeys page (run 2).

    A copy of run 1's file is kept as `build1.duckdb`, for restoring by hand.
    """
    db = tmp_path / "warehouse.duckdb"
    ingest(run_cli)
    shutil.copyfile(db, tmp_path / "build1.duckdb")
    add_page(run_cli, INNER_JOURNEYS)
    ingest(run_cli)
    assert build_of(db, INNER_JOURNEYS[2]) == (2, 1, 0)
    yield db


def assert_locked_for_plain_clients(db: Path) -> None:
    """The analyst really holds DuckDB's lock: a plain read-only open by another process is refused."""
    with pytest.raises(duckdb.IOException, match=r"(?i)lock"):
        duckdb.connect(str(db), read_only=True)


def readers_answer_from(db: Path, run_cli, tmp_path: Path, last_run: int, title: str) -> None:  # type: ignore[no-untyped-def]
    """query, stats, export, report and OAI-PMH all answer, from the build whose last run is `last_run`."""
    query = run_cli("query", BUILD.replace("?", f"'{title}%'"), "--format", "json")
    assert query.returncode == 0, query.stderr
    assert json.loads(query.stdout) == [{"last_run": last_run, "added_page": 1, "analyst_table": 0}]
    # DuckDB names a file's database after its name up to the first dot: the copy answers to the same name
    named = run_cli("query", f"SELECT count(*) AS runs FROM {db.name.split('.')[0]}.main.runs", "--format", "csv")
    assert named.stdout.split() == ["runs", str(last_run)], named.stderr

    stats = run_cli("stats", "--json")
    assert stats.returncode == 0, stats.stderr
    assert json.loads(stats.stdout)["last_runs"][0]["run_id"] == last_run

    out = tmp_path / "editions.csv"
    export = run_cli("export", "--format", "csv", "--out", str(out))
    assert export.returncode == 0, export.stderr
    assert title in out.read_text(encoding="utf-8")

    report = tmp_path / "report.html"
    made = run_cli("report", "--out", str(report))
    assert made.returncode == 0, made.stderr
    assert report.stat().st_size > 0

    with serving(db, tmp_path) as url:
        pages = [fetch(url, [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])]
        while (token := re.search(rb"<resumptionToken[^>]*>([^<]+)<", pages[-1][1])) and len(pages) < 50:
            pages.append(fetch(url, [("verb", "ListRecords"), ("resumptionToken", token.group(1).decode())]))
    assert all(status == 200 for status, _ in pages), pages[-1]
    assert any(title.encode() in body for _, body in pages)


@pytest.mark.parametrize("client", ["python", "cli"])
def test_readers_answer_from_the_last_build_while_an_analyst_holds_the_file_read_write(
    published: Path, run_cli, tmp_path: Path, client: str
) -> None:  # type: ignore[no-untyped-def]
    analyst = Analyst(published, client)
    try:
        analyst.sql("CREATE TABLE analyst_scratch AS SELECT 42 AS answer")
        analyst.sql("UPDATE runs SET status = 'edited' WHERE run_id = 2")
        assert analyst.sql("SELECT answer FROM analyst_scratch") == [["42"]]
        assert wal(published).exists()  # the session's writes wait in its log, as DuckDB keeps them
        assert_locked_for_plain_clients(published)

        readers_answer_from(published, run_cli, tmp_path, 2, INNER_JOURNEYS[2])
        statuses = run_cli("query", "SELECT status FROM runs WHERE run_id = 2", "--format", "csv")
        assert statuses.stdout.split() == ["status", "ok"]  # the session's log is never replayed for readers
    finally:
        analyst.end()
    assert not wal(published).exists()


def test_a_run_publishes_while_an_analyst_writes_and_the_session_ends_cleanly(
    published: Path, run_cli, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    add_page(run_cli, WCA_STRATEGY)
    analyst = Analyst(published)
    try:
        analyst.sql("CREATE TABLE analyst_scratch AS SELECT 1 AS answer")
        ingest(run_cli)  # run 3: proceeds, as a run never waits for analysts
        # the log beside the new file was the replaced file's: moved aside, never replayed into the new one
        assert not wal(published).exists() and len(stale_wals(published)) == 1
        readers_answer_from(published, run_cli, tmp_path, 3, WCA_STRATEGY[2])
        # the session goes on, on the file it opened
        analyst.sql("INSERT INTO analyst_scratch VALUES (2)")
        mine = analyst.sql("SELECT count(*), max(last) FROM analyst_scratch, (SELECT max(run_id) AS last FROM runs)")
        assert mine == [["2", "2"]]
    finally:
        analyst.end()
    # nothing corrupt: the published file opens read-write; it is run 3's, the session's table went with the old file
    con = duckdb.connect(str(published))
    try:
        assert con.execute(BUILD, [f"{WCA_STRATEGY[2]}%"]).fetchone() == (3, 1, 0)
    finally:
        con.close()
    assert not wal(published).exists() and len(stale_wals(published)) == 1
    ingest(run_cli)
    assert build_of(published, WCA_STRATEGY[2]) == (4, 1, 0)


def test_a_session_that_ends_before_the_next_run_keeps_its_work_and_its_live_log_is_left_alone(
    published: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    analyst = Analyst(published)
    try:
        analyst.sql("CREATE TABLE analyst_scratch AS SELECT 7 AS answer")
        log = wal(published).stat().st_ino
        for command in (["query", "SELECT count(*) FROM runs"], ["stats"]):
            assert run_cli(*command).returncode == 0
        assert wal(published).stat().st_ino == log and not stale_wals(published)
        analyst.sql("INSERT INTO analyst_scratch VALUES (8)")
    finally:
        analyst.end()
    # the session's close wrote its work into the published file, so the next run starts from that file
    assert build_of(published, INNER_JOURNEYS[2]) == (2, 1, 1)
    ingest(run_cli)
    assert build_of(published, INNER_JOURNEYS[2]) == (3, 1, 1)
    rows = run_cli("query", "SELECT sum(answer) AS total FROM analyst_scratch", "--format", "csv")
    assert rows.stdout.split() == ["total", "15"]


@pytest.mark.fault(
    fault="the published warehouse restored by hand from an older build, then held read-write by a session",
    does="`query`, `stats`, `export`, `report` refuse in one line (the readers' copy of the last run is not "
    "that file's build, so it is not answered instead), OAI-PMH answers 503; once the session ends they "
    "answer from the restored file",
    status="",
    exit=4,
    recorded="stderr",
)
def test_a_file_restored_by_hand_is_never_answered_from_the_readers_copy(
    published: Path, run_cli, tmp_path: Path, request: pytest.FixtureRequest
) -> None:  # type: ignore[no-untyped-def]
    shutil.copyfile(tmp_path / "build1.duckdb", published)  # `cp` keeps the inode; size and time change
    analyst = Analyst(published)
    try:
        for command in (["query", "SELECT 1"], ["stats"], ["report", "--out", str(tmp_path / "r.html")]):
            refused = run_cli(*command)
            assert refused.returncode == fault_case(request)["exit"], (command, refused.stderr)
            lines = refused.stderr.strip().splitlines()
            assert len(lines) == 1 and "changed since the last run published it" in lines[0], refused.stderr
        with serving(published, tmp_path) as url:
            assert fetch(url, [("verb", "Identify")])[0] == 503
    finally:
        analyst.end()
    answer = run_cli("query", "SELECT max(run_id) AS last FROM runs", "--format", "csv")
    assert answer.stdout.split() == ["last", "1"]


def test_a_crashed_sessions_log_is_not_replayed_for_readers_and_the_next_run_sets_it_aside(
    published: Path, run_cli
) -> None:  # type: ignore[no-untyped-def]
    analyst = Analyst(published)
    analyst.sql("CREATE TABLE analyst_scratch AS SELECT 1 AS answer")
    analyst.kill()
    assert wal(published).exists()
    query = run_cli("query", BUILD.replace("?", f"'{INNER_JOURNEYS[2]}%'"), "--format", "csv")
    assert query.returncode == 0 and query.stdout.split()[1] == "2,1,0", query.stderr
    ingest(run_cli)
    assert not wal(published).exists() and len(stale_wals(published)) == 1
    assert build_of(published, INNER_JOURNEYS[2]) == (3, 1, 0)


def test_a_log_that_appears_after_the_swap_is_left_to_a_live_session_on_the_new_file(published: Path) -> None:
    analyst = Analyst(published)
    analyst.sql("CREATE TABLE analyst_scratch AS SELECT 1 AS answer")
    log = wal(published).stat().st_ino
    _set_wal_aside(published, wal_before=None)  # as if the session had opened the file just published
    assert wal(published).stat().st_ino == log and not stale_wals(published)
    assert analyst.sql("SELECT count(*) FROM analyst_scratch") == [["1"]]
    analyst.kill()
    _set_wal_aside(published, wal_before=None)  # nobody holds the file now: the log is set aside
    assert not wal(published).exists() and len(stale_wals(published)) == 1


def test_ten_nightly_runs_with_analysts_leave_at_most_one_stale_log(published: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    for seconds in (1_700_000_000, 1_700_086_400):  # left by an earlier version, which never removed them
        published.with_name(f"{published.name}.wal.stale-{seconds}").write_bytes(b"old log")
    for night in range(10):
        analyst = Analyst(published)
        analyst.sql(f"CREATE TABLE analyst_scratch AS SELECT {night} AS answer")
        ingest(run_cli)
        analyst.end()
        assert len(stale_wals(published)) <= 1, stale_wals(published)
    assert not wal(published).exists()
    [kept] = stale_wals(published)
    assert kept.read_bytes() != b"old log"  # the latest is kept, the old ones went
    assert build_of(published, INNER_JOURNEYS[2]) == (12, 1, 0)
    assert sorted(os.listdir(published.parent / ".build" / "readers")) == [
        f"{published.name}.{'-'.join(map(str, _stamp(published)))}"
    ]


def _stamp(path: Path) -> tuple[int, int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns, st.st_ino


def _write_into(db: Path, n: int) -> None:
    """A session's writes checkpointed into the file (as when it closes): the file's size or time changes."""
    con = duckdb.connect(str(db))
    try:
        con.execute(f"CREATE TABLE session_write_{n} AS SELECT range AS i FROM range(100000)")
    finally:
        con.close()


@pytest.mark.parametrize("writes", [1, 3])
def test_a_run_never_starts_from_a_copy_torn_by_a_sessions_checkpoint(
    published: Path, monkeypatch: pytest.MonkeyPatch, writes: int
) -> None:
    from pipeline import warehouse
    from pipeline.errors import WarehouseLockedError

    _write_into(published, 0)  # changed since the last publish: the next run copies it
    real_copy = shutil.copyfile
    copies = []

    def copy_while_a_session_writes(source: Path, target: Path) -> Path:
        done = real_copy(source, target)
        if Path(source) == published and len(copies) < writes:
            copies.append(target)
            _write_into(published, len(copies))  # lands while the run copies (what a checkpoint may do)
        return done

    monkeypatch.setattr(warehouse.shutil, "copyfile", copy_while_a_session_writes)
    work = warehouse.WorkingCopy(published)
    if writes >= warehouse._COPY_TRIES:
        with pytest.raises(WarehouseLockedError, match="changed while this run copied it"):
            work.open()
        work.close()
        assert not list(work.build_dir.glob("*.tmp"))
        return
    con = work.open()
    try:  # copied again after the write: the copy has every table the file has
        tables = {name for (name,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
        assert {"session_write_0", "session_write_1"} <= tables
    finally:
        work.close()


def test_two_warehouses_in_one_folder_each_keep_their_readers_copy(tmp_path: Path, seed_archive: Path, run_cli) -> None:  # type: ignore[no-untyped-def]
    """`iom.duckdb.bak` beside `iom.duckdb` is a warehouse of its own: its readers' copy is not the other's old one.

    Any name may have a dot and more after it (a backup, a dated copy), so a copy belongs to the
    warehouse whose name is everything before its stamp, never to any name it starts with.
    """
    main, backup = tmp_path / "iom.duckdb", tmp_path / "iom.duckdb.bak"
    for db, runs in ((backup, 1), (main, 2)):
        for _ in range(runs):
            done = run_cli("ingest", "--offline", "--db", str(db), timeout=180)
            assert done.returncode == 0, done.stderr
    readers = sorted(os.listdir(tmp_path / ".build" / "readers"))
    assert readers == sorted(f"{db.name}.{'-'.join(map(str, _stamp(db)))}" for db in (main, backup)), readers
    for db, last in ((main, 2), (backup, 1)):
        analyst = Analyst(db)
        try:
            assert_locked_for_plain_clients(db)
            answer = run_cli("query", "SELECT max(run_id) AS last FROM runs", "--format", "csv", "--db", str(db))
            assert answer.returncode == 0, answer.stderr
            assert answer.stdout.split() == ["last", str(last)]
        finally:
            analyst.end()


def test_a_checkpoint_that_keeps_the_files_size_and_time_is_not_copied_across(
    published: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A filesystem with coarse timestamps (FAT's 2 s, some network mounts) shows no new mtime for a
    checkpoint inside one tick, and a checkpoint that reuses free blocks keeps the size: the run must
    still see that the file it copied changed. Here the session's checkpoints are real, and the file's
    time is set back to what it was, as such a filesystem would show it."""
    from pipeline import warehouse

    _write_into(published, 0)  # changed since the last publish: the next run copies it
    real_copy = shutil.copyfile
    edits: list[int] = []

    def copy_while_a_session_checkpoints(source: Path, target: Path) -> Path:
        before = os.stat(published)
        done = real_copy(source, target)
        if Path(source) == published and not edits:
            # checkpoints until one leaves the size as it was (DuckDB reuses the blocks freed earlier)
            while not edits or os.stat(published).st_size != before.st_size:
                assert len(edits) < 8, "no checkpoint kept the file's size"
                con = duckdb.connect(str(published))
                try:
                    con.execute("UPDATE runs SET status = ? WHERE run_id = 1", [f"edited {len(edits)}"])
                finally:
                    con.close()
                edits.append(len(edits))
            os.utime(published, ns=(before.st_atime_ns, before.st_mtime_ns))
            assert _stamp(published) == (before.st_size, before.st_mtime_ns, before.st_ino)
        return done

    monkeypatch.setattr(warehouse.shutil, "copyfile", copy_while_a_session_checkpoints)
    work = warehouse.WorkingCopy(published)
    con = work.open()
    try:  # copied again after the checkpoints: the copy holds the session's last edit
        assert con.execute("SELECT status FROM runs WHERE run_id = 1").fetchone() == (f"edited {edits[-1]}",)
    finally:
        work.close()
