"""Measure the deduplication against labelled sightings: pairwise precision and recall.

Three label formats, told apart by their content:
- clusters (CSV with columns `sighting,edition_key,work_key`): every labelled sighting gets its
  true edition and work; all pairs among the labelled sightings are judged. An empty work_key
  means "work unknown": the sighting counts for editions only.
- pairs (CSV with columns `a,b,label`, label one of same_edition, same_work, different,
  different_edition): hand-picked pairs; `different_edition` says only that they are not one
  edition (work unknown).
- the replica's dataset (`tests/replica/data/dataset.json`): ground-truth `edition_key` and
  `work_key` per item, mapped onto the warehouse's sightings by URL path on each site (replica
  crawls) and by `seed` (file label and position: the seed dumps).

A sighting is referred to by its id (`<page_id>:<position>`) or by `<page label or URL>#<position>`.
Editions: a pair is positive when labelled same_edition. Works: positive when same_edition or
same_work. Predictions come from the warehouse as it is (`sighting_editions`).
"""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass, field
from math import comb
from pathlib import Path
from urllib.parse import urlsplit

import duckdb

from pipeline.errors import ConfigError

PAIR_LABELS = ("same_edition", "same_work", "different", "different_edition")
_INTERFACE = ("/en/", "/es/", "/fr/", "/ar/")


@dataclass
class Scores:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Evaluation:
    editions: Scores
    works: Scores
    labelled_sightings: int = 0
    judged_pairs: int = 0
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)  # examples of wrong pairs, for the report

    def lines(self) -> list[str]:
        e, w = self.editions, self.works
        out = [
            f"labelled sightings: {self.labelled_sightings}, judged pairs: {self.judged_pairs}",
            f"editions precision {e.precision:.4f}  (tp {e.tp}, fp {e.fp})",
            f"editions recall    {e.recall:.4f}  (tp {e.tp}, fn {e.fn})",
            f"works    precision {w.precision:.4f}  (tp {w.tp}, fp {w.fp})",
            f"works    recall    {w.recall:.4f}  (tp {w.tp}, fn {w.fn})",
        ]
        if self.unresolved:
            out.append(f"unresolved references: {len(self.unresolved)} (e.g. {self.unresolved[0]})")
        return out


def evaluate(con: duckdb.DuckDBPyConnection, path: Path, examples: int = 10) -> Evaluation:
    """Score the warehouse's current editions and works against a label file."""
    path = Path(path)
    predicted = {
        sid: (ed, wk)
        for sid, ed, wk in con.execute("SELECT sighting_id, edition_id, work_id FROM sighting_editions").fetchall()
        if ed is not None
    }
    if path.suffix == ".json":
        clusters, unresolved = replica_truth(con, json.loads(path.read_text(encoding="utf-8")))
        return _evaluate_clusters(clusters, predicted, unresolved, examples)
    rows = _read_csv(path)
    header = set(rows[0].keys()) if rows else set()
    if {"a", "b", "label"} <= header:
        return _evaluate_pairs(con, rows, predicted, examples)
    if {"sighting", "edition_key"} <= header:
        clusters = {}
        unresolved = []
        for row in rows:
            sid = resolve_sighting(con, row["sighting"])
            if sid is None:
                unresolved.append(row["sighting"])
                continue
            clusters[sid] = (row["edition_key"], row.get("work_key") or None)
        return _evaluate_clusters(clusters, predicted, unresolved, examples)
    raise ConfigError(f"{path}: not a label file (need columns a,b,label or sighting,edition_key,work_key)")


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(encoding="utf-8", newline="") as handle:
            lines = [line for line in handle if line.strip() and not line.lstrip().startswith("#")]
    except OSError as exc:
        raise ConfigError(f"cannot read label file {path}: {exc}") from exc
    rows = []
    for row in csv.DictReader(lines):
        if None in row:
            raise ConfigError(f"{path}: a row has more fields than the header (quote notes with commas): {row}")
        rows.append({k.strip(): (v or "").strip() for k, v in row.items()})
    return rows


def resolve_sighting(con: duckdb.DuckDBPyConnection, ref: str) -> str | None:
    """A sighting id for a reference (id, or page label/URL + '#' + position)."""
    ref = ref.strip()
    if "#" in ref:
        page, _, position = ref.rpartition("#")
        rows = con.execute(
            "SELECT s.sighting_id FROM sightings AS s JOIN raw_pages AS p USING (page_id) "
            "WHERE (p.label = ? OR p.url = ?) AND s.position = ?",
            [page, page, int(position)],
        ).fetchall()
        return rows[0][0] if rows else None
    rows = con.execute("SELECT sighting_id FROM sightings WHERE sighting_id = ?", [ref]).fetchall()
    return rows[0][0] if rows else None


