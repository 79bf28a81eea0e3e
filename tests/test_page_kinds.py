"""Every kind of page the three sites serve, on pages written here that no fixture contains.

The real pages (tests/real_pages, 42 onwards) show the structures; these pages hold other words,
other languages and other combinations of the same evidence, so that each rule of `parsers/kinds.py`
is tested on text it was not written from. Expected values are stated from the rules' spec (the
issue and the docstrings), never taken from a run.
"""

from __future__ import annotations

import duckdb
import pytest

from parsers import PARSERS, ShapeError
from parsers.detect import detect_format
from parsers.kinds import is_date_range, is_item_url, kind_of_url
from pipeline.models import SightingRecord

MP = "https://migrantprotection.iom.int"
RR = "https://returnandreintegration.iom.int"
PUB = "https://publications.iom.int"

#: name -> (url, text, expected kind, expected title or None, abstract opening, {extra key: value})
PAGES: dict[str, tuple[str | None, str, str, str | None, str, dict[str, str]]] = {
    "webinar-en-labels-and-sections": (
        f"{MP}/en/learning/webinars/cash-based-reintegration-support-what-works",
        "Skip to main content\n\n"
        "Cash-based reintegration support: what works\n\n"
        "Dates\n14 - 15 March 2023\n\nVenue\nOnline (Zoom)\n\n"
        "Objectives\n\n"
        "The webinar compares cash grants and in-kind support given to returnees in four countries of origin.\n\n"
        "Speakers from three country offices will present what their monitoring data show.\n\n"
        "Agenda\n\n"
        "Each session opens with a short presentation followed by questions from participants.\n",
        "event",
        "Cash-based reintegration support: what works",
        "The webinar compares cash grants",
        {"dates": "14 - 15 March 2023", "venue": "Online (Zoom)", "start_date": "2023-03-14", "end_date": "2023-03-15"},
    ),
    "seminar-es-no-url-event-labels": (
        None,
        "Pasar al contenido principal\n\n"
        "Seminario regional sobre retorno y salud mental\n\n"
        "Fechas\ndel 3 al 5 de mayo de 2022\n\nLugar\nDakar, Senegal\n\n"
        "Público destinatario\n\n"
        "El seminario reúne a equipos de acompañamiento psicosocial de seis oficinas de la región.\n\n"
        "Ponentes\n\n"
        "Intervendrán especialistas de la Organización y de dos universidades asociadas.\n",
        "event",
        "Seminario regional sobre retorno y salud mental",
        "El seminario reúne a equipos",
        {
            "dates": "del 3 al 5 de mayo de 2022",
            "venue": "Dakar, Senegal",
            "start_date": "2022-05-03",
            "end_date": "2022-05-05",
        },
    ),
    "e-course-fr-by-url": (
        f"{RR}/fr/learning/e-courses/suivi-et-evaluation-de-la-reintegration",
        "Aller au contenu principal\n\n"
        "Suivi et évaluation des programmes de réintégration\n\n"
        "Durée\n6 heures\n\nNiveau\nIntermédiaire\n\n"
        "Ce cours en ligne présente les outils de suivi utilisés pour mesurer la durabilité de la réintégration.\n\n"
        "Contenu\n\n"
        "Le module 2 porte sur les enquêtes auprès des personnes de retour.\n",
        "course",
        "Suivi et évaluation des programmes de réintégration",
        "Ce cours en ligne présente",
        {"duration": "6 heures", "level": "Intermédiaire"},
    ),
    "course-en-no-url-course-labels": (
        None,
        "Skip to main content\n\n"
        "Protection-sensitive case management\n\n"
        "Duration\n3 hours\n\nCertificate\nYes, on completion\n\n"
        "This self-paced course walks case workers through referral pathways for migrants in need of care.\n",
        "course",
        "Protection-sensitive case management",
        "This self-paced course walks",
        {"duration": "3 hours"},
    ),
    "initiative-es-status-under-acerca-de": (
        f"{RR}/es/acerca-de/iniciativa-regional-de-reintegracion-comunitaria",
        "Pasar al contenido principal\n"
        "Iniciativa regional de reintegración comunitaria\n\n"
        "La iniciativa apoya proyectos comunitarios en zonas de retorno de tres países de la región andina.\n\n"
        "Países\nBolivia, Ecuador, Perú\nEstado\nEn curso\nDescripción\n\n"
        "Los proyectos se eligen con las autoridades locales y los grupos de personas retornadas.\n",
        "initiative",
        "Iniciativa regional de reintegración comunitaria",
        "La iniciativa apoya proyectos",
        {"status": "En curso", "countries": "Bolivia, Ecuador, Perú"},
    ),
    "project-en-by-url": (
        f"{MP}/en/projects/safe-labour-mobility-corridors",
        "Skip to main content\n\n"
        "Safe Labour Mobility Corridors\n\n"
        "The project helps two governments set up recruitment that respects the rights of migrant workers.\n",
        "initiative",
        "Safe Labour Mobility Corridors",
        "The project helps two governments",
        {},
    ),
    "about-es-no-heading": (
        f"{MP}/es/acerca-de",
        "Pasar al contenido principal\n\n"
        "La plataforma reúne recursos, cursos y debates sobre la protección de las personas migrantes.\n\n"
        "Enfoque de la Organización\n\n"
        "Cada sección puede filtrarse por región, tema y tipo de recurso.\n",
        "about",
        None,
        "La plataforma reúne recursos",
        {},
    ),
    "about-fr-heading": (
        f"{RR}/fr/a-propos",
        "Aller au contenu principal\n\n"
        "À propos de la plateforme\n\n"
        "La plateforme sert de point de rencontre aux praticiens du retour et de la réintégration.\n",
        "about",
        "À propos de la plateforme",
        "La plateforme sert de point",
        {},
    ),
    "contact-en": (
        f"{MP}/en/contact",
        "Skip to main content\n\nContact us\n\nWrite to the platform team with questions about resources or courses.\n",
        "about",
        "Contact us",
        "Write to the platform team",
        {},
    ),
    "event-span-of-dates-no-url": (
        None,
        "Skip to main content\n\n12 – 14 octobre 2022\n\n"
        "L'atelier a réuni les points focaux de la réintégration de onze pays pour comparer leurs pratiques.\n",
        "event",
        None,
        "L'atelier a réuni les points",
        {"dates": "12 – 14 octobre 2022", "start_date": "2022-10-12", "end_date": "2022-10-14"},
    ),
    "publication-slug-says-project": (
        f"{PUB}/books/ioms-project-handbook-second-edition",
        "Original Language\nEnglish\nNumber of Pages\n212\n\n"
        "IOM Project Handbook: Second Edition\n\n"
        "The handbook sets out how IOM develops, manages and reports on its projects, step by step.\n",
        "publication",
        "IOM Project Handbook: Second Edition",
        "The handbook sets out how",
        {},
    ),
    "publication-with-an-objectives-heading": (
        f"{MP}/en/resources/guideline/community-based-reintegration-guidance",
        "Skip to main content\n\n"
        "Community-based reintegration guidance\n\n"
        "2022, IOM, Community-based reintegration guidance\n\n"
        "Objectives\n\n"
        "The guidance helps project teams choose community projects with the people who returned.\n",
        "publication",
        "Community-based reintegration guidance",
        "The guidance helps project teams",
        {},
    ),
    "spotlight-article-about-an-event-is-news": (
        f"{RR}/en/spotlight/articles/event/practitioners-meet-in-nairobi",
        "Skip to main content\n\n"
        "Practitioners meet in Nairobi to share reintegration practice\n\n"
        "Participants at the Nairobi meeting. © IOM 2023\n\n"
        "More than sixty practitioners met in Nairobi this week to compare how they support returnees.\n",
        "news",
        "Practitioners meet in Nairobi to share reintegration practice",
        "More than sixty practitioners",
        {},
    ),
    "bookstore-fr-untitled-book": (
        f"{PUB}/fr/books/fiche-information-afrique-de-louest",
        "Cette fiche présente les activités de l’OIM en Afrique de l’Ouest et les résultats obtenus en 2019.\n",
        "publication",
        None,
        "Cette fiche présente les activités",
        {},
    ),
    "bookstore-ar-book": (
        f"{PUB}/ar/books/migration-report-summary-ar",
        "ملخص تقرير الهجرة في العالم\n\n"
        "يقدم هذا الملخص أهم ما جاء في التقرير عن اتجاهات الهجرة في العالم خلال العامين الماضيين.\n",
        "publication",
        "ملخص تقرير الهجرة في العالم",
        "يقدم هذا الملخص",
        {},
    ),
}


