"""The warehouse built by the real ingest from the five committed seed dumps.

Every expected value below was read off the seed text itself (see raw/SEEDS.md), not off the
pipeline's output.
"""

from __future__ import annotations

import json
import re

import duckdb
import pytest

from pipeline.archive import Archive
from pipeline.runs import start_run
from pipeline.warehouse import connect, migrate
from tests.conftest import REPO_RAW

SEEDS = ("000", "001", "002", "003", "004")


def seed_page_id(con: duckdb.DuckDBPyConnection, seed: str) -> str:
    rows = con.execute("SELECT page_id FROM raw_pages WHERE starts_with(label, ?)", [f"{seed}_"]).fetchall()
    assert len(rows) == 1, f"seed {seed}: {rows}"
    return rows[0][0]


def seed_sightings(con: duckdb.DuckDBPyConnection, seed: str, columns: str = "*") -> list[dict]:
    rel = con.execute(f"SELECT {columns} FROM sightings WHERE page_id = ? ORDER BY position", [seed_page_id(con, seed)])
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def seed_text(seed: str) -> str:
    archive = Archive(REPO_RAW)
    (entry,) = [e for e in archive.entries() if (e.label or "").startswith(f"{seed}_")]
    return archive.read(entry.sha256).decode("utf-8")


# -- counts -----------------------------------------------------------------------------------

EXPECTED_KINDS = {
    "000": {"publication": 20},
    "001": {"publication": 20},
    "002": {"publication": 19, "caption": 1, "news": 1},
    "003": {"publication": 20},
    "004": {"publication": 22},
}


def test_every_seed_page_is_registered_and_parsed(warehouse):
    rows = warehouse.execute(
        "SELECT label, format, parse_status, parse_error, sightings_count FROM raw_pages ORDER BY label"
    ).fetchall()
    assert [r[0][:3] for r in rows] == list(SEEDS)
    assert [r[1] for r in rows] == ["text-listing"] * 4 + ["text-catalogue"]
    assert all(r[2] == "parsed" and r[3] is None for r in rows), rows
    assert [r[4] for r in rows] == [sum(EXPECTED_KINDS[s].values()) for s in SEEDS]


@pytest.mark.parametrize("seed", SEEDS)
def test_sightings_per_seed_and_kind(warehouse, seed):
    rows = warehouse.execute(
        "SELECT kind, count(*) FROM sightings WHERE page_id = ? GROUP BY kind", [seed_page_id(warehouse, seed)]
    ).fetchall()
    assert dict(rows) == EXPECTED_KINDS[seed]


@pytest.mark.parametrize("seed", SEEDS)
def test_positions_run_from_one_to_n_on_each_page(warehouse, seed):
    rows = seed_sightings(warehouse, seed, "position, sighting_id, page_id")
    assert [r["position"] for r in rows] == list(range(1, sum(EXPECTED_KINDS[seed].values()) + 1))
    assert all(r["sighting_id"] == f"{r['page_id']}:{r['position']}" for r in rows)


def test_total_sightings_and_run_row(warehouse):
    assert warehouse.execute("SELECT count(*) FROM sightings").fetchone()[0] == 103
    run = warehouse.execute(
        "SELECT status, pages_archived, pages_new, pages_parsed, pages_failed, sightings_added, rejects_added, "
        "finished_at IS NOT NULL FROM runs"
    ).fetchall()
    assert run == [("ok", 5, 5, 5, 0, 103, 0, True)]
    assert warehouse.execute("SELECT count(*) FROM rejects").fetchone()[0] == 0


# -- text listings (000-003) ------------------------------------------------------------------

CHROME = {"Skip to main content", "Guideline"}


@pytest.mark.parametrize("seed", ["000", "001", "002", "003"])
def test_listing_lines_are_stored_in_order_without_the_truncation_marker(warehouse, seed):
    lines = [line.strip() for line in seed_text(seed).splitlines() if line.strip() and line.strip() not in CHROME]
    expected = [(line.removesuffix("..."), line.endswith("...")) for line in lines]
    rows = seed_sightings(warehouse, seed, "abstract, abstract_truncated, title, url")
    assert [(r["abstract"], r["abstract_truncated"]) for r in rows] == expected
    assert all(r["title"] is None and r["url"] is None for r in rows)


