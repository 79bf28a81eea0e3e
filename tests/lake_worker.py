"""One process of a lake concurrency test: a writer appending fetches, an updater, or a read-only reader.

Run by tests/test_lake.py as `python tests/lake_worker.py MODE JSON`; prints one JSON line
(what it did) on stdout. Processes, not threads: each is a separate DuckDB instance with its own
DuckLake attachment, as separate ingest workers on separate machines would be.

Workers start together: each writes `<sync>/ready-<name>` and waits for `<sync>/go`, which the
test creates once all are ready (a barrier, not a timing assumption).
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

from pipeline.lake import RetryStats, commit, connect_lake, migrate_lake, transaction, with_retries

BARRIER_LIMIT_S = 120


def wait_for(path: Path) -> None:
    deadline = time.monotonic() + BARRIER_LIMIT_S
    while not path.exists():
        if time.monotonic() > deadline:
            raise SystemExit(f"gave up waiting for {path}")
        time.sleep(0.005)


def barrier(sync: Path, name: str) -> None:
    (sync / f"ready-{name}").touch()
    wait_for(sync / "go")


def append(args: dict) -> dict:
    """Migrate (racing the other workers, as workers starting together do), then append in batches."""
    con = connect_lake(args["spec"], Path(args["data_path"]))
    stats = RetryStats()
    sync = Path(args["sync"])
    barrier(sync, args["name"])
    migrate_lake(con, stats=stats)
    rows, batch = args["rows"], args["batch"]
    for start in range(0, rows, batch):
        ids = [f"{args['name']}-{i}" for i in range(start, min(start + batch, rows))]

        def insert(ids: list[str] = ids) -> None:
            with transaction(con):
                con.execute(
                    "INSERT INTO fetches (fetch_id, source, kind, url, outcome, fetched_at) "
                    "SELECT id, ?, 'detail', 'https://example.org/' || id, 'ok', now() FROM unnest(?) AS t(id)",
                    [args["name"], ids],
                )

        with_retries(insert, stats=stats)
    con.close()
    return {"name": args["name"], "rows": rows, "retries": stats.retries, "conflicts": stats.conflicts}


def append_runs(args: dict) -> dict:
    """Append rows to `runs` in small batches: the same table the updater rewrites."""
    con = connect_lake(args["spec"])
    stats = RetryStats()
    barrier(Path(args["sync"]), args["name"])
    first, rows, batch = args["first_id"], args["rows"], args["batch"]
    for start in range(first, first + rows, batch):

        def insert(start: int = start) -> None:
            with transaction(con):
                con.execute(
                    "INSERT INTO runs (run_id, started_at, status) SELECT i, now(), 'ok' FROM range(?, ?) AS t(i)",
                    [start, min(start + batch, first + rows)],
                )

        with_retries(insert, stats=stats, attempts=30)
    con.close()
    return {"name": args["name"], "retries": stats.retries, "conflicts": stats.conflicts}


def update(args: dict) -> dict:
    """Bump one run's counter `times` times, each a transaction racing the appenders' inserts."""
    con = connect_lake(args["spec"])
    stats = RetryStats()
    barrier(Path(args["sync"]), args["name"])

    def bump() -> None:
        with transaction(con):
            con.execute("UPDATE runs SET pages_parsed = pages_parsed + 1 WHERE run_id = 1")

    for _ in range(args["times"]):
        with_retries(bump, stats=stats, attempts=30)
    con.close()
    return {"name": args["name"], "retries": stats.retries, "conflicts": stats.conflicts}


def insert_when_asked(args: dict) -> dict:
    """Commit one `runs` row (through `commit`, as ingest does) each time `<sync>/go-N` appears.

    Writes `<sync>/done-N` once row N is committed, so the test can race it against its own
    transaction; stops after `times` rows.
    """
    con = connect_lake(args["spec"])
    sync = Path(args["sync"])
    (sync / f"ready-{args['name']}").touch()
    for n in range(1, args["times"] + 1):
        wait_for(sync / f"go-{n}")

        def insert(n: int = n) -> None:
            with transaction(con):
                con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, now(), 'ok')", [100 + n])

        commit(con, insert)
        (sync / f"done-{n}").touch()
    con.close()
    return {"name": args["name"]}


def read(args: dict) -> dict:
    """Read counts from a read-only attachment until the writer says it is done; try one write."""
    con = connect_lake(args["spec"], read_only=True)
    sync = Path(args["sync"])
    barrier(sync, args["name"])
    counts = []
    while True:
        done = (sync / "done").exists()  # read before counting: the last count then sees everything
        (n,) = con.execute("SELECT count(*) FROM fetches").fetchone()  # type: ignore[misc]
        counts.append(int(n))
        if done:
            break
    try:
        con.execute(
            "INSERT INTO fetches (fetch_id, source, kind, url, outcome, fetched_at) "
            "VALUES ('reader', 'r', 'detail', 'u', 'ok', now())"
        )
        write_refused = ""
    except Exception as exc:  # the read-only attachment must refuse it
        write_refused = str(exc).splitlines()[0]
    con.close()
    return {"name": args["name"], "counts": counts, "write_refused": write_refused}


if __name__ == "__main__":
    mode, raw = sys.argv[1], sys.argv[2]
    result = {
        "append": append,
        "append_runs": append_runs,
        "update": update,
        "read": read,
        "insert_when_asked": insert_when_asked,
    }[mode](json.loads(raw))
    if mode == "append" and json.loads(raw).get("then_done"):
        (Path(json.loads(raw)["sync"]) / "done").touch()
    print(json.dumps(result))
