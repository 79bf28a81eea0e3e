"""`pipeline search` on real warehouses: the seeds as `ingest` builds them, the replica across
languages, the index over runs, and hostile input.

What a result must hold comes from the pages, not from the search: the seeds list the Etimos
Foundation toolkit three times in Spanish and three times in French (seeds/README.md), the
catalogue seed alone lists the guide for returnees in Armenia, and the replica's dataset gives
the titles of the French reintegration handbook and of the Etimos volumes.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import REPO_ROOT, copy_seed_archive, pipeline_process

from pipeline.backend import extension_file
from pipeline.search import Searcher

DATASET = REPO_ROOT / "tests" / "replica" / "data" / "dataset.json"


def _ingest(raw: Path, db: Path) -> None:
    done = pipeline_process(["ingest", "--offline", "--raw", str(raw), "--db", str(db)])
    assert done.returncode == 0, done.stderr


def _search(db: Path, *args: str) -> Any:
    done = pipeline_process(["search", *args, "--db", str(db), "--format", "json"])
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def seeded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The seeds ingested by the command cron runs: the warehouse, its index beside it."""
    root = tmp_path_factory.mktemp("search_seeds")
    db = root / "w.duckdb"
    _ingest(copy_seed_archive(root / "raw"), db)
    return db


def test_ingest_builds_the_index_beside_the_warehouse(seeded: Path) -> None:
    index = seeded.with_name("w.search.duckdb")
    assert index.exists()
    con = duckdb.connect(str(seeded), read_only=True)
    try:
        (live,) = con.execute("SELECT count(*) FROM publications").fetchone() or (0,)
    finally:
        con.close()
    searchable = duckdb.connect(str(index), read_only=True)
    try:
        (indexed,) = searchable.execute("SELECT count(*) FROM editions").fetchone() or (0,)
    finally:
        searchable.close()
    assert indexed == live > 0


def test_an_english_query_finds_every_etimos_edition_in_spanish_and_french(seeded: Path) -> None:
    found = _search(seeded, "Etimos Foundation toolkit")["results"]
    etimos = [w for w in found if any("Etimos" in (e["title"] or "") for e in w["editions"])]
    assert etimos, [w["title"] for w in found]
    editions = etimos[0]["editions"]
    assert Counter(e["language"] for e in editions) == Counter({"es": 3, "fr": 3})
    assert all(e["matched"] for e in editions)
    assert etimos[0]["why"]


def test_filters_narrow_what_matches(seeded: Path) -> None:
    french = _search(seeded, "protection des victimes de traite", "--lang", "fr")["results"]
    assert french and all(e["language"] == "fr" for w in french for e in w["editions"] if e["matched"])
    site = _search(seeded, "reintegration", "--site", "publications.iom.int", "--level", "edition")["results"]
    assert site and all("publications.iom.int" in h["sites"] for h in site)
    years = _search(seeded, "migrants", "--year", "2018-2019", "--level", "edition", "--limit", "50")["results"]
    assert years and all(2018 <= h["year"] <= 2019 for h in years)
    assert len(_search(seeded, "migrants", "--limit", "3")["results"]) == 3


def test_csv_and_table_say_the_same_as_json(seeded: Path) -> None:
    as_json = _search(seeded, "return counselling", "--level", "edition", "--limit", "5")["results"]
    done = pipeline_process(["search", "return counselling", "--level", "edition", "--limit", "5", "--format", "csv",
                             "--db", str(seeded)])  # fmt: skip
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert [r["edition_id"] for r in rows] == [h["edition_id"] for h in as_json]
    table = pipeline_process(["search", "return counselling", "--limit", "5", "--db", str(seeded)])
    assert table.returncode == 0, table.stderr
    works = _search(seeded, "return counselling", "--limit", "5")["results"]
    assert all(w["work_id"] in table.stdout for w in works)


