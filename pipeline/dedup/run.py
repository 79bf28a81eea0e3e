"""Run one deduplication pass: sightings -> editions -> works -> stable ids -> warehouse.

The stages hand off plain arrays: `features` reads the warehouse, `block` proposes pairs,
`match`/`match_works` score them, `cluster` unions them under constraints, `ids` names the
clusters, `write` stores everything in one transaction. `compute` stops before ids and writes,
so `--explain` sees exactly the decisions a pass would make.
"""

from __future__ import annotations

import itertools
import logging
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import duckdb
import numpy as np

from pipeline import changes
from pipeline.dedup import block, cards, features, match, match_works, xling
from pipeline.dedup import overrides as overrides_mod
from pipeline.dedup.cluster import Clusterer, Edges, Link
from pipeline.dedup.ids import reconcile
from pipeline.dedup.write import LinkRows, PassRecord, write_pass
from pipeline.errors import WarehouseError
from pipeline.warehouse import backend_of, next_ids

log = logging.getLogger(__name__)


@dataclass
class DedupSummary:
    """What one pass did, for the run log and the CLI."""

    dedup_run_id: int = 0
    sightings: int = 0
    editions: int = 0
    works: int = 0
    candidate_pairs: int = 0
    edition_joins: int = 0
    work_joins: int = 0
    vetoed: int = 0
    ambiguous: int = 0
    pins: int = 0
    forbids: int = 0
    ids_kept: int = 0
    ids_created: int = 0
    ids_merged: int = 0
    ids_retired: int = 0
    texts_embedded: int = 0
    texts_pending: int = 0
    #: records added, changed and withdrawn by this pass ({"editions_added": 3, ...}; record_changes)
    changes: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0
    unresolved_overrides: list[str] = field(default_factory=list)

    @property
    def merges_vetoed(self) -> int:
        return self.vetoed

    @property
    def message(self) -> str:
        text = (
            f"dedup pass {self.dedup_run_id}: {self.sightings} publication sightings -> "
            f"{self.editions} editions -> {self.works} works ({self.candidate_pairs} candidate pairs, "
            f"{self.vetoed} merges vetoed, {self.ambiguous} ambiguous; ids kept {self.ids_kept}, "
            f"new {self.ids_created}, merged {self.ids_merged}, retired {self.ids_retired}) in {self.seconds:.1f}s"
        )
        if self.texts_pending:
            text += f"; {self.texts_pending} texts wait for their cross-language vectors (embed budget)"
        if self.unresolved_overrides:
            text += f"; {len(self.unresolved_overrides)} override reference(s) matched nothing"
        return text

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass
class Computed:
    """A pass's decisions before ids are assigned and anything is written."""

    feats: features.Features
    edition_of: np.ndarray  # sighting idx -> edition (dense, ordered by smallest member)
    edition_roots: np.ndarray  # edition -> its smallest sighting idx
    work_of_edition: np.ndarray  # edition -> work (dense)
    work_roots: np.ndarray  # work -> its smallest edition
    edition_links: list[Link]
    work_links: list[Link]
    work_edges: Edges
    eds: match_works.EditionTable
    candidate_pairs: int
    pins: int = 0
    forbids: int = 0
    unresolved: list[str] = field(default_factory=list)
    xstats: xling.Stats = field(default_factory=xling.Stats)
    #: pages shown at once in a section (cards.slot_edges)
    shown: cards.Shown = field(default_factory=cards.Shown)

    @property
    def work_of(self) -> np.ndarray:
        return self.work_of_edition[self.edition_of]