def test_page_chrome_is_not_a_sighting(warehouse):
    chrome = warehouse.execute(
        "SELECT page_id, position, abstract FROM sightings WHERE abstract ILIKE '%skip to main content%' "
        "OR abstract = 'Guideline' OR title = 'Guideline'"
    ).fetchall()
    assert chrome == []
    first = seed_sightings(warehouse, "003", "abstract")[0]["abstract"]
    assert first.startswith("The handbook provides operational guidance and tools to support effective protection")


def test_caption_and_news_teaser_of_seed_002(warehouse):
    rows = seed_sightings(warehouse, "002", "position, kind, abstract, abstract_truncated")
    special = [(r["position"], r["kind"]) for r in rows if r["kind"] != "publication"]
    assert special == [(5, "caption"), (6, "news")]
    caption, news = rows[4], rows[5]
    assert caption["abstract"].startswith("Third country nationals from Uzbekistan")
    assert caption["abstract"].endswith("| © Alissa Everett 2022")
    assert news["abstract"].startswith("The Return Counselling Toolkit builds upon IOM standards")
    assert not caption["abstract_truncated"] and not news["abstract_truncated"]


EXPECTED_TRUNCATED = {"000": 19, "001": 20, "002": 19, "003": 17, "004": 0}


@pytest.mark.parametrize("seed", SEEDS)
def test_truncated_abstracts_per_seed(warehouse, seed):
    rows = seed_sightings(warehouse, seed, "kind, abstract_truncated")
    assert sum(r["abstract_truncated"] for r in rows) == EXPECTED_TRUNCATED[seed]
    if seed == "002":
        assert sum(r["abstract_truncated"] for r in rows if r["kind"] == "publication") == 19


def test_untruncated_listing_lines_are_the_short_ones(warehouse):
    rows = seed_sightings(warehouse, "003", "position, abstract_truncated")
    assert [r["position"] for r in rows if not r["abstract_truncated"]] == [13, 14, 15]
    rows = seed_sightings(warehouse, "000", "position, abstract, abstract_truncated")
    (short,) = [r for r in rows if not r["abstract_truncated"]]
    assert short["position"] == 17
    assert short["abstract"].endswith("in all phases of displacement.")


def test_no_stored_abstract_ends_with_an_ellipsis(warehouse):
    bad = warehouse.execute(
        "SELECT sighting_id, right(abstract, 20) FROM sightings "
        "WHERE rtrim(abstract) LIKE '%...' OR rtrim(abstract) LIKE '%…'"
    ).fetchall()
    assert bad == []


def test_etimos_toolkit_lines_are_six_separate_sightings(warehouse):
    rows = seed_sightings(warehouse, "000", "position, kind, abstract")
    spanish = [
        r["position"] for r in rows if r["abstract"].startswith("Este juego de herramientas ha sido creado por Etimos")
    ]
    french = [
        r["position"]
        for r in rows
        if r["abstract"].startswith("Cette boite à outils a été développée par la Fondation Etimos")
    ]
    assert spanish == [6, 7, 8]
    assert french == [9, 10, 11]
    assert len({rows[p - 1]["abstract"] for p in spanish}) == 1
    assert len({rows[p - 1]["abstract"] for p in french}) == 1
    assert all(rows[p - 1]["kind"] == "publication" for p in spanish + french)


def test_listing_text_is_unicode_normalised(warehouse):
    # the seeds are UTF-8 with accents and typographic quotes; they must arrive intact, in NFC
    rows = warehouse.execute("SELECT abstract FROM sightings WHERE abstract <> nfc_normalize(abstract)").fetchall()
    assert rows == []
    german = [r["abstract"] for r in seed_sightings(warehouse, "001", "abstract") if r["abstract"].startswith("Immer")]
    assert german and "Rückkehrberaterinnen" in german[0]


# -- text catalogue (004) ---------------------------------------------------------------------