def test_a_search_writes_nothing(seeded: Path) -> None:
    index = seeded.with_name("w.search.duckdb")
    before = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in seeded.parent.iterdir() if p.is_file()}
    _search(seeded, "psychosocial support")
    after = {p.name: (p.stat().st_size, p.stat().st_mtime_ns) for p in seeded.parent.iterdir() if p.is_file()}
    assert after == before
    assert not index.with_name(index.name + ".wal").exists()


def test_the_analysts_macros_rank_like_words_alone(seeded: Path) -> None:
    words = _search(seeded, "return counselling", "--method", "words", "--level", "edition", "--limit", "10")
    con = duckdb.connect(str(seeded.with_name("w.search.duckdb")), read_only=True)
    try:
        con.execute(f"LOAD '{extension_file('fts')}'")
        macro = [e for (e,) in con.execute("SELECT edition_id FROM search_editions('return counselling')").fetchall()]
        works = con.execute("SELECT work_id, editions FROM search_works('Etimos', n := 1)").fetchall()
    finally:
        con.close()
    assert macro == [h["edition_id"] for h in words["results"]]
    assert sorted(e["language"] for e in works[0][1]) == ["es", "es", "es", "fr", "fr", "fr"]


def test_hostile_queries_are_answered_or_refused_clearly(seeded: Path) -> None:
    for query in ("'; DROP TABLE editions; --", '"unbalanced', "the of and", "عودة المهاجرين", "🙂 " * 50,
                  "reintegration " * 2000):  # fmt: skip
        done = pipeline_process(["search", query, "--db", str(seeded), "--format", "json"])
        assert done.returncode == 0, (query[:40], done.stderr)
        assert isinstance(json.loads(done.stdout)["results"], list)
    empty = pipeline_process(["search", "   ", "--db", str(seeded)])
    assert empty.returncode == 2 and "empty" in empty.stderr
    year = pipeline_process(["search", "x", "--year", "last year", "--db", str(seeded)])
    assert year.returncode == 2 and "--year" in year.stderr


def test_the_index_follows_the_warehouse_run_after_run(tmp_path: Path) -> None:
    """A page the first runs lacked becomes searchable; ids seen before stay; an unchanged run leaves the index."""
    raw = copy_seed_archive(tmp_path / "raw")
    manifest = raw / "manifest.jsonl"
    lines = manifest.read_text(encoding="utf-8").splitlines(keepends=True)
    catalogue = [line for line in lines if json.loads(line).get("format") == "text-catalogue"]
    manifest.write_text("".join(line for line in lines if line not in catalogue), encoding="utf-8")
    db = tmp_path / "w.duckdb"
    index = tmp_path / "w.search.duckdb"
    _ingest(raw, db)
    armenia = "reintegration of returnees in Armenia"
    assert not any("Armenia" in (w["title"] or "") for w in _search(db, armenia)["results"])
    etimos = _search(db, "Etimos", "--limit", "1")["results"][0]["work_id"]
    stamp = index.stat().st_mtime_ns
    _ingest(raw, db)  # nothing new
    assert index.stat().st_mtime_ns == stamp
    manifest.write_text("".join(lines), encoding="utf-8")
    _ingest(raw, db)
    assert index.stat().st_mtime_ns != stamp
    top = _search(db, armenia, "--limit", "3")["results"]
    assert any("Armenia" in (w["title"] or "") for w in top), [w["title"] for w in top]
    assert _search(db, "Etimos", "--limit", "1")["results"][0]["work_id"] == etimos


def test_a_damaged_index_is_said_and_the_next_ingest_rebuilds_it(seeded: Path, tmp_path: Path) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    db = tmp_path / "w.duckdb"
    shutil.copy(seeded, db)
    index = tmp_path / "w.search.duckdb"
    index.write_bytes(b"not a database, half a file" * 100)
    done = pipeline_process(["search", "Etimos", "--db", str(db)])
    assert done.returncode == 5 and "search index" in done.stderr
    _ingest(raw, db)
    assert _search(db, "Etimos")["results"]


