"""Start-up of the commands people run most: whole processes, wall time, against a 0.3 s target.

Measured: `python -m pipeline --help`, `stats` on a small warehouse, and a no-change incremental
run (a second `ingest --offline` of the bundled seed archive, which finds every page already
processed). Each is a fresh process timed from outside (time.perf_counter around
subprocess.run), median of `--repeat` runs, beside the floor: `python -c pass` with the same
interpreter, which no command can beat.

Each command's `-X importtime` is folded into self time per package, so a regression names its
cause; the no-change run is also profiled once (cProfile) and split into its phases, since part
of it is work the run must do (every archived object is hashed on every run).

Children run without PYTHONDONTWRITEBYTECODE, as on a user's machine, and after one warm-up run,
so the bytecode cache is in place: start-up of a compiled-from-source first run is not the target.

    python -m bench startup [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from collections import defaultdict
from pathlib import Path

from bench.procs import child_env, timed

REPO = Path(__file__).resolve().parent.parent
TARGET_S = 0.3
#: lines printed as goals (name, measured, target, verdict); bench/__main__.py prints them again at the end
GOALS: list[str] = []

#: (label, file suffix, function) of the no-change run's phases, as cProfile names them
PHASES = [
    ("import pipeline.cli (click, settings)", "pipeline/cli.py", "<module>"),
    ("import duckdb", "duckdb/__init__.py", "<module>"),
    ("import pipeline.ingest (load, archive, runs, verify)", "pipeline/ingest.py", "<module>"),
    ("open the working copy", "pipeline/warehouse.py", "open"),
    ("schema check (migrate)", "pipeline/warehouse.py", "migrate"),
    ("run_ingest, all of it:", "pipeline/ingest.py", "run_ingest"),
    ("  archive index check", "pipeline/verify.py", "index_problem"),
    ("  start_run", "pipeline/runs.py", "start_run"),
    ("  quarantine step", "pipeline/ingest.py", "quarantine_step"),
    ("  parse_and_load, all of it:", "pipeline/ingest.py", "parse_and_load"),
    ("    manifest read", "pipeline/archive.py", "entries"),
    ("    register pages", "pipeline/load.py", "register_pages"),
    ("    object hash checks", "pipeline/archive.py", "object_problem"),
    ("    parse pool start/stop", "pipeline/parse_pool.py", "__exit__"),
    ("    register fetches", "pipeline/load.py", "register_fetches"),
    ("    complete from details", "pipeline/load.py", "complete_from_details"),
    ("    dedup step (fingerprint check)", "pipeline/ingest.py", "dedup_step"),
    ("  finish_run", "pipeline/runs.py", "finish_run"),
    ("publish the working copy", "pipeline/warehouse.py", "publish"),
]


def build_warehouse(tmp: Path, env: dict[str, str]) -> tuple[Path, Path]:
    """A warehouse of the bundled seed archive (raw/), built once by a first offline ingest."""
    raw, db = tmp / "raw", tmp / "w.duckdb"
    shutil.copytree(REPO / "raw", raw, ignore=shutil.ignore_patterns(".*.lock"))
    timed([sys.executable, "-m", "pipeline", "ingest", "--offline", "--db", str(db), "--raw", str(raw)], env)
    return raw, db


def import_offenders(cmd: list[str], env: dict[str, str], top: int = 6) -> tuple[float, list[tuple[str, float]]]:
    """(total import seconds, the `top` groups by self time) of one run under -X importtime.

    Groups: the project's modules one by one (pipeline.x), every other package by its top-level
    name (a C core `_duckdb` counts as duckdb). A standard-library module counts with the
    package that first imported it (duckdb's `importlib.metadata` is duckdb's cost), or as
    "(interpreter)" when nothing but the interpreter's own start-up did.
    """
    result = subprocess.run(
        [cmd[0], "-X", "importtime", *cmd[1:]], cwd=REPO, env=env, capture_output=True, text=True, check=True
    )
    # importtime prints a module after the modules it imported, indented two spaces per level
    nodes: list[tuple[str, float, int | None]] = []  # (own group or None for stdlib, seconds, parent index)
    parent: list[int | None] = []
    pending: list[tuple[int, int]] = []  # (depth, node index) not yet given a parent
    for line in result.stderr.splitlines():
        fields = line.removeprefix("import time:").split("|")
        if not line.startswith("import time:") or len(fields) != 3 or not fields[0].strip().isdigit():
            continue
        name = fields[2].rstrip()
        depth = (len(name) - len(name.lstrip())) // 2
        index = len(nodes)
        nodes.append((_group(name.strip()), int(fields[0]) / 1e6, None))
        parent.append(None)
        while pending and pending[-1][0] > depth:
            parent[pending.pop()[1]] = index
        pending.append((depth, index))
    by_group: dict[str, float] = defaultdict(float)
    for index, (_own, seconds, _parent) in enumerate(nodes):
        at: int | None = index
        while at is not None and nodes[at][0] is None:
            at = parent[at]
        by_group[nodes[at][0] if at is not None else "(interpreter)"] += seconds  # type: ignore[index]
    total = sum(by_group.values())
    return total, sorted(by_group.items(), key=lambda kv: kv[1], reverse=True)[:top]


def _group(module: str) -> str | None:
    """The group a module's own import time counts in; None for the standard library."""
    parts = module.split(".")
    if parts[0] in ("pipeline", "parsers", "bench"):
        return ".".join(parts[:2])
    if parts[0].startswith("__editable__"):
        return "(editable-install finder)"
    if parts[0] in sys.stdlib_module_names or parts[0] in ("encodings", "site"):
        return None
    return parts[0].lstrip("_") or parts[0]


