"""Benchmark deduplication at scale: time and peak memory at 10k, 100k and 1M sightings.

Each size is a synthetic warehouse (bench/synthetic.py: duplicates, truncations, rewordings,
translations and traps planted at known rates), generated once into `.bench/` and copied fresh
for every measurement. The pass runs in its own subprocess, so the peak resident memory
(`resource.getrusage`) is that of deduplication alone; DuckDB is given 2 threads (the machine
has 2 cores) and a memory limit. Times are compared with the smallest size measured in the
same run (never with a stored figure), and the quality against the planted truth is printed
beside them.

    python -m bench dedup [--sizes 10k,100k,1m] [--seed 1] [--memory-limit 2GB]

Targets (issue 4): 100k -> 1M at most 12x slower; 1M under 10 minutes within 4 GB.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import duckdb

from bench.dedup_quality import REALISTIC as NOISE

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".bench"
#: bump when the generator changes, so cached corpora are rebuilt
GENERATOR_VERSION = 2
DEFAULT_SIZES = "10k,100k,1m"
TARGET_RATIO = 12.0
TARGET_SECONDS_1M = 600.0
TARGET_MB = 4096.0


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
    started = time.perf_counter()
    summary = run_dedup(con, None)
    seconds = time.perf_counter() - started
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
    WORKDIR.mkdir(exist_ok=True)
    print(f"dedup scale benchmark (seed {args.seed}; DuckDB 2 threads, memory_limit {args.memory_limit})")
    header = (
        f"{'size':>6} {'sightings':>9} {'editions':>9} {'works':>8} {'pairs':>9} {'gen s':>6} {'dedup s':>8} "
        f"{'peak MB':>8} {'ed P':>6} {'ed R':>6} {'wk P':>6} {'wk R':>6}"
    )
    print(header)
    results: dict[int, dict[str, object]] = {}
    for size in sizes:
        path = corpus_path(size, args.seed)
        generated = 0.0
        if not path.exists():
            started = time.perf_counter()
            _child("_generate", str(size), str(args.seed), str(path))
            generated = time.perf_counter() - started
        work = WORKDIR / f"run-{label(size)}.duckdb"
        shutil.copy(path, work)
        row = json.loads(_child("_measure", str(work), args.memory_limit).strip().splitlines()[-1])
        work.unlink(missing_ok=True)
        results[size] = row
        print(
            f"{label(size):>6} {row['sightings']:>9} {row['editions']:>9} {row['works']:>8} {row['pairs']:>9} "
            f"{generated:>6.0f} {row['seconds']:>8.1f} {row['peak_mb']:>8.0f} {row['ed_p']:>6.3f} {row['ed_r']:>6.3f} "
            f"{row['wk_p']:>6.3f} {row['wk_r']:>6.3f}",
            flush=True,
        )
    base = sizes[0]
    for size in sizes[1:]:
        ratio = float(results[size]["seconds"]) / float(results[base]["seconds"])  # type: ignore[arg-type]
        print(f"time {label(size)}/{label(base)}: {ratio:.1f}x for {size / base:.0f}x the sightings")
    if 100_000 in results and 1_000_000 in results:
        ratio = float(results[1_000_000]["seconds"]) / float(results[100_000]["seconds"])  # type: ignore[arg-type]
        big = results[1_000_000]
        print(
            f"1m/100k: {ratio:.1f}x (target <= {TARGET_RATIO:.0f}x: {'ok' if ratio <= TARGET_RATIO else 'MISSED'}); "
            f"1m: {float(big['seconds']):.0f}s (target < {TARGET_SECONDS_1M:.0f}s: "  # type: ignore[arg-type]
            f"{'ok' if float(big['seconds']) < TARGET_SECONDS_1M else 'MISSED'}), "  # type: ignore[arg-type]
            f"{float(big['peak_mb']):.0f} MB (target < {TARGET_MB:.0f} MB: "  # type: ignore[arg-type]
            f"{'ok' if float(big['peak_mb']) < TARGET_MB else 'MISSED'})"  # type: ignore[arg-type]
        )


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_generate":
        _generate(int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4]))
    elif len(sys.argv) > 1 and sys.argv[1] == "_measure":
        print(json.dumps(_measure(Path(sys.argv[2]), sys.argv[3])))
    else:
        main()
