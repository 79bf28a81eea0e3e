"""The DuckLake backend on a real PostgreSQL catalog (tests/pg.py starts one; skipped without PostgreSQL).

The reference for the lake's schema is an independent one: a DuckDB file migrated by
pipeline/warehouse.py from the same steps. Concurrency is tested with separate processes, each
its own DuckDB instance, started together behind a barrier.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from pipeline.errors import WarehouseError
from pipeline.lake import (
    LAKE,
    LAKE_SEQUENCES,
    VIEW_COLUMN_COMMENTS,
    RetryStats,
    commit,
    connect_lake,
    duplicate_keys,
    is_lake_spec,
    leases,
    migrate_lake,
    next_ids,
    parse_spec,
    release_leases,
    transaction,
    translate,
    with_retries,
)
from pipeline.warehouse import committed, connect, hold_sources, is_lake, migrate
from tests.pg import PgCluster

WORKER = Path(__file__).resolve().parent / "lake_worker.py"
REPO = WORKER.parent.parent


def spec(catalog: tuple[str, Path]) -> str:
    return f"ducklake:postgres:{catalog[0]}"


# ------------------------------------------------------------------ specs and translation (no server)


def test_spec_shapes() -> None:
    assert is_lake_spec("ducklake:postgres:host=127.0.0.1 dbname=iom")
    assert not is_lake_spec("warehouse/iom.duckdb")
    assert parse_spec("ducklake:postgres:host=127.0.0.1 port=5433 dbname='my lake'").conninfo == (
        "host=127.0.0.1 port=5433 dbname='my lake'"
    )
    assert parse_spec("ducklake:postgres:postgresql://u@127.0.0.1/iom").conninfo == "postgresql://u@127.0.0.1/iom"
    for bad in ("ducklake:postgres:", "ducklake:postgres:localhost", "ducklake:sqlite:x.db", "iom.duckdb"):
        with pytest.raises(WarehouseError):
            parse_spec(bad)


def test_translation_rules_on_made_up_steps() -> None:
    steps = [
        (
            "001_x.sql",
            """
        -- a comment before the first statement
        CREATE SEQUENCE IF NOT EXISTS s START 7;
        CREATE TABLE IF NOT EXISTS t (
            id BIGINT PRIMARY KEY DEFAULT nextval('s'),
            price DECIMAL(9, 2) DEFAULT 0,
            note VARCHAR DEFAULT 'a, b',
            v FLOAT[3] NOT NULL
        );
        CREATE TABLE u (a VARCHAR, b INTEGER, UNIQUE (b), PRIMARY KEY (a, b));
        CREATE INDEX u_b ON u (b);
        CREATE OR REPLACE VIEW w AS SELECT a FROM u;
        COMMENT ON COLUMN w.a IS 'it''s a';
        COMMENT ON COLUMN u.a IS 'table column';
    """,
        )
    ]
    schema = translate(steps)
    assert schema.sequences == {"s": 7}
    assert schema.keys == {"t": ("id",), "u": ("a", "b")}
    assert schema.view_column_comments == [("w", "a", "it's a")]
    assert [s for _, s in schema.skipped] == ["CREATE INDEX u_b ON u (b)"]
    sql = "\n".join(s for _, s in schema.statements)
    assert "PRIMARY KEY" not in sql and "UNIQUE" not in sql and "nextval" not in sql
    assert "id BIGINT NOT NULL" in sql and "v FLOAT[] NOT NULL" in sql
    assert "DECIMAL(9, 2) DEFAULT 0" in sql and "DEFAULT 'a, b'" in sql
    assert re.search(r"a VARCHAR NOT NULL,\s+b INTEGER NOT NULL", sql)
    assert "COMMENT ON COLUMN u.a" in sql
    # what the rules produce is valid DuckDB
    con = duckdb.connect()
    for _, stmt in schema.statements:
        con.execute(stmt)


# ------------------------------------------------------------------ the lake's schema against a file's


def _catalog(con: duckdb.DuckDBPyConnection, database: str) -> dict[str, object]:
    """Tables, views, columns and comments of one database, in a form two backends can be compared in."""
    tables = dict(
        con.execute(
            "SELECT table_name, comment FROM duckdb_tables() WHERE database_name = ? AND schema_name = 'main'",
            [database],
        ).fetchall()
    )
    views = dict(
        con.execute(
            "SELECT view_name, comment FROM duckdb_views() WHERE database_name = ? AND schema_name = 'main' "
            "AND NOT internal",
            [database],
        ).fetchall()
    )
    columns: dict[str, list[tuple]] = {}
    for table, column, dtype, nullable, comment in con.execute(
        "SELECT table_name, column_name, data_type, is_nullable, comment FROM duckdb_columns() "
        "WHERE database_name = ? AND schema_name = 'main' ORDER BY table_name, column_index",
        [database],
    ).fetchall():
        columns.setdefault(table, []).append((column, dtype, nullable, comment))
    macros = {
        r[0]
        for r in con.execute(
            "SELECT function_name FROM duckdb_functions() WHERE database_name = ? AND function_type = 'macro' "
            "AND NOT internal",
            [database],
        ).fetchall()
    }
    return {"tables": tables, "views": views, "columns": columns, "macros": macros}


def test_migrate_lake_gives_the_file_warehouse_schema(tmp_path: Path, lake_catalog: tuple[str, Path]) -> None:
    ref_con = connect(tmp_path / "ref.duckdb")
    migrate(ref_con)
    ref = _catalog(ref_con, "ref")
    ref_keys = {
        table: tuple(cols)
        for table, cols in ref_con.execute(
            "SELECT table_name, constraint_column_names FROM duckdb_constraints() WHERE constraint_type = 'PRIMARY KEY'"
        ).fetchall()
    }
    ref_sequences = {r[0] for r in ref_con.execute("SELECT sequence_name FROM duckdb_sequences()").fetchall()}
    ref_con.close()

    con = connect_lake(spec(lake_catalog), lake_catalog[1])
    schema = migrate_lake(con)
    lake = _catalog(con, LAKE)

    # the lake-only table that keeps what DuckLake cannot: comments on view columns
    view_column_comments = {
        (v, c): text for v, c, text in con.execute(f"SELECT * FROM {VIEW_COLUMN_COMMENTS}").fetchall()
    }
    lake["tables"].pop(VIEW_COLUMN_COMMENTS)  # type: ignore[attr-defined]
    lake["columns"].pop(VIEW_COLUMN_COMMENTS)  # type: ignore[attr-defined]

    assert lake["tables"] == ref["tables"]  # names and table comments
    assert lake["views"] == ref["views"]  # names and view comments
    assert lake["macros"] >= {"derived_title", "source_rank"} and ref["macros"] >= lake["macros"]
    ref_columns, lake_columns = ref["columns"], lake["columns"]
    assert set(lake_columns) == set(ref_columns)  # type: ignore[arg-type]
    for name, cols in ref_columns.items():  # type: ignore[attr-defined]
        expected = []
        for column, dtype, nullable, comment in cols:
            dtype = re.sub(r"\[\d+\]", "[]", dtype)  # rule fixed-array: FLOAT[512] -> FLOAT[]
            if name in ref["views"]:  # type: ignore[operator]
                comment, view_comment = None, comment
                assert view_column_comments.get((name, column)) == view_comment, (name, column)
            expected.append((column, dtype, nullable, comment))
        assert lake_columns[name] == expected, name  # type: ignore[index]
    assert len(view_column_comments) == sum(
        1
        for v in ref["views"]
        for c in ref_columns[v]
        if c[3] is not None  # type: ignore[attr-defined, index]
    )
    assert schema.keys == ref_keys
    assert set(schema.sequences) == ref_sequences | set(LAKE_SEQUENCES)  # runs numbered by sequence on a lake

    # the views work on the lake (they reference the macros and the tables there)
    for view in ref["views"]:  # type: ignore[attr-defined]
        con.execute(f"SELECT * FROM {view}").fetchall()

    # a second migrate finds the fingerprint and makes no new snapshot
    (snapshots,) = con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchone()  # type: ignore[misc]
    migrate_lake(con)
    assert con.execute(f"SELECT count(*) FROM ducklake_snapshots('{LAKE}')").fetchone() == (snapshots,)
    con.close()


def test_sequences_hand_out_each_id_once_across_connections(lake_catalog: tuple[str, Path]) -> None:
    a = connect_lake(spec(lake_catalog), lake_catalog[1])
    migrate_lake(a)
    b = connect_lake(spec(lake_catalog))
    ids = next_ids(a, "reject_seq", 5) + next_ids(b, "reject_seq", 5) + next_ids(a, "reject_seq")
    assert sorted(ids) == list(range(1, 12))
    # a rejects row written with its id from the sequence (the lake has no DEFAULT nextval)
    a.execute("INSERT INTO rejects (reject_id, run_id, stage, reason) VALUES (?, 1, 'parse', 'x')", [ids[0]])
    assert a.execute("SELECT reject_id, recorded_at IS NOT NULL FROM rejects").fetchall() == [(ids[0], True)]
    with pytest.raises(duckdb.ConstraintException):  # and a writer that forgets the id is stopped
        a.execute("INSERT INTO rejects (run_id, stage, reason) VALUES (1, 'parse', 'x')")
    a.close()
    b.close()


# ------------------------------------------------------------------ concurrency


def test_update_racing_an_insert_conflicts_and_succeeds_on_retry(lake_catalog: tuple[str, Path]) -> None:
    """Deterministic: the competing insert commits between the UPDATE and its COMMIT, once."""
    a = connect_lake(spec(lake_catalog), lake_catalog[1])
    migrate_lake(a)
    b = connect_lake(spec(lake_catalog))
    a.execute("INSERT INTO runs (run_id, started_at, status) VALUES (1, now(), 'running')")
    attempts = []

    def finish_run() -> None:
        with transaction(a):
            a.execute("UPDATE runs SET status = 'ok', finished_at = now() WHERE run_id = 1")
            attempts.append(1)
            if len(attempts) == 1:  # another worker registers its run meanwhile
                b.execute("INSERT INTO runs (run_id, started_at, status) VALUES (2, now(), 'running')")

    stats = RetryStats()
    with_retries(finish_run, stats=stats)
    assert stats.retries == 1 and len(attempts) == 2
    assert "Transaction conflict" in stats.conflicts[0] or "another transaction" in stats.conflicts[0]
    assert a.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall() == [(1, "ok"), (2, "running")]

    # only conflicts are retried: any other error surfaces at the first attempt
    calls = []

    def broken() -> None:
        calls.append(1)
        with transaction(a):
            a.execute("INSERT INTO runs (run_id, started_at, status) VALUES (NULL, now(), 'x')")

    with pytest.raises(duckdb.ConstraintException):
        with_retries(broken)
    assert len(calls) == 1
    a.close()
    b.close()


@pytest.mark.parametrize("escalate_after", [3, 100])
def test_a_commit_that_keeps_losing_is_redone_alone(
    escalate_after: int, tmp_path: Path, lake_catalog: tuple[str, Path]
) -> None:
    """A long transaction that another worker's short commits beat every time still commits.

    The other worker (its own process and PostgreSQL session, as a worker on another machine)
    commits one row inside every attempt's window, which makes the UPDATE conflict. After three
    lost attempts `commit` waits for every other commit to stand back and redoes the work alone:
    the competitor's fourth row then waits for it instead. Never escalating, the same race is
    lost until the attempts run out: the failure CI saw under load.
    """
    a = connect_lake(spec(lake_catalog), lake_catalog[1])
    migrate_lake(a)
    a.execute("INSERT INTO runs (run_id, started_at, status) VALUES (1, now(), 'running')")
    sync = tmp_path / "sync"
    sync.mkdir()
    other = _start("insert_when_asked", {"spec": spec(lake_catalog), "sync": str(sync), "name": "b", "times": 5})
    _release(sync, ["b"], [other])
    attempts = []

    def finish_run() -> None:
        with transaction(a):
            a.execute("UPDATE runs SET status = 'ok' WHERE run_id = 1")
            attempts.append(1)
            n = len(attempts)
            (sync / f"go-{n}").touch()
            # the competitor's commit lands now, unless it waits for us: an attempt that must lose waits
            # for it as long as a loaded machine needs; the attempt made alone gives it 2 s to barge in
            alone = n > escalate_after
            deadline = time.monotonic() + (2 if alone else 120)
            while not (sync / f"done-{n}").exists() and time.monotonic() < deadline:
                time.sleep(0.01)

    stats = RetryStats()
    try:
        if escalate_after == 3:
            commit(a, finish_run, stats=stats, attempts=5, escalate_after=escalate_after)
            assert (len(attempts), stats.retries, stats.alone) == (4, 3, 1)
            assert a.execute("SELECT status FROM runs WHERE run_id = 1").fetchone() == ("ok",)
        else:
            with pytest.raises(duckdb.TransactionException, match="Transaction conflict"):
                commit(a, finish_run, stats=stats, attempts=5, escalate_after=escalate_after)
            assert (len(attempts), stats.alone) == (5, 0)
    finally:
        for n in range(len(attempts) + 1, 6):  # let the competitor finish its rows
            (sync / f"go-{n}").touch()
        _, err = other.communicate(timeout=120)
    assert other.returncode == 0, err
    # the competitor lost nothing either: its rows waited, they were not dropped
    assert a.execute("SELECT count(*) FROM runs WHERE run_id > 100").fetchone() == (5,)
    a.close()
    release_leases()


def _start(mode: str, args: dict) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), mode, json.dumps(args)],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _release(sync: Path, names: list[str], procs: list[subprocess.Popen[str]]) -> None:
    """Open the barrier once every worker is ready (or fail with the stderr of one that died)."""
    import time

    deadline = time.monotonic() + 120
    while not all((sync / f"ready-{n}").exists() for n in names):
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"worker died before the start: {p.stderr.read() if p.stderr else ''}")
        assert time.monotonic() < deadline, "workers never became ready"
        time.sleep(0.01)
    (sync / "go").touch()


def _results(procs: list[subprocess.Popen[str]]) -> list[dict]:
    out = []
    for p in procs:
        stdout, stderr = p.communicate(timeout=240)
        assert p.returncode == 0, stderr
        out.append(json.loads(stdout.strip().splitlines()[-1]))
    return out


@pytest.mark.parametrize("workers", [2, 4])
def test_concurrent_workers_append_exact_counts(workers: int, tmp_path: Path, lake_catalog: tuple[str, Path]) -> None:
    """Workers migrate the empty lake together and append in batches: every row lands exactly once."""
    sync = tmp_path / "sync"
    sync.mkdir()
    rows, batch = 600, 100
    names = [f"w{i}" for i in range(workers)]
    procs = [
        _start(
            "append",
            {
                "spec": spec(lake_catalog),
                "data_path": str(lake_catalog[1]),
                "sync": str(sync),
                "name": n,
                "rows": rows,
                "batch": batch,
            },
        )
        for n in names
    ]
    _release(sync, names, procs)
    results = _results(procs)

    con = connect_lake(spec(lake_catalog), read_only=True)
    assert con.execute("SELECT count(*) FROM fetches").fetchone() == (workers * rows,)
    per_source = dict(con.execute("SELECT source, count(DISTINCT fetch_id) FROM fetches GROUP BY source").fetchall())
    assert per_source == dict.fromkeys(names, rows)
    assert duplicate_keys(con, {"fetches": ("fetch_id",)}) == {"fetches": 0}
    assert con.execute("SELECT count(*) FROM schema_state").fetchone() == (1,)  # migrated once, not per worker
    con.close()
    print({r["name"]: r["retries"] for r in results})


def test_reader_process_sees_whole_batches_while_a_writer_writes(
    tmp_path: Path, lake_catalog: tuple[str, Path]
) -> None:
    """A read-only attachment reads committed snapshots: counts grow by whole batches, writes are refused."""
    con = connect_lake(spec(lake_catalog), lake_catalog[1])
    migrate_lake(con)
    con.close()
    sync = tmp_path / "sync"
    sync.mkdir()
    batch = 50
    writer = _start(
        "append",
        {
            "spec": spec(lake_catalog),
            "data_path": str(lake_catalog[1]),
            "sync": str(sync),
            "name": "writer",
            "rows": 20 * batch,
            "batch": batch,
            "then_done": True,
        },
    )
    reader = _start("read", {"spec": spec(lake_catalog), "sync": str(sync), "name": "reader"})
    _release(sync, ["writer", "reader"], [writer, reader])
    _, read = _results([writer, reader])
    counts = read["counts"]
    assert counts == sorted(counts)
    assert all(n % batch == 0 for n in counts), counts  # never half a batch
    assert counts[-1] == 20 * batch
    assert "read-only" in read["write_refused"]


def test_unreachable_catalog_is_a_clear_error(tmp_path: Path) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with pytest.raises(WarehouseError, match="cannot open the lake"):
        connect_lake(
            f"ducklake:postgres:host=127.0.0.1 port={port} user=lake dbname=x connect_timeout=5", tmp_path / "data"
        )


def test_duplicate_keys_counts_what_a_primary_key_would_have_refused(lake_catalog: tuple[str, Path]) -> None:
    con = connect_lake(spec(lake_catalog), lake_catalog[1])
    schema = migrate_lake(con)
    con.execute("INSERT INTO text_vectors VALUES ('a', 'm', [1.0]), ('a', 'm2', [1.0]), ('a', 'm', [2.0])")
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (1, now(), 'ok'), (1, now(), 'ok')")
    counts = duplicate_keys(con, schema.keys)
    assert counts["text_vectors"] == 1 and counts["runs"] == 1 and counts["sightings"] == 0
    # a FLOAT[512] vector, as pipeline/dedup/xling.py writes it, goes into the lake's FLOAT[] column
    con.execute("INSERT INTO text_vectors SELECT 'b', 'm', list_value(1.0, 2.0)::FLOAT[2]")
    con.close()


def test_updater_process_beside_appenders_loses_no_update(tmp_path: Path, lake_catalog: tuple[str, Path]) -> None:
    """UPDATEs racing other processes' inserts on the same table: retried conflicts, exact final values."""
    con = connect_lake(spec(lake_catalog), lake_catalog[1])
    migrate_lake(con)
    con.execute("INSERT INTO runs (run_id, started_at, status, pages_parsed) VALUES (1, now(), 'running', 0)")
    con.close()
    sync = tmp_path / "sync"
    sync.mkdir()
    common = {"spec": spec(lake_catalog), "data_path": str(lake_catalog[1]), "sync": str(sync)}
    procs = [
        _start("update", {**common, "name": "updater", "times": 15}),
        # appenders into `runs` itself, in batches small enough to be inlined into the catalog
        *(
            _start("append_runs", {**common, "name": f"a{i}", "rows": 60, "batch": 5, "first_id": 1000 * (i + 1)})
            for i in range(2)
        ),
    ]
    _release(sync, ["updater", "a0", "a1"], procs)
    results = _results(procs)
    con = connect_lake(spec(lake_catalog), read_only=True)
    assert con.execute("SELECT pages_parsed FROM runs WHERE run_id = 1").fetchone() == (15,)
    assert con.execute("SELECT count(*), count(DISTINCT run_id) FROM runs").fetchone() == (121, 121)
    con.close()
    print({r["name"]: r["retries"] for r in results})


