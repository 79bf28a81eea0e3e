"""The stages of a run, each run alone: `fetch`, `parse`, `load` (and `dedup`), handing off through files.

What a user checks: `fetch` then `parse` then `load` builds what `ingest` builds; the record
files between parse and load are whole JSON Lines files that are gone once loaded; and a
`parse` killed half-way (a real SIGKILL) is finished by the next `parse` and `load`, with the
warehouse an uninterrupted ingest gives. Real archives, real subprocesses, real DuckDB files.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest

from pipeline.archive import Archive
from pipeline.models import SightingRecord
from pipeline.urls import canonical_url
from tests.conftest import REPO_ROOT, copy_seed_archive
from tests.replica import Replica

#: columns a run numbers (the run that wrote a row, a sequence's next id): they differ between two builds
RUN_COLUMNS = ("run_id", "first_run_id", "parsed_run_id", "reject_id")


def snapshot(db: Path) -> dict[str, list[tuple]]:
    """The tables the load writes, every row as text, in key order, without run numbers."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = {}
        for table, key in (("raw_pages", "page_id"), ("sightings", "sighting_id"), ("rejects", "page_id, reason")):
            columns = [
                name
                for (name,) in con.execute(
                    "SELECT column_name FROM duckdb_columns() WHERE table_name = ? ORDER BY column_index", [table]
                ).fetchall()
                if name not in RUN_COLUMNS
            ]
            select = ", ".join(f'CAST("{c}" AS VARCHAR)' for c in columns)
            tables[table] = con.execute(f"SELECT {select} FROM {table} ORDER BY {key}").fetchall()
        return tables
    finally:
        con.close()


def records_folder(db: Path) -> Path:
    """Where the README says parse leaves its record files: the warehouse's build folder."""
    return db.parent / ".build" / "records" / "all"


def pipeline(args: list[str], db: Path, raw: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "pipeline", *args],
        env=_env(db, raw, **env),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


