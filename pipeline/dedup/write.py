"""Write one deduplication pass into the warehouse, atomically and in bulk.

Everything the pass decided lands in one transaction: the assignment (`edition_members`), the
id registry (`dedup_ids`), the decisions (`match_links`), each edition's resource type
(`edition_types`) and the pass itself (`dedup_runs`).
A pass killed half-way leaves the previous pass's state whole, and the next pass reconciles
ids against it. Rows go in as Arrow tables scanned by DuckDB joined to the temp table `dd_s`,
so no per-row INSERT and no per-sighting Python strings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.cluster import Link
from pipeline.dedup.features import LANG_CODES
from pipeline.dedup.ids import Assignment
from pipeline.warehouse import committed, transaction

_LANG_LIST = "[" + ", ".join(f"'{c}'" for c in LANG_CODES) + "]"


@dataclass
class LinkRows:
    """Decisions to record, already mapped to sighting indices."""

    level: list[str]
    a: list[int]
    b: list[int]
    rule: list[str]
    score: list[float]
    decision: list[str]
    reason: list[str | None]
    evidence: list[str | None]

    @staticmethod
    def new() -> LinkRows:
        return LinkRows([], [], [], [], [], [], [], [])

    def add(self, level: str, link: Link, a: int, b: int, evidence: str | None) -> None:
        self.level.append(level)
        self.a.append(a)
        self.b.append(b)
        self.rule.append(link.rule)
        self.score.append(float(link.score))
        self.decision.append(link.decision)
        self.reason.append(link.reason)
        self.evidence.append(evidence)


@dataclass
class PassRecord:
    dedup_run_id: int
    ingest_run_id: int | None
    started_at: datetime
    finished_at: datetime
    counts: dict[str, int]
    unresolved: Sequence[str]
    seconds: float
    overrides_file: str | None


def write_pass(
    con: duckdb.DuckDBPyConnection,
    run: PassRecord,
    edition_of: np.ndarray,
    work_of: np.ndarray,
    lang: np.ndarray,
    edition_lang: np.ndarray,
    editions: Assignment,
    works: Assignment,
    links: LinkRows,
) -> int:
    """Replace the dedup tables with this pass's results; return the number of retired ids."""
    dd_out = pa.table(
        {
            "idx": np.arange(len(edition_of), dtype=np.int32),
            "ed": edition_of.astype(np.int32),
            "wk": work_of.astype(np.int32),
            "lang": lang.astype(np.int16),
            "ed_lang": edition_lang[edition_of].astype(np.int16),
        }
    )
    dd_ed_ids = pa.table({"ed": np.arange(len(editions.ids), dtype=np.int32), "id": editions.ids})
    dd_wk_ids = pa.table({"wk": np.arange(len(works.ids), dtype=np.int32), "id": works.ids})
    dd_new_ids = pa.table(
        {
            "id": [i for i, _ in editions.new] + [i for i, _ in works.new],
            "level": ["edition"] * len(editions.new) + ["work"] * len(works.new),
            "seed": [s for _, s in editions.new] + [s for _, s in works.new],
        },
        schema=pa.schema([("id", pa.string()), ("level", pa.string()), ("seed", pa.string())]),
    )
    dd_kept = pa.table({"id": pa.array(editions.kept + works.kept, pa.string())})
    dd_merged = pa.table(
        {
            "old": pa.array([o for o, _ in editions.merged + works.merged], pa.string()),
            "target": pa.array([n for _, n in editions.merged + works.merged], pa.string()),
        }
    )
    dd_links = pa.table(
        {
            "level": pa.array(links.level, pa.string()),
            "a": pa.array(links.a, pa.int32()),
            "b": pa.array(links.b, pa.int32()),
            "rule": pa.array(links.rule, pa.string()),
            "score": pa.array(links.score, pa.float64()),
            "decision": pa.array(links.decision, pa.string()),
            "reason": pa.array(links.reason, pa.string()),
            "evidence": pa.array(links.evidence, pa.string()),
        }
    )
    tables = {
        "dd_out": dd_out, "dd_ed_ids": dd_ed_ids, "dd_wk_ids": dd_wk_ids, "dd_new_ids": dd_new_ids,
        "dd_kept": dd_kept, "dd_merged": dd_merged, "dd_links": dd_links,
    }  # fmt: skip
    for name, table in tables.items():
        con.register(name, table)
    try:
        return committed(con, lambda: _apply(con, run))
    finally:
        for name in tables:
            con.unregister(name)