# position: (title, year, pages, isbn, eisbn, languages, pdf, flags, paragraphs, abstract start, abstract end)
CATALOGUE = {
    1: ("Building the Capacity of Municipalities in Socioeconomic Inclusion of Vulnerable Migrants",
        2020, 164, [], [], ["en", "es"], True, set(), 1,
        "The manual is a training package consist of", "and (f) conflict management."),
    2: ("IOM Public Communication Campaign Toolkit",
        2020, 88, [], [], ["en", "fr", "es"], True, set(), 2,
        "IOM has a long-standing track record", "information campaigns in migration contexts."),
    3: ("Ventanillas informativas sobre migración: Mesoamérica y el Caribe",
        2020, 78, [], [], ["es"], True, set(), 1,
        "Este manual tiene el objetivo de ofrecer", "una migración regular, segura y ordenada."),
    4: ("Community Engagement in Preventing and Responding to Gender-based Violence and Trafficking in Persons "
        "(Training Guide)",
        2020, 60, [], [], ["en"], True, set(), 1,
        "In an effort to strengthen the capacity of law enforcement", "NPF and NSCDC needs in North-East Nigeria."),
    5: ("Trafficking in Persons: Victim Identification and Assistance (Training Guide)",
        2020, 80, [], [], ["en"], True, set(), 1,
        "The International Organization for Migration (IOM) in Nigeria produced two manuals",
        "including those from the Inter-Agency Standing Committee."),
    6: ("Guide for Reintegration of Returnees in Armenia",
        2020, 51, [], ["9789290688389"], ["en", "hy"], True, set(), 1,
        "The Guide describes the role and functions", "the Guide includes useful addresses and contacts."),
    7: ("Reintegration Handbook - Practical guidance on the design, implementation and monitoring of "
        "reintegration assistance",
        2019, 304, ["9789290688112"], [], ["en", "fr", "es", "ar"], True, set(), 2,
        "This Handbook aims to provide practical guidance", "which target audience it is aimed at."),
    8: ("IOM Handbook on Protection and Assistance to Migrants Vulnerable to Violence, Exploitation and Abuse",
        2019, 298, [], [], ["en"], True, set(), 2,
        "This handbook presents the determinants of migrant vulnerability",
        "migration management laws, policies, and programmes."),
    9: ("IOM Guidance on Response Planning For migrants vulnerable to violence, exploitation and abuse",
        2019, 40, [], [], ["en"], True, {"markup_residue_removed"}, 1,
        "The practical guidelines contained in this publication provide guidance on how to determine",
        "Exploitation and Abuse (hereafter the IOM Handbook)."),
    10: ("IOM Guidance on Referral Mechanisms",
         2019, 298, [], [], ["en"], True, set(), 1,
         "The practical guidelines contained in this publication provide guidance on how to develop",
         "Exploitation and Abuse (hereafter the IOM Handbook)."),
    11: ("Doing Business- Practical Guide for migrant entrepreneurs",
         2019, 158, [], [], ["en", "it"], True, set(), 3,
         'The handbook "Doing Business- Practical Guide', "- Module 4- Access to credit"),
    12: ("Project Development Manual for Migrants' Associations: Global Development Agents",
         2019, 196, ["9789290687955"], ["9789290687962"], ["en", "it"], True, {"markup_residue_removed"}, 3,
         'The "Project Development Manual for Migrants\' Association" systematizes',
         "- Module 6 Evaluation: an opportunity for improvement"),
    13: ("Training of Trainers Manual: International Organization for Migration and the Congregation of the "
         "Missionary Sisters of St Charles Borromeo (Scalabrinians)",
         2019, 89, [], [], ["en"], True, set(), 2,
         "This manual for the Scalabrinian missionary trainers", "necessary to successfully train other trainers."),
    14: ("Manual on Community-Based Mental Health and Psychosocial Support in Emergencies and Displacement",
         2019, 495, ["9789290687849"], [], ["en"], True, set(), 4,
         "The Manual on Community-Based Mental Health", "by emailing contactpss@iom.int."),
    15: ("The safety of your trip: Tips for Safe Migration",
         2019, 28, [], [], [], True, {"not_a_language:Armenia"}, 3,
         "While being in migration migrants may face problems", "funded by the British Embassy in Yerevan."),
    16: ("Strengthening Law Enforcement Response to Gender-Based Violence and Trafficking in Persons in Borno and "
         "Adamawa (Nigeria)",
         2018, 98, [], [], ["en"], True, set(), 1,
         "This Training Manual is part of the International Organization for Migration's (IOM) efforts",
         "an accompanying resource for the training of trainers."),
    17: ("Guidelines for the Harmonization of Migration Data Management in the ECOWAS Region",
         2018, 68, [], [], ["en"], True, {"markup_residue_removed"}, 2,
         "The Guidelines for the harmonization of migration data in the West Africa region",
         "Migration in West Africa (FMM West Africa)."),
    18: ("Investigating Human Trafficking Cases Using a Victim-centred Approach: A Trainer's Manual on Combating "
         "Trafficking in Persons for Capacity-building of Law Enforcement Officers in Antigua and Barbuda, Belize, "
         "Jamaica, and Trinidad and Tobago",
         2018, 114, [], [], ["en"], True, set(), 2,
         "This guidebook — titled Investigating Human Trafficking Cases",
         "through to their return/repatriation and reintegration into society."),
    19: ("Migration and the 2030 Agenda: A Guide for Practitioners",
         2018, 156, ["9789968542715"], [], ["en", "fr", "es"], True, {"isbn_on_several_titles:9789968542715"}, 3,
         "This guide is designed to serve government actors", "a poster which summarizes these linkages."),
    20: ("Guía para la Atención Psicosocial a Personas Migrantes en Mesoamérica",
         2018, 194, ["9789968542715"], [], ["es"], True, {"isbn_on_several_titles:9789968542715"}, 1,
         "La publicación es una guía práctica", "personas migrantes en la región de Mesoamérica."),
    21: ("Modules de formation de formateurs sur la protection des victimes de traite des personnes",
         2018, 248, [], [], ["fr"], True, set(), 1,
         "Dans le cadre de la mise en œuvre du projet intitulé",
         "protection des victimes de traite des personnes au Burkina Faso."),
    22: ("Institutional Framework for Addressing Gender-Based Violence in Crises",
         2018, 40, [], [], ["en"], True, set(), 3,
         "The key objective of the GBViC Framework", "must be implemented in all crisis operations."),
}  # fmt: skip


