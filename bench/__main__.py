"""Run benchmarks: `python -m bench [NAME] [OPTIONS]`.

No arguments: every benchmark below with its defaults, then the goal lines they printed again,
together (a module may keep them in a module-level `GOALS: list[str]`). A name: that benchmark
with OPTIONS. Options without a name go to the default benchmark. Each benchmark module has
`main(argv: list[str] | None) -> None`; register a new one with one line in BENCHMARKS.
"""

from __future__ import annotations

import importlib
import sys

#: name -> module whose main(argv) runs the benchmark
BENCHMARKS = {
    "dedup": "bench.dedup_scale",
    "dedup_quality": "bench.dedup_quality",
    "xling_quality": "bench.xling_quality",
    "encoder": "bench.encoder",
    "crawl": "bench.crawl",
    "startup": "bench.startup",
    "reparse": "bench.reparse",
    "lake": "bench.lake",
    "oai_load": "bench.oai_load",
    "search": "bench.search",
}
DEFAULT = "dedup"


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        goals: list[str] = []
        for name, module in BENCHMARKS.items():
            print(f"== {name}", flush=True)
            loaded = importlib.import_module(module)
            loaded.main([])
            goals += getattr(loaded, "GOALS", [])
        if goals:
            print("== goals")
            print("\n".join(goals))
        return
    name, rest = (argv[0], argv[1:]) if not argv[0].startswith("-") else (DEFAULT, argv)
    if name not in BENCHMARKS:
        raise SystemExit(f"unknown benchmark {name!r}; known: {', '.join(BENCHMARKS)}")
    importlib.import_module(BENCHMARKS[name]).main(rest)


main()