@pytest.mark.parametrize("name", list(PAGES))
def test_each_kind_of_page_gives_one_record_of_its_kind(name):
    url, text, kind, title, opening, extra = PAGES[name]
    found, why = detect_format(text.encode(), url)
    assert found == "text-detail", why
    assert why.startswith(f"{kind}:"), why  # archive add says what the page will load as
    parsed = PARSERS["text-detail"](text.encode(), url)
    assert len(parsed.records) == 1
    record = parsed.records[0]
    assert record["kind"] == kind
    assert record.get("title") == title
    assert record["abstract"].startswith(opening)
    for key, value in extra.items():
        assert record["extra"].get(key) == value, key
    SightingRecord(sighting_id="s", page_id="p", **record)  # the warehouse takes it as it is


def test_the_opening_prose_of_a_page_that_is_no_publication_stops_at_its_first_section():
    """Title = the heading, abstract = the opening prose: the Agenda's text is not the abstract."""
    url, text, *_ = PAGES["webinar-en-labels-and-sections"]
    record = PARSERS["text-detail"](text.encode(), url).records[0]
    assert "Each session opens" not in record["abstract"] and "Agenda" not in record["abstract"]
    url, text, *_ = PAGES["about-es-no-heading"]
    record = PARSERS["text-detail"](text.encode(), url).records[0]
    assert "Enfoque" not in record["abstract"] and "Cada sección" not in record["abstract"]


