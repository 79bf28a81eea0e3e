"""Propose candidate pairs by blocking; never compares all pairs.

Three blocks, each linear (or n log n) in the number of sightings:
- exact keys, in DuckDB: the hash of the normalised text (same text), its first 80
  characters (a teaser and the full abstract it was cut from open identically), and the first
  four words of the title (one item's pages on two sites);
- MinHash LSH over the distinctive content words of each text's opening (close paraphrases,
  teasers cut mid-word, reworded openings); words found in more than 0.5% of openings are left
  out of the sets (features.token_arrays), or every abstract mentioning "migrants" and
  "protection" would share buckets with every other;
- canonical URLs: sightings of one URL are one node, so they are joined outright (no pairs).

The MinHash is datasketch's (>= 2.0), held to it by tests rather than imported: its permutation
family (scheme "affine32": MurmurHash3 finaliser, then `a*h + b mod 2**32`, drawn from
`RandomState(seed)` as `MinHash(num_perm, seed).permutations` draws it) and the band/row split
`MinHashLSH(threshold, num_perm)` picks (32 bands of 4 rows at 0.4 and 128). datasketch itself
is not imported at run time because `import datasketch` loads scipy.integrate (about 1 s of a
4 s seed ingest, in every process that dedups), and its `MinHashLSH` keeps a Python dict of
sets per band, which costs about 3 GB at a million sightings; so the signatures are computed in
chunks with numpy and the bands are bucketed by sorting. tests/test_dedup_blocking.py checks
that the permutations, the band split, the signatures (`MinHash.update_batch`) and the candidate
set (`MinHashLSH.query`) equal the library's own.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import duckdb
import numpy as np

#: Jaccard similarity of openings (distinctive content words) that LSH should surface: a teaser
#: vs. its full text ~0.8, a close paraphrase 0.5-0.8, one item's two abstracts sharing an opening
#: ~0.55, unrelated abstracts < 0.1. datasketch picks 32 bands of 4 rows for this: a pair at 0.54
#: is proposed with probability 0.94, at 0.3 with 0.23, at 0.1 with 0.003.
LSH_THRESHOLD = 0.4
NUM_PERM = 128
SEED = 7
#: the band split `MinHashLSH(LSH_THRESHOLD, NUM_PERM)` computes (a test holds it to the library)
LSH_BANDS, LSH_ROWS = 32, 4
#: a document needs this many content words to be sketched (shorter ones rely on exact keys)
MIN_TOKENS = 5
#: a bucket larger than this pairs each member with its next BUCKET_CAP neighbours only
BUCKET_CAP = 32
#: characters of normalised text forming the opening key of the exact block
PREFIX_KEY_CHARS = 80
#: words of the normalised title forming the title key (a title and the same title with its
#: subtitle, or printed with different punctuation, share their first words)
TITLE_KEY_WORDS = 4
#: exact-key groups larger than this are chained instead of fully paired
GROUP_CAP = 64
#: bands whose pairs are gathered before merging them into the de-duplicated set
MERGE_EVERY = 8
#: tokens hashed per numpy chunk (memory: TOKEN_CHUNK * NUM_PERM * 4 bytes)
TOKEN_CHUNK = 200_000

_U32 = np.uint32
_U64 = np.uint64


@dataclass(frozen=True)
class LshConfig:
    """The sketch's shape; `bands` x `rows` must not exceed `num_perm`.

    `threshold` documents what the split was chosen for (datasketch's weighted false positive /
    false negative optimum); a different threshold needs the split the library picks for it.
    """

    threshold: float = LSH_THRESHOLD
    num_perm: int = NUM_PERM
    seed: int = SEED
    bands: int = LSH_BANDS
    rows: int = LSH_ROWS

    def __post_init__(self) -> None:
        if self.bands * self.rows > self.num_perm:
            raise ValueError(f"{self.bands} bands of {self.rows} rows need more than {self.num_perm} permutations")
        pinned = (self.bands, self.rows) == (LSH_BANDS, LSH_ROWS)
        if pinned and (self.threshold, self.num_perm) != (LSH_THRESHOLD, NUM_PERM):
            raise ValueError(
                f"the band split {LSH_BANDS}x{LSH_ROWS} is the one for threshold {LSH_THRESHOLD} and {NUM_PERM} "
                "permutations: give the split MinHashLSH picks for this threshold (bands=, rows=)"
            )


def lsh_bands(config: LshConfig) -> tuple[int, int]:
    """(bands, rows) of the sketch: the split datasketch's MinHashLSH picks for its threshold."""
    return config.bands, config.rows


