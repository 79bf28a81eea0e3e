"""Deduplication of the five seed dumps: the labelled clusters, every trap, the warehouse objects.

One warehouse is built per module from a copy of the committed archive (real ingest, real
DuckDB file), then deduplicated; tests read it, and the id tests work on their own copy.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, copy_seed_archive, ingest_archive

from pipeline.dedup import run_dedup
from pipeline.dedup.evaluate import evaluate, resolve_sighting
from pipeline.warehouse import connect

LABELS = REPO_ROOT / "tests" / "labels"
SEED_000 = "000_c00c3eb6ce60b251.txt"
SEED_001 = "001_3191b3ee406d3f54.txt"
SEED_002 = "002_a884b4a5e6ab78b6.txt"
SEED_003 = "003_a29836f8c367a5fe.txt"
SEED_004 = "004_a8e9dcc62879c85f.txt"


@pytest.fixture(scope="module")
def seed_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("dedup_seeds")
    raw = copy_seed_archive(root / "raw")
    db = root / "seeds.duckdb"
    ingest_archive(raw, db)
    con = connect(db)
    try:
        run_dedup(con, None)
    finally:
        con.close()
    return db


@pytest.fixture(scope="module")
def con(seed_db: Path) -> duckdb.DuckDBPyConnection:
    connection = duckdb.connect(str(seed_db), read_only=True)
    yield connection
    connection.close()


def where(con: duckdb.DuckDBPyConnection, ref: str) -> tuple[str, str]:
    sid = resolve_sighting(con, ref)
    assert sid is not None, ref
    return con.execute("SELECT edition_id, work_id FROM sighting_editions WHERE sighting_id = ?", [sid]).fetchall()[0]


def test_labelled_seed_clusters_meet_the_targets(con: duckdb.DuckDBPyConnection) -> None:
    result = evaluate(con, LABELS / "seeds.csv")
    assert result.labelled_sightings == 101
    assert not result.unresolved
    assert result.editions.precision >= 0.99 and result.editions.recall >= 0.95, result.lines()
    assert result.works.precision >= 0.98 and result.works.recall >= 0.90, result.lines()
    # the four cross-page matches are found
    assert result.editions.tp == 4


def test_every_labelled_seed_pair_is_decided_as_labelled(con: duckdb.DuckDBPyConnection) -> None:
    result = evaluate(con, LABELS / "seed_pairs.csv")
    assert not result.unresolved
    assert result.editions.fp == 0 and result.editions.fn == 0, result.errors
    assert result.works.fp == 0 and result.works.fn == 0, result.errors


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (f"{SEED_003}#5", f"{SEED_004}#9"),  # teaser prefix of the catalogue abstract
        (f"{SEED_001}#14", f"{SEED_004}#14"),  # teaser cut at "...", full abstract elsewhere
        (f"{SEED_001}#16", f"{SEED_004}#8"),  # the same item on two sites
        (f"{SEED_003}#6", f"{SEED_004}#10"),  # close paraphrase of the catalogue abstract
    ],
)
def test_cross_page_matches_are_one_edition(con: duckdb.DuckDBPyConnection, a: str, b: str) -> None:
    assert where(con, a)[0] == where(con, b)[0]


def test_identical_teasers_on_one_page_stay_distinct_editions(con: duckdb.DuckDBPyConnection) -> None:
    for group in ((6, 7, 8), (9, 10, 11)):
        editions = {where(con, f"{SEED_000}#{p}")[0] for p in group}
        assert len(editions) == 3
    assert where(con, f"{SEED_001}#9")[0] != where(con, f"{SEED_001}#10")[0]
    assert where(con, f"{SEED_003}#19")[0] != where(con, f"{SEED_003}#20")[0]
    refused = con.execute(
        "SELECT count(*) FROM match_links WHERE decision = 'vetoed' AND reason LIKE 'same page%'"
    ).fetchall()[0][0]
    assert refused >= 8


def test_two_works_opening_with_the_same_words_stay_apart(con: duckdb.DuckDBPyConnection) -> None:
    a, b = where(con, f"{SEED_002}#1"), where(con, f"{SEED_002}#11")
    assert a[0] != b[0] and a[1] != b[1]
    a, b = where(con, f"{SEED_003}#5"), where(con, f"{SEED_004}#10")
    assert a[1] != b[1]


def test_one_isbn_on_two_titles_is_two_works(con: duckdb.DuckDBPyConnection) -> None:
    a, b = where(con, f"{SEED_004}#19"), where(con, f"{SEED_004}#20")
    assert a[1] != b[1]


def test_a_programme_named_in_several_abstracts_links_nothing(con: duckdb.DuckDBPyConnection) -> None:
    # Bali Process named in 003#11 and in the two identical teasers 003#19, #20 (two guides of one
    # series, one work), and IOM/OIM everywhere: the name alone joins 003#11 to nothing
    assert where(con, f"{SEED_003}#11")[1] not in {where(con, f"{SEED_003}#{p}")[1] for p in (19, 20)}
    links = con.execute(
        "SELECT rule, sighting_a, sighting_b FROM match_links WHERE level = 'work' AND decision = 'joined'"
    ).fetchall()
    identical = {resolve_sighting(con, f"{SEED_000}#{p}") for p in range(6, 12)} | {
        resolve_sighting(con, f"{seed}#{p}") for seed, ps in ((SEED_001, (9, 10)), (SEED_003, (19, 20))) for p in ps
    }
    assert all(rule != "shared_signals" or {a, b} <= identical for rule, a, b in links), links


def test_etimos_entries_are_six_editions_of_one_work(con: duckdb.DuckDBPyConnection) -> None:
    # three Spanish and three French identical teasers on one listing: six nodes (editions), one
    # toolkit (work), joined by their shared text and by the Etimos name across the languages
    found = [where(con, f"{SEED_000}#{p}") for p in range(6, 12)]
    assert len({edition for edition, _ in found}) == 6
    assert len({work for _, work in found}) == 1
    rules = {
        rule
        for (rule,) in con.execute(
            "SELECT DISTINCT rule FROM match_links WHERE level = 'work' AND decision = 'joined'"
        ).fetchall()
    }
    assert "listing_order" not in rules


def test_sighting_editions_covers_every_publication_sighting(con: duckdb.DuckDBPyConnection) -> None:
    total = con.execute("SELECT count(*) FROM sightings WHERE kind = 'publication'").fetchall()[0][0]
    rows = con.execute("SELECT count(*), count(edition_id), count(work_id) FROM sighting_editions").fetchall()[0]
    assert rows == (total, total, total)


def test_publications_merge_fields_and_name_their_source(con: duckdb.DuckDBPyConnection) -> None:
    edition, _ = where(con, f"{SEED_001}#14")
    row = con.execute(
        "SELECT title, abstract, abstract_truncated, year, page_count, isbn, value_sources, sighting_count "
        "FROM publications WHERE edition_id = ?",
        [edition],
    ).fetchall()[0]
    title, abstract, truncated, year, pages, isbn, sources, count = row
    assert title.startswith("Manual on Community-Based Mental Health")
    assert not truncated and "contactpss@iom.int" in abstract  # the catalogue's full abstract
    assert (year, pages, isbn) == (2019, 495, ["9789290687849"])
    catalogue = resolve_sighting(con, f"{SEED_004}#14")
    assert sources["title"] == sources["abstract"] == sources["page_count"] == catalogue
    assert count == 2
    editions = con.execute("SELECT count(DISTINCT edition_id) FROM sighting_editions").fetchall()[0][0]
    assert con.execute("SELECT count(*) FROM publications").fetchall()[0][0] == editions


def test_works_view_lists_languages_and_editions(con: duckdb.DuckDBPyConnection) -> None:
    rows = con.execute("SELECT languages, edition_count, edition_ids FROM works").fetchall()
    works = con.execute("SELECT count(DISTINCT work_id) FROM sighting_editions").fetchall()[0][0]
    assert len(rows) == works
    spanish = where(con, f"{SEED_004}#20")[1]
    assert con.execute("SELECT languages FROM works WHERE work_id = ?", [spanish]).fetchall()[0][0] == ["es"]


def test_every_dedup_object_and_column_has_a_comment(con: duckdb.DuckDBPyConnection) -> None:
    objects = (
        "dedup_runs",
        "edition_members",
        "dedup_ids",
        "match_links",
        "sighting_editions",
        "publications",
        "editions",
        "works",
    )
    for name in objects:
        tables = con.execute("SELECT comment FROM duckdb_tables() WHERE table_name = ?", [name]).fetchall()
        views = con.execute("SELECT comment FROM duckdb_views() WHERE view_name = ?", [name]).fetchall()
        assert (tables or views) and (tables or views)[0][0], name
        missing = con.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND comment IS NULL", [name]
        ).fetchall()
        assert not missing, (name, missing)


def test_rerun_keeps_every_id_and_writes_the_same_assignment(seed_db: Path, tmp_path: Path) -> None:
    db = tmp_path / "again.duckdb"
    shutil.copy(seed_db, db)
    con = connect(db)
    try:
        before = con.execute("SELECT * FROM edition_members ORDER BY sighting_id").fetchall()
        summary = run_dedup(con, None)
        after = con.execute("SELECT * EXCLUDE (dedup_run_id) FROM edition_members ORDER BY sighting_id").fetchall()
        assert after == [row[:-1] for row in before]
        assert summary.ids_created == 0 and summary.ids_merged == 0 and summary.ids_retired == 0
        assert summary.ids_kept == summary.editions + summary.works
    finally:
        con.close()


def test_reingesting_the_archive_keeps_every_id(tmp_path: Path) -> None:
    raw = copy_seed_archive(tmp_path / "raw")
    db = tmp_path / "w.duckdb"
    ingest_archive(raw, db)
    con = connect(db)
    try:
        run_dedup(con, None)
        first = con.execute("SELECT sighting_id, edition_id, work_id FROM edition_members ORDER BY 1").fetchall()
    finally:
        con.close()
    ingest_archive(raw, db, reparse=True)
    con = connect(db)
    try:
        run_dedup(con, None)
        second = con.execute("SELECT sighting_id, edition_id, work_id FROM edition_members ORDER BY 1").fetchall()
    finally:
        con.close()
    assert first == second
