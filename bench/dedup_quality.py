"""Benchmark deduplication quality under noise: precision and recall per noise level and per rule.

Each setting is one synthetic corpus (bench/synthetic.py) varied by one `Noise` knob at a time
(and all of them together at the end), written to a temporary DuckDB file and deduplicated by
the real pass (`pipeline.dedup.run_dedup`, DuckDB on 2 threads). Noise draws come from a
generator of their own, so every setting varies the same underlying corpus. Printed:

1. per setting: pairwise precision/recall of editions and works against `bench_truth`, and the
   work recall over pairs of sightings of *different* true editions of one work (translations;
   country editions in one language), which the pairwise figure hides;
2. per setting and per rule (rule names read from `match_links`, whatever the matcher calls
   them): the joins the rule made and their precision, i.e. the share of the pairs it joined
   directly that are truly one edition (edition rules) or one work (work rules);
3. checks: chrome sightings merged with anything (a publication, or other chrome), sightings
   opened by a chrome paragraph that still found their edition, country editions wrongly made
   one edition.

    python -m bench dedup_quality [--size 5000] [--seed 1] [--quick]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import duckdb

from bench.synthetic import Noise

DEFAULT_SIZE = 5_000
QUICK_SIZE = 2_000

#: every noise model at once, at the rates of the real pages: the last setting here, and the
#: corpus `python -m bench dedup` times at scale
REALISTIC = Noise(signal_drop=0.25, reword=0.15, chrome=0.2, country_editions=0.1)

#: (axis, noise): one knob at a time, then everything at once
SETTINGS: list[tuple[str, Noise]] = [
    ("none", Noise()),
    ("signal_drop", Noise(signal_drop=0.25)),
    ("signal_drop", Noise(signal_drop=0.5)),
    ("signal_drop", Noise(signal_drop=0.75)),
    ("signal_drop", Noise(signal_drop=1.0)),
    ("reword", Noise(reword=0.15)),
    ("reword", Noise(reword=0.3)),
    ("reword", Noise(reword=0.5)),
    ("chrome", Noise(chrome=0.2)),
    ("country_editions", Noise(country_editions=0.1)),
    ("all", REALISTIC),
]
QUICK_SETTINGS: list[tuple[str, Noise]] = [
    ("none", Noise()),
    ("signal_drop", Noise(signal_drop=0.5)),
    ("reword", Noise(reword=0.3)),
    ("chrome", Noise(chrome=0.2)),
    ("country_editions", Noise(country_editions=0.1)),
    ("all", REALISTIC),
]


@dataclass
class Result:
    noise: Noise
    sightings: int
    scores: dict[str, float]
    rules: dict[tuple[str, str], tuple[int, int]]  # (level, rule) -> (joins, truly same joins)
    checks: dict[str, int]
    gen_seconds: float
    dedup_seconds: float


def build(path: Path, size: int, seed: int, noise: Noise) -> float:
    """Write a migrated warehouse with the noisy corpus at path; return seconds taken."""
    from bench.synthetic import generate, write
    from pipeline.warehouse import migrate

    started = time.perf_counter()
    con = duckdb.connect(str(path))
    try:
        migrate(con)
        write(con, generate(size, seed, noise=noise))
    finally:
        con.close()
    return time.perf_counter() - started


def _pairs(con: duckdb.DuckDBPyConnection, keys: str, where: str = "true") -> int:
    """Number of pairs of sightings (in view q) agreeing on all of keys."""
    return int(
        con.execute(
            f"SELECT coalesce(sum(n * (n - 1) // 2), 0) FROM (SELECT count(*) AS n FROM q WHERE {where} "
            f"GROUP BY {keys})"
        ).fetchone()[0]  # type: ignore[index]
    )


Rules = dict[tuple[str, str], tuple[int, int]]


def measure(con: duckdb.DuckDBPyConnection) -> tuple[dict[str, float], Rules, dict[str, int]]:
    """Scores, per-rule joins and checks of the warehouse's last pass against its bench tables."""
    con.execute(
        """
        CREATE OR REPLACE TEMP VIEW q AS
        SELECT t.sighting_id, t.edition_key, t.work_key, m.edition_id, m.work_id,
               t.edition_key < 0 AS chrome,
               EXISTS (SELECT 1 FROM bench_noise AS b
                       WHERE b.sighting_id = t.sighting_id AND b.noise = 'country_edition') AS country
        FROM bench_truth AS t JOIN edition_members AS m USING (sighting_id)
        """
    )
    p = {
        keys: _pairs(con, keys)
        for keys in ("edition_key", "edition_id", "edition_key, edition_id", "work_key", "work_id", "work_key, work_id")
    }
    scores = {
        "ed_p": p["edition_key, edition_id"] / p["edition_id"] if p["edition_id"] else 1.0,
        "ed_r": p["edition_key, edition_id"] / p["edition_key"] if p["edition_key"] else 1.0,
        "wk_p": p["work_key, work_id"] / p["work_id"] if p["work_id"] else 1.0,
        "wk_r": p["work_key, work_id"] / p["work_key"] if p["work_key"] else 1.0,
    }
    # work recall over pairs of sightings of distinct true editions of one work
    for name, where in (("tr", "NOT country"), ("ce", "country")):
        true = _pairs(con, "work_key", where) - _pairs(con, "edition_key", where)
        found = _pairs(con, "work_key, work_id", where) - _pairs(con, "edition_key, work_id", where)
        scores[f"{name}_r"] = found / true if true else float("nan")

    rules: Rules = {}
    for level, rule, joins, good in con.execute(
        """
        SELECT l.level, l.rule, count(*),
               count(*) FILTER (WHERE CASE l.level WHEN 'edition' THEN a.edition_key = b.edition_key
                                                   ELSE a.work_key = b.work_key END)
        FROM match_links AS l
        JOIN bench_truth AS a ON a.sighting_id = l.sighting_a
        JOIN bench_truth AS b ON b.sighting_id = l.sighting_b
        WHERE l.decision = 'joined'
        GROUP BY ALL ORDER BY l.level DESC, count(*) DESC
        """
    ).fetchall():
        rules[(str(level), str(rule))] = (int(joins), int(good))

    checks = {
        "chrome": int(con.execute("SELECT count(*) FROM q WHERE chrome").fetchone()[0]),  # type: ignore[index]
        # chrome sightings sharing their final edition (or work) with a publication sighting
        "chrome_ed_pub": _count(con, "edition_id", "chrome", "NOT o.chrome"),
        "chrome_wk_pub": _count(con, "work_id", "chrome", "NOT o.chrome"),
        # chrome sightings sharing their edition with other chrome only (identical boilerplate)
        "chrome_ed_chrome": _count(con, "edition_id", "chrome", "o.chrome")
        - _count(
            con, "edition_id", "chrome AND q.edition_id IN (SELECT edition_id FROM q WHERE NOT chrome)", "o.chrome"
        ),
        "chrome_links": int(
            con.execute(
                "SELECT count(*) FROM match_links WHERE decision = 'joined' AND "
                "(sighting_a IN (SELECT sighting_id FROM q WHERE chrome) "
                "OR sighting_b IN (SELECT sighting_id FROM q WHERE chrome))"
            ).fetchone()[0]  # type: ignore[index]
        ),
    }
    # sightings opened by a chrome paragraph whose true edition has other sightings
    prefixed = "sighting_id IN (SELECT sighting_id FROM bench_noise WHERE noise = 'chrome_prefix')"
    has_mate = "edition_key IN (SELECT edition_key FROM q GROUP BY edition_key HAVING count(*) > 1)"
    checks["prefixed"] = int(con.execute(f"SELECT count(*) FROM q WHERE {prefixed} AND {has_mate}").fetchone()[0])  # type: ignore[index]
    checks["prefixed_found"] = _count(
        con, "edition_id", f"q.{prefixed} AND q.{has_mate}", "o.edition_key = q.edition_key"
    )
    checks["prefixed_wrong"] = _count(con, "edition_id", f"q.{prefixed}", "o.edition_key <> q.edition_key")
    # country editions (distinct editions of one work, one language) made one edition
    checks["country_ed_pairs"] = _pairs(con, "work_key", "country") - _pairs(con, "edition_key", "country")
    checks["country_ed_merged"] = _pairs(con, "work_key, edition_id", "country") - _pairs(
        con, "edition_key, edition_id", "country"
    )
    return scores, rules, checks


