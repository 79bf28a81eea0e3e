"""Blocking is datasketch's MinHash LSH, vectorised: same signatures, same candidates.

The numpy path exists only because datasketch's index needs gigabytes at a million sightings;
these tests hold it to the library's own answers on random sets.
"""

from __future__ import annotations

import numpy as np
import pytest
from datasketch import MinHash, MinHashLSH

from pipeline.dedup import block


def corpus(n_base: int = 150, size: int = 30, seed: int = 3) -> list[np.ndarray]:
    """Sets of 32-bit token hashes: originals plus copies with a quarter of tokens replaced."""
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 2**32, size=(n_base, size), dtype=np.uint64)
    docs = []
    for k in range(2 * n_base):
        tokens = base[k % n_base].copy()
        if k >= n_base:
            changed = rng.random(size) < 0.25
            tokens[changed] = rng.integers(0, 2**32, size=int(changed.sum()), dtype=np.uint64)
        docs.append(np.unique(tokens.astype(np.uint32)))
    return docs


def flatten(docs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    doc = np.concatenate([np.full(len(d), k, dtype=np.int32) for k, d in enumerate(docs)])
    return doc, np.concatenate(docs)


def library_minhash(tokens: np.ndarray, config: block.LshConfig) -> MinHash:
    m = MinHash(num_perm=config.num_perm, seed=config.seed, hashfunc=int, scheme="affine32")
    m.update_batch(tokens.tolist())
    return m


def test_permutations_are_datasketch_affine32_family() -> None:
    for num_perm, seed in ((128, 7), (64, 1), (256, 12345)):
        config = block.LshConfig(num_perm=num_perm, seed=seed, bands=1, rows=1)
        a, b = block.permutations(config)
        theirs = MinHash(num_perm=num_perm, seed=seed, scheme="affine32").permutations
        assert a.dtype == np.uint32 and b.dtype == np.uint32
        assert np.array_equal(a, theirs[0]) and np.array_equal(b, theirs[1])


def test_band_split_is_the_one_minhashlsh_picks() -> None:
    config = block.LshConfig()
    index = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    assert block.lsh_bands(config) == (index.b, index.r)


def test_a_band_split_wider_than_the_sketch_is_refused() -> None:
    with pytest.raises(ValueError, match="permutations"):
        block.LshConfig(num_perm=64, bands=32, rows=4)


def test_signatures_equal_datasketch_minhash() -> None:
    config = block.LshConfig()
    docs = corpus()
    doc, tok = flatten(docs)
    signatures = block.signatures(doc, tok, len(docs), config)
    for k in (0, 7, 151, 299):
        assert np.array_equal(library_minhash(docs[k], config).hashvalues, signatures[k])


def test_chunked_signatures_equal_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    config = block.LshConfig()
    docs = corpus()
    doc, tok = flatten(docs)
    whole = block.signatures(doc, tok, len(docs), config)
    monkeypatch.setattr(block, "TOKEN_CHUNK", 97)
    assert np.array_equal(block.signatures(doc, tok, len(docs), config), whole)


def test_candidates_equal_minhashlsh_query() -> None:
    config = block.LshConfig()
    docs = corpus()
    doc, tok = flatten(docs)
    ours = {tuple(p) for p in block.lsh_pairs(doc, tok, len(docs), config).tolist()}
    index = MinHashLSH(threshold=config.threshold, num_perm=config.num_perm)
    sketches = [library_minhash(d, config) for d in docs]
    for k, m in enumerate(sketches):
        index.insert(k, m)
    theirs = {(min(k, o), max(k, o)) for k, m in enumerate(sketches) for o in index.query(m) if o != k}
    assert ours == theirs
    # copies with a quarter of their tokens replaced (Jaccard ~0.6) are found
    found = sum((k, k + 150) in ours for k in range(150))
    assert found >= 140


def test_group_chains_join_each_group_once() -> None:
    ids = np.array([3, -1, 3, 5, 3, 5, -1], dtype=np.int32)
    pairs = {tuple(p) for p in block.group_chains(ids).tolist()}
    assert pairs == {(0, 2), (2, 4), (3, 5)}