@pytest.mark.parametrize(
    "heading",
    ["Objectives", "Dates", "Agenda", "Description", "Background", "Objetivos", "Antecedentes", "Contexte",
     "Objectifs :", "3 December 2021 - 4 January 2022", "del 10 al 12 de junio de 2024", "du 1er au 3 mars 2023"],
)  # fmt: skip
def test_a_section_heading_or_a_date_line_is_never_a_title(heading):
    """A page that opens with a section heading or its dates and has no heading of its own has no title."""
    text = (
        f"Skip to main content\n\n{heading}\n\n"
        "The meeting brought together officials from five ministries to agree on a referral system.\n"
    )
    url = f"{RR}/en/learning/seminars/referral-systems-meeting"
    record = PARSERS["text-detail"](text.encode(), url).records[0]
    assert record.get("title") is None
    assert record["kind"] == "event"


def test_a_heading_inside_the_text_is_not_the_page_title():
    text = (
        "Skip to main content\n\n"
        "The platform collects guidance from many offices on how to protect migrants in crises.\n\n"
        "Regional focal points\n\n"
        "Each region has a focal point who answers questions from practitioners.\n"
    )
    record = PARSERS["text-detail"](text.encode(), f"{MP}/en/about/focal-points").records[0]
    assert record.get("title") is None and record["kind"] == "about"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 - 2 December 2021", True), ("June 3-5, 2024", True), ("28 February – 25 March", True),
        ("del 3 al 5 de mayo de 2022", True), ("du 1er au 2 décembre 2021", True),
        ("13 Jul 2022", False), ("2020-2024", False), ("Chapter 1 - 2", False), ("West and Central Africa", False),
    ],
)  # fmt: skip
def test_a_span_of_dates_is_told_from_a_date_and_a_title(text, expected):
    assert is_date_range(text) is expected


