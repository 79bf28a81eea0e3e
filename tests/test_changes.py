"""The change log behind incremental exports, OAI-PMH datestamps and the report's "new, changed, gone".

Real DuckDB files and real dedup passes; what is expected follows from what the test did to the
pages (added one, edited one, removed one), not from the code under test.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
from test_dedup_rules import MP, add_pages, build_warehouse, page

from pipeline.dedup import run_dedup

#: distinct abstracts in three languages for records whose life (added, changed, withdrawn) a test
#: drives by hand; tests/test_export.py uses them too
TEXTS = [
    "This guide explains how municipalities can welcome newly arrived migrants, with checklists for "
    "housing, schooling and health services drawn from twelve city programmes in Europe.",
    "Ce rapport examine les envois de fonds des travailleurs saisonniers vers leurs familles et propose "
    "des mesures pour réduire les frais de transfert dans la région des Grands Lacs.",
    "Esta herramienta ayuda a los equipos de frontera a identificar a niñas y niños no acompañados y a "
    "remitirlos a servicios de protección adecuados en los puntos de entrada terrestres.",
    "This report reviews the recruitment of seasonal agricultural workers across three corridors, with the fees "
    "they paid, the contracts they signed and how complaints were handled.",
]


def _card(k: int, title: str | None = None) -> dict:
    return {"title": title or f"Item {k}", "abstract": TEXTS[k], "url": f"https://{MP}/en/r/item-{k}"}


def _status(con: duckdb.DuckDBPyConnection) -> dict[tuple[str, str], str]:
    rows = con.execute("SELECT level, id, last_op FROM record_status").fetchall()
    return {(level, i): op for level, i, op in rows}


def _edition_of(con: duckdb.DuckDBPyConnection, url: str) -> str:
    row = con.execute(
        "SELECT edition_id FROM sighting_editions JOIN sightings USING (sighting_id) WHERE url = ?", [url]
    ).fetchone()
    assert row is not None, url
    return row[0]


def test_added_changed_withdrawn_and_nothing_when_nothing_changed(tmp_path: Path) -> None:
    pages = [page(f"p{k}", "html-detail", MP, f"https://{MP}/en/r/item-{k}", _card(k)) for k in range(3)]
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    first = run_dedup(con, None)
    assert first.changes == {"editions_added": 3, "works_added": 3}
    ids = {k: _edition_of(con, f"https://{MP}/en/r/item-{k}") for k in range(3)}

    again = run_dedup(con, None)
    assert again.changes == {}

    # run 2: item 0 gets a new title, item 2's page is gone
    con.execute("DELETE FROM sightings WHERE url = ?", [f"https://{MP}/en/r/item-2"])
    con.execute("UPDATE sightings SET title = 'Item 0, second edition' WHERE url = ?", [f"https://{MP}/en/r/item-0"])
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (2, now(), 'ok')")
    second = run_dedup(con, None)
    status = _status(con)
    assert status[("edition", ids[0])] == "changed"
    assert status[("edition", ids[1])] == "added"
    assert status[("edition", ids[2])] == "withdrawn"
    assert second.changes == {"editions_changed": 1, "editions_withdrawn": 1, "works_changed": 1, "works_withdrawn": 1}
    per_run = con.execute("SELECT run_id, level, op, records FROM changes ORDER BY ALL").fetchall()
    assert per_run == [
        (1, "edition", "added", 3),
        (1, "work", "added", 3),
        (2, "edition", "changed", 1),
        (2, "edition", "withdrawn", 1),
        (2, "work", "changed", 1),
        (2, "work", "withdrawn", 1),
    ]

    # run 3: item 2's page is back; a retired id is never reissued (dedup/ids.py), so it is a new record
    add_pages(con, [page("p2b", "html-detail", MP, f"https://{MP}/en/r/item-2", _card(2))], run_id=3)
    run_dedup(con, None)
    back = _edition_of(con, f"https://{MP}/en/r/item-2")
    assert _status(con)[("edition", back)] == "added" and _status(con)[("edition", ids[2])] == "withdrawn"


def test_display_titles_and_lists_are_never_missing(tmp_path: Path) -> None:
    untitled = {"abstract": TEXTS[0] + " " + TEXTS[0], "url": None}
    pages = [
        page("a", "text-listing", MP, f"https://{MP}/en/r", untitled),
        page("b", "html-detail", MP, f"https://{MP}/en/r/item-1", _card(1)),
    ]
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    run_dedup(con, None)
    rows = con.execute(
        "SELECT title, display_title, title_derived, isbn, eisbn, languages, pdf_urls FROM publications ORDER BY title"
    ).fetchall()
    titled = next(r for r in rows if r[0] is not None)
    derived = next(r for r in rows if r[0] is None)
    assert titled[1] == "Item 1" and titled[2] is False
    assert derived[2] is True and TEXTS[0].startswith(derived[1].removesuffix(" …"))
    assert len(derived[1]) <= 82 and derived[1].endswith(" …")
    for row in rows:
        assert all(value == [] or isinstance(value, list) for value in row[3:])
    works = con.execute("SELECT display_title, title_derived FROM works ORDER BY display_title").fetchall()
    assert [w[1] for w in works] == [False, True] or [w[1] for w in works] == [True, False]
    assert all(w[0] for w in works)


def test_a_works_title_does_not_depend_on_which_ids_its_editions_hold(tmp_path: Path) -> None:
    """Ids depend on the order of past passes (dedup/ids.py); a work's title must not.

    Two French editions of one work, one seen on two pages and one on a single page: the work's
    title is the one seen more. Swapping the two edition ids, as another pass history could have
    issued them, leaves it so.
    """
    french = [TEXTS[1], TEXTS[1].replace("Grands Lacs", "Corne de l'Afrique")]
    seen_twice = {"title": "Envois de fonds, Grands Lacs", "abstract": french[0], "url": f"https://{MP}/fr/r/a"}
    seen_once = {"title": "Envois de fonds, Corne de l'Afrique", "abstract": french[1], "url": f"https://{MP}/fr/r/b"}
    pages = [
        page("a1", "html-detail", MP, f"https://{MP}/fr/r/a", seen_twice),
        page("a2", "html-listing", MP, f"https://{MP}/fr/r?page=1", seen_twice),
        page("b1", "html-detail", MP, f"https://{MP}/fr/r/b", seen_once),
    ]
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    run_dedup(con, None)
    a, b = _edition_of(con, f"https://{MP}/fr/r/a"), _edition_of(con, f"https://{MP}/fr/r/b")
    assert a != b
    # one work of two same-language editions, whatever the text matcher made of them
    con.execute("UPDATE edition_members SET work_id = 'wk_000000000001', edition_language = 'fr'")
    for first, second in ((a, b), (b, a)):
        con.execute(
            "UPDATE edition_members SET edition_id = CASE edition_id WHEN ? THEN 'ed_000000000001' "
            "ELSE 'ed_000000000002' END",
            [first],
        )
        assert con.execute("SELECT title, display_title FROM works").fetchall() == [
            ("Envois de fonds, Grands Lacs", "Envois de fonds, Grands Lacs")
        ]
        con.execute(
            "UPDATE edition_members SET edition_id = CASE edition_id WHEN 'ed_000000000001' THEN ? ELSE ? END",
            [first, second],
        )
