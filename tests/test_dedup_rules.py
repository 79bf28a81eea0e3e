"""Deduplication rules and traps on small hand-made warehouses (real DuckDB files, no mocks).

`build_warehouse` writes pages and their sightings straight into a migrated DuckDB file, the
way the load stage does (records validated by SightingRecord), so each test states its
scenario as data: which page shows which card.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import duckdb
import pyarrow as pa

from pipeline.dedup import run_dedup
from pipeline.dedup.normalise import (
    NORMALISE_SQL,
    detect_language,
    normalise,
    title_numbers,
    titles_conflict,
    titles_same,
    urls_conflict,
)
from pipeline.models import SightingRecord
from pipeline.warehouse import connect, migrate

MP = "migrantprotection.iom.int"
RR = "returnandreintegration.iom.int"
PUB = "publications.iom.int"

Page = dict[str, Any]


def page(name: str, fmt: str, source: str, url: str | None, *cards: dict[str, Any]) -> Page:
    return {"name": name, "format": fmt, "source": source, "url": url, "cards": list(cards)}


def build_warehouse(path: Path, pages: list[Page]) -> duckdb.DuckDBPyConnection:
    """A migrated warehouse holding exactly these pages and sightings (run 1)."""
    con = connect(path)
    migrate(con)
    add_pages(con, pages, run_id=1)
    return con


def add_pages(con: duckdb.DuckDBPyConnection, pages: list[Page], run_id: int) -> None:
    """Record a run that archived these pages and loaded their sightings."""
    con.execute("INSERT INTO runs (run_id, started_at, status) VALUES (?, now(), 'ok')", [run_id])
    page_rows, sighting_rows = [], []
    for p in pages:
        page_id = hashlib.sha256(p["name"].encode()).hexdigest()[:16]
        page_rows.append(
            {"page_id": page_id, "source": p["source"], "url": p["url"], "format": p["format"], "label": p["name"]}
        )
        for position, card in enumerate(p["cards"], start=1):
            record = SightingRecord.model_validate(
                {
                    "sighting_id": f"{page_id}:{position}",
                    "page_id": page_id,
                    "position": position,
                    "kind": "publication",
                    **card,
                }
            ).model_dump()
            record["run_id"] = run_id
            record["source"] = p["source"]
            record["extra"] = json.dumps(record["extra"]) if record["extra"] else None
            sighting_rows.append(record)
    pages_table = pa.Table.from_pylist(page_rows)  # noqa: F841 (scanned by DuckDB)
    con.execute(
        "INSERT INTO raw_pages BY NAME SELECT *, sha256(page_id) AS sha256, now() AS retrieved_at, 0 AS size_bytes, "
        f"{int(run_id)} AS first_run_id, 'parsed' AS parse_status FROM pages_table"
    )
    if sighting_rows:
        sightings_table = pa.Table.from_pylist(sighting_rows)  # noqa: F841
        con.execute(
            "INSERT INTO sightings BY NAME SELECT * REPLACE (CAST(extra AS JSON) AS extra) FROM sightings_table"
        )


def sid(name: str, position: int) -> str:
    return f"{hashlib.sha256(name.encode()).hexdigest()[:16]}:{position}"


def assignment(con: duckdb.DuckDBPyConnection) -> dict[str, tuple[str, str]]:
    rows = con.execute("SELECT sighting_id, edition_id, work_id FROM sighting_editions").fetchall()
    return {s: (e, w) for s, e, w in rows}


ETIMOS_ES = (
    "Este juego de herramientas ha sido creado por Etimos Foundation, junto con la Organización Internacional "
    "para las Migraciones (OIM) y la Associazione Formazione Professionale del Patronato San Vincenzo, para apoyar "
    "a las personas migrantes que desean crear una empresa en su país de origen con un plan de negocio sólido."
)
ETIMOS_FR = (
    "Cette boîte à outils a été développée par la Fondation Etimos, en collaboration avec l’Organisation "
    "Internationale pour les Migrations (OIM) et la Associazione Formazione Professionale del Patronato San "
    "Vincenzo, pour soutenir les personnes migrantes qui souhaitent créer une entreprise dans leur pays d’origine."
)
HANDBOOK = (
    "The handbook provides operational guidance and tools to support effective protection responses in situations "
    "of internal displacement. Specifically, the Handbook seeks to ensure staff members are familiar with the core "
    "concepts, principles and international standards that govern the protection of internally displaced persons, "
    "and to give them practical tools for their work in the field with communities and authorities."
)


def teaser(text: str, limit: int = 120) -> str:
    """Drupal-style trim, but cut in the middle of a word on purpose."""
    return text[:limit]


# ---------------------------------------------------------------------------------------------
# normalisation


def test_sql_and_python_normalisation_agree() -> None:
    samples = [
        "IOM’s Approach — to “Protection”, 2022-2023...",
        "Cette boîte à outils a été développée par la Fondation Etimos (OIM)",
        "Rückkehr und Reintegration von vulnerablen Personen",
        "Migración y Poblaciones LGBTI: Mesoamérica",
        "  tabs\tand\nnewlines  ",
        ETIMOS_ES,
        HANDBOOK,
    ]
    con = duckdb.connect()
    for text in samples:
        sql = con.execute(f"SELECT {NORMALISE_SQL.format(x='?')}", [text]).fetchall()[0][0]
        assert sql == normalise(text), text


def test_language_is_read_from_function_words() -> None:
    assert detect_language(normalise(ETIMOS_ES)) == "es"
    assert detect_language(normalise(ETIMOS_FR)) == "fr"
    assert detect_language(normalise(HANDBOOK)) == "en"
    assert detect_language(normalise("LGBTI MHPSS 2030")) is None


def test_title_numbers_name_volumes_and_years() -> None:
    assert title_numbers("Compilation of EU Acquis on Migration – Volume II: Return") == {2}
    assert title_numbers("Migration Policy Practice (Vol. IX, Number 1)") == {9, 1}
    assert title_numbers("Knowledge Bite #1- Introduction to the Series") == {1}
    assert title_numbers("Professional Standards for Protection Work (Third Edition)") == {3}
    assert title_numbers("I Am Here") == set()


def test_title_agreement() -> None:
    assert titles_conflict("Toolkit – Volume 1", "Toolkit – Volume 2")
    assert titles_conflict("Key Highlights 2022", "Key Highlights 2023")
    assert titles_conflict("Reintegration Handbook", "Reintegration Handbook – Module on Child-Sensitive Reintegration")
    assert titles_conflict("Return Counselling Toolkit", "Data Protection Manual")
    assert not titles_conflict(
        "A Psychosocial Approach to Reintegration Counselling",
        "A Psychosocial Approach to Post-Arrival Reintegration Counselling",
    )
    assert titles_same(
        "IOM Guidance on Referral Mechanisms", "IOM Guidance on Referral Mechanisms for the Protection of Migrants"
    )
    assert titles_same("Reintegration Handbook - Practical guidance", "Reintegration Handbook – Practical Guidance")
    assert not titles_same("Return Counselling Toolkit", "Return Counselling Toolkit – Volume 2")
    assert urls_conflict("https://x.example.org/r/knowledge-bite-1-intro", "https://x.example.org/r/knowledge-bite-2-outcomes")
    assert not urls_conflict("https://x.example.org/node/773", "https://x.example.org/r/knowledge-bite-1-intro")


# ---------------------------------------------------------------------------------------------
# editions


def test_one_node_under_many_url_spellings_is_one_edition(tmp_path: Path) -> None:
    url = "https://migrantprotection.iom.int/en/resources/manual/idp-handbook"
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "list-en",
                "html-listing",
                MP,
                f"https://{MP}/en/resources/manual",
                {"title": "IDP Handbook", "abstract": teaser(HANDBOOK), "abstract_truncated": True, "url": url},
            ),
            page(
                "list-es",
                "html-listing",
                MP,
                f"https://{MP}/es/resources/manual",
                {
                    "title": "IDP Handbook",
                    "abstract": teaser(HANDBOOK),
                    "abstract_truncated": True,
                    "url": url.replace("/en/", "/es/") + "/?utm_source=x",
                },
            ),
            page(
                "detail",
                "html-detail",
                MP,
                url.replace("https", "http"),
                {"title": "IDP Handbook", "abstract": HANDBOOK, "url": url.replace("https", "http")},
            ),
        ],
    )
    run_dedup(con, None)
    assert len({e for e, _ in assignment(con).values()}) == 1
    rules = {r[0] for r in con.execute("SELECT rule FROM match_links WHERE decision = 'joined'").fetchall()}
    assert "same_url" in rules


def test_a_teaser_cut_mid_word_joins_its_full_abstract_on_another_site(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "text-list",
                "text-listing",
                RR,
                f"https://{RR}/en/resources/guideline",
                {"abstract": teaser(HANDBOOK, 131) + "...", "abstract_truncated": True},
            ),
            page(
                "detail",
                "html-detail",
                MP,
                f"https://{MP}/en/resources/manual/idp-handbook",
                {
                    "title": "Handbook for the Protection of IDPs",
                    "abstract": HANDBOOK,
                    "url": f"https://{MP}/en/resources/manual/idp-handbook",
                },
            ),
        ],
    )
    assert not normalise(teaser(HANDBOOK, 131)).endswith(" ")
    run_dedup(con, None)
    found = assignment(con)
    assert found[sid("text-list", 1)][0] == found[sid("detail", 1)][0]
    rule = con.execute("SELECT rule FROM match_links WHERE decision = 'joined'").fetchall()[0][0]
    assert rule == "prefix"


def test_volumes_with_one_abstract_stay_apart_and_a_bare_teaser_is_not_guessed(tmp_path: Path) -> None:
    pages = [
        page(
            f"vol{k}",
            "html-detail",
            RR,
            f"https://{RR}/en/resources/guideline/toolkit-volume-{k}",
            {
                "title": f"Caja de herramientas para emprendedores migrantes – Volumen {k}",
                "abstract": ETIMOS_ES,
                "url": f"https://{RR}/en/resources/guideline/toolkit-volume-{k}",
            },
        )
        for k in (1, 2, 3)
    ]
    pages.append(
        page(
            "old-dump",
            "text-listing",
            RR,
            f"https://{RR}/en/resources/manual",
            {"abstract": teaser(ETIMOS_ES, 200) + "...", "abstract_truncated": True},
        )
    )
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    run_dedup(con, None)
    found = assignment(con)
    assert len({found[sid(f"vol{k}", 1)][0] for k in (1, 2, 3)}) == 3
    assert found[sid("old-dump", 1)][0] not in {found[sid(f"vol{k}", 1)][0] for k in (1, 2, 3)}
    decisions = {r[0] for r in con.execute("SELECT decision FROM match_links").fetchall()}
    assert {"vetoed", "ambiguous"} <= decisions
    reasons = [r[0] for r in con.execute("SELECT reason FROM match_links WHERE decision = 'vetoed'").fetchall()]
    assert any("title numbers differ" in r for r in reasons)


def test_identical_text_under_different_urls_and_titles_is_two_editions(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "a",
                "html-detail",
                MP,
                f"https://{MP}/en/resources/report/annual-report",
                {
                    "title": "Annual Report of the Protection Cluster",
                    "abstract": HANDBOOK,
                    "url": f"https://{MP}/en/resources/report/annual-report",
                },
            ),
            page(
                "b",
                "html-detail",
                MP,
                f"https://{MP}/en/resources/report/field-handbook",
                {
                    "title": "Field Handbook for Staff",
                    "abstract": HANDBOOK,
                    "url": f"https://{MP}/en/resources/report/field-handbook",
                },
            ),
        ],
    )
    run_dedup(con, None)
    found = assignment(con)
    assert found[sid("a", 1)][0] != found[sid("b", 1)][0]


def test_the_same_node_on_two_sites_is_one_edition(tmp_path: Path) -> None:
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "mp",
                "html-detail",
                MP,
                f"https://{MP}/fr/node/773",
                {
                    "title": "Knowledge Bite #1- Introduction to the Series",
                    "abstract": HANDBOOK,
                    "year": 2020,
                    "url": f"https://{MP}/fr/node/773",
                },
            ),
            page(
                "rr",
                "html-detail",
                RR,
                f"https://{RR}/en/resources/knowledge-bite-report/knowledge-bite-1-introduction",
                {
                    "title": "Knowledge Bite #1 - Introduction to the Series",
                    "abstract": HANDBOOK,
                    "year": 2020,
                    "url": f"https://{RR}/en/resources/knowledge-bite-report/knowledge-bite-1-introduction",
                },
            ),
        ],
    )
    run_dedup(con, None)
    found = assignment(con)
    assert found[sid("mp", 1)][0] == found[sid("rr", 1)][0]


def test_a_paraphrased_teaser_joins_and_a_look_alike_opening_does_not(tmp_path: Path) -> None:
    referral = (
        "The practical guidelines contained in this publication provide guidance on how to develop and implement "
        "referral mechanisms for the protection and assistance of migrants vulnerable to violence, exploitation and "
        "abuse. The objective is to strengthen operational responses and thereby improve protection and assistance."
    )
    planning = (
        "The practical guidelines contained in this publication provide guidance on how to determine the need for a "
        "response to migrants in situations of vulnerability, and on how to plan for, finance, monitor and evaluate "
        "such response, accordingly. This publication should be considered as complementing the IOM Handbook."
    )
    reworded = (
        "Practical guidance contained in this publication provide information on how to develop and implement "
        "referral mechanisms for the protection and assistance of migrants vulnerable to violence, exploitation and "
        "abuse. The objective is to strengthen operational"
    )
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "catalogue",
                "text-catalogue",
                PUB,
                None,
                {"title": "IOM Guidance on Referral Mechanisms", "abstract": referral, "year": 2019},
                {"title": "IOM Guidance on Response Planning", "abstract": planning, "year": 2019},
            ),
            page(
                "listing",
                "text-listing",
                RR,
                f"https://{RR}/en/resources/guideline",
                {"abstract": reworded + "...", "abstract_truncated": True},
            ),
        ],
    )
    run_dedup(con, None)
    found = assignment(con)
    assert found[sid("listing", 1)][0] == found[sid("catalogue", 1)][0]
    assert found[sid("listing", 1)][0] != found[sid("catalogue", 2)][0]


# ---------------------------------------------------------------------------------------------
# works


def test_edition_links_make_a_work_and_languages_are_listed(tmp_path: Path) -> None:
    en, fr = f"https://{PUB}/books/migration-and-2030-agenda", f"https://{PUB}/books/la-migration-et-le-programme-2030"
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "en",
                "html-detail",
                PUB,
                en,
                {"title": "Migration and the 2030 Agenda", "abstract": HANDBOOK, "url": en, "edition_links": [fr]},
            ),
            page(
                "fr",
                "html-detail",
                PUB,
                f"{fr}?utm_source=newsletter",
                {"title": "La migration et le Programme 2030", "abstract": ETIMOS_FR, "url": fr},
            ),
        ],
    )
    run_dedup(con, None)
    found = assignment(con)
    assert found[sid("en", 1)][0] != found[sid("fr", 1)][0]
    assert found[sid("en", 1)][1] == found[sid("fr", 1)][1]
    assert con.execute("SELECT languages FROM works").fetchall() == [(["en", "fr"],)]


def test_volumes_sharing_a_teaser_in_two_languages_are_six_editions_of_one_work(tmp_path: Path) -> None:
    """Issue 7's model of the Etimos toolkit: each volume an edition, the six one work."""
    pages = []
    for k in (1, 2, 3):
        pages.append(
            page(
                f"es{k}",
                "html-detail",
                RR,
                f"https://{RR}/es/r/caja-volumen-{k}",
                {
                    "title": f"Caja de herramientas – Volumen {k}",
                    "abstract": ETIMOS_ES,
                    "year": 2016,
                    "url": f"https://{RR}/es/r/caja-volumen-{k}",
                },
            )
        )
        pages.append(
            page(
                f"fr{k}",
                "html-detail",
                RR,
                f"https://{RR}/fr/r/boite-volume-{k}",
                {
                    "title": f"Boîte à outils – Volume {k}",
                    "abstract": ETIMOS_FR,
                    "year": 2016,
                    "url": f"https://{RR}/fr/r/boite-volume-{k}",
                },
            )
        )
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    run_dedup(con, None)
    found = assignment(con)
    six = [found[sid(f"{lang}{k}", 1)] for lang in ("es", "fr") for k in (1, 2, 3)]
    assert len({edition for edition, _ in six}) == 6
    assert len({work for _, work in six}) == 1


