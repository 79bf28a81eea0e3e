"""Benchmark deduplication at scale: time, peak memory and quality at 10k, 100k and 1M sightings.

Each size is a synthetic warehouse (bench/synthetic.py: duplicates, truncations, rewordings,
translations and traps planted at known rates) varied by every noise model of the real pages at
once (`bench.dedup_quality.REALISTIC`: signals dropped, copies reworded, site chrome, country
editions), so the matcher is timed on pages that do not hand it what it looks for. Corpora are
generated once into `.bench/` and copied fresh for every measurement. The pass runs in its own
subprocess, so the peak resident memory (`resource.getrusage`) is that of deduplication alone;
DuckDB is given 2 threads (the machine has 2 cores) and a memory limit. Edition and work
precision/recall against the planted truth are printed beside the time.

Cross-language embeddings (`similar_text`) are off in the timed pass (embed budget -1): the
synthetic languages are pseudo-words, so the rule cannot find anything here, and a pass with
vectors already stored (`text_vectors`, a nightly run's steady state) embeds only the day's new
texts. The cost of a first pass, which embeds up to `xling.DEFAULT_BUDGET` new texts, is measured
apart on a sample of the corpus's texts and printed below the table. CPU seconds are printed
beside wall seconds: on a shared machine the wall time includes waiting for the cores.

    python -m bench dedup [--sizes 10k,100k,1m] [--seed 1] [--memory-limit 2GB]

Targets (issue 10): 1M sightings in under 60 s and 2 GB on two cores.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.dedup_quality import REALISTIC as NOISE
from pipeline.dedup.xling import DEFAULT_BUDGET

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".bench"
#: bump when the generator changes, so cached corpora are rebuilt
GENERATOR_VERSION = 2
DEFAULT_SIZES = "10k,100k,1m"
TARGET_SECONDS_1M = 60.0
TARGET_MB_1M = 2048.0
#: goal lines (bench/__main__.py prints them again at the end of a full run)
GOALS: list[str] = []
#: texts embedded to measure the encoder's rate for the first-pass estimate
EMBED_SAMPLE = 256


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def label(size: int) -> str:
    return f"{size // 1_000_000}m" if size % 1_000_000 == 0 else f"{size // 1_000}k" if size % 1_000 == 0 else str(size)


def corpus_path(size: int, seed: int) -> Path:
    return WORKDIR / f"corpus-{label(size)}-s{seed}-v{GENERATOR_VERSION}.duckdb"


def _generate(size: int, seed: int, path: Path) -> None:
    from bench.synthetic import generate, write
    from pipeline.warehouse import migrate

    tmp = path.with_suffix(".tmp")
    tmp.unlink(missing_ok=True)
    con = duckdb.connect(str(tmp))
    try:
        migrate(con)
        write(con, generate(size, seed, noise=NOISE))
    finally:
        con.close()
    tmp.rename(path)


def _measure(path: Path, memory_limit: str) -> dict[str, object]:
    from pipeline.dedup import run_dedup

    con = duckdb.connect(str(path))
    con.execute("SET threads = 2")
    con.execute(f"SET memory_limit = '{memory_limit}'")
    started, cpu = time.perf_counter(), time.process_time()
    summary = run_dedup(con, None, embed_budget=-1)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    quality = con.execute(
        """
        WITH j AS (
            SELECT t.edition_key, t.work_key, m.edition_id, m.work_id
            FROM bench_truth AS t JOIN edition_members AS m USING (sighting_id)
        )
        SELECT
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY edition_key, edition_id)),
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY edition_id)),
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY edition_key)),
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY work_key, work_id)),
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY work_id)),
            (SELECT sum(n * (n - 1) / 2) FROM (SELECT count(*) AS n FROM j GROUP BY work_key))
        """
    ).fetchall()[0]
    con.close()
    tp_e, pred_e, true_e, tp_w, pred_w, true_w = (float(v or 0) for v in quality)
    return {
        "seconds": seconds,
        "cpu": cpu,
        "peak_mb": peak_mb,
        "sightings": summary.sightings,
        "editions": summary.editions,
        "works": summary.works,
        "pairs": summary.candidate_pairs,
        "ed_p": tp_e / pred_e if pred_e else 1.0,
        "ed_r": tp_e / true_e if true_e else 1.0,
        "wk_p": tp_w / pred_w if pred_w else 1.0,
        "wk_r": tp_w / true_w if true_w else 1.0,
    }


def _embed_rate(path: Path) -> float:
    """Texts per second the cross-language encoder embeds on this machine (openings of the corpus)."""
    from pipeline.dedup.xling import Encoder, span

    con = duckdb.connect(str(path), read_only=True)
    try:
        rows = con.execute(
            "SELECT coalesce(nullif(full_abstract, ''), abstract) FROM sightings "
            f"WHERE kind = 'publication' AND abstract IS NOT NULL ORDER BY sighting_id LIMIT {EMBED_SAMPLE}"
        ).fetchall()
    finally:
        con.close()
    texts = [span(r[0]) for r in rows]
    encoder = Encoder()
    encoder.encode(texts[:8])  # loads the model: not part of the rate
    started = time.perf_counter()
    encoder.encode(texts[8:])
    return (len(texts) - 8) / (time.perf_counter() - started)


def _child(*args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "bench.dedup_scale", *args], cwd=ROOT, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise SystemExit(f"benchmark step {args[0]} failed:\n{result.stderr[-3000:]}")
    return result.stdout


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dedup", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated sizes (default {DEFAULT_SIZES})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic corpus")
    parser.add_argument("--memory-limit", default="2GB", help="DuckDB memory_limit for the pass (default 2GB)")
    args = parser.parse_args(argv)
    sizes = sorted(parse_size(s) for s in args.sizes.split(","))
    GOALS.clear()
    WORKDIR.mkdir(exist_ok=True)
    print(
        f"dedup scale benchmark (seed {args.seed}; noise: {NOISE.label()}; DuckDB 2 threads, "
        f"memory_limit {args.memory_limit}; similar_text off: embed budget -1)"
    )
    print(f"load average at start: {' '.join(f'{x:.1f}' for x in os.getloadavg())} (2 cores)")
    header = (
        f"{'size':>6} {'sightings':>9} {'editions':>9} {'works':>8} {'pairs':>9} {'gen s':>6} {'dedup s':>8} "
        f"{'cpu s':>7} {'peak MB':>8} {'ed P':>6} {'ed R':>6} {'wk P':>6} {'wk R':>6}"
    )
    print(header)
    results: dict[int, dict[str, object]] = {}
    failed: dict[int, str] = {}
    for size in sizes:
        path = corpus_path(size, args.seed)
        generated = 0.0
        if not path.exists():
            started = time.perf_counter()
            _child("_generate", str(size), str(args.seed), str(path))
            generated = time.perf_counter() - started
        work = WORKDIR / f"run-{label(size)}.duckdb"
        shutil.copy(path, work)
        try:
            row = json.loads(_child("_measure", str(work), args.memory_limit).strip().splitlines()[-1])
        except SystemExit as exc:  # a pass that fails (out of memory at the limit) is a result too
            reason = [line for line in str(exc).splitlines() if "Error" in line or "Exception" in line][-1:]
            print(f"{label(size):>6} pass FAILED at memory_limit {args.memory_limit}: {' '.join(reason)[:200]}")
            failed[size] = " ".join(reason)[:200]
            continue
        finally:
            work.unlink(missing_ok=True)
        results[size] = row
        print(
            f"{label(size):>6} {row['sightings']:>9} {row['editions']:>9} {row['works']:>8} {row['pairs']:>9} "
            f"{generated:>6.0f} {row['seconds']:>8.1f} {row['cpu']:>7.1f} {row['peak_mb']:>8.0f} "
            f"{row['ed_p']:>6.3f} {row['ed_r']:>6.3f} {row['wk_p']:>6.3f} {row['wk_r']:>6.3f}",
            flush=True,
        )
    if 1_000_000 in failed:
        line = f"dedup 1m: pass failed at memory_limit {args.memory_limit} (targets 60 s, 2 GB): MISSED"
        print(line)
        GOALS.append(line)
    sizes = [s for s in sizes if s in results]
    if not sizes:
        return
    base = sizes[0]
    for size in sizes[1:]:
        ratio = float(results[size]["seconds"]) / float(results[base]["seconds"])  # type: ignore[arg-type]
        print(f"time {label(size)}/{label(base)}: {ratio:.1f}x for {size / base:.0f}x the sightings")
    if 1_000_000 in results:
        big = results[1_000_000]
        seconds, peak = float(big["seconds"]), float(big["peak_mb"])  # type: ignore[arg-type]
        GOALS.append(
            f"dedup 1m: {seconds:.0f} s (target 60 s) {_verdict(seconds, TARGET_SECONDS_1M, 's')}, "
            f"peak {peak:.0f} MB (target 2048 MB) {_verdict(peak, TARGET_MB_1M, 'MB')}"
        )
        print(
            f"1m: {seconds:.1f} s (target < {TARGET_SECONDS_1M:.0f} s: {_verdict(seconds, TARGET_SECONDS_1M, 's')}), "
            f"peak {peak:.0f} MB (target < {TARGET_MB_1M:.0f} MB: {_verdict(peak, TARGET_MB_1M, 'MB')}), "
            f"editions P {float(big['ed_p']):.3f} R {float(big['ed_r']):.3f}, "  # type: ignore[arg-type]
            f"works P {float(big['wk_p']):.3f} R {float(big['wk_r']):.3f}"  # type: ignore[arg-type]
        )
    rate = float(_child("_embed_rate", str(corpus_path(base, args.seed))).strip().splitlines()[-1])
    print(
        f"not timed above: a first pass embeds up to {DEFAULT_BUDGET} new texts for similar_text, about "
        f"{DEFAULT_BUDGET / rate:.0f} s more at the measured {rate:.0f} texts/s; later passes embed only new texts"
    )


def _verdict(value: float, target: float, unit: str) -> str:
    return "met" if value < target else f"MISSED by {value - target:.0f} {unit}"


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        _generate(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_measure":
        print(json.dumps(_measure(Path(sys.argv[2]), sys.argv[3])))
    elif len(sys.argv) > 1 and sys.argv[1] == "_embed_rate":
        print(_embed_rate(Path(sys.argv[2])))
    else:
        main()