def _evaluate_pairs(
    con: duckdb.DuckDBPyConnection,
    rows: list[dict[str, str]],
    predicted: dict[str, tuple[str, str]],
    examples: int,
) -> Evaluation:
    ev = Evaluation(Scores(), Scores())
    seen: set[str] = set()
    for row in rows:
        label = row["label"]
        if label not in PAIR_LABELS:
            raise ConfigError(f"unknown label {label!r} (one of {PAIR_LABELS})")
        a, b = resolve_sighting(con, row["a"]), resolve_sighting(con, row["b"])
        if a is None or b is None or a not in predicted or b not in predicted:
            ev.unresolved.append(f"{row['a']} / {row['b']}")
            continue
        seen.update((a, b))
        ev.judged_pairs += 1
        same_ed = predicted[a][0] == predicted[b][0]
        same_wk = predicted[a][1] == predicted[b][1]
        _count(ev.editions, label == "same_edition", same_ed, ev, f"edition {a} {b} ({label})", examples)
        if label != "different_edition":
            truth = label in ("same_edition", "same_work")
            _count(ev.works, truth, same_wk, ev, f"work {a} {b} ({label})", examples)
    ev.labelled_sightings = len(seen)
    return ev


def _count(scores: Scores, truth: bool, predicted: bool, ev: Evaluation, what: str, examples: int) -> None:
    if truth and predicted:
        scores.tp += 1
    elif predicted:
        scores.fp += 1
        if len(ev.errors) < examples:
            ev.errors.append(f"false merge: {what}")
    elif truth:
        scores.fn += 1
        if len(ev.errors) < examples:
            ev.errors.append(f"missed: {what}")


def _evaluate_clusters(
    clusters: dict[str, tuple[str, str | None]],
    predicted: dict[str, tuple[str, str]],
    unresolved: list[str],
    examples: int,
) -> Evaluation:
    """Pairwise scores from contingency counts: no pair enumeration, any number of sightings."""
    labelled = {sid: keys for sid, keys in clusters.items() if sid in predicted}
    unresolved = unresolved + [sid for sid in clusters if sid not in predicted]
    ev = Evaluation(Scores(), Scores(), labelled_sightings=len(labelled), unresolved=unresolved)
    ev.judged_pairs = comb(len(labelled), 2)
    ev.editions = _pairwise([(keys[0], predicted[sid][0]) for sid, keys in labelled.items()])
    ev.works = _pairwise([(keys[1], predicted[sid][1]) for sid, keys in labelled.items() if keys[1]])
    ev.errors = _cluster_errors(labelled, predicted, examples)
    return ev


def _pairwise(items: list[tuple[str, str]]) -> Scores:
    both = Counter(items)
    true = Counter(t for t, _ in items)
    pred = Counter(p for _, p in items)
    tp = sum(comb(n, 2) for n in both.values())
    return Scores(tp=tp, fp=sum(comb(n, 2) for n in pred.values()) - tp, fn=sum(comb(n, 2) for n in true.values()) - tp)


def _cluster_errors(
    labelled: dict[str, tuple[str, str | None]], predicted: dict[str, tuple[str, str]], examples: int
) -> list[str]:
    out: list[str] = []
    for level, k in (("edition", 0), ("work", 1)):
        by_pred: dict[str, list[str]] = {}
        by_true: dict[str, list[str]] = {}
        for sid, keys in labelled.items():
            if keys[k] is None:
                continue
            by_pred.setdefault(predicted[sid][k], []).append(sid)
            by_true.setdefault(str(keys[k]), []).append(sid)
        for members in by_pred.values():
            keys_found = {labelled[s][k] for s in members}
            if len(keys_found) > 1 and len(out) < examples:
                out.append(f"false merge ({level}): {sorted(members)} are {sorted(map(str, keys_found))}")
        for key, members in sorted(by_true.items()):
            found = {predicted[s][k] for s in members}
            if len(found) > 1 and len(out) < examples:
                out.append(f"missed ({level} {key}): {sorted(members)} split over {len(found)}")
    return out


def replica_truth(
    con: duckdb.DuckDBPyConnection, dataset: dict[str, object]
) -> tuple[dict[str, tuple[str, str | None]], list[str]]:
    """Ground truth for warehouse sightings from the replica's items (by URL path, by seed)."""
    items = dataset.get("items", [])
    if not isinstance(items, list) or not items or "edition_key" not in items[0]:
        raise ConfigError("not a replica dataset: expected {'items': [{'edition_key': ...}]}")
    by_path: dict[tuple[str, str], dict[str, object]] = {}
    by_seed: dict[tuple[str, int], dict[str, object]] = {}
    for item in items:
        if item.get("kind") != "publication":
            continue
        for site, where in (item.get("sites") or {}).items():
            by_path[(site, _path(where["path"]))] = item
            by_path[(site, f"/node/{item['nid']}")] = item
        for seed in item.get("seed") or []:
            by_seed[(seed["file"], int(seed["position"]))] = item
    rows = con.execute(
        """
        SELECT s.sighting_id, p.source, p.label, s.position, coalesce(s.canonical_url, s.detail_url)
        FROM sightings AS s JOIN raw_pages AS p USING (page_id)
        WHERE s.kind = 'publication'
        """
    ).fetchall()
    truth: dict[str, tuple[str, str | None]] = {}
    unresolved: list[str] = []
    for sid, source, label, position, url in rows:
        item = None
        if url:
            item = by_path.get((source, _path(urlsplit(url).path)))
        if item is None and label:
            item = by_seed.get((label, int(position)))
        if item is None:
            if url or label:
                unresolved.append(sid)
            continue
        truth[sid] = (str(item["edition_key"]), str(item["work_key"]))
    return truth, unresolved


def _path(path: str) -> str:
    for prefix in _INTERFACE:
        if path.startswith(prefix):
            path = path[len(prefix) - 1 :]
            break
    return path.rstrip("/") or "/"