def test_a_shared_isbn_needs_corroboration(tmp_path: Path) -> None:
    isbn = "978-9968-542-71-5"
    sdg = (
        "This guide is designed to serve government actors involved in Sustainable Development Goal (SDG) "
        "implementation. It offers an introduction to the 2030 Agenda and the SDGs for migration practitioners."
    )
    meso = (
        "La publicación es una guía práctica que contiene herramientas de atención psicosocial a migrantes en las "
        "diferentes etapas del proceso migratorio en la región de Mesoamérica."
    )
    sdg_fr = (
        "Ce guide s’adresse aux acteurs gouvernementaux qui participent à la mise en œuvre des objectifs de "
        "développement durable (SDG), et présente le Programme 2030 aux praticiens de la migration."
    )
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page(
                "cat",
                "text-catalogue",
                PUB,
                None,
                {
                    "title": "Migration and the 2030 Agenda: A Guide for Practitioners",
                    "abstract": sdg,
                    "year": 2018,
                    "page_count": 156,
                    "isbn": [isbn],
                },
                {
                    "title": "Guía para la Atención Psicosocial a Personas Migrantes en Mesoamérica",
                    "abstract": meso,
                    "year": 2018,
                    "page_count": 194,
                    "isbn": [isbn],
                },
            ),
            page(
                "fr",
                "html-detail",
                PUB,
                f"https://{PUB}/books/guide-2030",
                {
                    "title": "La migration et le Programme 2030 : un guide pour les praticiens",
                    "abstract": sdg_fr,
                    "year": 2018,
                    "page_count": 160,
                    "isbn": [isbn],
                    "url": f"https://{PUB}/books/guide-2030",
                },
            ),
        ],
    )
    run_dedup(con, None)
    found = assignment(con)
    english, spanish, french = found[sid("cat", 1)], found[sid("cat", 2)], found[sid("fr", 1)]
    assert english[1] != spanish[1]
    assert english[1] == french[1]
    rule = con.execute("SELECT rule, evidence FROM match_links WHERE level = 'work' AND decision = 'joined'").fetchall()
    assert rule[0][0] in ("shared_isbn", "shared_signals")


