"""Give clusters stable ids: an id outlives re-runs, growth, merges and splits of its cluster.

Clustering is recomputed from all sightings on every pass (so a better rule or a new override
applies everywhere), which makes ids a reconciliation between the previous pass's assignment
(`edition_members`) and this pass's clusters, with the registry of every id ever issued
(`dedup_ids`):
- a cluster holding sightings of exactly one old id keeps it, however much it grew;
- when clusters merge, the oldest id (issued in the earliest pass; equally old: the smaller
  id) survives and the others are recorded as `merged` into it;
- when a cluster splits, its id stays with the part holding most of its old sightings (ties:
  the part with the smallest sighting id); the other part keeps another old id it holds or
  gets a new one;
- a new cluster gets a new id derived from its smallest sighting id (a natural key), so two
  warehouses built from the same archive agree on ids; a clash with an id ever issued is
  resolved with a counter, never by reusing an id;
- an id whose sightings are all gone is `retired`, never reissued.
The mapping of old ids onto new clusters is counted in SQL, so no per-sighting Python objects
are built.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

PREFIXES = {"edition": "ed_", "work": "wk_"}


@dataclass
class Assignment:
    """Ids of this pass's clusters at one level, and what happened to the old ones."""

    level: str
    ids: list[str]  # id of each cluster (dense cluster index)
    new: list[tuple[str, str]] = field(default_factory=list)  # (id, seed sighting) issued now
    kept: list[str] = field(default_factory=list)
    merged: list[tuple[str, str]] = field(default_factory=list)  # (old id, id it merged into)


def mint(prefix: str, seed_sighting: str, counter: int = 0) -> str:
    key = seed_sighting if counter == 0 else f"{seed_sighting}#{counter}"
    return prefix + hashlib.sha1(key.encode("utf-8")).hexdigest()[:12]


def reconcile(
    con: duckdb.DuckDBPyConnection,
    level: str,
    cluster_of: np.ndarray,
    seeds: list[str],
    run_id: int,
) -> Assignment:
    """Ids for clusters `0..len(seeds)-1`; `cluster_of[idx]` is the cluster of sighting idx.

    Needs temp table dd_s (idx, sighting_id) from features.build.
    """
    column = "edition_id" if level == "edition" else "work_id"
    n_clusters = len(seeds)
    con.register(
        "dd_cl", pa.table({"idx": np.arange(len(cluster_of), dtype=np.int32), "cl": cluster_of.astype(np.int32)})
    )
    try:
        rows = con.execute(
            f"""
            SELECT m.{column} AS old, c.cl, count(*) AS n,
                   coalesce(any_value(i.first_dedup_run_id), {int(run_id)}) AS age
            FROM dd_cl AS c
            JOIN dd_s AS s USING (idx)
            JOIN edition_members AS m USING (sighting_id)
            LEFT JOIN dedup_ids AS i ON i.id = m.{column}
            GROUP BY m.{column}, c.cl
            ORDER BY age, old, n DESC, c.cl
            """
        ).fetchnumpy()
    finally:
        con.unregister("dd_cl")
    ids: list[str | None] = [None] * n_clusters
    placed: set[str] = set()
    best_cluster: dict[str, int] = {}
    for old, cl in zip(rows["old"].tolist(), rows["cl"].tolist(), strict=True):
        if old not in best_cluster:
            best_cluster[old] = cl
        if old in placed:
            continue
        if ids[cl] is None:
            ids[cl] = old
            placed.add(old)
    result = Assignment(level, [], kept=sorted(placed))
    prefix = PREFIXES[level]
    pending = {cl: mint(prefix, seeds[cl]) for cl in range(n_clusters) if ids[cl] is None}
    counter = 0
    while pending:
        taken = _issued(con, list(pending.values()))
        clash: dict[int, str] = {}
        seen: set[str] = set()
        for cl, candidate in sorted(pending.items()):
            if candidate in taken or candidate in seen:
                clash[cl] = candidate
            else:
                seen.add(candidate)
                ids[cl] = candidate
                result.new.append((candidate, seeds[cl]))
        counter += 1
        pending = {cl: mint(prefix, seeds[cl], counter) for cl in clash}
    result.ids = [i for i in ids if i is not None]
    assert len(result.ids) == n_clusters
    for old, cl in sorted(best_cluster.items()):
        if old not in placed:
            result.merged.append((old, result.ids[cl]))
    return result


def _issued(con: duckdb.DuckDBPyConnection, candidates: list[str]) -> set[str]:
    """Which candidate ids were ever issued (at any level)."""
    con.register("dd_candidates", pa.table({"id": pa.array(candidates, pa.string())}))
    try:
        rows = con.execute("SELECT id FROM dedup_ids WHERE id IN (SELECT id FROM dd_candidates)").fetchall()
    finally:
        con.unregister("dd_candidates")
    return {r[0] for r in rows}