def phases(cmd: list[str], env: dict[str, str], tmp: Path) -> tuple[float, list[tuple[str, float | None]]]:
    """(profiled total, [(phase, cumulative seconds or None when the function is gone)]) of one run."""
    import pstats

    out = tmp / "ingest.prof"
    subprocess.run(
        [cmd[0], "-m", "cProfile", "-o", str(out), *cmd[1:]],
        cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True,
    )  # fmt: skip
    stats = pstats.Stats(str(out)).stats  # type: ignore[attr-defined]
    total = max(v[3] for v in stats.values())
    found: list[tuple[str, float | None]] = []
    for label, suffix, function in PHASES:
        times = [v[3] for (file, _line, func), v in stats.items() if func == function and file.endswith(suffix)]
        found.append((label, sum(times) if times else None))
    return total, found


def verdict(seconds: float, target: float = TARGET_S) -> str:
    return "met" if seconds <= target else f"MISSED by {seconds / target - 1:.0%}"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench startup", description=__doc__)
    parser.add_argument("--repeat", type=int, default=10, help="runs of each command (the median is kept)")
    args = parser.parse_args(argv)
    env = child_env()
    py = sys.executable
    GOALS.clear()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp_name:
        tmp = Path(tmp_name)
        raw, db = build_warehouse(tmp, env)
        commands = {
            "python -c pass (floor)": [py, "-c", "pass"],
            "--help": [py, "-m", "pipeline", "--help"],
            "stats": [py, "-m", "pipeline", "stats", "--db", str(db)],
            "no-change ingest --offline": [
                py, "-m", "pipeline", "ingest", "--offline", "--db", str(db), "--raw", str(raw)
            ],
        }  # fmt: skip
        for cmd in commands.values():
            timed(cmd, env)  # warm-up: bytecode cache written, files in the page cache
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.repeat):  # interleaved, so a busy moment of the machine hits every command
            for name, cmd in commands.items():
                times[name].append(timed(cmd, env))
        offenders = {name: import_offenders(cmd, env) for name, cmd in commands.items() if "floor" not in name}
        profiled, ingest_phases = phases(commands["no-change ingest --offline"], env, tmp)

    floor = statistics.median(times["python -c pass (floor)"])
    print(f"start-up, whole processes, median of {args.repeat} runs (target {TARGET_S:g} s each)")
    print(f"{'':30}{'seconds':>9}{'min':>7}{'max':>7}{'target':>8}  verdict")
    for name, values in times.items():
        median = statistics.median(values)
        if "floor" in name:
            print(f"{name:30}{median:9.3f}{min(values):7.3f}{max(values):7.3f}")
            continue
        line = f"{name:30}{median:9.3f}{min(values):7.3f}{max(values):7.3f}{TARGET_S:8.2f}  {verdict(median)}"
        print(line)
        GOALS.append(f"startup {name}: {median:.3f} s (target {TARGET_S:g} s) {verdict(median)}")
    print(f"(interpreter floor {floor:.3f} s is included in every figure; load average {os.getloadavg()[0]:.1f} "
          f"on {os.cpu_count()} cores)")  # fmt: skip
    print("\nimports by self time, stdlib counted with its importer (-X importtime, one run; the hook adds overhead)")
    for name, (total, groups) in offenders.items():
        listed = ", ".join(f"{group} {seconds * 1000:.0f}" for group, seconds in groups)
        print(f"  {name}: {total * 1000:.0f} ms in imports; top: {listed} (ms)")
    print(f"\nno-change ingest by phase (cProfile, one run; profiled total {profiled:.3f} s, phases nest)")
    for label, seconds in ingest_phases:
        shown = "   (not found)" if seconds is None else f"{seconds * 1000:9.0f} ms {seconds / profiled:6.1%}"
        print(f"  {label:58}{shown}")


if __name__ == "__main__":
    main()