def test_an_organisation_named_everywhere_links_no_works(tmp_path: Path) -> None:
    topics_en = [
        "child labour",
        "border management",
        "data protection",
        "climate mobility",
        "labour migration",
        "health screening",
        "remittances",
        "trafficking",
        "resettlement",
        "diaspora engagement",
    ]
    # other subjects than the English notes: a French note on the same subject would be its
    # translation (similar_text), and this test is about the organisations only
    topics_fr = [
        "changement climatique",
        "santé des migrants",
        "déplacement interne",
        "droit international",
        "recrutement éthique",
        "enfants non accompagnés",
        "intégration urbaine",
        "gestion des camps",
        "cohésion sociale",
        "statistiques migratoires",
    ]
    cards_en = [
        {
            "title": f"Guide {k}",
            "abstract": f"The International Organization for Migration (IOM) and UNHCR present this "
            f"note on {t} prepared with partners for practitioners in the field and in capitals around the world.",
            "url": f"https://{MP}/en/r/guide-{k}",
        }
        for k, t in enumerate(topics_en)
    ]
    cards_fr = [
        {
            "title": f"Note {k}",
            "abstract": f"L’Organisation internationale pour les migrations (OIM) et le UNHCR publient "
            f"cette note sur {t} préparée avec des partenaires pour les praticiens sur le terrain.",
            "url": f"https://{MP}/fr/r/note-{k}",
        }
        for k, t in enumerate(topics_fr)
    ]
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page("en", "html-listing", MP, f"https://{MP}/en/r", *cards_en),
            page("fr", "html-listing", MP, f"https://{MP}/fr/r2", *cards_fr),
        ],
    )
    run_dedup(con, None)
    assert con.execute("SELECT count(DISTINCT work_id) FROM sighting_editions").fetchall()[0][0] == 20