def permutations(config: LshConfig) -> tuple[np.ndarray, np.ndarray]:
    """datasketch's affine32 family: odd multipliers `a`, then offsets `b`, from one RandomState."""
    gen = np.random.RandomState(config.seed)
    a = gen.randint(0, 1 << 31, config.num_perm, dtype=_U32) * _U32(2) + _U32(1)
    b = gen.randint(0, 1 << 32, config.num_perm, dtype=_U32)
    return a, b


def fmix32(h: np.ndarray) -> np.ndarray:
    """MurmurHash3 finaliser on uint32 arrays (datasketch's pre-mix for scheme affine32)."""
    h = h.astype(_U32, copy=True)
    h ^= h >> _U32(16)
    h *= _U32(0x85EBCA6B)
    h ^= h >> _U32(13)
    h *= _U32(0xC2B2AE35)
    h ^= h >> _U32(16)
    return h


def signature_chunks(doc: np.ndarray, tok: np.ndarray, config: LshConfig) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """(documents, their MinHash signatures) a chunk of whole documents at a time.

    `doc` must be sorted (each document's tokens contiguous). A chunk holds about TOKEN_CHUNK
    tokens, so memory stays at TOKEN_CHUNK x num_perm values whatever the corpus size.
    """
    if len(doc) == 0:
        return
    a, b = permutations(config)
    hv = fmix32(tok)
    starts = np.flatnonzero(np.r_[True, doc[1:] != doc[:-1]])
    bounds = np.r_[starts, len(doc)]
    k = 0
    with np.errstate(over="ignore"):
        while k < len(starts):
            stop = int(np.searchsorted(bounds, bounds[k] + TOKEN_CHUNK, side="right")) - 1
            stop = max(stop, k + 1)
            lo, hi = int(bounds[k]), int(bounds[stop])
            phv = np.multiply.outer(hv[lo:hi], a)
            phv += b
            yield doc[starts[k:stop]], np.minimum.reduceat(phv, starts[k:stop] - lo, axis=0)
            del phv
            k = stop


