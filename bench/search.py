"""Benchmark `pipeline search`: quality on hand-labelled queries, and latency at 100k editions.

Quality: the seeds and a full crawl of the replica are ingested and deduplicated once into
`.bench/search-replica.duckdb` (reused while the code that builds it is the same), and its index
built. Each query of tests/labels/search_queries.json (written by hand, in English, French and
Spanish, before the search was tuned) is run three ways: BM25 alone, vectors alone, and the
hybrid. A result work counts as relevant when one of its sightings is an item of a relevant
work_key in the replica's truth (`evaluate.replica_truth`); recall@10 is the share of relevant
work_keys in the top 10, nDCG@10 with binary gains (a work_key counted once). Cross-language
queries (no relevant work has an item in the query's language) are reported apart.

Latency: an index of 100,000 editions (the replica's texts and vectors repeated with distinct
ids, unit vectors perturbed so no two are equal) answers the queries at work level in one warm
process, as a long-lived caller would; p50 and p95 over every query, the encoder included. The
cold start of the command (`pipeline search`, a fresh process) is printed beside it.

    python -m bench search [--editions 100000]

Targets (issue 22): the hybrid beats both single methods; cross-language recall@10 at least
0.8; p95 under 200 ms at 100k editions.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".bench"
QUERIES = ROOT / "tests" / "labels" / "search_queries.json"
DATASET = ROOT / "tests" / "replica" / "data" / "dataset.json"
METHODS = ("words", "meaning", "hybrid")
TARGET_CROSS_RECALL = 0.8
TARGET_P95_MS = 200.0
K = 10


@dataclass
class Scores:
    recall: list[float]
    ndcg: list[float]
    cross_recall: list[float]

    @staticmethod
    def mean(values: list[float]) -> float:
        return statistics.fmean(values) if values else float("nan")


def build_replica_warehouse(root: Path) -> Path:
    """Seeds plus a full crawl of the replica, ingested, deduplicated and indexed; returns the warehouse."""
    from pipeline.archive import Archive
    from pipeline.ingest import IngestOptions, crawl_step, run_ingest
    from pipeline.sources import load_sources
    from pipeline.warehouse import connect, migrate
    from tests.conftest import copy_seed_archive
    from tests.replica import Replica

    root.mkdir(parents=True, exist_ok=True)
    raw = copy_seed_archive(root / "raw")
    db = root / "w.duckdb"
    with Replica(page_size=10, crawl_delay=0) as rep:
        sources = rep.write_sources(root / "sources.toml")
        con = connect(db)
        try:
            migrate(con)
            archive = Archive(raw)
            options = IngestOptions(search_for=db)
            summary = run_ingest(con, archive, options, fetch=crawl_step(load_sources(sources), archive, options))
            summary.search_index.install()  # as the command does once it has published
        finally:
            con.close()
    return db


def work_keys(db: Path) -> dict[str, set[str]]:
    """The replica's work_keys of each warehouse work (through its sightings)."""
    import duckdb

    from pipeline.dedup.evaluate import replica_truth

    con = duckdb.connect(str(db), read_only=True)
    try:
        truth, _ = replica_truth(con, json.loads(DATASET.read_text(encoding="utf-8")))
        rows = con.execute("SELECT sighting_id, work_id FROM sighting_editions WHERE work_id IS NOT NULL").fetchall()
    finally:
        con.close()
    keys: dict[str, set[str]] = {}
    for sighting, work in rows:
        if sighting in truth and truth[sighting][1]:
            keys.setdefault(work, set()).add(str(truth[sighting][1]))
    return keys


def judge(ranked_works: list[str], keys: dict[str, set[str]], relevant: set[str]) -> tuple[float, float]:
    """(recall@K, nDCG@K) of a ranked list of work ids: a relevant work_key counts once, where first met."""
    seen: set[str] = set()
    gains: list[bool] = []
    for work in ranked_works[:K]:
        new = (keys.get(work, set()) & relevant) - seen
        seen |= new
        gains.append(bool(new))
    return len(seen) / len(relevant), ndcg(gains, len(relevant), K)


def ndcg(ranked: list[bool], relevant_total: int, k: int = K) -> float:
    """nDCG@k of a ranked list of relevance judgements (binary gains)."""
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(ranked[:k]) if rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(relevant_total, k)))
    return dcg / ideal if ideal else 0.0


