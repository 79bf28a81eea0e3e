"""Stable ids and hand-made decisions: ids survive re-runs, growth, merges and splits;
pins and forbids from the overrides file are respected by later runs, a forbid beating all."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from test_dedup_rules import ETIMOS_FR, HANDBOOK, MP, PUB, RR, add_pages, assignment, build_warehouse, page, sid, teaser

from pipeline.dedup import run_dedup
from pipeline.errors import ConfigError

DETAIL = f"https://{MP}/en/resources/manual/idp-handbook"
OTHER = (
    "Data protection continues to be a growing field in the context of international organizations and in the "
    "management of migration, given the increased use of advanced technology, data theft and data loss."
)


def handbook_pages() -> list:
    return [
        page("dump", "text-listing", RR, f"https://{RR}/en/resources/guideline",
             {"abstract": teaser(HANDBOOK, 200) + "...", "abstract_truncated": True},
             {"abstract": teaser(OTHER, 150) + "...", "abstract_truncated": True}),
    ]  # fmt: skip


def ids_of(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    return assignment(con)


def status(con: duckdb.DuckDBPyConnection, ident: str) -> tuple[str, str | None]:
    return con.execute("SELECT status, merged_into FROM dedup_ids WHERE id = ?", [ident]).fetchall()[0]


def test_an_id_survives_when_its_cluster_grows(tmp_path: Path) -> None:
    con = build_warehouse(tmp_path / "w.duckdb", handbook_pages())
    run_dedup(con, None)
    before = ids_of(con)[sid("dump", 1)]
    add_pages(
        con,
        [page("detail", "html-detail", MP, DETAIL, {"title": "IDP Handbook", "abstract": HANDBOOK, "url": DETAIL})],
        run_id=2,
    )
    summary = run_dedup(con, None)
    after = ids_of(con)
    assert after[sid("dump", 1)] == before
    assert after[sid("detail", 1)] == before
    assert summary.ids_created == 0 and summary.ids_merged == 0


def test_when_clusters_merge_the_older_id_survives_and_the_other_is_recorded(tmp_path: Path) -> None:
    con = build_warehouse(tmp_path / "w.duckdb", handbook_pages())
    run_dedup(con, None)
    old = ids_of(con)[sid("dump", 1)][0]
    # run 2: the detail page arrives with a rewritten abstract: a cluster of its own
    rewritten = "Internal displacement guidance for staff. " + HANDBOOK[300:]
    add_pages(
        con,
        [page("detail", "html-detail", MP, DETAIL, {"title": "IDP Handbook", "abstract": rewritten, "url": DETAIL})],
        2,
    )
    run_dedup(con, None)
    newer = ids_of(con)[sid("detail", 1)][0]
    assert newer != old
    # run 3: a listing card links the detail URL and shows the old teaser: both clusters are one
    card = {"title": "IDP Handbook", "abstract": teaser(HANDBOOK, 200), "abstract_truncated": True, "url": DETAIL}
    add_pages(con, [page("crawl", "html-listing", MP, f"https://{MP}/en/resources/manual", card)], 3)
    summary = run_dedup(con, None)
    after = ids_of(con)
    assert after[sid("dump", 1)][0] == after[sid("detail", 1)][0] == after[sid("crawl", 1)][0] == old
    assert status(con, newer) == ("merged", old)
    assert summary.ids_merged >= 1


def test_a_forbid_splits_a_cluster_and_the_id_stays_with_one_part(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            *handbook_pages(),
            page("detail", "html-detail", MP, DETAIL, {"title": "IDP Handbook", "abstract": HANDBOOK, "url": DETAIL}),
        ],
    )
    run_dedup(con, None)
    old = ids_of(con)[sid("detail", 1)][0]
    assert ids_of(con)[sid("dump", 1)][0] == old
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        f'[[forbid]]\na = "{sid("dump", 1)}"\nb = "{DETAIL}"\nreason = "not the same"\n', encoding="utf-8"
    )
    summary = run_dedup(con, overrides)
    after = ids_of(con)
    assert after[sid("dump", 1)][0] != after[sid("detail", 1)][0]
    assert old in (after[sid("dump", 1)][0], after[sid("detail", 1)][0])
    assert summary.forbids == 1
    vetoed = con.execute("SELECT reason FROM match_links WHERE decision = 'vetoed'").fetchall()
    assert any("forbid #1" in r[0] for r in vetoed)
    # and later runs keep respecting it
    run_dedup(con, overrides)
    assert ids_of(con) == after


def test_a_pin_joins_and_a_forbid_beats_a_pin_and_one_url(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            *handbook_pages(),
            page("d1", "html-detail", MP, DETAIL, {"title": "IDP Handbook", "abstract": HANDBOOK, "url": DETAIL}),
            page(
                "d2",
                "html-detail",
                MP,
                DETAIL + "?utm_source=x",
                {"title": "IDP Handbook", "abstract": HANDBOOK, "url": DETAIL},
            ),
        ],
    )
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(
        '[[pin]]\na = "dump#1"\nb = "dump#2"\n\n[[forbid]]\na = "d1#1"\nb = "d2#1"\n', encoding="utf-8"
    )
    summary = run_dedup(con, overrides)
    found = ids_of(con)
    assert found[sid("dump", 1)][0] == found[sid("dump", 2)][0]  # pinned, though on one page
    assert found[sid("d1", 1)][0] != found[sid("d2", 1)][0]  # one URL, but forbidden
    assert (summary.pins, summary.forbids) == (1, 1)
    overrides.write_text('[[pin]]\na = "d1#1"\nb = "d2#1"\n[[forbid]]\na = "d1#1"\nb = "d2#1"\n', encoding="utf-8")
    run_dedup(con, overrides)
    found = ids_of(con)
    assert found[sid("d1", 1)][0] != found[sid("d2", 1)][0]


def test_a_work_level_forbid_separates_linked_editions(tmp_path: Path) -> None:
    en, fr = f"https://{PUB}/books/handbook", f"https://{PUB}/books/manuel"
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "en",
                "html-detail",
                PUB,
                en,
                {"title": "Handbook", "abstract": HANDBOOK, "url": en, "edition_links": [fr]},
            ),
            page("fr", "html-detail", PUB, fr, {"title": "Manuel", "abstract": ETIMOS_FR, "url": fr}),
        ],
    )
    run_dedup(con, None)
    assert ids_of(con)[sid("en", 1)][1] == ids_of(con)[sid("fr", 1)][1]
    overrides = tmp_path / "overrides.toml"
    overrides.write_text(f'[[forbid]]\na = "{en}"\nb = "{fr}"\nlevel = "work"\n', encoding="utf-8")
    run_dedup(con, overrides)
    assert ids_of(con)[sid("en", 1)][1] != ids_of(con)[sid("fr", 1)][1]


def test_unresolved_references_are_reported_and_bad_files_refused(tmp_path: Path) -> None:
    con = build_warehouse(tmp_path / "w.duckdb", handbook_pages())
    overrides = tmp_path / "overrides.toml"
    overrides.write_text('[[pin]]\na = "dump#1"\nb = "https://nowhere.example.org/x"\n', encoding="utf-8")
    summary = run_dedup(con, overrides)
    assert summary.pins == 0 and summary.unresolved_overrides == ["pin #1: https://nowhere.example.org/x"]
    stored = con.execute("SELECT unresolved_overrides FROM dedup_runs ORDER BY dedup_run_id DESC LIMIT 1").fetchall()
    assert stored[0][0] == ["pin #1: https://nowhere.example.org/x"]
    for bad in (
        "[[pin]]\na = 'x'\n",
        "[[merge]]\na = 'x'\nb = 'y'\n",
        "[[pin]]\na='x'\nb='y'\nlevel='page'\n",
        "pin = [",
    ):
        overrides.write_text(bad, encoding="utf-8")
        with pytest.raises(ConfigError):
            run_dedup(con, overrides)


def test_the_committed_overrides_file_is_valid_and_changes_nothing(tmp_path: Path) -> None:
    from conftest import REPO_ROOT

    con = build_warehouse(tmp_path / "w.duckdb", handbook_pages())
    summary = run_dedup(con, REPO_ROOT / "overrides.toml")
    assert summary.pins == summary.forbids == 0 and not summary.unresolved_overrides


def test_an_empty_warehouse_gives_an_empty_pass(tmp_path: Path) -> None:
    from pipeline.warehouse import connect, migrate

    con = connect(tmp_path / "w.duckdb")
    migrate(con)
    for _ in range(2):
        summary = run_dedup(con, None)
        assert (summary.sightings, summary.editions, summary.works) == (0, 0, 0)
    assert con.execute("SELECT count(*) FROM publications").fetchall()[0][0] == 0