@pytest.fixture(scope="module")
def catalogue(warehouse) -> dict[int, dict]:
    return {r["position"]: r for r in seed_sightings(warehouse, "004")}


def test_catalogue_has_exactly_the_22_entries(catalogue):
    assert sorted(catalogue) == sorted(CATALOGUE)


@pytest.mark.parametrize("position", sorted(CATALOGUE))
def test_catalogue_entry(catalogue, position):
    title, year, pages, isbn, eisbn, languages, pdf, flags, paragraphs, start, end = CATALOGUE[position]
    got = catalogue[position]
    assert got["kind"] == "publication"
    assert got["title"] == title
    assert (got["year"], got["page_count"]) == (year, pages)
    assert got["isbn"] == isbn
    assert got["eisbn"] == eisbn
    assert got["languages"] == languages
    assert got["pdf_available"] is pdf
    assert set(got["quality_flags"]) == flags
    assert got["abstract_truncated"] is False
    abstract = got["abstract"]
    assert abstract.startswith(start)
    assert abstract.endswith(end)
    assert len(abstract.split("\n\n")) == paragraphs, abstract
    assert "\n\n\n" not in abstract and abstract == abstract.strip()


def test_catalogue_codes_have_the_stored_shape(catalogue):
    for got in catalogue.values():
        assert all(re.fullmatch(r"97[89]\d{10}", code) for code in got["isbn"] + got["eisbn"]), got
        assert all(re.fullmatch(r"[a-z]{2}", code) for code in got["languages"]), got


def test_markdown_residue_is_removed_from_titles_and_languages(catalogue):
    assert catalogue[17]["title"].count("ECOWAS") == 1
    for got in catalogue.values():
        assert "*" not in got["title"] and "*" not in got["abstract"]
        assert "**" not in json.dumps(got["languages"])


def test_bullet_residue_is_cleaned_and_the_list_keeps_one_item_a_line(catalogue):
    abstract = catalogue[12]["abstract"]
    assert "\\bullet" not in abstract and "bullet" not in abstract and "\\" not in abstract
    intro, lead, bullets = abstract.split("\n\n")
    assert intro.startswith('The "Project Development Manual')
    assert lead == "The manual is divided into the following modules:"
    assert bullets.splitlines() == [
        "- Module 1 How to develop a project",
        "- Module 2 The budget: quantifying the project cost and managing the financial resources",
        "- Module 3 With whom should I join forces to achieve change? Building the partnership",
        "- Module 4 Implementing the project",
        "- Module 5 Communicating the project: why it is important and how you should proceed",
        "- Module 6 Evaluation: an opportunity for improvement",
    ]