def compute(
    con: duckdb.DuckDBPyConnection, overrides: overrides_mod.Overrides, embed_budget: int = xling.DEFAULT_BUDGET
) -> Computed:
    """All decisions of a pass (needs the dedup tables only to resolve ed_/wk_ references)."""
    feats = features.build(con)
    cards.build_pages(con)
    match.build_boilerplate(con)
    n = feats.n
    pins_ed, pins_wk, forbid_ed, forbid_wk, unresolved, counts = _resolve_overrides(con, overrides, feats)

    # editions
    doc, tok = features.token_arrays(con, n)
    pairs = block.merge_pairs(block.exact_pairs(con), block.lsh_pairs(doc, tok, n))
    del doc, tok
    edges = match.score_pairs(con, pairs, feats)
    cards.build_families(con, edges)
    slots, shown = cards.slot_edges(con, match.MIN_EVIDENCE_TOKENS)
    ctx = match.EditionContext(feats, forbid_ed, shown)
    editions = Clusterer(n, ctx.summary, match.RULE_RANK, match.EVIDENCE_CLASS, twin_rule="same_text")
    editions.force(pins_ed)
    editions.force((int(a), int(b), "same_url") for a, b in block.group_chains(feats.url_id))
    # a card without a link is the same item as the card in the same slot on other nights (cards.py)
    editions.run(slots, check_ambiguity=False)
    editions.run(edges)
    _attach_evidence(editions.links, edges)
    edition_of, edition_roots = _dense(editions.labels())

    # works
    eds = match_works.edition_table(feats, edition_of, len(edition_roots))
    match_works.same_teaser_pairs(con, feats, edition_of, eds)
    match_works.teaser_of_work_pairs(
        [(lk.a, lk.b) for lk in editions.links if lk.decision == "ambiguous"], edition_of, eds
    )
    wk_forbid = _node_tags(forbid_wk, edition_of)
    work_summary = match_works.work_summary_factory(eds, wk_forbid)
    works = Clusterer(len(edition_roots), work_summary, match_works.RULE_RANK)
    works.force((int(edition_of[a]), int(edition_of[b]), "pin") for a, b, _ in pins_wk)
    xstats = xling.Stats()
    wedges = match_works.work_edges(con, feats, edition_of, eds, work_summary, embed_budget, xstats)
    works.run(wedges, strict_rules=match_works.STRICT_RULES, check_ambiguity=False)
    _attach_evidence(works.links, wedges)
    work_of_edition, work_roots = _dense(works.labels())
    return Computed(
        feats=feats,
        edition_of=edition_of,
        edition_roots=edition_roots,
        work_of_edition=work_of_edition,
        work_roots=work_roots,
        edition_links=editions.links,
        work_links=works.links,
        work_edges=wedges,
        eds=eds,
        candidate_pairs=len(pairs),
        pins=counts["pins"],
        forbids=counts["forbids"],
        unresolved=unresolved,
        xstats=xstats,
        shown=shown,
    )


def run_dedup(
    con: duckdb.DuckDBPyConnection,
    overrides_path: Path | None,
    embed_budget: int = xling.DEFAULT_BUDGET,
    ingest_run_id: int | None = None,
    withdraw_after_walks: int = changes.DEFAULT_WITHDRAW_AFTER_WALKS,
    vector_cache: Path | None = None,
) -> DedupSummary:
    """Re-cluster every publication sighting and rewrite the dedup tables; idempotent.

    Called at the end of every ingest, after the load, on the same connection. Edition and
    work ids are kept across passes (see ids.py). Raises ConfigError for a bad overrides file
    and WarehouseError when the schema step 100_dedup.sql has not been applied.
    """
    started = datetime.now(UTC)
    clock = time.perf_counter()
    _check_schema(con)
    loaded = overrides_mod.load(overrides_path)
    with xling.vector_cache(vector_cache):
        result = compute(con, loaded, embed_budget)
    dedup_run_id = next_ids(con, "dedup_run_seq")[0]
    # the run the pass belongs to (its changes are credited to it: export --since RUN); a pass
    # run on its own takes the last run, and on a lake the last one finished, since other
    # workers' runs are still going
    ingest_run = ingest_run_id
    if ingest_run is None:
        live = "WHERE status <> 'running'" if backend_of(con).concurrent_writers else ""
        ingest_run = con.execute(f"SELECT max(run_id) FROM runs {live}").fetchall()[0][0]
    feats = result.feats
    seeds_ed = features.sighting_ids(con, result.edition_roots)
    ed_assign = reconcile(con, "edition", result.edition_of, seeds_ed, dedup_run_id)
    seeds_wk = [seeds_ed[int(r)] for r in result.work_roots]
    wk_assign = reconcile(con, "work", result.work_of, seeds_wk, dedup_run_id)
    links = link_rows(result)
    summary = DedupSummary(
        dedup_run_id=dedup_run_id,
        sightings=feats.n,
        editions=len(result.edition_roots),
        works=len(result.work_roots),
        candidate_pairs=result.candidate_pairs,
        edition_joins=sum(1 for lk in result.edition_links if lk.decision == "joined"),
        work_joins=sum(1 for lk in result.work_links if lk.decision == "joined"),
        vetoed=sum(1 for lk in result.edition_links + result.work_links if lk.decision == "vetoed"),
        ambiguous=sum(1 for lk in result.edition_links + result.work_links if lk.decision == "ambiguous"),
        pins=result.pins,
        forbids=result.forbids,
        ids_kept=len(ed_assign.kept) + len(wk_assign.kept),
        ids_created=len(ed_assign.new) + len(wk_assign.new),
        ids_merged=len(ed_assign.merged) + len(wk_assign.merged),
        unresolved_overrides=result.unresolved,
        texts_embedded=result.xstats.embedded,
        texts_pending=result.xstats.pending,
    )
    summary.seconds = time.perf_counter() - clock
    record = PassRecord(
        dedup_run_id=dedup_run_id,
        ingest_run_id=ingest_run,
        started_at=started,
        finished_at=datetime.now(UTC),
        counts={k: v for k, v in summary.as_dict().items() if isinstance(v, int)},
        unresolved=result.unresolved,
        seconds=summary.seconds,
        overrides_file=str(overrides_path) if overrides_path else None,
    )
    summary.ids_retired = write_pass(
        con,
        record,
        result.edition_of,
        result.work_of,
        feats.lang,
        result.eds.lang,
        ed_assign,
        wk_assign,
        links,
    )
    summary.changes = changes.record(con, dedup_run_id, ingest_run, withdraw_after_walks)
    summary.seconds = time.perf_counter() - clock
    log.info(summary.message)
    return summary


