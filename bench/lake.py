"""Benchmark loading one archive into a DuckLake with 1, 2 and 4 workers, against the single-file load.

The archive is the re-parse benchmark's (bench/reparse_archive.py: realistic listing pages,
ten cards each) with one source per listing section, so workers can split it; it is written
once into `.bench/` and reused. In the same run, each load a whole process tree timed from
outside, as a scheduler would start it:

- baseline: `ingest --offline --no-dedup` into a new DuckDB file (one process, one writer);
- the lake: `lake workers -n N --offline --no-dedup` into a new lake (a new catalog database
  in a PostgreSQL started for the run, fsync on, on 127.0.0.1; Parquet files on local disk).

The dedup pass is left out of both (it runs once after the loads whatever the backend; `bench
dedup` times it). Every lake load is checked to hold as many sightings as the file. Printed:
seconds, pages/s, the ratio to the file's pages/s, commit retries and how many of them were redone
alone (from the runs' messages; pipeline/lake.py `commit`), and Parquet files written.

    python -m bench lake [--pages 5k] [--workers 1,2,4]

The issue asks for figures, not a target: what concurrency buys on this machine is the result.
"""

from __future__ import annotations

import argparse
import re
import resource
import shutil
import sys
import tempfile
from pathlib import Path

from bench.procs import REPO, child_env, timed

WORKDIR = REPO / ".bench"
GOALS: list[str] = []


def archive(pages: int) -> Path:
    from bench.reparse_archive import GENERATOR_VERSION, write_archive

    root = WORKDIR / f"lake-{pages}-v{GENERATOR_VERSION}"
    if not (root / "manifest.jsonl").exists():
        shutil.rmtree(root, ignore_errors=True)
        print(f"writing a {pages}-page archive with one source per section into {root}", flush=True)
        write_archive(root, pages, per_section=True)
    return root


def children_cpu() -> float:
    """CPU seconds (user + system) of every child process waited for so far."""
    use = resource.getrusage(resource.RUSAGE_CHILDREN)
    return use.ru_utime + use.ru_stime


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench lake", description=__doc__.splitlines()[0])
    parser.add_argument("--pages", default="5k", help="archive size (default 5k)")
    parser.add_argument("--workers", default="1,2,4", help="worker counts to run (default 1,2,4)")
    args = parser.parse_args(argv)
    GOALS.clear()

    import duckdb

    from bench.reparse import parse_size
    from pipeline.lake import connect_lake
    from pipeline.pgcluster import find_bindir, start_cluster

    pages = parse_size(args.pages)
    counts = [int(n) for n in args.workers.split(",")]
    raw = archive(pages)
    env = child_env()
    py = sys.executable
    bindir = find_bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL is not installed (apt-get install postgresql): no lake benchmark")
    work = Path(tempfile.mkdtemp(prefix="bench-lake-"))
    folder = Path(tempfile.mkdtemp(prefix="bench-lake-pg-"))
    cluster = start_cluster(bindir, folder, fsync=True)
    try:
        single = work / "single.duckdb"
        cpu = children_cpu()
        file_s = timed(
            [py, "-m", "pipeline", "ingest", "--offline", "--no-dedup", "--raw", str(raw), "--warehouse", str(single)],
            env,
        )
        file_cpu = children_cpu() - cpu
        with duckdb.connect(str(single), read_only=True) as con:
            sightings = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
        print(
            f"archive: {pages} pages, {sightings} sightings; single file: {file_s:.1f}s "
            f"({pages / file_s:.0f} pages/s), {file_cpu:.1f} CPU s",
            flush=True,
        )
        print(
            f"{'workers':>7}  {'seconds':>8}  {'pages/s':>8}  {'vs file':>8}  {'CPU s':>6}  "
            f"{'retries':>7}  {'alone':>5}  {'files':>6}"
        )
        for n in counts:
            spec = "ducklake:postgres:" + cluster.conninfo(cluster.create_database())
            data = work / f"data-{n}"
            cpu = children_cpu()
            lake_s = timed(
                [
                    py,
                    "-m",
                    "pipeline",
                    "lake",
                    "workers",
                    "-n",
                    str(n),
                    "--offline",
                    "--no-dedup",
                    "--raw",
                    str(raw),
                    "--warehouse",
                    spec,
                    "--data-path",
                    str(data),
                ],
                env,
            )
            lake_cpu = children_cpu() - cpu  # the workers' processes; PostgreSQL's own CPU is not counted
            con = connect_lake(spec, read_only=True)
            try:
                got = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
                messages = [m for (m,) in con.execute("SELECT message FROM runs").fetchall()]
            finally:
                con.close()
            if got != sightings:
                raise SystemExit(f"{n} workers loaded {got} sightings, the file {sightings}: the lake is wrong")
            said = r"(\d+) lake commits redone.*?(\d+) of them alone"
            redone = [m.groups() for text in messages if (m := re.search(said, text))]
            retries, alone = sum(int(r) for r, _ in redone), sum(int(a) for _, a in redone)
            files = len(list(data.rglob("*.parquet")))
            ratio = file_s / lake_s
            print(
                f"{n:>7}  {lake_s:>8.1f}  {pages / lake_s:>8.0f}  {ratio:>7.2f}x  {lake_cpu:>6.1f}  "
                f"{retries:>7}  {alone:>5}  {files:>6}",
                flush=True,
            )
            GOALS.append(
                f"lake load, {n} worker(s), {pages} pages: {ratio:.2f}x the single-file load's pages/s "
                f"({lake_s:.1f}s vs {file_s:.1f}s; CPU {lake_cpu:.1f}s vs {file_cpu:.1f}s), {retries} commit retries "
                f"({alone} redone alone)"
            )
    finally:
        cluster.stop()
        shutil.rmtree(folder, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    print("\n".join(GOALS))