@pytest.mark.parametrize(
    ("url", "kind", "item"),
    [
        (f"{MP}/en/learning/seminars/some-seminar", "event", True),
        (f"{MP}/en/learning/seminars", "event", False),
        (f"{RR}/es/eventos/taller-regional", "event", True),
        (f"{MP}/fr/formations/cours-en-ligne-x", "course", True),
        (f"{MP}/en/initiatives/joint-initiative", "initiative", True),
        (f"{RR}/fr/propos", "about", True),
        (f"{PUB}/fr/propos-de-loim-publications", "about", True),
        (f"{MP}/en/faq", "about", True),
        (f"{MP}/en/spotlight/articles/event/a-launch", "news", True),
        (f"{MP}/en/spotlight/articles?page=3", "news", False),
        (f"{PUB}/books/ioms-project-handbook", "publication", True),
        (f"{MP}/en/resources/guideline/x", "publication", True),
        (f"{MP}/en/resources/guideline?page=2", "publication", False),
        (f"{MP}/en/resources/guideline", "publication", False),
        (f"{PUB}/es/publicaciones/guia-de-retorno", "publication", True),
        ("https://example.org/publications/annual-report-2023", "publication", True),
        ("https://example.org/publications?page=1", "publication", False),
        (f"{PUB}/search-books?subject=450", None, False),
        (f"{PUB}/fr/node/2832", None, True),
    ],
)
def test_the_url_section_names_the_kind_left_most_first(url, kind, item):
    found = kind_of_url(url)
    assert (found[0] if found else None) == kind
    assert is_item_url(url) is item


def test_prose_with_no_page_evidence_is_still_refused():
    """No URL, no skip link, no labels, no dates: a paragraph of prose is not a page of the sites."""
    text = "The harbour was quiet that morning, and the ferry left late because of the fog over the bay.\n"
    assert detect_format(text.encode(), None)[0] is None


def test_a_bookstore_listing_whose_last_card_the_rendering_cut_is_a_listing():
    teaser = (
        "This report looks at how {} towns plan services for people who return, with case studies from "
        "municipal offices, interviews with returnees and a checklist for local planners who want to..."
    )
    cut = (
        "A guide for consular staff on helping nationals stranded abroad during crises and conflicts, "
        "from the first call to the office until the"
    )
    text = "\n".join([teaser.format(n) for n in ("three", "four", "five")] + [cut]) + "\n"
    url = f"{PUB}/?language=es"
    assert detect_format(text.encode(), url)[0] == "text-listing"
    assert len(PARSERS["text-listing"](text.encode(), url).records) == 4


def test_a_listing_lists_its_sections_kind():
    cards = "\n".join(
        f"The webinar number {n} looked at how reintegration counsellors follow up with returnees after a year..."
        for n in range(3)
    )
    parsed = PARSERS["text-listing"](f"Skip to main content\n\n{cards}\n".encode(), f"{RR}/en/learning/webinars")
    assert [r["kind"] for r in parsed.records] == ["event"] * 3


# --- HTML -------------------------------------------------------------------------------------


def _html(body_class: str, h1: str, body: str, title: str = "") -> bytes:
    return (
        f"<!doctype html><html><head><title>{title}</title></head><body class='{body_class}'><main>"
        f"<h1>{h1}</h1><div class='field field--name-body'><p>{body}</p></div></main></body></html>"
    ).encode()


@pytest.mark.parametrize(
    ("body_class", "url", "kind"),
    [
        ("path-node page-node-type-event", None, "event"),
        ("path-node page-node-type-e-course", None, "course"),
        ("path-node page-node-type-initiative", None, "initiative"),
        ("path-node page-node-type-page", None, "about"),
        ("path-node page-node-type-resource", None, "publication"),
        ("path-node page-node-type-resource", f"{MP}/en/learning/webinars/a-webinar", "event"),
    ],
)
def test_html_pages_are_typed_by_drupal_content_type_and_url(body_class, url, kind):
    body = _html(
        body_class,
        "Protecting migrants in crises",
        "The session reviewed what consular staff can do when a crisis hits.",
    )
    found, why = detect_format(body, url)
    assert found == "html-detail" and why.startswith(kind), why
    record = PARSERS["html-detail"](body, url).records[0]
    assert record["kind"] == kind and record["title"] == "Protecting migrants in crises"