def link_rows(result: Computed) -> LinkRows:
    """Decisions of both levels as sighting pairs (work links through a sighting of each edition)."""
    rows = LinkRows.new()
    for link in result.edition_links:
        rows.add("edition", link, link.a, link.b, link.evidence)
    roots = result.edition_roots
    for link in result.work_links:
        rows.add("work", link, int(roots[link.a]), int(roots[link.b]), link.evidence)
    return rows


def _dense(labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Root labels -> dense cluster numbers ordered by root (the smallest member)."""
    if len(labels) == 0:
        return np.empty(0, dtype=np.int64), np.empty(0, dtype=np.int64)
    order = np.argsort(labels, kind="stable")
    ordered = labels[order]
    first = np.r_[True, ordered[1:] != ordered[:-1]]
    dense = np.empty(len(labels), dtype=np.int64)
    dense[order] = np.cumsum(first) - 1
    return dense, ordered[first].astype(np.int64)


def _attach_evidence(links: list[Link], edges: Edges) -> None:
    """Copy each edge's detail (overlap, URL, ISBN...) onto the links recorded for it."""
    if not edges.detail:
        return
    detail = {
        (int(a), int(b), r): d
        for a, b, r, d in zip(edges.i.tolist(), edges.j.tolist(), edges.rule, edges.detail, strict=True)
        if d
    }
    for link in links:
        found = detail.get((link.a, link.b, link.rule)) or detail.get((link.b, link.a, link.rule))
        link.evidence = found


def _node_tags(
    tags: dict[int, frozenset[tuple[int, int]]], edition_of: np.ndarray
) -> dict[int, frozenset[tuple[int, int]]]:
    out: dict[int, set[tuple[int, int]]] = {}
    for idx, found in tags.items():
        out.setdefault(int(edition_of[idx]), set()).update(found)
    return {k: frozenset(v) for k, v in out.items()}


def _resolve_overrides(
    con: duckdb.DuckDBPyConnection, loaded: overrides_mod.Overrides, feats: features.Features
) -> tuple[
    list[tuple[int, int, str]],
    list[tuple[int, int, str]],
    dict[int, frozenset[tuple[int, int]]],
    dict[int, frozenset[tuple[int, int]]],
    list[str],
    dict[str, int],
]:
    """Pins as forced edges, forbids as cannot-link tags on sightings, per level."""
    pins_ed: list[tuple[int, int, str]] = []
    pins_wk: list[tuple[int, int, str]] = []
    forbid_ed: dict[int, set[tuple[int, int]]] = {}
    forbid_wk: dict[int, set[tuple[int, int]]] = {}
    unresolved: list[str] = []
    counts = {"pins": 0, "forbids": 0}
    if not loaded.decisions:
        return pins_ed, pins_wk, {}, {}, unresolved, counts
    url_members: dict[str, list[int]] = {}
    for idx in np.flatnonzero(feats.url_id >= 0).tolist():
        url_members.setdefault(feats.urls[int(feats.url_id[idx])], []).append(idx)
    for decision in loaded.decisions:
        side_a = overrides_mod.resolve(con, decision.a, url_members)
        side_b = overrides_mod.resolve(con, decision.b, url_members)
        missing = [ref for ref, side in ((decision.a, side_a), (decision.b, side_b)) if not side]
        if missing:
            unresolved.extend(f"{decision.kind} #{decision.number + 1}: {ref}" for ref in missing)
            continue
        if decision.kind == "pin":
            members = sorted(set(side_a) | set(side_b))
            target = pins_ed if decision.level == "edition" else pins_wk
            target.extend((a, b, "pin") for a, b in itertools.pairwise(members))
            counts["pins"] += 1
        else:
            levels = [forbid_ed, forbid_wk] if decision.level == "work" else [forbid_ed]
            for tags in levels:
                for idx in side_a:
                    tags.setdefault(idx, set()).add((decision.number, 0))
                for idx in side_b:
                    tags.setdefault(idx, set()).add((decision.number, 1))
            counts["forbids"] += 1
    return (
        pins_ed,
        pins_wk,
        {k: frozenset(v) for k, v in forbid_ed.items()},
        {k: frozenset(v) for k, v in forbid_wk.items()},
        unresolved,
        counts,
    )


def _check_schema(con: duckdb.DuckDBPyConnection) -> None:
    present = {
        r[0]
        for r in con.execute(
            "SELECT table_name FROM duckdb_tables() "
            "WHERE table_name IN ('edition_members', 'dedup_ids', 'match_links', 'dedup_runs')"
        ).fetchall()
    }
    if len(present) < 4:
        raise WarehouseError("the dedup tables are missing: apply the schema (pipeline.warehouse.migrate) first")