def test_numbered_bullet_list_stays_between_its_paragraphs(catalogue):
    first, bullets, last = catalogue[22]["abstract"].split("\n\n")
    assert first.endswith("through three institutional approaches:")
    assert [line[:5] for line in bullets.splitlines()] == ["- 1. ", "- 2. ", "- 3. "]
    assert last.startswith("The GBViC Framework provides the foundation")


def test_the_order_form_is_not_an_entry(warehouse, catalogue):
    everything = warehouse.execute("SELECT string_agg(coalesce(title, '') || ' ' || abstract, ' ') FROM sightings")
    text = everything.fetchone()[0]
    for residue in ("ORDER FORM", "HOW TO PURCHASE", "Amount due", "Unit Price", "publications@iom.int", "Morillons"):
        assert residue not in text
    assert "Handbooks and Manuals" not in text and "PUBLICATIONS" not in text


def test_shared_isbn_is_flagged_on_both_titles_only(warehouse):
    rows = warehouse.execute(
        "SELECT position, title FROM sightings "
        "WHERE list_contains(quality_flags, 'isbn_on_several_titles:9789968542715') ORDER BY position"
    ).fetchall()
    assert [p for p, _ in rows] == [19, 20]
    assert len({t for _, t in rows}) == 2
    flagged = warehouse.execute(
        "SELECT count(*) FROM sightings, unnest(quality_flags) AS f(flag) WHERE flag LIKE 'isbn_on_several_titles:%'"
    ).fetchone()[0]
    assert flagged == 2


def test_country_written_as_a_language_is_a_flag_not_a_language(warehouse):
    rows = warehouse.execute(
        "SELECT title, languages FROM sightings WHERE list_contains(quality_flags, 'not_a_language:Armenia')"
    ).fetchall()
    assert rows == [("The safety of your trip: Tips for Safe Migration", [])]
    # Armenian (a language) on another entry is kept, as its code
    assert warehouse.execute("SELECT count(*) FROM sightings WHERE list_contains(languages, 'hy')").fetchone()[0] == 1


def test_markup_flag_marks_exactly_the_entries_that_had_residue(warehouse):
    rows = warehouse.execute(
        "SELECT position FROM sightings WHERE list_contains(quality_flags, 'markup_residue_removed') ORDER BY 1"
    ).fetchall()
    # 9: **English** in the languages, 12: \bullet in the abstract, 17: **ECOWAS** in the title
    assert [p for (p,) in rows] == [9, 12, 17]


# -- schema and views -------------------------------------------------------------------------

CORE_TABLES = ("runs", "raw_pages", "sightings", "rejects")

REQUIRED_COLUMNS = {
    "runs": {"run_id", "started_at", "finished_at", "status"},
    "raw_pages": {"page_id", "source", "url", "format", "sha256", "retrieved_at"},
    "sightings": {
        "sighting_id", "page_id", "position", "kind", "title", "abstract", "abstract_truncated", "year",
        "page_count", "isbn", "eisbn", "languages", "pdf_available", "url", "quality_flags",
    },
    "rejects": {"run_id", "page_id", "stage", "reason"},
}  # fmt: skip


@pytest.mark.parametrize("table", CORE_TABLES)
def test_table_has_the_promised_columns(warehouse, table):
    columns = {
        name
        for (name,) in warehouse.execute(
            "SELECT column_name FROM duckdb_columns() WHERE table_name = ?", [table]
        ).fetchall()
    }
    assert REQUIRED_COLUMNS[table] <= columns


def test_list_columns_are_lists(warehouse):
    types = dict(
        warehouse.execute(
            "SELECT column_name, data_type FROM duckdb_columns() WHERE table_name = 'sightings' "
            "AND column_name IN ('isbn', 'eisbn', 'languages', 'quality_flags')"
        ).fetchall()
    )
    assert types == dict.fromkeys(("isbn", "eisbn", "languages", "quality_flags"), "VARCHAR[]")