def test_typographic_apostrophes_and_one_letter_words_do_not_hide_an_edition(seeded: Path) -> None:
    """The seeds print "l’Organisation" with a typographic apostrophe; a query may say "l'" or "a"."""
    for query in ("organisation internationale", "l'organisation internationale", "l’organisation internationale"):
        found = _search(seeded, query, "--method", "words", "--lang", "fr", "--level", "edition", "--limit", "20")
        assert any("Etimos" in (h["title"] or "") for h in found["results"]), query
    with Searcher(seeded.with_name("w.search.duckdb")) as searcher:
        assert (
            searcher.by_words("a guide for returnees in Armenia", every_word=True)
            == searcher.by_words("guide returnees Armenia", every_word=True)
            != []
        )


def test_long_queries_and_large_limits(seeded: Path) -> None:
    with Searcher(seeded.with_name("w.search.duckdb")) as searcher:
        words = searcher.words(" ".join(f"word{chr(97 + i % 26)}{chr(97 + i // 26 % 26)}" for i in range(500)))
        assert len(words) == 32
        nothing = searcher.works("banana smoothie recipe", limit=10)
    assert nothing == []  # nothing the sites publish is about it: no result, not the 10 least far


# -- the replica: several languages of one work ------------------------------------------------


@pytest.fixture(scope="module")
def replica_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeds plus a full crawl of the replica, ingested with its index (as `bench search` builds it)."""
    from bench.search import build_replica_warehouse

    return build_replica_warehouse(tmp_path_factory.mktemp("search_replica")).with_name("w.search.duckdb")


def _titles(work_key: str, language: str) -> set[str]:
    items = json.loads(DATASET.read_text(encoding="utf-8"))["items"]
    return {i["title"] for i in items if i["work_key"] == work_key and i["text_language"] == language}


def test_english_queries_reach_french_and_spanish_editions(replica_index: Path) -> None:
    with Searcher(replica_index) as searcher:
        toolkit = searcher.works("toolkit for migrant entrepreneurs", limit=10)
        handbook = searcher.works("practical guidance on reintegration assistance", limit=10)
    shown = {e["title"] for w in toolkit for e in w.editions if e["language"] in ("es", "fr")}
    for language in ("es", "fr"):
        expected = _titles("etimos-toolkit", language)
        assert expected and expected <= shown, (language, expected - shown)
    french = _titles("reintegration-handbook", "fr")
    assert french and french <= {e["title"] for w in handbook for e in w.editions}
    assert any(h.language == "fr" for w in handbook for h in w.matched if h.title in french)


def test_the_hybrid_beats_each_ranker_on_the_labelled_queries(replica_index: Path) -> None:
    from bench.search import QUERIES, evaluate, work_keys

    queries = json.loads(QUERIES.read_text(encoding="utf-8"))["queries"]
    scores = evaluate(replica_index, work_keys(replica_index.with_name("w.duckdb")), queries)
    mean = {m: {f: sum(getattr(s, f)) / len(getattr(s, f)) for f in ("recall", "ndcg", "cross_recall")}
            for m, s in scores.items()}  # fmt: skip
    assert mean["hybrid"]["cross_recall"] >= 0.8, mean
    for figure in ("recall", "ndcg"):
        assert mean["hybrid"][figure] > max(mean["words"][figure], mean["meaning"][figure]), mean


def test_the_index_is_what_docs_warehouse_md_says(seeded: Path) -> None:
    from pipeline.search import INDEX_TABLES

    con = duckdb.connect(str(seeded.with_name("w.search.duckdb")), read_only=True)
    try:
        for table, (about, columns) in INDEX_TABLES.items():
            found = con.execute(
                "SELECT column_name, data_type, comment FROM duckdb_columns() WHERE table_name = ? "
                "AND schema_name = 'main' ORDER BY column_index",
                [table],
            ).fetchall()
            assert [(name, kind, meaning) for name, kind, meaning in found] == [
                (name, kind, meaning) for name, (kind, meaning) in columns.items()
            ], table
            (comment,) = con.execute(
                "SELECT comment FROM duckdb_tables() WHERE table_name = ?", [table]
            ).fetchone() or ("",)
            assert comment == about
    finally:
        con.close()
    assert "## editions (search index table)" in (REPO_ROOT / "docs" / "warehouse.md").read_text(encoding="utf-8")


def test_a_dedup_pass_refreshes_the_index_and_search_says_when_it_lags(seeded: Path, tmp_path: Path) -> None:
    db = tmp_path / "w.duckdb"
    shutil.copy(seeded, db)
    shutil.copy(seeded.with_name("w.search.duckdb"), tmp_path / "w.search.duckdb")
    con = duckdb.connect(str(db))
    try:  # as if an earlier pass had run since the index was built
        con.execute("UPDATE dedup_runs SET dedup_run_id = dedup_run_id + 100")
    finally:
        con.close()
    lagging = pipeline_process(["search", "Etimos", "--db", str(db)])
    assert lagging.returncode == 0 and "predates" in lagging.stderr
    done = pipeline_process(["dedup", "--db", str(db)])
    assert done.returncode == 0, done.stderr
    assert "search index:" in done.stdout
    fresh = pipeline_process(["search", "Etimos", "--db", str(db)])
    assert fresh.returncode == 0 and "predates" not in fresh.stderr


def test_an_empty_warehouse_has_an_empty_index(tmp_path: Path) -> None:
    done = pipeline_process(["ingest", "--offline", "--raw", str(tmp_path / "raw"), "--db", str(tmp_path / "w.duckdb")])
    assert "search index not rebuilt" not in done.stdout + done.stderr
    assert (tmp_path / "w.search.duckdb").exists()
    found = pipeline_process(["search", "return counselling", "--db", str(tmp_path / "w.duckdb")])
    assert found.returncode == 0 and "no publication matches" in found.stdout


def test_no_embed_budget_builds_once_and_a_stale_wal_is_not_replayed(seeded: Path, tmp_path: Path) -> None:
    from pipeline.search import refresh

    db = tmp_path / "w.duckdb"
    shutil.copy(seeded, db)
    index = tmp_path / "w.search.duckdb"
    index.with_name(index.name + ".wal").write_bytes(b"a WAL an analyst's session left behind")
    con = duckdb.connect(str(db))
    try:
        built, note = refresh(con, db, embed_budget=0)
        assert built is not None and note and not index.exists()  # aside until installed
        built.install()
        assert refresh(con, db, embed_budget=0) == (None, None)  # current: stored vectors are all it gets
    finally:
        con.close()
    assert not index.with_name(index.name + ".wal").exists()
    searched = pipeline_process(["search", "Etimos", "--db", str(db)])
    assert searched.returncode == 0 and "predates" not in searched.stderr


def test_two_writers_building_at_once_leave_one_whole_index(seeded: Path, tmp_path: Path) -> None:
    import threading

    from pipeline.search import build_index

    index = tmp_path / "w.search.duckdb"
    errors: list[BaseException] = []

    def build() -> None:
        con = duckdb.connect(str(seeded), read_only=True)
        try:
            for _ in range(3):
                build_index(con, index, embed_budget=0).install()
        except BaseException as exc:
            errors.append(exc)
        finally:
            con.close()

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    with Searcher(index) as searcher:
        assert searcher.works("Etimos", limit=1)
    assert not list(tmp_path.glob(".w.search.duckdb.*"))


def test_a_limit_deeper_than_the_rankers_default_is_honoured(
    replica_index: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import pipeline.search

    monkeypatch.setattr(pipeline.search, "CANDIDATES", 10)  # each ranker's default depth
    with Searcher(replica_index) as searcher:
        shallow = searcher.editions("migration", limit=5)
        deep = searcher.editions("migration", limit=60)
    assert len(shallow) == 5
    assert len(deep) > 20  # more than both rankers' default depth together
