"""Cross-language text matching (the work rule `similar_text`): how well, and at what cost.

Data: tests/labels/cross_language_abstracts.json, 30 abstracts in English written for this test,
each with a faithful French or Spanish translation (10 topics x 3 works: the other works of a
topic are hard negatives), and 16 stress pairs (titles, editions of a series, loose summaries).

For each method, in the same run: cosine of true pairs (min / median), of hard negatives
(median / max), the widest threshold gap, and precision and recall of the rule as the pass
applies it (cosine >= SIM_MIN, number veto, mutual unique best), with texts per second. The
baseline is what a string method can do: TF-IDF over character 4-grams, accents removed.
"""

from __future__ import annotations

import argparse
import json
import math
import time
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np

DATA = Path(__file__).resolve().parents[1] / "tests" / "labels" / "cross_language_abstracts.json"


def _char4(text: str) -> Counter[str]:
    flat = "".join(c for c in unicodedata.normalize("NFKD", text.lower()) if not unicodedata.combining(c))
    return Counter(flat[i : i + 4] for i in range(len(flat) - 3))


def char4_tfidf(texts: list[str]) -> np.ndarray:
    """Baseline: unit TF-IDF vectors over character 4-grams (what string matching can see)."""
    grams = [_char4(t) for t in texts]
    df = Counter(g for c in grams for g in c)
    vocab = {g: i for i, g in enumerate(sorted(df))}
    mat = np.zeros((len(texts), len(vocab)), dtype=np.float32)
    for r, c in enumerate(grams):
        for g, n in c.items():
            mat[r, vocab[g]] = n * math.log(len(texts) / df[g])
    mat /= np.maximum(np.linalg.norm(mat, axis=1, keepdims=True), 1e-9)
    return mat


def use_vectors(texts: list[str]) -> np.ndarray:
    from pipeline.dedup.xling import default_encoder

    return default_encoder().encode(texts)


def evaluate(name: str, embed, works: list[dict], sim_min: float) -> dict[str, float]:  # type: ignore[no-untyped-def]
    from pipeline.dedup import xling

    en = [w["en"] for w in works]
    tr = [w["translation"] for w in works]
    embed(en[:2])  # load the model before the clock starts
    clock = time.perf_counter()
    vecs = embed(en + tr)
    seconds = time.perf_counter() - clock
    n = len(works)
    sims = vecs[:n] @ vecs[n:].T
    pos = np.diag(sims)
    topic = [w["topic"] for w in works]
    hard = np.array([sims[i, j] for i in range(n) for j in range(n) if i != j and topic[i] == topic[j]])
    allneg = sims[~np.eye(n, dtype=bool)]
    # the rule as the pass applies it: editions 0..n-1 in English, n..2n-1 in their languages
    lang_code = {"fr": 1, "es": 2}
    lang = np.array([0] * n + [lang_code[w["lang"]] for w in works], dtype=np.int8)
    texts = xling.EditionTexts({i: t for i, t in enumerate(en + tr)}, {})
    opening = {i: vecs[i] for i in range(2 * n)}
    stats = xling.Stats()
    pairs = xling.similar_pairs(texts, opening, {}, lang, np.arange(2 * n), lambda a, b: None, stats, sim_min=sim_min)
    right = sum(1 for a, b, _, _ in pairs if b - n == a)
    return {
        "method": name,
        "pos_min": float(pos.min()),
        "pos_med": float(np.median(pos)),
        "hard_med": float(np.median(hard)),
        "hard_max": float(hard.max()),
        "gap": float(pos.min() - allneg.max()),
        "linked": len(pairs),
        "precision": right / len(pairs) if pairs else 1.0,
        "recall": right / n,
        "texts_per_s": 2 * n / seconds,
    }


def main(argv: list[str] | None = None) -> None:
    from pipeline.dedup import xling

    parser = argparse.ArgumentParser(prog="python -m bench xling_quality", description=__doc__.splitlines()[0])
    parser.parse_args(argv)
    data = json.loads(DATA.read_text(encoding="utf-8"))
    works = data["works"]
    rows = [
        evaluate(f"USE multilingual v3 ({xling.MODEL}), cosine >= {xling.SIM_MIN}", use_vectors, works, xling.SIM_MIN),
    ]
    base = char4_tfidf([w["en"] for w in works] + [w["translation"] for w in works])
    # the baseline gets its own best threshold: the lowest true-pair cosine
    base_min = float(np.diag(base[: len(works)] @ base[len(works) :].T).min())
    name = f"char 4-gram TF-IDF (baseline), oracle cosine >= {base_min:.2f}"
    rows.append(evaluate(name, char4_tfidf, works, base_min))
    print(f"{len(works)} abstracts with their translations, hard negatives = other works of the same topic")
    print(
        f"{'method':62s} {'pos min/med':>12s} {'hard med/max':>13s} {'gap':>7s} "
        f"{'linked':>6s} {'P':>5s} {'R':>5s} {'texts/s':>8s}"
    )
    for r in rows:
        print(
            f"{r['method']:62s} {r['pos_min']:.2f}/{r['pos_med']:.2f}    {r['hard_med']:.2f}/{r['hard_max']:.2f}   "
            f"{r['gap']:+.3f} {r['linked']:6d} {r['precision']:5.2f} {r['recall']:5.2f} {r['texts_per_s']:8.0f}"
        )
    print(f"recall ratio, USE / baseline: {rows[0]['recall'] / max(rows[1]['recall'], 1e-9):.2f}x")
    stress = data["stress"]
    vec = use_vectors([c["en"] for c in stress] + [c["other"] for c in stress])
    k = len(stress)
    print("\nstress pairs (cosine, number veto, verdict of cosine + veto against the hand label):")
    for i, c in enumerate(stress):
        s = float(vec[i] @ vec[k + i])
        veto = xling.number_veto(c["en"], c["other"])
        joined = s >= xling.SIM_MIN and veto is None
        mark = "ok" if joined == c["same_work"] else "WRONG"
        print(f"  {c['case']:12s} {s:.2f} {veto or '-':34s} {'same' if joined else 'apart':5s} {mark}  {c['en'][:40]}")