def evaluate(index: Path, keys: dict[str, set[str]], queries: list[dict[str, Any]]) -> dict[str, Scores]:
    """Every labelled query, by every method, against the index."""
    from pipeline.search import Searcher

    out = {m: Scores([], [], []) for m in METHODS}
    with Searcher(index) as searcher:
        for q in queries:
            relevant = set(q["relevant"])
            for method in METHODS:
                works = [w.work_id for w in searcher.works(q["query"], limit=K, method=method)]
                recall, gain = judge(works, keys, relevant)
                out[method].recall.append(recall)
                out[method].ndcg.append(gain)
                if q.get("cross_language"):
                    out[method].cross_recall.append(recall)
    return out


def synthetic_index(source: Path, path: Path, editions: int) -> float:
    """An index of `editions` editions made from `source`'s, with distinct ids; returns seconds to build."""
    import duckdb
    import numpy as np
    import pyarrow as pa

    from pipeline.dedup.xling import DIMS
    from pipeline.search import _load_fts, _matrix, index_languages, new_index_file

    started = time.perf_counter()
    src = duckdb.connect(str(source), read_only=True)
    base = src.execute("SELECT * EXCLUDE (vector, title_vector) FROM editions ORDER BY edition_id").to_arrow_table()
    vecs = src.execute("SELECT vector, title_vector FROM editions ORDER BY edition_id").to_arrow_table()
    works = src.execute("SELECT * FROM works").to_arrow_table()
    info = src.execute("SELECT * FROM index_info").to_arrow_table()
    src.close()
    n = base.num_rows
    copies = -(-editions // n)
    rng = np.random.default_rng(22)
    text = _matrix(vecs.column("vector").combine_chunks(), DIMS)
    title = _matrix(vecs.column("title_vector").combine_chunks(), DIMS)
    path.unlink(missing_ok=True)
    out = new_index_file(path)
    _load_fts(out)
    out.execute(
        f"CREATE TABLE editions (edition_id VARCHAR, work_id VARCHAR, language VARCHAR, title VARCHAR, "
        f"display_title VARCHAR, abstract VARCHAR, year INTEGER, sources VARCHAR[], url VARCHAR, "
        f"vector FLOAT[{DIMS}], title_vector FLOAT[{DIMS}])"
    )
    for c in range(copies):
        take = min(n, editions - c * n)
        if take <= 0:
            break
        part = base.slice(0, take)
        cols = {name: part.column(name) for name in part.column_names}
        cols["edition_id"] = pa.array([f"{e}-{c}" for e in part.column("edition_id").to_pylist()])
        cols["work_id"] = pa.array([f"{w}-{c}" for w in part.column("work_id").to_pylist()])
        for name, matrix in (("vector", text), ("title_vector", title)):
            noisy = matrix[:take] + rng.normal(0, 0.02, (take, DIMS)).astype(np.float32) * (c > 0)
            noisy /= np.maximum(np.linalg.norm(noisy, axis=1, keepdims=True), 1e-9)
            cols[name] = pa.FixedSizeListArray.from_arrays(pa.array(noisy.astype(np.float32).reshape(-1)), DIMS)
        out.register("part", pa.table(cols))
        out.execute("INSERT INTO editions SELECT * FROM part")
        out.unregister("part")
    out.register("w", works)
    # each copy's works under the copy's ids, as its editions are
    out.execute(
        f"CREATE TABLE works AS SELECT w.* REPLACE (w.work_id || '-' || c.copy AS work_id) "
        f"FROM w CROSS JOIN range({copies}) AS c(copy)"
    )
    out.unregister("w")
    out.register("i", info)
    out.execute("CREATE TABLE index_info AS SELECT * FROM i")
    out.unregister("i")
    _, tables = index_languages(out)
    out.execute("UPDATE index_info SET fts_tables = ?", [tables])
    out.execute("CHECKPOINT search_index")
    out.close()
    return time.perf_counter() - started


def latency(index: Path, queries: list[dict[str, Any]], repeat: int = 2) -> list[float]:
    """Milliseconds per query at work level, in one warm process (first query warms it, not counted)."""
    from pipeline.search import Searcher

    with Searcher(index) as searcher:
        searcher.works("warm up", limit=K)
        times = []
        for _ in range(repeat):
            for q in queries:
                started = time.perf_counter()
                searcher.works(q["query"], limit=K)
                times.append((time.perf_counter() - started) * 1000)
    return times


def _goal(line: str) -> None:
    print(line)
    GOALS.append(line)


#: goal lines (bench/__main__.py prints them again at the end of a full run)
GOALS: list[str] = []


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench search", description=__doc__.split("\n\n")[0])
    parser.add_argument("--editions", type=int, default=100_000, help="editions of the latency index (default 100000)")
    parser.add_argument("--rebuild", action="store_true", help="build the replica warehouse again")
    args = parser.parse_args(argv)
    queries = json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]
    root = WORKDIR / "search-replica"
    db = root / "w.duckdb"
    if args.rebuild or not db.exists():
        import shutil

        shutil.rmtree(root, ignore_errors=True)
        started = time.perf_counter()
        build_replica_warehouse(root)
        print(f"built the seeds + replica warehouse and its index in {time.perf_counter() - started:.1f} s")
    index = db.with_name("w.search.duckdb")
    keys = work_keys(db)
    scores = evaluate(index, keys, queries)
    langs = sorted({q["lang"] for q in queries})
    cross = sum(1 for q in queries if q.get("cross_language"))
    print(f"\nsearch quality: {len(queries)} hand-labelled queries ({', '.join(langs)}; {cross} cross-language), "
          f"seeds + replica, top {K} works")  # fmt: skip
    print(f"  {'method':<10}{'recall@10':>11}{'nDCG@10':>10}{'cross-language recall@10':>27}")
    for method in METHODS:
        s = scores[method]
        cells = f"{Scores.mean(s.recall):>11.3f}{Scores.mean(s.ndcg):>10.3f}{Scores.mean(s.cross_recall):>27.3f}"
        print(f"  {method:<10}{cells}")
    for lang in langs:
        picked = [i for i, q in enumerate(queries) if q["lang"] == lang]
        cells = "  ".join(f"{m} {statistics.fmean(scores[m].ndcg[i] for i in picked):.3f}" for m in METHODS)
        print(f"  nDCG@10 of the {len(picked)} queries in {lang}: {cells}")
    hybrid, words, meaning = (scores[m] for m in ("hybrid", "words", "meaning"))
    beats = all(
        Scores.mean(getattr(hybrid, f)) > max(Scores.mean(getattr(words, f)), Scores.mean(getattr(meaning, f)))
        for f in ("recall", "ndcg")
    )
    _goal(f"search goal: hybrid above words alone and meaning alone on recall@10 and nDCG@10: "
          f"{'met' if beats else 'MISSED'}")  # fmt: skip
    cross_recall = Scores.mean(hybrid.cross_recall)
    missed = f"MISSED by {TARGET_CROSS_RECALL - cross_recall:.3f}"
    _goal(f"search goal: cross-language recall@10 {cross_recall:.3f} (target {TARGET_CROSS_RECALL}): "
          f"{'met' if cross_recall >= TARGET_CROSS_RECALL else missed}")  # fmt: skip

    big = WORKDIR / f"search-{args.editions}.duckdb"
    seconds = synthetic_index(index, big, args.editions)
    times = latency(big, queries)
    p50 = statistics.median(times)
    p95 = statistics.quantiles(times, n=20)[-1]
    print(f"\nlatency at {args.editions:,} editions (index built in {seconds:.1f} s; {len(times)} queries, "
          f"one warm process, encoder included): p50 {p50:.0f} ms, p95 {p95:.0f} ms")  # fmt: skip
    cold, peak_mb = _cold_start(big, queries[0]["query"])
    print(f"  a fresh `pipeline search` process on it, start to answer: {cold:.2f} s, peak memory {peak_mb:.0f} MB")
    _goal(f"search goal: p95 {p95:.0f} ms at {args.editions:,} editions (target under {TARGET_P95_MS:.0f} ms): "
          f"{'met' if p95 < TARGET_P95_MS else f'MISSED by {p95 - TARGET_P95_MS:.0f} ms'}")  # fmt: skip
    big.unlink(missing_ok=True)


def _cold_start(index: Path, query: str) -> tuple[float, float]:
    """(seconds, peak MB) of a whole `pipeline search` process against a warehouse whose index is `index`.

    The process runs under a small wrapper that reports its children's peak (ru_maxrss), so no
    other process of this benchmark counts."""
    import shutil

    folder = WORKDIR / "search-cold"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    db = folder / "w.duckdb"
    import duckdb

    duckdb.connect(str(db)).close()
    shutil.copy(index, folder / "w.search.duckdb")
    wrapper = (
        "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL); "
        "print(done.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
    )
    command = [sys.executable, "-c", wrapper, sys.executable, "-m", "pipeline", "search", query, "--db", str(db)]
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    elapsed = time.perf_counter() - started
    shutil.rmtree(folder, ignore_errors=True)
    code, peak_kb = done.stdout.split()
    if code != "0":
        raise SystemExit(f"pipeline search failed: {done.stderr[-2000:]}")
    return elapsed, int(peak_kb) / 1024


if __name__ == "__main__":
    main()
