"""The schema is applied once per change of its step files, not on every run."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

from pipeline import warehouse


def test_steps_run_again_only_when_a_step_file_changed(tmp_path: Path, monkeypatch) -> None:
    steps = tmp_path / "schema"
    shutil.copytree(warehouse.SCHEMA_DIR, steps)
    monkeypatch.setattr(warehouse, "SCHEMA_DIR", steps)
    con = duckdb.connect(str(tmp_path / "w.duckdb"))
    try:
        warehouse.migrate(con)
        (first,) = con.execute("SELECT applied_at FROM schema_state").fetchone()
        warehouse.migrate(con)  # nothing changed: nothing applied
        assert con.execute("SELECT applied_at FROM schema_state").fetchall() == [(first,)]

        (steps / "200_extra.sql").write_text(
            "CREATE TABLE IF NOT EXISTS extra_notes (note VARCHAR);\n"
            "COMMENT ON TABLE extra_notes IS 'a step added after the warehouse was made';\n",
            encoding="utf-8",
        )
        warehouse.migrate(con)
        assert con.execute("SELECT count(*) FROM extra_notes").fetchone() == (0,)
        assert con.execute("SELECT count(*) FROM schema_state").fetchone() == (1,)
        assert con.execute("SELECT applied_at FROM schema_state").fetchone()[0] > first
    finally:
        con.close()
