"""Benchmark re-parsing an archive (parse, validate, load) against a BeautifulSoup script.

Each size is an archive of realistic listing pages (bench/reparse_archive.py: the replica's
renderer, ten varied cards a page), written once into `.bench/` and reused. In the same run,
each in its own subprocess so that its peak resident memory is its own:

- this project: what `ingest --offline --reparse` does (pipeline.ingest.run_ingest with
  reparse, into a fresh warehouse), without the deduplication pass (`IngestOptions.dedup=False`:
  it is timed apart, by `python -m bench dedup`);
- the baseline, `bench/peers/bs4_reparse.py`: manifest, gunzip, BeautifulSoup(lxml), CSS
  selectors per card, executemany INSERTs per page into DuckDB.

The baseline runs only up to `--baseline-max` pages (at about 25 pages/s it needs 13 minutes for
20k); for larger sizes its rate measured at the largest size it ran is used, and the table says
so. Peak memory is that of the whole process tree (the loading process and its parse workers),
the most it held at once, sampled from /proc; beside it, each process's own peak summed (an
upper bound). CPU seconds (all processes) are printed too: other work on the machine slows
the wall-clock figures but not those.

    python -m bench reparse [--sizes 5k,20k,100k] [--baseline-max 20k] [--workers 2]

Targets (issue 10): at least 10x the BeautifulSoup baseline's pages/s; 100k pages in under 60 s;
peak memory under 500 MB and flat as the archive grows.
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
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKDIR = ROOT / ".bench"
DEFAULT_SIZES = "5k,20k,100k"
TARGET_RATIO = 10.0
TARGET_100K_S = 60.0
TARGET_MB = 500.0
#: "flat": the largest size's peak within this factor of the smallest size's
FLAT_FACTOR = 1.25


def parse_size(text: str) -> int:
    text = text.strip().lower()
    factor = {"k": 1_000, "m": 1_000_000}.get(text[-1:], 1)
    return int(float(text.rstrip("km")) * factor)


def label(size: int) -> str:
    return f"{size // 1_000}k" if size % 1_000 == 0 else str(size)


def archive_path(size: int) -> Path:
    from bench.reparse_archive import GENERATOR_VERSION

    return WORKDIR / f"reparse-{label(size)}-v{GENERATOR_VERSION}"


def _ensure_archive(size: int) -> float:
    """Write the archive of `size` pages unless cached; returns the seconds spent writing it."""
    from bench.reparse_archive import write_archive

    path = archive_path(size)
    if (path / "manifest.jsonl").exists():
        return 0.0
    tmp = path.with_name(path.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    started = time.perf_counter()
    write_archive(tmp, size)
    tmp.rename(path)
    return time.perf_counter() - started


def _measure_project(raw: Path, db: Path, workers: int, dedup: bool = False) -> dict[str, object]:
    """Runs in its own process: a re-parse of `raw` into a fresh warehouse, as the CLI does it
    (`dedup`: with the deduplication pass, as `ingest --offline --reparse` runs it)."""
    from pipeline.archive import Archive
    from pipeline.ingest import IngestOptions, run_ingest
    from pipeline.settings import load_settings
    from pipeline.warehouse import connect, migrate

    settings = load_settings()
    con = connect(db)
    migrate(con)
    options = IngestOptions(
        reparse=True,
        dedup=dedup,
        batch_pages=settings.load_batch_pages,
        parse_timeout_s=settings.parse_timeout_s,
        parse_workers=workers,
    )
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cpu_before = usage.ru_utime + usage.ru_stime
    started = time.perf_counter()
    summary = run_ingest(con, Archive(raw), options)
    seconds = time.perf_counter() - started
    records = con.execute("SELECT count(*) FROM sightings").fetchone()[0]
    con.close()
    own, workers_used = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return {
        "pages": summary.pages_parsed,
        "failed": summary.pages_failed,
        "records": records,
        "seconds": seconds,
        "cpu_s": own.ru_utime + own.ru_stime + workers_used.ru_utime + workers_used.ru_stime - cpu_before,
        "cpu_loader_s": own.ru_utime + own.ru_stime - cpu_before,
    }


#: pages the floor is measured on (the first of the smallest archive)
FLOOR_PAGES = 1_000


def _measure_floor(raw: Path, db: Path, pages: int) -> dict[str, float]:
    """Runs in its own process: CPU ms per page of each piece of a rebuild, piece after piece on the
    same pages, so that the distance to the parser alone (issue 21) has a name.

    The pieces a rebuild cannot drop under the design card: reading the body back (gunzip, hash),
    the parser alone (selectolax/Lexbor building the tree), the nesting guard that keeps the
    parse linear on hostile pages, pydantic's validation, and the load into DuckDB (Arrow tables,
    one transaction a batch). Card reading (the parser's Python: selectors, fields, links, the
    pager) and the rows sent between processes are this project's own, and could shrink.
    """
    from selectolax.lexbor import LexborHTMLParser

    from parsers import PARSERS
    from parsers.base import decode_text
    from pipeline.archive import Archive
    from pipeline.load import register_pages, write_batch
    from pipeline.parse import result_from_parsed
    from pipeline.runs import start_run
    from pipeline.settings import load_settings
    from pipeline.warehouse import connect, migrate

    archive = Archive(raw)
    entries = archive.entries()[:pages]
    costs: dict[str, float] = {}

    def timed(name: str, work: Any) -> list[Any]:
        started = time.process_time()
        out = [work(i) for i in range(len(entries))]
        costs[name] = (time.process_time() - started) * 1000 / len(entries)
        return out

    bodies = timed("read (gunzip, hash)", lambda i: archive.read(entries[i].sha256))
    texts = timed("decode", lambda i: decode_text(bodies[i], None))
    timed("selectolax alone", lambda i: LexborHTMLParser(texts[i]))
    from parsers.html_common import flatten_deep_nesting

    timed("nesting guard", lambda i: flatten_deep_nesting(texts[i]))
    parsed = timed("parser, whole", lambda i: PARSERS[entries[i].format](bodies[i], entries[i].url))
    results = timed("validation (pydantic)", lambda i: result_from_parsed(entries[i], parsed[i]))
    rows = timed("rows for the loader", lambda i: results[i].as_rows())
    con = connect(db)
    migrate(con)
    run_id = start_run(con, "bench", {}).run_id
    register_pages(con, run_id, entries)
    batch = load_settings().load_batch_pages
    started = time.process_time()
    for start in range(0, len(rows), batch):
        write_batch(con, run_id, rows[start : start + batch])
    costs["load into DuckDB"] = (time.process_time() - started) * 1000 / len(entries)
    con.close()
    return costs


def _status_kb(pid: int, field: str) -> int:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii", errors="replace") as fh:
            for line in fh:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _descendants(root: int) -> list[int]:
    parents: dict[int, int] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as fh:
                    parents[int(name)] = int(fh.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    tree, frontier = [root], [root]
    while frontier:
        frontier = [pid for pid, parent in parents.items() if parent in frontier]
        tree += frontier
    return tree


def _run(command: list[str]) -> tuple[dict[str, object], float, float]:
    """(last stdout line as JSON, peak MB of the process tree at once, sum of each process's peak MB);
    the JSON gains `largest_mb`, the peak of the largest single process.

    Memory is read from /proc (VmRSS sampled every 0.2 s, VmHWM: each process's own peak), not
    from getrusage: a worker started by fork+exec inherits its parent's high-water mark in
    ru_maxrss, which would count the loader's memory once more for every worker.
    """
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peaks: dict[int, int] = {}
    together = 0
    while proc.poll() is None:
        tree = _descendants(proc.pid)
        together = max(together, sum(_status_kb(pid, "VmRSS") for pid in tree))
        for pid in tree:
            peaks[pid] = max(peaks.get(pid, 0), _status_kb(pid, "VmHWM"))
        time.sleep(0.2)
    out, err = proc.communicate()
    if proc.returncode != 0:
        raise SystemExit(f"benchmark step {command[2:4]} failed:\n{err[-3000:]}")
    row = json.loads(out.strip().splitlines()[-1])
    row["largest_mb"] = max(peaks.values(), default=0) / 1024
    return row, together / 1024, sum(peaks.values()) / 1024


def _verdict(met: bool, missed_by: str) -> str:
    return "met" if met else f"MISSED by {missed_by}"


#: goal lines (bench/__main__.py prints them again at the end of a full run)
GOALS: list[str] = []


def _goal(line: str) -> None:
    print(line)
    GOALS.append(line)


#: the pieces no rebuild can drop under the design card (see `_measure_floor`)
FLOOR_PIECES = ("read (gunzip, hash)", "decode", "selectolax alone", "nesting guard", "validation (pydantic)",
                "load into DuckDB")  # fmt: skip


def _print_floor(size: int, row: dict[str, object], workers: int) -> None:
    """Where a page's CPU goes, piece by piece, and what the pieces that cannot go cost 100k pages."""
    db = WORKDIR / "reparse-floor.duckdb"
    db.unlink(missing_ok=True)
    command = [sys.executable, "-m", "bench.reparse", "_floor", str(archive_path(size)), str(db), str(FLOOR_PAGES)]
    costs, _, _ = _run(command)
    costs.pop("largest_mb", None)
    db.unlink(missing_ok=True)
    Path(f"{db}.wal").unlink(missing_ok=True)
    ms = {name: float(value) for name, value in costs.items()}  # type: ignore[arg-type]
    whole = ms.pop("parser, whole")
    ms["card reading (parser's Python)"] = whole - ms["decode"] - ms["selectolax alone"] - ms["nesting guard"]
    cores = os.cpu_count() or 1
    print(f"\nwhere a page's CPU goes: first {FLOOR_PAGES} pages of the {label(size)} archive, one piece after another "
          f"in one process (ms of CPU per page)")  # fmt: skip
    for name, value in ms.items():
        extra = f"   the parser alone: {1000 / value:,.0f} pages/s per core" if name == "selectolax alone" else ""
        print(f"  {name:<34}{value:7.3f}{'' if name in FLOOR_PIECES else '   (could shrink)'}{extra}")
    print(f"  {'sum':<34}{sum(ms.values()):7.3f}")
    pages = float(row["pages"])  # type: ignore[arg-type]
    per_page = float(row["cpu_s"]) * 1000 / pages  # type: ignore[arg-type]
    loader = float(row["cpu_loader_s"]) * 1000 / pages  # type: ignore[arg-type]
    alone = 1000 / ms["selectolax alone"] * min(workers, cores)
    print(f"  the rebuild above ({label(size)}): {per_page:.2f} ms of CPU a page ({loader:.2f} in the loading process, "
          f"{per_page - loader:.2f} in the parse workers); {float(row['rate']):.0f} pages/s is "  # type: ignore[arg-type]
          f"{float(row['rate']) / alone:.1%} of the parser alone on {min(workers, cores)} cores ({alone:,.0f} pages/s)")  # type: ignore[arg-type]  # fmt: skip
    floor = sum(ms[name] for name in FLOOR_PIECES)
    seconds = 100_000 * floor / 1000 / cores
    print(f"  floor, the pieces no rebuild can drop (no card reading at all): {floor:.2f} ms a page; 100k pages on "
          f"{cores} cores, perfectly parallel: at least {seconds:.0f} s (target {TARGET_100K_S:.0f} s)")  # fmt: skip


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench reparse", description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default=DEFAULT_SIZES, help=f"comma-separated page counts (default {DEFAULT_SIZES})")
    parser.add_argument("--baseline-max", default="20k", help="largest size the baseline runs at (default 20k)")
    parser.add_argument("--workers", type=int, default=2, help="parse worker processes (default 2: two cores)")
    parser.add_argument(
        "--dedup-sizes",
        default="5k",
        help="sizes also rebuilt with the dedup pass, as `ingest --offline --reparse` runs it, for the time and "
        "the largest process's peak memory (default 5k; '' for none)",
    )
    args = parser.parse_args(argv)
    dedup_sizes = {parse_size(s) for s in args.dedup_sizes.split(",") if s.strip()}
    sizes = sorted(parse_size(s) for s in args.sizes.split(","))
    baseline_max = parse_size(args.baseline_max)
    WORKDIR.mkdir(exist_ok=True)
    print(f"re-parse benchmark: listing pages, 10 cards each; project with {args.workers} parse workers, no dedup")
    print(
        f"{'size':>6} {'who':<9} {'pages':>7} {'records':>8} {'gen s':>6} {'seconds':>8} {'pages/s':>8} "
        f"{'peak MB':>8} {'x BS4':>6}  note"
    )
    ours: dict[int, dict[str, object]] = {}
    base: dict[int, dict[str, object]] = {}
    for size in sizes:
        generated = _ensure_archive(size)
        raw = archive_path(size)
        db = WORKDIR / f"reparse-run-{label(size)}.duckdb"
        db.unlink(missing_ok=True)
        command = [sys.executable, "-m", "bench.reparse", "_project", str(raw), str(db), str(args.workers)]
        row, row["peak_mb"], row["hwm_mb"] = _run(command)
        db.unlink(missing_ok=True)
        Path(f"{db}.wal").unlink(missing_ok=True)
        row["rate"] = float(row["pages"]) / float(row["seconds"])  # type: ignore[arg-type]
        ours[size] = row
        note = ""
        if size <= baseline_max:
            bdb = WORKDIR / f"reparse-bs4-{label(size)}.duckdb"
            bdb.unlink(missing_ok=True)
            script = ROOT / "bench" / "peers" / "bs4_reparse.py"
            b, b["peak_mb"], b["hwm_mb"] = _run([sys.executable, str(script), str(raw), str(bdb)])
            bdb.unlink(missing_ok=True)
            b["rate"] = float(b["pages"]) / float(b["seconds"])  # type: ignore[arg-type]
            b["parse_rate"] = float(b["pages"]) / (float(b["seconds"]) - float(b["insert_seconds"]))  # type: ignore[arg-type]
            base[size] = b
            reference = b
        else:
            reference = base[max(base)] if base else None
            note = f"BS4 rate: measured at {label(max(base))}" if base else "no baseline run"
        ratio = row["rate"] / reference["rate"] if reference else float("nan")  # type: ignore[operator]
        row["ratio"] = ratio
        if row["failed"]:
            note = (note + "; " if note else "") + f"{row['failed']} pages failed"
        print(
            f"{label(size):>6} {'project':<9} {row['pages']:>7} {row['records']:>8} {generated:>6.0f} "
            f"{float(row['seconds']):>8.1f} {float(row['rate']):>8.0f} {float(row['peak_mb']):>8.0f} "  # type: ignore[arg-type]
            f"{ratio:>6.1f}  cpu {float(row['cpu_s']):.0f} s; each process at its peak, summed: "  # type: ignore[arg-type]
            f"{float(row['hwm_mb']):.0f} MB{'; ' + note if note else ''}",  # type: ignore[arg-type]
            flush=True,
        )
        if size in dedup_sizes:
            ddb = WORKDIR / f"reparse-dedup-{label(size)}.duckdb"
            ddb.unlink(missing_ok=True)
            d, d["peak_mb"], _ = _run([*command[:4], str(raw), str(ddb), str(args.workers), "dedup"])
            ddb.unlink(missing_ok=True)
            Path(f"{ddb}.wal").unlink(missing_ok=True)
            rate = float(d["pages"]) / float(d["seconds"])  # type: ignore[arg-type]
            print(
                f"{'':>6} {'+dedup':<9} {d['pages']:>7} {d['records']:>8} {'':>6} {float(d['seconds']):>8.1f} "  # type: ignore[arg-type]
                f"{rate:>8.0f} {float(d['peak_mb']):>8.0f} {'':>6}  the rebuild with its dedup pass; largest "  # type: ignore[arg-type]
                f"process {float(d['largest_mb']):.0f} MB (target {TARGET_MB:.0f} MB)",  # type: ignore[arg-type]
                flush=True,
            )
            largest = float(d["largest_mb"])  # type: ignore[arg-type]
            verdict = _verdict(largest < TARGET_MB, f"{largest - TARGET_MB:.0f} MB")
            _goal(f"reparse goal, dedup included, {label(size)}: largest process {largest:.0f} MB "
                  f"(target under {TARGET_MB:.0f} MB): {verdict}")  # fmt: skip
        if size in base:
            b = base[size]
            same = (
                "same page and record counts"
                if (b["pages"], b["records"]) == (row["pages"], row["records"])
                else (f"counts differ: project {row['pages']} pages / {row['records']} records")
            )
            print(
                f"{'':>6} {'BS4':<9} {b['pages']:>7} {b['records']:>8} {'':>6} {float(b['seconds']):>8.1f} "  # type: ignore[arg-type]
                f"{float(b['rate']):>8.0f} {float(b['peak_mb']):>8.0f} {1.0:>6.1f}  {same}; "  # type: ignore[arg-type]
                f"without its INSERTs {float(b['parse_rate']):.0f} pages/s "  # type: ignore[arg-type]
                f"(project {float(row['rate']) / float(b['parse_rate']):.1f}x that)",  # type: ignore[arg-type]
                flush=True,
            )
    _print_floor(sizes[0], ours[sizes[0]], args.workers)
    print()
    worst = min(ours.values(), key=lambda r: float(r["ratio"]))  # type: ignore[arg-type]
    ratio = float(worst["ratio"])  # type: ignore[arg-type]
    _goal(f"reparse goal >= {TARGET_RATIO:.0f}x BS4 (lowest ratio over sizes {ratio:.1f}x): "
          f"{_verdict(ratio >= TARGET_RATIO, f'{TARGET_RATIO - ratio:.1f}x')}")  # fmt: skip
    if 100_000 in ours:
        seconds = float(ours[100_000]["seconds"])  # type: ignore[arg-type]
        _goal(f"reparse goal 100k < {TARGET_100K_S:.0f} s ({seconds:.1f} s): "
              f"{_verdict(seconds < TARGET_100K_S, f'{seconds - TARGET_100K_S:.1f} s')}")  # fmt: skip
    else:
        _goal(f"reparse goal 100k < {TARGET_100K_S:.0f} s: not measured (100k not in --sizes)")
    peak = max(float(r["peak_mb"]) for r in ours.values())  # type: ignore[arg-type]
    first, last = float(ours[sizes[0]]["peak_mb"]), float(ours[sizes[-1]]["peak_mb"])  # type: ignore[arg-type]
    missed_by = f"{peak - TARGET_MB:.0f} MB"
    _goal(f"reparse goal peak < {TARGET_MB:.0f} MB ({peak:.0f} MB): {_verdict(peak < TARGET_MB, missed_by)}")
    if len(sizes) > 1:
        growth = last / first
        _goal(f"reparse goal peak flat ({label(sizes[-1])}/{label(sizes[0])}: {growth:.2f}x, "
              f"flat = at most {FLAT_FACTOR}x): "
              f"{_verdict(growth <= FLAT_FACTOR, f'{growth - FLAT_FACTOR:.2f}x')}")  # fmt: skip


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_floor":
        print(json.dumps(_measure_floor(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]))))
    elif len(sys.argv) > 1 and sys.argv[1] == "_project":
        dedup = sys.argv[5:] == ["dedup"]
        print(json.dumps(_measure_project(Path(sys.argv[2]), Path(sys.argv[3]), int(sys.argv[4]), dedup)))
    else:
        main()