@pytest.mark.parametrize("table", CORE_TABLES)
def test_every_table_and_column_carries_a_comment(warehouse, table):
    (comment,) = warehouse.execute("SELECT comment FROM duckdb_tables() WHERE table_name = ?", [table]).fetchone()
    assert comment and len(comment) > 10
    missing = warehouse.execute(
        "SELECT column_name FROM duckdb_columns() WHERE table_name = ? AND coalesce(trim(comment), '') = ''", [table]
    ).fetchall()
    assert missing == []


def test_publications_view_is_commented(warehouse):
    (comment,) = warehouse.execute("SELECT comment FROM duckdb_views() WHERE view_name = 'publications'").fetchone()
    assert comment


def test_publications_view_groups_exact_duplicates(warehouse):
    publication_sightings = warehouse.execute("SELECT count(*) FROM sightings WHERE kind = 'publication'").fetchone()[0]
    assert publication_sightings == 101
    count, total = warehouse.execute("SELECT count(*), sum(sighting_count) FROM publications").fetchone()
    assert count < publication_sightings
    assert total == publication_sightings
    ids = [i for (i,) in warehouse.execute("SELECT unnest(sighting_ids) FROM publications").fetchall()]
    publication_ids = warehouse.execute("SELECT sighting_id FROM sightings WHERE kind = 'publication'").fetchall()
    assert sorted(ids) == sorted(i for (i,) in publication_ids)


def test_publications_view_leaves_out_captions_and_news(warehouse):
    others = {
        i for (i,) in warehouse.execute("SELECT sighting_id FROM sightings WHERE kind <> 'publication'").fetchall()
    }
    assert len(others) == 2
    listed = {i for (i,) in warehouse.execute("SELECT unnest(sighting_ids) FROM publications").fetchall()}
    assert not others & listed


# -- idempotence ------------------------------------------------------------------------------

REPLAYED_TABLES = ("raw_pages", "sightings", "rejects")


def test_second_run_adds_a_runs_row_and_nothing_else(tmp_path, seed_archive, ingest, table_rows):
    db = tmp_path / "w.duckdb"
    ingest(seed_archive, db)
    con = duckdb.connect(str(db), read_only=True)
    before = {t: table_rows(con, t) for t in REPLAYED_TABLES}
    runs_before = table_rows(con, "runs")
    con.close()

    second = ingest(seed_archive, db)
    assert second.status == "ok"
    assert (second.pages_new, second.pages_parsed, second.pages_skipped) == (0, 0, 5)
    assert (second.sightings_added, second.rejects_added) == (0, 0)

    con = duckdb.connect(str(db), read_only=True)
    after = {t: table_rows(con, t) for t in REPLAYED_TABLES}
    runs_after = table_rows(con, "runs")
    con.close()
    assert after == before
    assert len(runs_after) == len(runs_before) + 1
    assert runs_after[: len(runs_before)] == runs_before


def test_reparse_parses_again_and_writes_identical_sightings(tmp_path, seed_archive, ingest, table_rows):
    db = tmp_path / "w.duckdb"
    ingest(seed_archive, db)
    con = duckdb.connect(str(db), read_only=True)
    before = {t: table_rows(con, t, exclude=("run_id", "parsed_run_id")) for t in REPLAYED_TABLES}
    con.close()

    again = ingest(seed_archive, db, reparse=True)
    assert (again.status, again.pages_parsed, again.pages_skipped, again.sightings_added) == ("ok", 5, 0, 103)

    con = duckdb.connect(str(db), read_only=True)
    after = {t: table_rows(con, t, exclude=("run_id", "parsed_run_id")) for t in REPLAYED_TABLES}
    rewritten_by = con.execute("SELECT DISTINCT run_id FROM sightings").fetchall()
    parsed_by = con.execute("SELECT DISTINCT parsed_run_id FROM raw_pages").fetchall()
    con.close()
    assert after == before
    assert rewritten_by == [(again.run_id,)] and parsed_by == [(again.run_id,)]


def test_run_killed_mid_way_is_marked_crashed_and_the_next_run_completes(tmp_path, seed_archive, ingest):
    db = tmp_path / "w.duckdb"
    con = connect(db)
    migrate(con)
    start_run(con, "ingest", {})  # the process dies here: the run row stays 'running'
    con.close()
    summary = ingest(seed_archive, db)
    assert (summary.status, summary.sightings_added) == ("ok", 103)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT run_id, status FROM runs ORDER BY run_id").fetchall() == [(1, "crashed"), (2, "ok")]
    con.close()