def _write_types(con: duckdb.DuckDBPyConnection, rid: int) -> None:
    """Each edition's resource type, once per pass: exports and OAI-PMH requests read it instead.

    Why here: only a pass changes which sightings make an edition, and computing the types scans
    every page and sighting (pipeline/export.py resource_types_sql), which each OAI request did twice.
    """
    from pipeline.export import resource_types_sql  # export imports the dedup package

    con.execute("DELETE FROM edition_types")
    con.execute(
        f"INSERT INTO edition_types WITH {resource_types_sql().strip()} "
        f"SELECT edition_id, resource_type, {rid} FROM computed_types"
    )


def _apply(con: duckdb.DuckDBPyConnection, run: PassRecord) -> int:
    rid = int(run.dedup_run_id)
    with transaction(con):
        con.execute("DELETE FROM edition_members")
        con.execute(
            f"""
            INSERT INTO edition_members
            SELECT s.sighting_id, e.id, w.id,
                   CASE WHEN o.lang >= 0 THEN {_LANG_LIST}[o.lang + 1] END,
                   CASE WHEN o.ed_lang >= 0 THEN {_LANG_LIST}[o.ed_lang + 1] END,
                   {rid}
            FROM dd_out AS o
            JOIN dd_s AS s USING (idx)
            JOIN dd_ed_ids AS e ON e.ed = o.ed
            JOIN dd_wk_ids AS w ON w.wk = o.wk
            """
        )
        con.execute(f"INSERT INTO dedup_ids SELECT id, level, {rid}, {rid}, 'active', NULL, seed FROM dd_new_ids")
        con.execute(
            f"""
            UPDATE dedup_ids SET last_dedup_run_id = {rid}, status = 'active', merged_into = NULL
            WHERE id IN (SELECT id FROM dd_kept)
            """
        )
        con.execute(
            "UPDATE dedup_ids SET status = 'merged', merged_into = m.target "
            "FROM dd_merged AS m WHERE dedup_ids.id = m.old"
        )
        retired = con.execute(
            f"SELECT count(*) FROM dedup_ids WHERE status = 'active' AND last_dedup_run_id < {rid}"
        ).fetchall()[0][0]
        con.execute(f"UPDATE dedup_ids SET status = 'retired' WHERE status = 'active' AND last_dedup_run_id < {rid}")
        _write_types(con, rid)
        con.execute("DELETE FROM match_links")
        con.execute(
            f"""
            INSERT INTO match_links
            SELECT {rid}, l.level, sa.sighting_id, sb.sighting_id, ea.id, eb.id,
                   l.rule, l.score, l.decision, l.reason, l.evidence
            FROM dd_links AS l
            JOIN dd_s AS sa ON sa.idx = l.a
            JOIN dd_s AS sb ON sb.idx = l.b
            JOIN dd_out AS oa ON oa.idx = l.a
            JOIN dd_out AS ob ON ob.idx = l.b
            JOIN dd_ed_ids AS ea ON ea.ed = oa.ed
            JOIN dd_ed_ids AS eb ON eb.ed = ob.ed
            """
        )
        c = run.counts
        con.execute(
            """
            INSERT INTO dedup_runs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
            """,
            [
                rid,
                run.ingest_run_id,
                run.started_at,
                run.finished_at,
                c["sightings"],
                c["editions"],
                c["works"],
                c["candidate_pairs"],
                c["edition_joins"],
                c["work_joins"],
                c["vetoed"],
                c["ambiguous"],
                c["pins"],
                c["forbids"],
                list(run.unresolved),
                c["ids_kept"],
                c["ids_created"],
                c["ids_merged"],
                int(retired),
                run.seconds,
                run.overrides_file,
            ],
        )
    return int(retired)