def test_an_html_heading_that_is_a_section_heading_is_not_the_title():
    body = _html(
        "page-node-type-event",
        "Objectifs",
        "La session a passé en revue les outils de suivi.",
        "Atelier de suivi | OIM",
    )
    record = PARSERS["html-detail"](body, f"{RR}/fr/evenements/atelier-de-suivi").records[0]
    assert record["title"] == "Atelier de suivi" and record["kind"] == "event"


def test_html_listing_cards_take_the_kind_of_what_they_link_to():
    cards = "".join(
        f"<div class='views-row'><h3><a href='{path}'>Card {n}</a></h3>"
        f"<div class='field--name-body'>A teaser long enough to be one for card number {n} of this page.</div></div>"
        for n, path in enumerate(["/en/learning/seminars/a", "/en/resources/manual/b", "/en/learning/e-courses/c"])
    )
    body = f"<!doctype html><html><body><main>{cards}</main></body></html>".encode()
    records = PARSERS["html-listing"](body, f"{MP}/en/search").records
    assert [r["kind"] for r in records] == ["event", "publication", "course"]


# --- through the command line and the warehouse ------------------------------------------------


def test_pages_that_are_no_publication_load_with_their_kind_and_never_become_publications(
    run_cli, empty_archive, tmp_path
):
    names = [n for n, page in PAGES.items() if page[0] is not None]
    for n, name in enumerate(names):
        url, text, *_ = PAGES[name]
        path = tmp_path / f"page{n}.txt"
        path.write_text(text, encoding="utf-8")
        source = url.split("/")[2]
        done = run_cli("archive", "add", str(path), "--source", source, "--url", url, "--format", "auto")
        assert done.returncode == 0, (name, done.stderr)
    done = run_cli("ingest", "--offline")
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    try:
        kinds = dict(
            con.execute("SELECT p.url, s.kind FROM sightings AS s JOIN raw_pages AS p USING (page_id)").fetchall()
        )
        members = {u for (u,) in con.execute(
            "SELECT p.url FROM edition_members JOIN sightings USING (sighting_id) JOIN raw_pages AS p USING (page_id)"
        ).fetchall()}  # fmt: skip
    finally:
        con.close()
    assert kinds == {PAGES[n][0]: PAGES[n][2] for n in names}
    assert members == {PAGES[n][0] for n in names if PAGES[n][2] == "publication"}
    out = tmp_path / "out.jsonl"
    done = run_cli("export", "--format", "jsonl", "--out", str(out))
    assert done.returncode == 0, done.stderr
    exported = out.read_text(encoding="utf-8")
    for name in names:
        url, _, kind, title, *_ = PAGES[name]
        if kind != "publication" and title:
            assert title not in exported, name


def test_a_page_of_chrome_under_an_item_url_is_still_refused():
    with pytest.raises(ShapeError):
        PARSERS["text-detail"](b"Skip to main content\n\nShare\nPrint\n", f"{MP}/en/learning/seminars/x")
    assert detect_format(b"Skip to main content\n\nShare\nPrint\n", f"{MP}/en/learning/seminars/x")[0] is None


def test_a_site_page_of_paragraphs_is_a_page_and_one_lead_a_line_is_a_listing():
    """With no URL, a skip link then paragraphs set apart by blank lines is a page of text; the same
    sentences one per line, as a listing prints its cards, stay a listing."""
    leads = [
        "The centre opened its doors to returning families last week after two years of building work.",
        "A new training course for border officials began in the capital on Monday with forty trainees.",
        "Volunteers from three towns met to share what they learned this year about welcoming returnees.",
    ]
    page = "Skip to main content\n\n" + "\n\n".join(leads) + "\n"
    listing = "Skip to main content\n\n" + "\n".join(leads) + "\n"
    assert detect_format(page.encode(), None)[0] == "text-detail"
    assert detect_format(listing.encode(), None)[0] == "text-listing"


