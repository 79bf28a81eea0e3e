"""The lake's change feed: `export --since-snapshot` and OAI-PMH datestamps from the lake's snapshots.

References independent of the code under test: the file backend's `export --since RUN` for the
same two runs (tested on its own in tests/test_export.py), and DuckLake's time travel
(`AT (VERSION => v)`), which says in which snapshot a change row first became visible without
going through the `snapshot_id` column the feed reads.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import duckdb
import pytest
from lxml import etree

from pipeline.lake import connect_lake, parse_spec
from pipeline.oai import OaiConfig, respond
from tests.pg import PgCluster
from tests.test_bad_input import add_bad_pages
from tests.test_lake_workers import cli

OAI = "{http://www.openarchives.org/OAI/2.0/}"


def _records(path: Path) -> set[tuple[str, str]]:
    return {(r["edition_id"], r["operation"]) for r in map(json.loads, path.read_text().splitlines())}


@pytest.fixture
def two_runs(pg_cluster: PgCluster, tmp_path: Path, seed_archive: Path) -> dict:
    """The seeds loaded into a file and into a lake, an export of each, then new pages loaded into both."""
    spec = "ducklake:postgres:" + pg_cluster.conninfo(pg_cluster.create_database())
    file = tmp_path / "single.duckdb"
    for where in (str(file), spec):
        data = ["--data-path", str(tmp_path / "data")] if where == spec else []
        done = cli("ingest", "--offline", "--raw", str(seed_archive), "--warehouse", where, *data, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    first = cli("export", "--warehouse", spec, "--format", "jsonl", "--out", str(tmp_path / "all.jsonl"), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    snapshot = int(re.search(r"as of lake snapshot (\d+)", first.stdout).group(1))  # type: ignore[union-attr]
    add_bad_pages(seed_archive)
    for where in (str(file), spec):
        done = cli("ingest", "--offline", "--raw", str(seed_archive), "--warehouse", where, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    return {"spec": spec, "file": file, "snapshot": snapshot, "tmp": tmp_path}


def test_export_since_snapshot_gives_what_the_file_gives_since_the_run(two_runs: dict) -> None:
    tmp = two_runs["tmp"]
    by_run = cli(
        "export",
        "--warehouse",
        str(two_runs["file"]),
        "--format",
        "jsonl",
        "--out",
        str(tmp / "run.jsonl"),
        "--since",
        "1",
        cwd=tmp,
    )
    assert by_run.returncode == 0, by_run.stderr
    by_snapshot = cli(
        "export",
        "--warehouse",
        two_runs["spec"],
        "--format",
        "jsonl",
        "--out",
        str(tmp / "snap.jsonl"),
        "--since-snapshot",
        str(two_runs["snapshot"]),
        cwd=tmp,
    )
    assert by_snapshot.returncode == 0, by_snapshot.stderr
    expected = _records(tmp / "run.jsonl")
    assert expected, "the second run changed nothing: the comparison would prove nothing"
    assert _records(tmp / "snap.jsonl") == expected
    # from the snapshot this export read, nothing more
    latest = int(re.search(r"--since-snapshot (\d+)\)", by_snapshot.stdout).group(1))  # type: ignore[union-attr]
    again = cli(
        "export",
        "--warehouse",
        two_runs["spec"],
        "--format",
        "jsonl",
        "--out",
        str(tmp / "none.jsonl"),
        "--since-snapshot",
        str(latest),
        cwd=tmp,
    )
    assert again.returncode == 0, again.stderr
    assert (tmp / "none.jsonl").read_text() == ""
    # a file has no snapshots, and a lake has none beyond its latest: usage errors
    assert (
        cli(
            "export",
            "--warehouse",
            str(two_runs["file"]),
            "--format",
            "jsonl",
            "--out",
            str(tmp / "x.jsonl"),
            "--since-snapshot",
            "1",
            cwd=tmp,
        ).returncode
        == 2
    )
    assert (
        cli(
            "export",
            "--warehouse",
            two_runs["spec"],
            "--format",
            "jsonl",
            "--out",
            str(tmp / "x.jsonl"),
            "--since-snapshot",
            str(latest + 10),
            cwd=tmp,
        ).returncode
        == 2
    )


def test_oai_datestamps_are_the_commit_times_of_the_changes(two_runs: dict) -> None:
    spec = two_runs["spec"]
    answer = respond(
        OaiConfig(parse_spec(spec), "data-team@example.org"),
        [("verb", "ListIdentifiers"), ("metadataPrefix", "oai_dc")],
    )
    headers = etree.fromstring(answer).iter(f"{OAI}header")
    stamps = {h.findtext(f"{OAI}identifier").rsplit(":", 1)[-1]: h.findtext(f"{OAI}datestamp") for h in headers}
    assert stamps
    con = connect_lake(spec, read_only=True)
    try:
        con.execute("SET TimeZone = 'UTC'")
        latest = dict(
            con.execute("SELECT id, max(change_id) FROM record_changes WHERE level = 'edition' GROUP BY id").fetchall()
        )
        versions = con.execute(
            "SELECT snapshot_id, snapshot_time FROM ducklake_snapshots('lake') ORDER BY 1"
        ).fetchall()
        first_seen: dict[int, object] = {}
        for version, when in versions:  # time travel: the first snapshot in which each change row exists
            try:
                rows = con.execute(f"SELECT change_id FROM record_changes AT (VERSION => {version})").fetchall()
            except duckdb.CatalogException:  # before the schema was created
                continue
            for (change_id,) in rows:
                first_seen.setdefault(change_id, when)
        changed_at = dict(con.execute("SELECT change_id, changed_at FROM record_changes").fetchall())
    finally:
        con.close()
    assert set(stamps) <= set(latest)
    later_than_transaction = 0
    for edition, stamp in stamps.items():
        committed = first_seen[latest[edition]]
        assert stamp == committed.strftime("%Y-%m-%dT%H:%M:%SZ"), edition  # type: ignore[attr-defined]
        later_than_transaction += committed > changed_at[latest[edition]]  # type: ignore[operator]
    # the transaction's own clock is earlier than its commit for every change: the reason for the rule
    assert later_than_transaction == len(stamps)