def _start(args: list[str], db: Path, raw: Path, **env: str) -> subprocess.Popen[str]:
    """`python -m pipeline *args` started and left running, for a test that kills or signals it."""
    return subprocess.Popen(
        [sys.executable, "-m", "pipeline", *args],
        env=_env(db, raw, **env),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _env(db: Path, raw: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IOM_")}
    env["PYTHONPATH"] = str(REPO_ROOT)
    env["IOM_DB"] = str(db)
    env["IOM_RAW"] = str(raw)
    env["IOM_SOURCES"] = str(raw.parent / "absent-sources.toml")
    return {**env, **extra}


def test_parse_then_load_builds_what_ingest_builds(seed_archive: Path, tmp_path: Path) -> None:
    staged, whole = tmp_path / "staged" / "w.duckdb", tmp_path / "whole" / "w.duckdb"
    parsed = pipeline(["parse"], staged, seed_archive)
    assert parsed.returncode == 0, parsed.stderr
    assert "5 pages parsed, 0 failed" in parsed.stdout
    files = list(records_folder(staged).glob("*.jsonl.gz"))
    assert files, "parse leaves its batches for the load"
    assert not list(records_folder(staged).glob("*.tmp")), "only whole files are left"
    assert not staged.exists(), "parse writes no warehouse"
    # a record file is JSON Lines: one page a line, its sightings as the warehouse's records
    lines = [json.loads(line) for f in files for line in gzip.decompress(f.read_bytes()).decode().splitlines()]
    assert len(lines) == 5
    assert all(line["sightings"] and line["entry"]["sha256"] for line in lines)
    for line in lines:  # each sighting in the form of the warehouse's record model, and valid as one
        for sighting in line["sightings"]:
            assert set(sighting) == set(SightingRecord.model_fields)
            SightingRecord.model_validate(sighting)

    loaded = pipeline(["load"], staged, seed_archive)
    assert loaded.returncode == 0, loaded.stderr
    assert "5 pages parsed, 0 failed" in loaded.stdout
    assert not list(records_folder(staged).glob("*")), "a loaded batch's file is removed"
    deduped = pipeline(["dedup"], staged, seed_archive)
    assert deduped.returncode == 0, deduped.stderr

    ingested = pipeline(["ingest", "--offline"], whole, seed_archive)
    assert ingested.returncode == 0, ingested.stderr
    assert not list(records_folder(whole).glob("*")), "ingest leaves no record file behind"
    assert snapshot(staged) == snapshot(whole)

    # a second parse finds nothing to do: every page is in the warehouse
    again = pipeline(["parse"], staged, seed_archive)
    assert again.returncode == 0, again.stderr
    assert "0 pages parsed, 0 failed, 5 already done" in again.stdout
    assert not list(records_folder(staged).glob("*.jsonl.gz"))


def test_load_with_no_record_file_loads_nothing_and_succeeds(seed_archive: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    assert pipeline(["ingest", "--offline"], db, seed_archive).returncode == 0
    before = snapshot(db)
    loaded = pipeline(["load"], db, seed_archive)
    assert loaded.returncode == 0, loaded.stderr
    assert "0 pages parsed" in loaded.stdout
    assert snapshot(db) == before


def _many_pages(raw: Path, copies: int) -> int:
    """The seed archive with each body archived again under `copies` more URLs: pages enough to kill a parse in."""
    archive = Archive(raw)
    seeds = archive.entries()
    for n in range(copies):
        for entry in seeds:
            archive.put(
                archive.read(entry.sha256),
                source=entry.source,
                url=f"{entry.url}&copy={n}",
                format=entry.format,
                label=f"copy-{n}-{entry.label}",
            )
    return len(Archive(raw).entries())


def test_a_killed_parse_is_finished_by_the_next_parse_and_load(tmp_path: Path) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    pages = _many_pages(raw, copies=39)
    assert pages == 200
    staged, whole = tmp_path / "staged" / "w.duckdb", tmp_path / "whole" / "w.duckdb"
    folder = records_folder(staged)
    small_batches = {"IOM_LOAD_BATCH_PAGES": "2"}

    proc = _start(["parse"], staged, raw, **small_batches)
    deadline = time.monotonic() + 300  # bounds a hang only
    while not list(folder.glob("*.jsonl.gz")) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    held = [line for f in folder.glob("*.jsonl.gz") for line in gzip.decompress(f.read_bytes()).decode().splitlines()]
    assert 0 < len(held) < pages, "killed half-way: some batches written, not all"
    assert all(json.loads(line)["entry"]["sha256"] for line in held), "every file left is whole"

    resumed = pipeline(["parse"], staged, raw, **small_batches)
    assert resumed.returncode == 0, resumed.stderr
    # the batches the killed parse wrote are kept, and their pages not parsed again
    assert f"{pages - len(held)} pages parsed, 0 failed" in resumed.stdout
    loaded = pipeline(["load"], staged, raw)
    assert loaded.returncode == 0, loaded.stderr
    assert f"{pages} pages parsed, 0 failed" in loaded.stdout
    assert not list(folder.glob("*"))

    ingested = pipeline(["ingest", "--offline", "--no-dedup"], whole, raw)
    assert ingested.returncode == 0, ingested.stderr
    assert snapshot(staged) == snapshot(whole)
    con = duckdb.connect(str(staged), read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM raw_pages WHERE parse_status = 'parsed'").fetchone() == (pages,)
    finally:
        con.close()


@pytest.fixture
def replica() -> Iterator[Replica]:
    with Replica(page_size=10) as rep:
        yield rep


def test_fetch_then_parse_then_load_puts_every_card_in_the_warehouse(replica: Replica, tmp_path: Path) -> None:
    raw, db = tmp_path / "raw", tmp_path / "w.duckdb"
    sources = replica.write_sources(tmp_path / "s.toml")
    fetched = pipeline(["fetch", "--sources", str(sources)], db, raw)
    assert fetched.returncode == 0, fetched.stderr
    assert "pages added to" in fetched.stdout
    con = duckdb.connect(str(db), read_only=True)
    try:  # fetch records its run, and nothing parsed
        assert con.execute("SELECT command, status FROM runs").fetchall() == [("fetch", "ok")]
        assert con.execute("SELECT count(*) FROM sightings").fetchone() == (0,)
    finally:
        con.close()

    for stage in ("parse", "load"):
        done = pipeline([stage], db, raw)
        assert done.returncode == 0, done.stdout + done.stderr

    con = duckdb.connect(str(db), read_only=True)
    try:
        cards = con.execute(
            "SELECT p.url, s.position, s.canonical_url FROM sightings s JOIN raw_pages p USING (page_id) "
            "WHERE p.format = 'html-listing'"
        ).fetchall()
        fetched_rows = con.execute("SELECT count(*) FROM fetches").fetchone()
    finally:
        con.close()
    seen = {(canonical_url(u), pos): canonical_url(link) for u, pos, link in cards}
    expected = {
        (canonical_url(c["listing_url"]), c["position"]): canonical_url(c["url"]) for c in replica.expected_cards()
    }
    assert seen == expected
    assert fetched_rows is not None and fetched_rows[0] > 0, "load copies the fetch log into `fetches`"


def _last_run(db: Path) -> dict:
    return json.loads(db.with_name(db.name + ".last-run.json").read_text(encoding="utf-8"))


def _sha(path: Path) -> str:
    import hashlib

    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.fault(
    fault="SIGTERM or SIGINT during `pipeline load` run alone",
    does="the load stops between record files, the lock is freed; the published warehouse stays the previous "
    "run's; the next `load` loads the files left and ends as one uninterrupted load",
    status="interrupted",
    exit="143 SIGTERM, 130 SIGINT",
    recorded="last-run JSON, stderr; `runs` with the next run",
)
@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_signal_in_a_load_run_alone_keeps_the_published_warehouse_and_the_next_load_finishes(
    tmp_path: Path, signum: int
) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    pages = _many_pages(raw, copies=39)
    staged, whole = tmp_path / "staged" / "w.duckdb", tmp_path / "whole" / "w.duckdb"
    small_batches = {"IOM_LOAD_BATCH_PAGES": "2"}
    assert pipeline(["load"], staged, raw).returncode == 0  # an empty warehouse, published
    published = _sha(staged)
    parsed = pipeline(["parse"], staged, raw, **small_batches)
    assert parsed.returncode == 0, parsed.stderr
    waiting = len(list(records_folder(staged).glob("*.jsonl.gz")))
    assert waiting == pages // 2

    proc = _start(["load"], staged, raw)
    deadline = time.monotonic() + 300  # bounds a hang only
    while (
        len(list(records_folder(staged).glob("*.jsonl.gz"))) > waiting - 3
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.005)
    proc.send_signal(signum)
    _out, err = proc.communicate(timeout=120)
    left = len(list(records_folder(staged).glob("*.jsonl.gz")))
    assert 0 < left < waiting, "stopped half-way: some record files loaded, not all"
    assert proc.returncode == 128 + signum, err
    assert "Traceback" not in err
    assert (
        err.strip()
        .splitlines()[-1]
        .startswith(f"interrupted: run 2 stopped by {signal.Signals(signum).name} during load")
    ), err
    assert _sha(staged) == published  # never a half-loaded warehouse for analysts
    assert (_last_run(staged)["run_id"], _last_run(staged)["status"]) == (2, "interrupted")

    again = pipeline(["load"], staged, raw)
    assert again.returncode == 0, again.stderr  # not 4: the lock was freed
    assert not list(records_folder(staged).glob("*"))
    assert _last_run(staged)["status"] == "ok"
    ingested = pipeline(["ingest", "--offline", "--no-dedup"], whole, raw)
    assert ingested.returncode == 0, ingested.stderr
    assert snapshot(staged) == snapshot(whole)  # nothing lost, nothing loaded twice
    con = duckdb.connect(str(staged), read_only=True)
    try:
        assert con.execute("SELECT run_id, command, status FROM runs ORDER BY run_id").fetchall() == [
            (1, "load", "ok"),
            (2, "load", "interrupted"),
            (3, "load", "ok"),
        ]
    finally:
        con.close()


@pytest.mark.fault(
    fault="SIGTERM during `pipeline fetch` run alone",
    does="the crawl stops, the run is recorded `interrupted` and published (it loaded nothing); the next "
    "`fetch` finishes",
    status="interrupted",
    exit="143",
    recorded="`runs` (published), last-run JSON, stderr",
)
def test_a_signal_in_a_fetch_run_alone_is_recorded_and_the_next_fetch_finishes(
    replica: Replica, tmp_path: Path
) -> None:
    from tests.replica import Fault

    raw, db = tmp_path / "raw", tmp_path / "w.duckdb"
    sources = replica.write_sources(tmp_path / "s.toml")
    replica.add_fault(Fault.slow(r".*", delay=0.3, times=None))  # a crawl long enough to be caught in
    proc = _start(["fetch", "--sources", str(sources)], db, raw)
    fetchlog = raw / "fetchlog.jsonl"
    deadline = time.monotonic() + 300  # bounds a hang only
    while (
        not (fetchlog.exists() and fetchlog.read_text().count("\n") >= 3)
        and proc.poll() is None
        and time.monotonic() < deadline
    ):
        time.sleep(0.01)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=120)
    replica.clear_faults()
    assert proc.returncode == 143, err
    assert "Traceback" not in err
    assert "interrupted: run 1 stopped by SIGTERM during crawl" in err.strip().splitlines()[-1]
    assert (_last_run(db)["run_id"], _last_run(db)["status"], _last_run(db)["exit_code"]) == (1, "interrupted", 143)

    again = pipeline(["fetch", "--sources", str(sources)], db, raw)
    assert again.returncode == 0, again.stderr
    con = duckdb.connect(str(db), read_only=True)
    try:  # the stopped crawl was published with its status, as a crawl holds nothing half-loaded
        assert con.execute("SELECT run_id, status, exit_code FROM runs ORDER BY run_id").fetchall() == [
            (1, "interrupted", 143),
            (2, "ok", 0),
        ]
    finally:
        con.close()
    assert _last_run(db)["status"] == "ok"
