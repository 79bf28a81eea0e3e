"""Deduplication of a real crawl of the replica (plus the seed archive), measured against the
replica's ground truth (`edition_key`, `work_key` of every item in tests/replica/data/dataset.json)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, copy_seed_archive

from pipeline.archive import Archive
from pipeline.dedup import run_dedup
from pipeline.dedup.evaluate import evaluate
from pipeline.ingest import IngestOptions, crawl_step, run_ingest
from pipeline.sources import load_sources
from pipeline.warehouse import connect, migrate
from tests.replica import Replica

DATASET = REPO_ROOT / "tests" / "replica" / "data" / "dataset.json"


@pytest.fixture(scope="module")
def crawled(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Seeds plus a full crawl of the replica, ingested and deduplicated once."""
    root = tmp_path_factory.mktemp("dedup_replica")
    raw = copy_seed_archive(root / "raw")
    db = root / "w.duckdb"
    with Replica(page_size=10, crawl_delay=0) as rep:
        sources = rep.write_sources(root / "sources.toml")
        con = connect(db)
        try:
            migrate(con)
            archive = Archive(raw)
            options = IngestOptions()
            run_ingest(con, archive, options, fetch=crawl_step(load_sources(sources), archive, options))
            run_dedup(con, None)
        finally:
            con.close()
    return db


def test_replica_and_seeds_meet_the_quality_targets(crawled: Path) -> None:
    con = duckdb.connect(str(crawled), read_only=True)
    try:
        result = evaluate(con, DATASET)
    finally:
        con.close()
    assert result.labelled_sightings > 350 and not result.unresolved
    assert result.editions.precision >= 0.99 and result.editions.recall >= 0.95, result.lines() + result.errors
    assert result.works.precision >= 0.98 and result.works.recall >= 0.90, result.lines() + result.errors


def test_hand_labels_still_hold_with_the_replica_in_the_warehouse(crawled: Path) -> None:
    con = duckdb.connect(str(crawled), read_only=True)
    try:
        for labels in ("seeds.csv", "seed_pairs.csv"):
            result = evaluate(con, REPO_ROOT / "tests" / "labels" / labels)
            assert result.editions.precision == 1.0 and result.works.precision == 1.0, result.errors
            assert result.editions.recall >= 0.95, result.errors
    finally:
        con.close()


def test_editions_linked_by_the_sites_form_works(crawled: Path) -> None:
    con = duckdb.connect(str(crawled), read_only=True)
    try:
        rows = con.execute(
            "SELECT languages FROM works "
            "WHERE title LIKE 'World Migration Report 2022%' OR title LIKE 'Migration and the 2030%'"
        ).fetchall()
        rules = con.execute(
            "SELECT DISTINCT rule FROM match_links WHERE level = 'work' AND decision = 'joined'"
        ).fetchall()
    finally:
        con.close()
    assert sorted(r[0] for r in rows) == [["en", "es", "fr"], ["en", "es", "fr"]]
    assert ("edition_link",) in rules
