"""The vector cache (Settings.vector_cache): a second warehouse built from the same pages embeds nothing.

What a user of `IOM_VECTOR_CACHE` relies on: a warehouse built with the cache holds exactly the
vectors the model gives (the cache changes cost, never results), an encoder that finds every text
in the cache never loads the model, and a cache that is damaged, unreadable or shared by two
runs at once costs nothing but its speed.
"""

from __future__ import annotations

import sqlite3
import subprocess
from pathlib import Path

import duckdb
import numpy as np
import pytest

from pipeline.dedup import xling
from pipeline.dedup.vector_cache import VectorCache
from tests.conftest import copy_seed_archive, pipeline_process, start_pipeline

TEXTS = [
    "Guide pratique pour l'accompagnement au retour volontaire des enfants migrants",
    "Practical guide to supporting the voluntary return of migrant children",
    "Manual de reintegración sostenible para personas retornadas y sus comunidades",
    "A toolkit on labour migration statistics for national statistical offices",
]


def _vectors(db: Path) -> dict[str, bytes]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        rows = con.execute("SELECT text_key, vector FROM text_vectors WHERE model = ?", [xling.MODEL]).fetchall()
    finally:
        con.close()
    return {key: np.asarray(vec, dtype=np.float32).tobytes() for key, vec in rows}


def _ingest(raw: Path, db: Path, cache: Path | str | None) -> subprocess.CompletedProcess[str]:
    env = {"IOM_RAW": str(raw), "IOM_DB": str(db), "IOM_VECTOR_CACHE": None if cache is None else str(cache)}
    return pipeline_process(["ingest", "--offline"], env)


def test_a_cache_gives_back_the_models_own_vectors_without_loading_the_model(tmp_path: Path) -> None:
    plain = xling.Encoder().encode(TEXTS)

    filler = xling.Encoder()
    filler.cache = VectorCache(tmp_path / "vectors.sqlite", xling.MODEL, xling.DIMS)
    assert np.array_equal(filler.encode(TEXTS), plain)
    filler.cache.close()

    reader = xling.Encoder()
    reader.cache = VectorCache(tmp_path / "vectors.sqlite", xling.MODEL, xling.DIMS)
    again = reader.encode(list(reversed(TEXTS)))
    assert np.array_equal(again, plain[::-1])
    assert reader._model is None  # every text was in the cache: the weights were never loaded
    reader.cache.close()


def test_a_vector_of_another_model_or_of_the_wrong_size_is_not_taken(tmp_path: Path) -> None:
    path = tmp_path / "vectors.sqlite"
    other = VectorCache(path, "another-model", xling.DIMS)
    other.put([(xling.text_key(TEXTS[0]), np.ones(xling.DIMS, dtype=np.float32))])
    other.close()
    con = sqlite3.connect(path)
    con.execute("INSERT INTO vectors VALUES (?, ?, ?)", (xling.MODEL, xling.text_key(TEXTS[1]), b"\x00" * 12))
    con.commit()
    con.close()

    encoder = xling.Encoder()
    encoder.cache = VectorCache(path, xling.MODEL, xling.DIMS)
    got = encoder.encode(TEXTS[:2])
    encoder.cache.close()
    assert np.array_equal(got, xling.Encoder().encode(TEXTS[:2]))


def test_a_second_warehouse_from_the_same_pages_gets_the_same_vectors_from_the_cache(tmp_path: Path) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    cache = tmp_path / "vectors.sqlite"
    first, second, without = tmp_path / "first.duckdb", tmp_path / "second.duckdb", tmp_path / "plain.duckdb"
    for db, used in ((first, cache), (second, cache), (without, None)):
        done = _ingest(raw, db, used)
        assert done.returncode == 0, done.stderr
    expected = _vectors(without)
    assert len(expected) > 50  # the seeds have texts in several languages to compare
    assert _vectors(first) == expected
    assert _vectors(second) == expected
    con = sqlite3.connect(cache)
    cached = con.execute("SELECT count(*) FROM vectors WHERE model = ?", [xling.MODEL]).fetchone()[0]
    con.close()
    assert cached == len(expected)


@pytest.mark.parametrize("damage", ["not a database", "a folder"])
def test_a_damaged_cache_costs_only_its_speed(tmp_path: Path, damage: str) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    cache = tmp_path / "vectors.sqlite"
    if damage == "a folder":
        cache.mkdir()
    else:
        cache.write_bytes(b"these bytes are no SQLite file " * 200)
    done = _ingest(raw, tmp_path / "w.duckdb", cache)
    assert done.returncode == 0, done.stderr
    assert "vector cache" in done.stderr  # said once, in the log
    reference = _ingest(raw, tmp_path / "plain.duckdb", None)
    assert reference.returncode == 0, reference.stderr
    assert _vectors(tmp_path / "w.duckdb") == _vectors(tmp_path / "plain.duckdb")


def test_two_runs_filling_one_cache_at_once_both_finish_with_every_vector(tmp_path: Path) -> None:
    raw = [copy_seed_archive(tmp_path / f"raw{i}") for i in (1, 2)]
    cache = tmp_path / "vectors.sqlite"
    runs = [
        start_pipeline(
            ["ingest", "--offline"],
            {"IOM_RAW": str(r), "IOM_DB": str(tmp_path / f"w{i}" / "iom.duckdb"), "IOM_VECTOR_CACHE": str(cache)},
        )
        for i, r in enumerate(raw)
    ]
    for run in runs:
        _out, err = run.communicate(timeout=240)
        assert run.returncode == 0, err
    one, two = _vectors(tmp_path / "w0" / "iom.duckdb"), _vectors(tmp_path / "w1" / "iom.duckdb")
    assert one == two and len(one) > 50
    con = sqlite3.connect(cache)
    assert con.execute("SELECT count(*) FROM vectors").fetchone()[0] == len(one)
    con.close()
