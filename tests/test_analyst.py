"""What an analyst does with the warehouse: query it, read its reference, read the figures.

Everything runs through the real command line against a warehouse built by a real ingest; the
expected figures come from a direct DuckDB connection to the same file.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb

from pipeline import __version__
from pipeline.analyst import schema_markdown

DOCS = Path(__file__).resolve().parent.parent / "docs" / "warehouse.md"


def _scalar(db: Path, sql: str) -> object:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchone()[0]
    finally:
        con.close()


def test_the_reference_is_generated_from_the_schema_and_in_sync():
    assert DOCS.read_text(encoding="utf-8") == schema_markdown(), (
        "docs/warehouse.md is stale: run `python -m pipeline schema --markdown > docs/warehouse.md`"
    )
    for name in ("publications", "works", "record_changes", "runs", "text_vectors"):
        assert f"## {name} (" in DOCS.read_text(encoding="utf-8")


def test_every_column_says_what_it_means():
    con = duckdb.connect(":memory:")
    try:
        from pipeline.warehouse import migrate

        migrate(con)
        bare = con.execute(
            "SELECT table_name || '.' || column_name FROM duckdb_columns() "
            "WHERE schema_name = 'main' AND NOT internal AND (comment IS NULL OR comment = '') ORDER BY 1"
        ).fetchall()
    finally:
        con.close()
    assert bare == []


def test_query_prints_csv_when_piped_json_when_asked_and_never_writes(tmp_path, seed_archive, run_cli):
    assert run_cli("ingest", "--offline").returncode == 0
    db = tmp_path / "warehouse.duckdb"
    sql = "SELECT edition_id, display_title, isbn FROM publications ORDER BY edition_id"
    piped = run_cli("query", sql)
    assert piped.returncode == 0, piped.stderr
    rows = list(csv.DictReader(io.StringIO(piped.stdout)))
    assert len(rows) == _scalar(db, "SELECT count(*) FROM publications")
    assert all(r["display_title"] for r in rows)
    as_json = run_cli("query", sql, "--format", "json")
    records = json.loads(as_json.stdout)
    assert [r["edition_id"] for r in records] == [r["edition_id"] for r in rows]
    assert all(isinstance(r["isbn"], list) for r in records)
    table = run_cli("query", "SELECT count(*) AS editions FROM publications", "--format", "table")
    assert table.stdout.splitlines()[0].strip() == "editions" and f"({1} row)" in table.stdout

    before = _scalar(db, "SELECT count(*) FROM sightings")
    refused = run_cli("query", "DELETE FROM sightings")
    assert refused.returncode == 2 and "read-only" in refused.stderr.lower()
    assert _scalar(db, "SELECT count(*) FROM sightings") == before
    bad = run_cli("query", "SELECT nope FROM publications")
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_stats_json_version_and_the_stored_exit_status(tmp_path, seed_archive, run_cli):
    run = run_cli("ingest", "--offline")
    assert run.returncode == 0
    db = tmp_path / "warehouse.duckdb"
    stats = json.loads(run_cli("stats", "--json").stdout)
    counts = stats["editions_and_works"][0]
    assert counts["editions"] == _scalar(db, "SELECT count(*) FROM publications")
    assert counts["works"] == _scalar(db, "SELECT count(*) FROM works")
    assert stats["last_runs"][0]["exit_code"] == run.returncode
    last = json.loads((tmp_path / "warehouse.duckdb.last-run.json").read_text(encoding="utf-8"))
    assert (last["run_id"], last["status"], last["exit_code"]) == (1, "ok", 0)
    version = run_cli("--version")
    assert version.returncode == 0 and __version__ in version.stdout
    described = json.loads(run_cli("schema", "--json").stdout)
    assert {"publications", "works", "sightings"} <= {o["name"] for o in described}