def test_a_file_named_lake_is_still_a_file(tmp_path: Path, seed_archive: Path, ingest) -> None:  # type: ignore[no-untyped-def]
    """DuckDB names a file's database after the file: `lake.duckdb` is `lake`, the lake's name too."""
    db = tmp_path / "lake.duckdb"
    summary = ingest(seed_archive, db)
    assert summary.status == "ok"
    con = connect(db, read_only=True)
    try:
        assert not is_lake(con)
        assert con.execute("SELECT count(*) FROM publications").fetchone()[0] > 0
    finally:
        con.close()


def test_a_worker_that_lost_its_leases_stops_before_writing(
    lake_catalog: tuple[str, Path], pg_cluster: PgCluster
) -> None:
    con = connect_lake(spec(lake_catalog), lake_catalog[1])
    try:
        migrate_lake(con)
        assert is_lake(con)
        hold_sources(con, ["publications.iom.int"])
        committed(con, lambda: con.execute("DELETE FROM schema_state WHERE false"))  # leases held: writes go on
        session = leases(con)
        pid = session._ask("SELECT pg_backend_pid()")
        pg_cluster.psql(f"SELECT pg_terminate_backend({int(pid)})")  # type: ignore[call-overload]
        with pytest.raises(WarehouseError, match=r"leases .* are gone|lost the lake's catalog"):
            committed(con, lambda: con.execute("DELETE FROM schema_state WHERE false"))
    finally:
        release_leases()
        con.close()


def test_warehouse_options_say_what_is_wrong(run_cli, empty_archive: Path) -> None:  # type: ignore[no-untyped-def]
    """No server needed: these are refused before anything connects."""
    file_with_data_path = run_cli("stats", "--data-path", "somewhere")
    assert file_with_data_path.returncode == 5
    assert "--data-path is for a lake" in file_with_data_path.stderr
    sqlite = run_cli("stats", "--warehouse", "ducklake:sqlite:catalog.db")
    assert sqlite.returncode == 5
    assert "allows one writer at a time" in sqlite.stderr
    nothing = run_cli("lake", "workers", "--offline", "--warehouse", "ducklake:postgres:host=127.0.0.1 dbname=x")
    assert nothing.returncode == 5
    assert "no sources to load: the archive is empty" in nothing.stderr
    assert "Traceback" not in file_with_data_path.stderr + sqlite.stderr + nothing.stderr