def test_the_warehouse_takes_the_kinds_of_the_vocabulary_and_no_other():
    """Both ways: each kind a parser may give loads, and each kind the model accepts is one the
    parsers know (a kind only the model knew would be one no rule gives, or one a rule forgot)."""
    from typing import get_args

    from pydantic import ValidationError

    from parsers.kinds import NON_PUBLICATION
    from parsers.vocab import PAGE_KINDS

    for kind in PAGE_KINDS:
        SightingRecord(sighting_id="s", page_id="p", position=1, kind=kind, title="A page")
    for kind in ("other", "Event", "publications", ""):
        with pytest.raises(ValidationError):
            SightingRecord(sighting_id="s", page_id="p", position=1, kind=kind, title="A page")
    accepted = set(get_args(SightingRecord.model_fields["kind"].annotation))
    assert accepted == set(PAGE_KINDS)
    assert accepted > NON_PUBLICATION and not NON_PUBLICATION & {"publication", "news", "caption"}


def test_a_publication_card_never_takes_the_prose_of_a_page_of_another_kind(tmp_path):
    """A listing card's full abstract comes from the detail page at the URL it links to
    (`load.complete_from_details`), and only from a page of the card's own kind: the prose of an
    event or news page that sits at that URL is not the publication's abstract."""
    from test_dedup_rules import build_warehouse, page, sid

    from pipeline.load import complete_from_details

    book = f"{PUB}/books/handbook-for-returnees"
    event = f"{RR}/en/learning/seminars/handbook-launch"
    teaser = "A handbook for returnees and the caseworkers who support them in the first months after arrival..."
    con = build_warehouse(
        tmp_path / "w.duckdb",
        [
            page("list", "html-listing", PUB, f"{PUB}/search-books?page=2",
                 {"abstract": teaser, "abstract_truncated": True, "url": book},
                 {"abstract": teaser, "abstract_truncated": True, "url": event}),
            page("book", "html-detail", PUB, book,
                 {"title": "Handbook for returnees", "url": book,
                  "abstract": "A handbook for returnees and the caseworkers who support them, in twelve chapters."}),
            page("event", "html-detail", RR, event,
                 {"title": "Launch of the handbook", "url": event,
                  "abstract": "The seminar presented the handbook to practitioners from six countries."}),
        ],
    )  # fmt: skip
    con.execute("UPDATE sightings SET kind = 'event' WHERE sighting_id = ?", [sid("event", 1)])
    complete_from_details(con)
    full = dict(con.execute("SELECT sighting_id, full_abstract FROM sightings").fetchall())
    con.close()
    assert full[sid("list", 1)].endswith("in twelve chapters.")
    assert full[sid("list", 2)] is None


# --- review findings of issue 19: kinds from the page's own node, the URL's section only ---------


def _guideline_with(extra: str) -> bytes:
    return (
        "<!doctype html><html><body class='path-node'><main><article class='node'>"
        "<h1>Guideline on referral of returnees</h1><div class='field field--name-body'><p>The guideline sets out "
        "how caseworkers refer returnees to health, housing and legal services.</p></div></article>"
        f"{extra}</main></body></html>"
    ).encode()


@pytest.mark.parametrize(
    "extra",
    [
        "<aside><div class='node node--type-event node--view-mode-teaser'><h3><a href='/en/events/x'>A launch"
        "</a></h3></div></aside>",
        "<footer><div class='node node--type-page'><p>Contact the office.</p></div></footer>",
        "<div class='views-row'><article class='node--type-webinar'><h2>A webinar</h2></article></div>",
    ],
)
def test_an_html_publication_page_is_not_typed_by_a_teaser_or_block_around_it(extra):
    """A related teaser, a footer block or a view of other nodes shows other nodes' types: the page's
    own type is on <body> or on the node that holds its <h1>, and a publication section's URL says it."""
    url = f"{MP}/en/resources/guideline/guideline-on-referral"
    assert PARSERS["html-detail"](_guideline_with(extra), url).records[0]["kind"] == "publication"
    assert PARSERS["html-detail"](_guideline_with(extra), None).records[0]["kind"] == "publication"