def test_language_editions_named_after_one_file_are_one_work(tmp_path: Path) -> None:
    """Files named `<stem>_en.pdf` / `<stem>_fr.pdf` tie translations that share no other signal;
    a generic name (`report_fr.pdf`) ties nothing."""
    en_text = (
        "This handbook explains how counsellors can prepare people for the journey home, with exercises, "
        "checklists and advice drawn from field practice across several regions of the world."
    )
    fr_text = (
        "Ce manuel aide les conseillers à préparer les personnes à leur retour, grâce à des exercices, des listes "
        "de contrôle et des conseils tirés de la pratique sur le terrain dans plusieurs régions du monde."
    )
    es_text = (
        "Esta guía describe la gestión de centros de recursos para personas migrantes, su personal, sus servicios "
        "de información y la manera de evaluar su trabajo con las comunidades locales."
    )
    pages = [
        page("en", "html-detail", PUB, f"https://{PUB}/books/a", {"title": "Going Home Handbook", "abstract": en_text,
             "url": f"https://{PUB}/books/a", "pdf_urls": [f"https://{PUB}/files/going-home-handbook_EN.pdf"]}),
        page("fr", "html-detail", PUB, f"https://{PUB}/books/b", {"title": "Manuel du retour", "abstract": fr_text,
             "url": f"https://{PUB}/books/b", "pdf_urls": [f"https://{PUB}/files/Going_Home_Handbook-fr.pdf"]}),
        page("es", "html-detail", PUB, f"https://{PUB}/books/c", {"title": "Guía de centros", "abstract": es_text,
             "url": f"https://{PUB}/books/c", "pdf_urls": [f"https://{PUB}/files/report_es.pdf"]}),
        page("en2", "html-detail", PUB, f"https://{PUB}/books/d", {"title": "Annual report", "abstract": en_text[::-1],
             "url": f"https://{PUB}/books/d", "pdf_urls": [f"https://{PUB}/files/report_en.pdf"]}),
    ]  # fmt: skip
    con = build_warehouse(tmp_path / "w.duckdb", pages)
    run_dedup(con, None, embed_budget=-1)  # the file names alone (similar_text would see the translation)
    found = assignment(con)
    assert found[sid("en", 1)][1] == found[sid("fr", 1)][1]
    assert found[sid("es", 1)][1] != found[sid("en2", 1)][1]
    assert len({w for _, w in found.values()}) == 3
