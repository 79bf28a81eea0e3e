"""Record runs in the warehouse: one row each, opened at the start and closed with its counts."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

import duckdb

from pipeline.warehouse import committed, new_run_id, transaction


@dataclass
class RunSummary:
    run_id: int
    status: str = "running"
    pages_archived: int = 0
    pages_new: int = 0
    pages_parsed: int = 0
    pages_failed: int = 0
    pages_skipped: int = 0
    sightings_added: int = 0
    rejects_added: int = 0
    failures: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    crawl: dict[str, Any] | None = None
    layout_alerts: list[str] = field(default_factory=list)
    sources_unreachable: list[str] = field(default_factory=list)
    dedup: dict[str, Any] | None = None
    #: damage met in raw/ (objects missing or corrupt, lines quarantined): status partial, exit 5
    archive_damage: list[str] = field(default_factory=list)
    #: lake commits redone after a conflict with another worker's (always 0 on a file)
    commit_retries: int = 0
    #: the search index this run built aside (pipeline/search.py BuiltIndex), installed once the
    #: run is published; None when it was current or not asked for
    search_index: Any = None

    @property
    def message(self) -> str:
        head = (
            f"run {self.run_id} {self.status}: {self.pages_parsed} pages parsed, "
            f"{self.pages_failed} failed, {self.pages_skipped} already done; "
            f"{self.sightings_added} sightings, {self.rejects_added} rejects"
        )
        damage = [f"archive damaged: {len(self.archive_damage)} problems (see `archive verify`)"]
        extra = (
            self.notes
            + (damage if self.archive_damage else [])
            + [f"layout alert: {a}" for a in self.layout_alerts[:3]]
            + self.failures[:3]
        )
        return head + ("; " + "; ".join(extra) if extra else "")


def start_run(con: duckdb.DuckDBPyConnection, command: str, options: dict[str, Any]) -> RunSummary:
    """Open a run row; a run left 'running' by a killed process is marked 'crashed' first."""
    run_id, dead = new_run_id(con)

    def write() -> None:
        with transaction(con):
            if dead:
                con.execute("UPDATE runs SET status = 'crashed' WHERE list_contains(?, run_id)", [dead])
            con.execute(
                "INSERT INTO runs (run_id, started_at, status, command, options) VALUES (?, now(), 'running', ?, ?)",
                [run_id, command, json.dumps(options, default=str)],
            )

    committed(con, write)
    global _started
    _started = RunSummary(run_id=run_id)
    return _started


#: the run this process started last: what a signal's handler closes when the run's own code cannot
_started: RunSummary | None = None


def last_started() -> RunSummary | None:
    """The summary of the run this process opened last (None before start_run), with its counts so far."""
    return _started


def finish_interrupted(con: duckdb.DuckDBPyConnection, summary: RunSummary, why: str, exit_code: int) -> None:
    """Close a run stopped by a signal: status `interrupted`, the reason among its notes, and its exit code.

    Not `failed` (nothing went wrong with the sites or the archive) nor `crashed` (the process
    did end it): the next run must start at once and finish the job, not report a crash.
    """
    summary.status = "interrupted"
    summary.failures = [f for f in summary.failures if not f.startswith("Interrupted: ")]
    if why not in summary.notes:
        summary.notes.insert(0, why)
    finish_run(con, summary)
    record_exit_code(con, summary.run_id, exit_code)


def record_exit_code(con: duckdb.DuckDBPyConnection, run_id: int, exit_code: int) -> None:
    """The exit status the command is about to return, on its run: what cron saw, for the analysts."""
    committed(con, lambda: con.execute("UPDATE runs SET exit_code = ? WHERE run_id = ?", [exit_code, run_id]))


def finish_run(con: duckdb.DuckDBPyConnection, summary: RunSummary) -> None:
    counts = {k: v for k, v in asdict(summary).items() if k.startswith(("pages_", "sightings_", "rejects_"))}
    assignments = ", ".join(f"{k} = ?" for k in counts)
    committed(
        con,
        lambda: con.execute(
            f"""UPDATE runs SET finished_at = now(), status = ?, message = ?, crawl = ?, layout_alerts = ?,
               sources_unreachable = ?, dedup = ?, {assignments} WHERE run_id = ?""",
            [
                summary.status,
                summary.message,
                json.dumps(summary.crawl) if summary.crawl is not None else None,
                summary.layout_alerts,
                summary.sources_unreachable,
                json.dumps(summary.dedup, default=str) if summary.dedup is not None else None,
                *counts.values(),
                summary.run_id,
            ],
        ),
    )


def record_dedup(con: duckdb.DuckDBPyConnection, summary: RunSummary) -> None:
    """Put the dedup pass on its run now, not at the run's end: the next pass checks it.

    A worker waiting for the dedup lease reads the last pass's fingerprint when it gets it;
    written only by finish_run, it would not be there yet and the pass would run twice.
    """
    dedup = json.dumps(summary.dedup, default=str) if summary.dedup is not None else None
    committed(con, lambda: con.execute("UPDATE runs SET dedup = ? WHERE run_id = ?", [dedup, summary.run_id]))