def _count(con: duckdb.DuckDBPyConnection, group: str, who: str, other: str) -> int:
    """Sightings of q matching `who` whose `group` (edition_id, work_id) holds another sighting o with `other`."""
    return int(
        con.execute(
            f"SELECT count(*) FROM q WHERE {who} AND EXISTS (SELECT 1 FROM q AS o WHERE o.{group} = q.{group} "
            f"AND o.sighting_id <> q.sighting_id AND {other})"
        ).fetchone()[0]  # type: ignore[index]
    )


def run_setting(size: int, seed: int, noise: Noise, workdir: Path) -> Result:
    from pipeline.dedup import run_dedup

    path = workdir / "quality.duckdb"
    path.unlink(missing_ok=True)
    gen_seconds = build(path, size, seed, noise)
    con = duckdb.connect(str(path))
    try:
        con.execute("SET threads = 2")
        started = time.perf_counter()
        summary = run_dedup(con, None)
        dedup_seconds = time.perf_counter() - started
        scores, rules, checks = measure(con)
    finally:
        con.close()
    path.unlink(missing_ok=True)
    return Result(noise, summary.sightings, scores, rules, checks, gen_seconds, dedup_seconds)


SHORT = {"signal_drop": "sd", "reword": "rw", "chrome": "ch", "country_editions": "ce"}