def signatures(doc: np.ndarray, tok: np.ndarray, n_docs: int, config: LshConfig) -> np.ndarray:
    """Every document's MinHash signature: (n_docs, num_perm) uint32, max value when empty."""
    out = np.full((n_docs, config.num_perm), np.iinfo(_U32).max, dtype=_U32)
    for docs, mins in signature_chunks(doc, tok, config):
        out[docs] = mins
    return out


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per document and band; equal keys mean equal band slices."""
    n = sig.shape[0]
    keys = np.empty((n, bands), dtype=_U64)
    mult = _U64(0x100000001B3)
    with np.errstate(over="ignore"):
        for band in range(bands):
            acc = np.full(n, _U64(0xCBF29CE484222325) ^ _U64(band), dtype=_U64)
            for col in range(band * rows, (band + 1) * rows):
                acc = (acc ^ sig[:, col].astype(_U64)) * mult
            acc ^= acc >> _U64(33)
            acc *= _U64(0xFF51AFD7ED558CCD)
            acc ^= acc >> _U64(33)
            keys[:, band] = acc
    return keys


def bucket_pairs(keys: np.ndarray, eligible: np.ndarray) -> np.ndarray:
    """Pairs (i < j) of eligible documents sharing a key in any band; (k, 2) int64.

    Pairs are kept as one int64 code each and de-duplicated band by band: a true duplicate
    collides in every band, so collecting all bands first would hold each pair 32 times.
    """
    docs = np.flatnonzero(eligible)
    merged = np.empty(0, dtype=np.int64)
    pending: list[np.ndarray] = []
    for band in range(keys.shape[1]):
        column = keys[docs, band]
        order = np.argsort(column, kind="stable")
        pending.append(_run_pairs(column[order], docs[order].astype(np.int64)))
        if len(pending) >= MERGE_EVERY or band == keys.shape[1] - 1:
            merged = _sorted_unique(np.concatenate([merged, *pending]))
            pending = []
    return np.stack([merged >> np.int64(32), merged & np.int64(0xFFFFFFFF)], axis=1)


def _run_pairs(sorted_keys: np.ndarray, members: np.ndarray) -> np.ndarray:
    """Codes (i << 32 | j, i < j) of members sharing a key: each with its next BUCKET_CAP.

    Runs of equal keys are handled by length: every run of length L <= BUCKET_CAP + 1 yields its
    L(L-1)/2 pairs in one vectorised step per distinct L; longer runs (rare) pair each member
    with its next BUCKET_CAP neighbours.
    """
    n = len(sorted_keys)
    if n < 2:
        return np.empty(0, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, sorted_keys[1:] != sorted_keys[:-1]])
    lengths = np.diff(np.r_[starts, n])
    found: list[np.ndarray] = []
    for length in np.unique(lengths[lengths >= 2]).tolist():
        run_starts = starts[lengths == length]
        if length <= BUCKET_CAP + 1:
            first, second = np.triu_indices(length, k=1)
            a = members[run_starts[:, None] + first[None, :]].ravel()
            b = members[run_starts[:, None] + second[None, :]].ravel()
            found.append(np.minimum(a, b) << np.int64(32) | np.maximum(a, b))
            continue
        for start in run_starts.tolist():
            run = members[start : start + length]
            for d in range(1, BUCKET_CAP + 1):
                a, b = run[:-d], run[d:]
                found.append(np.minimum(a, b) << np.int64(32) | np.maximum(a, b))
    if not found:
        return np.empty(0, dtype=np.int64)
    return _sorted_unique(np.concatenate(found))


def lsh_pairs(doc: np.ndarray, tok: np.ndarray, n_docs: int, config: LshConfig | None = None) -> np.ndarray:
    """Candidate pairs from MinHash LSH over token sets (doc sorted, tokens distinct per doc)."""
    config = config or LshConfig()
    counts = np.bincount(doc, minlength=n_docs) if len(doc) else np.zeros(n_docs, dtype=np.int64)
    bands, rows = lsh_bands(config)
    keys = np.zeros((n_docs, bands), dtype=_U64)
    for docs, mins in signature_chunks(doc, tok, config):
        keys[docs] = band_keys(mins, bands, rows)
    return bucket_pairs(keys, counts >= MIN_TOKENS)


def exact_pairs(con: duckdb.DuckDBPyConnection) -> np.ndarray:
    """Pairs sharing the normalised text or its opening (table dd_s from features.build)."""
    rows = con.execute(
        f"""
        WITH keys AS (
            SELECT idx, 0 AS kind, text_hash AS key FROM dd_s WHERE norm_len > 0
            UNION ALL
            SELECT idx, 1 AS kind, hash(left(head, {PREFIX_KEY_CHARS})) AS key
            FROM dd_s WHERE norm_len >= {PREFIX_KEY_CHARS}
            UNION ALL
            SELECT idx, 2 AS kind, hash(array_to_string(string_split(norm_title, ' ')[1:{TITLE_KEY_WORDS}], ' ')) AS key
            FROM dd_s WHERE len(string_split(norm_title, ' ')) >= 2
        ), g AS (
            SELECT idx, kind, key,
                   count(*) OVER (PARTITION BY kind, key) AS n,
                   row_number() OVER (PARTITION BY kind, key ORDER BY idx) AS r
            FROM keys
        )
        SELECT DISTINCT a.idx AS i, b.idx AS j
        FROM g AS a JOIN g AS b ON a.kind = b.kind AND a.key = b.key AND a.idx < b.idx
        WHERE a.n > 1 AND (a.n <= {GROUP_CAP} OR b.r = a.r + 1)
        """
    ).fetchnumpy()
    return _unique_pairs([np.stack([rows["i"], rows["j"]], axis=1).astype(np.int64)])


def group_chains(ids: np.ndarray) -> np.ndarray:
    """Consecutive pairs of members of each group (ids >= 0): enough to join a group."""
    members = np.flatnonzero(ids >= 0)
    order = members[np.argsort(ids[members], kind="stable")]
    same = ids[order[1:]] == ids[order[:-1]]
    return np.stack([order[:-1][same], order[1:][same]], axis=1).astype(np.int64)


def _unique_pairs(chunks: list[np.ndarray]) -> np.ndarray:
    chunks = [c for c in chunks if len(c)]
    if not chunks:
        return np.empty((0, 2), dtype=np.int64)
    pairs = np.concatenate(chunks).astype(np.int64)
    lo, hi = np.minimum(pairs[:, 0], pairs[:, 1]), np.maximum(pairs[:, 0], pairs[:, 1])
    keep = lo != hi
    code = _sorted_unique(lo[keep] << np.int64(32) | hi[keep])
    return np.stack([code >> np.int64(32), code & np.int64(0xFFFFFFFF)], axis=1)


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """np.unique for int64 codes by sort and compare (numpy 2's hash-based unique is slower here)."""
    if len(values) == 0:
        return values
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]]


def merge_pairs(*arrays: np.ndarray) -> np.ndarray:
    """Union of several candidate pair arrays, each pair once, i < j, sorted."""
    return _unique_pairs(list(arrays))