def test_an_html_page_of_a_publication_section_stays_a_publication_whatever_its_markup_says():
    body = _html("path-node page-node-type-event", "Guideline on referral", "The guideline sets out referrals.")
    record = PARSERS["html-detail"](body, f"{MP}/en/resources/guideline/guideline-on-referral").records[0]
    assert record["kind"] == "publication"


@pytest.mark.parametrize(
    ("url", "kind"),
    [
        (f"{PUB}/sites/default/files/documents/about-iom-migration-governance.pdf", None),
        (f"{PUB}/sites/default/files/documents/2022/projects/counter-trafficking-guide.pdf", None),
        (f"{MP}/system/files/events/agenda.pdf", None),
        (f"{RR}/en/regional-designations/global/contact", None),
        (f"{RR}/about-the-platform.pdf", None),
        (f"{RR}/es/documentos/proyecto-faq.docx", None),
        (f"{RR}/fr/acerca-de-la-plataforma", "about"),
        (f"{MP}/en/learning/seminars/x", "event"),
    ],
)
def test_only_the_drupal_section_of_a_url_names_its_kind_never_a_file_or_a_deeper_segment(url, kind):
    found = kind_of_url(url)
    assert (found[0] if found else None) == kind


def _cards(*hrefs: str) -> bytes:
    cards = "".join(
        f"<div class='views-row'><h3><a href='{href}'>Card number {n}</a></h3>"
        f"<div class='field--name-body'>A teaser long enough to be one for card number {n} of this page.</div></div>"
        for n, href in enumerate(hrefs)
    )
    return f"<!doctype html><html><body><main>{cards}</main></body></html>".encode()


def test_cards_of_a_publication_listing_linking_to_files_stay_publications():
    body = _cards(
        "/sites/default/files/documents/about-iom-migration-governance.pdf",
        "/sites/default/files/documents/2022/projects/counter-trafficking-guide.pdf",
        "/en/regional-designations/global/contact",
        "/en/learning/seminars/a-seminar",
    )
    records = PARSERS["html-listing"](body, f"{MP}/en/resources/guideline").records
    assert [r["kind"] for r in records] == ["publication", "publication", "publication", "event"]


def test_a_card_link_back_to_the_listing_is_dropped_and_the_card_kept():
    """A link that leads back to the listing (`#`, a pager, the section's own page) is no item's
    URL: kept, it became the card's canonical URL and every export's link for it."""
    listing = f"{MP}/en/resources/guideline?page=1"
    hrefs = ("#", "?page=2", "/en/resources/guideline", "/en/resources", "/en/resources/guideline/a-guide")
    parsed = PARSERS["html-listing"](_cards(*hrefs), listing)
    assert [r.get("url") for r in parsed.records] == [None, None, None, None, f"{MP}/en/resources/guideline/a-guide"]
    assert [r["title"] for r in parsed.records] == [f"Card number {n}" for n in range(5)]
    assert sum("card kept" in p.reason for p in parsed.problems) == 4


@pytest.mark.parametrize(
    ("url", "item"),
    [
        (f"{MP}/en/spotlight/articles/event", False),
        (f"{MP}/en/spotlight/articles/publication?page=1", False),
        (f"{MP}/es/spotlight/articles/article", False),
        (f"{MP}/es/spotlight/articles/article/una-historia", True),
        (f"{RR}/fr/spotlight/publication/un-manuel", True),
    ],
)
def test_a_spotlight_category_is_a_listing_and_its_articles_are_items(url, item):
    assert is_item_url(url) is item