def setting_label(axis: str, noise: Noise) -> str:
    if axis == "all":
        return "all: " + " ".join(f"{SHORT[k]}={v:g}" for k, v in vars(noise).items() if v)
    return noise.label()


def _f(x: float) -> str:
    return "   -  " if x != x else f"{x:6.3f}"  # NaN: no such pairs


def report(results: list[tuple[str, Result]]) -> list[str]:
    out = []
    labels = [setting_label(axis, r.noise) for axis, r in results]
    width = max(len(x) for x in labels) + 2
    out.append(
        f"{'noise':<{width}}{'sightings':>9} {'ed P':>6} {'ed R':>6} {'wk P':>6} {'wk R':>6} "
        f"{'trans R':>7} {'cntry R':>7} {'gen s':>6} {'dedup s':>7}"
    )
    for label, (_, r) in zip(labels, results, strict=True):
        s = r.scores
        out.append(
            f"{label:<{width}}{r.sightings:>9} {_f(s['ed_p'])} {_f(s['ed_r'])} {_f(s['wk_p'])} "
            f"{_f(s['wk_r'])} {_f(s['tr_r']):>7} {_f(s['ce_r']):>7} {r.gen_seconds:>6.1f} {r.dedup_seconds:>7.1f}"
        )
    out.append("trans R / cntry R: work recall over pairs of sightings of different true editions of one work,")
    out.append("  translations / country editions in one language")
    out.append("")
    out.append("joins per rule (from match_links) and their precision: share of the joined pairs truly one")
    out.append("edition (edition rules) or one work (work rules)")
    columns: list[tuple[str, str]] = []
    for _, r in results:
        columns.extend(c for c in r.rules if c not in columns)
    columns.sort(key=lambda c: (c[0] != "edition", -sum(r.rules.get(c, (0, 0))[0] for _, r in results)))
    heads = [f"{c[0][:2]}:{c[1]}" for c in columns]
    widths = [max(len(h), 11) + 2 for h in heads]
    out.append(f"{'noise':<{width}}" + "".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True)))
    for label, (_, r) in zip(labels, results, strict=True):
        cells = []
        for c in columns:
            joins, good = r.rules.get(c, (0, 0))
            cells.append(f"{joins:>5} {good / joins:.3f}" if joins else f"{'0':>5}   -  ")
        out.append(f"{label:<{width}}" + "".join(f"{x:>{w}}" for x, w in zip(cells, widths, strict=True)))
    out.append("(a chrome sighting is its own item in bench_truth: joining two identical chrome texts counts as wrong)")
    out.append("")
    out.append("checks")
    for label, (_, r) in zip(labels, results, strict=True):
        c = r.checks
        parts = []
        if c["chrome"]:
            parts.append(
                f"chrome sightings {c['chrome']}: with a publication in one edition {c['chrome_ed_pub']}, "
                f"in one work {c['chrome_wk_pub']}; merged with other chrome only {c['chrome_ed_chrome']}; "
                f"joins {c['chrome_links']}"
            )
        if c["prefixed"] or c["prefixed_wrong"]:
            parts.append(
                f"chrome-opened sightings {c['prefixed']}: found their edition {c['prefixed_found']}, "
                f"in a wrong edition {c['prefixed_wrong']}"
            )
        if c["country_ed_pairs"]:
            parts.append(
                f"country-edition pairs made one edition (wrong) {c['country_ed_merged']}/{c['country_ed_pairs']}"
            )
        if parts:
            out.append(f"{label}:")
            out.extend(f"  {p}" for p in parts)
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench dedup_quality", description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=None, help=f"sightings per corpus (default {DEFAULT_SIZE})")
    parser.add_argument("--seed", type=int, default=1, help="seed of the synthetic corpus")
    parser.add_argument("--quick", action="store_true", help=f"fewer settings, {QUICK_SIZE} sightings")
    args = parser.parse_args(argv)
    size = args.size or (QUICK_SIZE if args.quick else DEFAULT_SIZE)
    settings = QUICK_SETTINGS if args.quick else SETTINGS
    print(f"dedup quality under noise (about {size} sightings, seed {args.seed}; DuckDB 2 threads)", flush=True)
    started = time.perf_counter()
    results = []
    with tempfile.TemporaryDirectory(prefix="dedup-quality-") as tmp:
        for axis, noise in settings:
            results.append((axis, run_setting(size, args.seed, noise, Path(tmp))))
    for line in report(results):
        print(line)
    print(f"total {time.perf_counter() - started:.0f}s")


if __name__ == "__main__":
    main()