@pytest.mark.parametrize(
    "url",
    [f"{MP}/en/spotlight/articles/event", f"{MP}/en/spotlight/articles/publication?page=1",
     f"{MP}/en/resources/guideline/x?page=2", f"{RR}/fr/spotlight/articles/event/x"],
)  # fmt: skip
def test_a_page_of_trimmed_teasers_is_a_listing_whatever_its_url(url):
    teaser = (
        "Officials from {} countries met in the capital to agree on how returnees are referred to services, "
        "what each office pays for and how the cases are followed up during the first..."
    )
    words = ("two", "three", "four", "five", "six", "seven")
    text = "\n".join(teaser.format(w) for w in words) + "\n"
    assert detect_format(text.encode(), url)[0] == "text-listing"


@pytest.mark.parametrize(
    ("text", "start", "end"),
    [
        ("June 3-5, 2024", "2024-06-03", "2024-06-05"),
        ("del 3 a 5 de mayo de 2022", "2022-05-03", "2022-05-05"),
        ("du 7 au 9 octobre 2019", "2019-10-07", "2019-10-09"),
        ("from 28 February until 2 March 2023", "2023-02-28", "2023-03-02"),
        ("November 29 - December 1, 2021", "2021-11-29", "2021-12-01"),
    ],
)
def test_every_span_the_detector_accepts_gives_its_first_and_last_day(text, start, end):
    from parsers.text_detail import span_dates

    assert is_date_range(text)
    found = span_dates(text)
    assert found is not None and (found[0].isoformat(), found[1].isoformat()) == (start, end)


def test_an_event_page_dates_are_looked_for_in_a_bounded_number_of_lines():
    """An event's dates are at its top, in its labelled values and its headings: a long page's
    table of figures below the text costs no date parsing (it did, line by line)."""
    from parsers.text_detail import DATE_CANDIDATES_MAX

    rows = "\n".join(f"Row {n} | 12 March 2021 | {n * 7} returnees" for n in range(3000))
    text = (
        "Skip to main content\n\nReferral seminar for caseworkers\n\n3 - 4 May 2022\n\n"
        "The seminar brought together caseworkers from five offices to compare referral practice.\n\n"
        f"{rows}\n"
    )
    parsed = PARSERS["text-detail"](text.encode(), f"{MP}/en/learning/seminars/referral-seminar")
    record = parsed.records[0]
    assert record["kind"] == "event"
    assert (record["extra"]["start_date"], record["extra"]["end_date"]) == ("2022-05-03", "2022-05-04")
    assert parsed.page_info["date_candidates"] <= DATE_CANDIDATES_MAX
    assert parsed.page_info["date_candidates"] < 10


def test_a_numbered_list_and_its_lead_in_are_part_of_the_opening_text():
    """A numbered item ("1. Referral pathways") is a list in the text, not a section heading that
    ends the opening prose; the short line that leads into a list is text too; a bulleted item is a
    line of its own, never joined to the next one as if the line had wrapped."""
    text = (
        "Skip to main content\n\nTaller regional sobre derivación\n\n10 - 12 de octubre de 2023\n\n"
        "El taller reunió a trabajadores sociales de seis oficinas para comparar cómo derivan a las personas "
        "retornadas.\n\n"
        "Se organizó en tres bloques:\n\n"
        "  1. Vías de derivación \n"
        "    Cada oficina presentó las vías de derivación que usa con los servicios de salud y de vivienda.\n"
        "  2. Seguimiento de casos \n"
        "    Los participantes compararon las fichas de seguimiento y los plazos de cada oficina.\n\n"
        "Participaron:\n\n"
        "  • Ana Pérez, coordinadora, Quito\n  • Luis Soto, asistente social, Lima\n\n"
        "Objetivos\n\nEl taller buscaba un formato común de ficha de derivación para la región.\n"
    )
    record = PARSERS["text-detail"](text.encode(), f"{RR}/es/eventos/taller-regional-derivacion").records[0]
    lines = [line for line in record["abstract"].split("\n") if line.strip()]
    assert record["kind"] == "event" and record["title"] == "Taller regional sobre derivación"
    assert len(lines) == 9, lines
    assert lines[1] == "Se organizó en tres bloques:" and lines[2].startswith("1. Vías de derivación")
    assert lines[-1].endswith("Luis Soto, asistente social, Lima")
    assert "formato común" not in record["abstract"]
