"""Build `dataset.json`, the replica's items, from the seed dumps plus hand-written items.

Run `python -m tests.replica_data.build_dataset [--seeds DIR]` after editing the tables below; the
output is committed, so tests never need the seed directory. Schema: see `README.md`.

The seed listing dumps carry only teasers: titles, years and organisations of those items are
invented here (plausible, not claimed to be the real ones) and each truncated teaser is extended
into a full abstract with a tail chosen by the teaser's hash, so items that share a teaser share
their whole abstract (the Etimos volumes, the two EU acquis volumes, the two Bali Process guides).
Those are distinct editions of one work each (identical teasers of distinct nodes whose titles
share most words: volumes of one publication; issue 7), so they carry one `work` and an
`edition` per volume.
"""

from __future__ import annotations

import argparse
import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from parsers import text_catalogue, text_listing
from tests.replica.dataset import (
    DATASET_PATH,
    MP,
    PUB,
    RR,
    SITES,
    TYPE_SLUGS,
    check_items,
    drupal_trim,
    slugify,
)

DEFAULT_SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"  # ../shared/seeds beside the repo
IOM = "International Organization for Migration (IOM)"
NEWEST = datetime(2024, 6, 28, 9, 30, tzinfo=UTC)


@dataclass
class E:
    """One item as written in the tables: what the dumps do not say, invented plausibly."""

    title: str
    year: int | None
    org: str = IOM
    lang: str = "en"
    types: list[str] | None = None
    work: str | None = None
    #: edition key when one work has several editions in a language (volumes of one toolkit)
    edition: str | None = None
    also: list[tuple[str, str]] = field(default_factory=list)  # (site, section) where it is listed too
    regions: list[str] = field(default_factory=list)
    countries: list[str] = field(default_factory=list)
    series: str | None = None
    kind: str = "publication"
    path: dict[str, str] = field(default_factory=dict)  # explicit path per site
    extra: dict[str, Any] = field(default_factory=dict)  # any other dataset field, verbatim


# --- seed listings: one entry per item, in the dump's order ------------------------------------

SEED_LISTINGS: list[tuple[str, str, str, str | None, list[E]]] = [
    (
        "003",
        RR,
        "/en/resources/guideline",
        "Guideline",
        [
            E(
                "Handbook for the Protection of Internally Displaced Persons",
                2010,
                "Global Protection Cluster",
                also=[(MP, "/en/resources/guideline")],
            ),
            E(
                "Guidelines for the Collection of Data on Trafficking in Human Beings, Including Comparable Indicators",
                2009,
                "IOM and the Austrian Federal Ministry of the Interior",
            ),
            E(
                "Enhancing Protection for Civilians in Armed Conflict and Other Situations of Violence",
                2018,
                "International Committee of the Red Cross (ICRC)",
            ),
            E(
                "Minimum Standards for Child Protection in Humanitarian Action",
                2019,
                "Alliance for Child Protection in Humanitarian Action",
                also=[(MP, "/en/resources/guideline")],
            ),
            E(
                "IOM Guidance on Response Planning for Migrants Vulnerable to Violence, Exploitation and Abuse",
                2019,
                work="iom-guidance-response-planning",
            ),
            E(
                "IOM Guidance on Referral Mechanisms for the Protection and Assistance of Migrants Vulnerable to "
                "Violence, Exploitation and Abuse",
                2019,
                work="iom-guidance-referral-mechanisms",
            ),
            E(
                "IASC Operational Guidelines on the Protection of Persons in Situations of Natural Disasters",
                2011,
                "Inter-Agency Standing Committee (IASC)",
            ),
            E(
                "Framework Document: Developing Standard Operating Procedures to Facilitate the Protection of "
                "Trafficked Persons",
                2020,
                "IOM and UNHCR",
            ),
            E("IOM Guidance Note on How to Mainstream Protection across IOM Crisis Response", 2016),
            E("Caring for Trafficked Persons: Guidance for Health Providers", 2009),
            E(
                "Bali Process Policy Guide on Criminalizing Migrant Smuggling",
                2014,
                "Bali Process",
                regions=["Asia and the Pacific"],
            ),
            E(
                "Worst Forms of Child Labour Convention, 1999 (No. 182)",
                1999,
                "International Labour Organization (ILO)",
                types=["Guideline", "Legal instrument"],
            ),
            E(
                "Protocol against the Smuggling of Migrants by Land, Sea and Air",
                2000,
                "United Nations",
                types=["Guideline", "Legal instrument"],
            ),
            E(
                "Resolution 69/149: Trafficking in Women and Girls",
                2014,
                "United Nations General Assembly",
                types=["Guideline", "Legal instrument"],
            ),
            E(
                "Optional Protocol on the Sale of Children, Child Prostitution and Child Pornography",
                2000,
                "United Nations",
                types=["Guideline", "Legal instrument"],
            ),
            E(
                "Protocol of 2014 to the Forced Labour Convention, 1930",
                2014,
                "International Labour Organization (ILO)",
                types=["Guideline", "Legal instrument"],
            ),
            E(
                "Adapting Child Protection Case Management to the COVID-19 Pandemic",
                2020,
                "Alliance for Child Protection in Humanitarian Action",
            ),
            E("COVID-19 and Child Labour: A Time of Crisis, a Time to Act", 2020, "ILO and UNICEF"),
            E(
                "Bali Process Policy Guide on Identifying Victims of Trafficking",
                2015,
                "Bali Process",
                regions=["Asia and the Pacific"],
                work="bali-process-policy-guides",
                edition="bali-process-policy-guide-identifying-victims-trafficking",
            ),
            E(
                "Bali Process Policy Guide on Following the Money in Trafficking in Persons Cases",
                2016,
                "Bali Process",
                regions=["Asia and the Pacific"],
                work="bali-process-policy-guides",
                edition="bali-process-policy-guide-following-money-trafficking-persons-cases",
            ),
        ],
    ),
    (
        "000",
        RR,
        "/en/resources/guideline",
        "Guideline",
        [
            E("Guiding Principles on Human Rights in the Return of Trafficked Persons", 2014, "OSCE/ODIHR"),
            E(
                "A Psychosocial Approach to Post-Arrival Reintegration Counselling",
                2020,
                work="psychosocial-approach-reintegration-counselling",
            ),
            E(
                "Mapeo regional de programas de asistencia para el retorno voluntario en Mesoamérica",
                2019,
                "Organización Internacional para las Migraciones (OIM)",
                lang="es",
                regions=["Central America, North America and the Caribbean"],
            ),
            E("Toolkit to Combat Trafficking in Persons", 2008, "United Nations Office on Drugs and Crime (UNODC)"),
            E(
                "Common Principles for Aligned Assisted Voluntary Return and Reintegration Programmes in the EU",
                2016,
                "European Commission",
                regions=["European Economic Area"],
            ),
            E(
                "Caja de herramientas para emprendedores migrantes – Volumen 1: La idea de negocio",
                2017,
                "Etimos Foundation y OIM",
                lang="es",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-1",
            ),
            E(
                "Caja de herramientas para emprendedores migrantes – Volumen 2: El plan de negocio",
                2017,
                "Etimos Foundation y OIM",
                lang="es",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-2",
            ),
            E(
                "Caja de herramientas para emprendedores migrantes – Volumen 3: Gestión y financiación",
                2017,
                "Etimos Foundation y OIM",
                lang="es",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-3",
            ),
            E(
                "Boîte à outils pour entrepreneurs migrants – Volume 1 : L’idée d’entreprise",
                2017,
                "Fondation Etimos et OIM",
                lang="fr",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-1",
            ),
            E(
                "Boîte à outils pour entrepreneurs migrants – Volume 2 : Le plan d’affaires",
                2017,
                "Fondation Etimos et OIM",
                lang="fr",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-2",
            ),
            E(
                "Boîte à outils pour entrepreneurs migrants – Volume 3 : Gestion et financement",
                2017,
                "Fondation Etimos et OIM",
                lang="fr",
                work="etimos-toolkit",
                edition="etimos-toolkit-volume-3",
            ),
            E(
                "Professional Standards for Protection Work (Third Edition)",
                2018,
                "International Committee of the Red Cross (ICRC)",
            ),
            E("Child-Rights Compliant Return Procedures: Guidance for State Authorities", 2019, "Council of Europe"),
            E(
                "Ten Core Principles for Integrating Livelihoods and Protection in Urban Humanitarian Response",
                2016,
                "Women's Refugee Commission",
            ),
            E(
                "Transnational Victim Referral Project: Results and Impact in the Balkans",
                2015,
                regions=["South-Eastern Europe, Eastern Europe and Central Asia"],
            ),
            E(
                "Migration and International Human Rights Law – Practitioners Guide No. 6",
                2014,
                "International Commission of Jurists",
            ),
            E("Guiding Principles on Internal Displacement", 1998, "United Nations"),
            E(
                "Guidelines to Protect Migrants in Countries Experiencing Conflict or Natural Disaster",
                2016,
                "Migrants in Countries in Crisis (MICIC) Initiative",
            ),
            E(
                "Global Compact for Safe, Orderly and Regular Migration",
                2018,
                "United Nations",
                also=[(MP, "/en/resources/guideline")],
            ),
            E("Framework for the Return and Reintegration of Children", 2019, "Save the Children"),
        ],
    ),
    (
        "001",
        MP,
        "/en/resources/manual",
        "Manual",
        [
            E(
                "Life Projects for Unaccompanied Migrant Minors: A Handbook for Front-line Professionals",
                2010,
                "Council of Europe",
            ),
            E(
                "Reintegration Handbook – Module on Child-Sensitive Reintegration",
                2022,
                also=[(RR, "/en/resources/manual")],
            ),
            E("Reintegration Handbook – Annexes", 2019, also=[(RR, "/en/resources/manual")]),
            E("Toolkit on Child-Focused Return and Reintegration", 2019, "UNICEF"),
            E("READMIT Training Manual on Readmission", 2014),
            E(
                "Asistencia directa, retorno y reintegración en América Latina",
                2021,
                "Organización Internacional para las Migraciones (OIM)",
                lang="es",
                regions=["South America"],
            ),
            E("Policy Guide on Entrepreneurship for Migrants and Refugees", 2018, "UNCTAD, IOM and UNHCR"),
            E("IOM Data Protection Manual", 2010),
            E(
                "Compilation of EU Acquis on Migration – Volume I: Legal Migration and Visas",
                2012,
                regions=["European Economic Area"],
                work="compilation-eu-acquis-migration",
                edition="compilation-eu-acquis-migration-volume-i-legal-migration-and-visas",
            ),
            E(
                "Compilation of EU Acquis on Migration – Volume II: Return and Readmission",
                2012,
                regions=["European Economic Area"],
                work="compilation-eu-acquis-migration",
                edition="compilation-eu-acquis-migration-volume-ii-return-and-readmission",
            ),
            E("Migrant Resource Centres: A Handbook for Practitioners", 2012),
            E(
                "Readmission Manual for the Federal Migration Service of Russia",
                2013,
                regions=["South-Eastern Europe, Eastern Europe and Central Asia"],
                countries=["Russian Federation"],
            ),
            E(
                "Handbuch Rückkehr und Reintegration von vulnerablen Personen",
                2017,
                "IOM Deutschland",
                lang="de",
                countries=["Germany"],
            ),
            E(
                "Manual on Community-Based Mental Health and Psychosocial Support in Emergencies and Displacement",
                2019,
                work="manual-community-based-mhpss",
            ),
            E(
                "Training Manual to Fight Trafficking in Children for Labour, Sexual and Other Forms of Exploitation",
                2009,
                "ILO and UNICEF",
            ),
            E(
                "IOM Handbook on Protection and Assistance to Migrants Vulnerable to Violence, Exploitation and Abuse",
                2019,
                work="iom-handbook-migrants-vulnerable-violence",
            ),
            E(
                "Field Handbook on Unaccompanied and Separated Children",
                2017,
                "Alliance for Child Protection in Humanitarian Action",
            ),
            E("Child Trafficking: A Handbook for Project Workers", 2007, "Terre des hommes International Federation"),
            E(
                "Training Manual on the Protection of Returnees and Internally Displaced Persons",
                2001,
                "Office of the High Commissioner for Human Rights (OHCHR)",
            ),
            E(
                "Migración y poblaciones LGBTI: Manual para instituciones del Estado",
                2021,
                "Organización Internacional para las Migraciones (OIM)",
                lang="es",
                regions=["South America"],
            ),
        ],
    ),
    (
        "002",
        MP,
        "/en/regional-designations/global",
        None,
        [
            E(
                "Protecting Populations Trapped in Environmentally Degraded Areas",
                2023,
                types=["Report"],
                regions=["Global"],
            ),
            E("IOM's Approach to Protection", 2024, types=["Guideline", "Position paper"]),
            E("IOM Counter-Trafficking Thematic Guidance", 2022, types=["Guideline"]),
            E(
                "Return Counselling Toolkit",
                2022,
                types=["Guideline", "Manual"],
                work="return-counselling-toolkit",
                also=[(RR, "/en/resources/manual")],
            ),
            E(
                "IOM Launches Return Counselling Toolkit",
                2022,
                kind="news",
                path={MP: "/en/spotlight/articles/publication/iom-launches-return-counselling-toolkit"},
                extra={"sections_extra": {MP: ["/en/spotlight/articles"]}},
            ),
            E("Return Counselling Toolkit: Overview and Operational Tools", 2022, types=["Guideline"]),
            E(
                "IOM's Policy on the Full Spectrum of Return, Readmission and Reintegration",
                2021,
                types=["Guideline", "Position paper"],
                also=[(RR, "/en/resources/guideline")],
            ),
            E("Protecting LGBTI Migrants: Human Rights Standards and Practice", 2023, types=["Report"]),
            E(
                "Impact Evaluations for Return and Reintegration Programmes",
                2023,
                types=["Manual"],
                also=[(RR, "/en/resources/manual")],
            ),
            E("Climate Change, Migration and Protection: Operational Guidance", 2023, types=["Guideline"]),
            E(
                "Technical Note: Including Children on the Move in National Child Protection Systems",
                2023,
                "IOM and UNICEF",
                types=["Guideline"],
            ),
            E(
                "Global Youth Consultation on Ending Child Immigration Detention: Outcome Report",
                2023,
                "Migration Youth & Children's Platform",
                types=["Report"],
            ),
            E(
                "Migrant Workers' Rights to Freedom of Association and Collective Bargaining",
                2023,
                "International Labour Organization (ILO)",
                types=["Report"],
            ),
            E("Protection Risks: Explanatory Note", 2021, "Global Protection Cluster", types=["Guideline"]),
            E("Global Protection Cluster Annual Report 2023", 2024, "Global Protection Cluster", types=["Report"]),
            E(
                "Return Migration and Reintegration: Perspectives from Countries of Origin",
                2023,
                "Migration Policy Institute",
                types=["Study"],
            ),
            E(
                "Case Management Guidelines for Migrants with Protection and Assistance Needs",
                2023,
                types=["Guideline"],
            ),
            E(
                "Compendium of Good Practices in Enabling Access to Legal Identity for Undocumented Migrants",
                2023,
                types=["Report"],
            ),
            E(
                "Rescue at Sea: A Guide to Principles and Practice as Applied to Refugees and Migrants",
                2015,
                "IMO, UNHCR and ICS",
                types=["Guideline"],
            ),
            E("Remote Counselling: Guidance for Return and Reintegration Counsellors", 2021, types=["Leaflet/Booklet"]),
        ],
    ),
]

# --- seed catalogue 004: what the dump does not say ---------------------------------------------

CATALOGUE_EXTRA: dict[int, dict[str, Any]] = {
    # position in the dump -> overrides (work keys tie the same publication seen on MP/R&R)
    3: {"lang": "es"},
    7: {"work": "reintegration-handbook", "reference_number": "PUB2019/012/EL"},
    8: {"work": "iom-handbook-migrants-vulnerable-violence"},
    9: {"work": "iom-guidance-response-planning"},
    10: {"work": "iom-guidance-referral-mechanisms"},
    14: {"work": "manual-community-based-mhpss", "reference_number": "PUB2019/031/EL"},
    19: {"work": "migration-2030-agenda-guide", "metadata": ["jsonld", "citation", "og"]},
    20: {"lang": "es"},
    21: {"lang": "fr"},
}

# --- hand-written items (language editions, the same node on two sites, sitemap-only...) -------

HANDWRITTEN: list[tuple[str, dict[str, Any]]] = [
    (
        "hw-2030-agenda-fr",
        {
            "site": PUB,
            "path": "/books/la-migration-et-le-programme-2030-un-guide-lusage-des-praticiens",
            "title": "La migration et le Programme 2030 : Un guide à l’usage des praticiens",
            "lang": "fr",
            "year": 2018,
            "page_count": 160,
            "work": "migration-2030-agenda-guide",
            "isbn": ["978-92-9068-776-4"],
            "languages": ["French"],
            "metadata": ["jsonld", "og"],
            "abstract": "Ce guide s’adresse aux acteurs gouvernementaux, nationaux comme locaux, qui participent à la "
            "mise en œuvre des objectifs de développement durable, y compris ceux qui travaillent spécifiquement "
            "dans le domaine de la migration et ceux qui, dans d’autres secteurs, souhaitent intégrer la migration "
            "à leur action.\n\nPour les acteurs expérimentés, le guide propose une nouvelle approche fondée sur le "
            "Programme 2030 ; pour les autres, il offre une introduction aux liens entre migration et développement.",
        },
    ),
    (
        "hw-2030-agenda-es",
        {
            "site": PUB,
            "path": "/es/books/la-migracion-en-la-agenda-2030-guia-para-profesionales",
            "title": "La migración en la Agenda 2030: Guía para profesionales",
            "lang": "es",
            "year": 2018,
            "page_count": 158,
            "work": "migration-2030-agenda-guide",
            "isbn": ["978-92-9068-777-1"],
            "languages": ["Spanish"],
            "metadata": ["citation"],
            "abstract": "Esta guía está dirigida a los actores gubernamentales, tanto nacionales como locales, que "
            "participan en la implementación de los Objetivos de Desarrollo Sostenible, incluidos quienes trabajan "
            "específicamente en el ámbito de la migración y quienes, desde otros sectores, desean integrar la "
            "migración en su labor. Ofrece un enfoque nuevo basado en la Agenda 2030.",
        },
    ),
    (
        "hw-reintegration-handbook-fr",
        {
            "site": PUB,
            "path": "/books/manuel-sur-la-reintegration-conseils-pratiques",
            "title": "Manuel sur la réintégration – Conseils pratiques sur la conception, la mise en œuvre et le "
            "suivi de l’aide à la réintégration",
            "lang": "fr",
            "year": 2019,
            "page_count": 320,
            "work": "reintegration-handbook",
            "isbn": ["978-92-9068-812-9"],
            "languages": ["French"],
            "metadata": ["dc"],
            "abstract": "Ce manuel vise à fournir des conseils pratiques sur la conception, la mise en œuvre et le "
            "suivi de l’aide à la réintégration destinée aux migrants de retour. S’il est vrai que la réintégration "
            "est un processus qui intervient dans différents contextes de retour, le manuel porte principalement sur "
            "l’aide apportée aux migrants qui ne peuvent pas ou ne veulent pas rester dans le pays d’accueil.",
        },
    ),
    (
        "hw-reintegration-handbook-es",
        {
            "site": PUB,
            "path": "/es/books/manual-sobre-reintegracion-orientaciones-practicas",
            "title": "Manual sobre reintegración – Orientaciones prácticas sobre el diseño, la ejecución y el "
            "seguimiento de la asistencia para la reintegración",
            "lang": "es",
            "year": 2019,
            "page_count": 318,
            "work": "reintegration-handbook",
            "isbn": ["978-92-9068-813-6"],
            "languages": ["Spanish"],
            "metadata": [],
            "abstract": "El presente Manual tiene por objeto proporcionar orientaciones prácticas sobre el diseño, la "
            "ejecución y el seguimiento de la asistencia para la reintegración de los migrantes que regresan. Si bien "
            "la reintegración es un proceso que tiene lugar en distintos contextos de retorno, el Manual se centra en "
            "la asistencia a los migrantes que no pueden o no desean permanecer en el país de acogida.",
        },
    ),
    (
        "hw-reintegration-handbook-node",
        {
            "site": MP,
            "sections": ["/en/resources/manual"],
            "also": [(RR, "/en/resources/manual")],
            "title": "Reintegration Handbook – Practical Guidance on the Design, Implementation and Monitoring of "
            "Reintegration Assistance",
            "lang": "en",
            "year": 2019,
            "types": ["Manual"],
            "work": "reintegration-handbook",
            "series": "Reintegration Handbook",
            "metadata": ["dc", "og"],
            "pdfs": [("ENGLISH", "3.2 MB"), ("FRANÇAIS", "3.4 MB"), ("ESPAÑOL", "3.3 MB")],
            "abstract": "This Handbook aims to provide practical guidance on the design, implementation and monitoring "
            "of reintegration assistance for returnees. While reintegration is a process taking place in different "
            "return contexts, the Handbook focuses on assistance provided to migrants unable or unwilling to remain "
            "in the host country.\n\nIt has been conceived as a hands-on tool for project developers, project "
            "managers, case managers, policymakers and other reintegration practitioners.",
        },
    ),
    (
        "hw-psychosocial-counselling-pub",
        {
            "site": PUB,
            "path": "/books/psychosocial-approach-reintegration-counselling",
            "title": "A Psychosocial Approach to Reintegration Counselling",
            "lang": "en",
            "year": 2020,
            "page_count": 34,
            "reference_number": "PUB2020/035/R",
            "work": "psychosocial-approach-reintegration-counselling",
            "upload": "2020-06-11",
            "metadata": ["citation", "og"],
            "languages": ["English"],
            "toc": ["LIST OF ACRONYMS", "LIST OF BOXES", "INTRODUCTION", "1. THE PSYCHOSOCIAL APPROACH"],
            "abstract": "Adapted from a document originally developed for Western and Central Africa, this guide "
            "describes the psychosocial approach to reintegration counselling and the communication skills that "
            "counsellors need when they meet returnees after their arrival.",
        },
    ),
    (
        "hw-return-counselling-toolkit-pub",
        {
            "site": PUB,
            "path": "/books/return-counselling-toolkit",
            "title": "Return Counselling Toolkit",
            "lang": "en",
            "year": 2022,
            "work": "return-counselling-toolkit",
            "upload": "2022-07-13",
            "empty_labels": ["Original Language", "Number of Pages", "Reference Number"],
            "metadata": [],
            "abstract": "The Return Counselling Toolkit is a capacity-building instrument aimed at providing a "
            "harmonized and coherent approach to return counselling, based on key migrant-centred principles while "
            "protecting migrants’ rights. Mindful of the specific needs and rights of each migrant, the toolkit "
            "offers counsellors modules, exercises and checklists for every stage of the return process.",
        },
    ),
    (
        "hw-wca-strategy",
        {
            "site": PUB,
            "path": "/books/west-and-central-africa-regional-strategy-2020-2024",
            "title": "West and Central Africa Regional Strategy 2020–2024",
            "lang": "en",
            "year": 2021,
            "upload": "2021-07-15",
            "page_count": 40,
            "metadata": ["jsonld"],
            "types": ["Strategy"],
            "abstract": "The Regional Strategy sets out how IOM will support the States of West and Central Africa in "
            "managing migration between 2020 and 2024, around three pillars: resilience, mobility and governance.",
        },
    ),
    (
        "hw-counter-trafficking-activities",
        {
            "site": PUB,
            "path": "/books/iom-counter-trafficking-activities",
            "title": "IOM Counter-Trafficking Activities",
            "lang": "en",
            "year": 2015,
            "page_count": 8,
            "pages_text": "8 pages",
            "upload": "2015-10-15",
            "metadata": ["og"],
            "abstract": "A short overview of IOM’s counter-trafficking work: prevention, protection of victims, "
            "prosecution support and partnerships.",
        },
    ),
    (
        "hw-mpp-ix-1",
        {
            "site": PUB,
            "path": "/books/migration-policy-practice-vol-ix-number-1-january-2019-march-2019",
            "title": "Migration Policy Practice (Vol. IX, Number 1, January 2019–March 2019)",
            "lang": "en",
            "year": 2019,
            "page_count": 42,
            "issn": "2223-5248",
            "subtitle": "Special Issue on Return and Reintegration",
            "types": ["Journal"],
            "series": "Migration Policy Practice",
            "metadata": ["citation", "dc"],
            "toc": ["Introduction", "Return and reintegration: key concepts", "Sustainable reintegration in practice"],
            "abstract": "This special issue of Migration Policy Practice brings together articles on return and "
            "reintegration policy, from the measurement of sustainable reintegration to the role of local "
            "authorities in countries of origin.",
        },
    ),
    (
        "hw-highlights-2020",
        {
            "site": PUB,
            "path": "/books/highlights-2020-annual-report",
            "nid": 2832,
            "title": "Highlights of the 2020 Annual Report",
            "lang": "en",
            "year": 2021,
            "upload": "2021-07-29",
            "metadata": ["jsonld", "og"],
            "abstract": "The highlights summarize IOM’s work in 2020, a year shaped by the COVID-19 pandemic, across "
            "its operations in more than 170 countries. Download the Mobile version here.",
        },
    ),
    (
        "hw-wmr-2022-en",
        {
            "site": PUB,
            "path": "/books/world-migration-report-2022",
            "title": "World Migration Report 2022",
            "lang": "en",
            "year": 2021,
            "page_count": 540,
            "isbn": ["978-92-9268-078-7"],
            "eisbn": ["978-92-9268-076-3"],
            "work": "world-migration-report-2022",
            "series": "World Migration Report",
            "metadata": ["jsonld", "citation", "og"],
            "reference_number": "PUB2021/111/R",
            "abstract": "IOM has been producing world migration reports since 2000. The World Migration Report 2022, "
            "the eleventh in the series, has been produced to contribute to increased understanding of migration "
            "throughout the world.\n\nThis new edition presents key data and information on migration as well as "
            "thematic chapters on highly topical migration issues, and is structured to focus on two key "
            "contributions for readers: Part I, key information on migration and migrants; and Part II, balanced, "
            "evidence-based analysis of complex and emerging migration issues.",
        },
    ),
    (
        "hw-wmr-2022-fr",
        {
            "site": PUB,
            "path": "/books/etat-de-la-migration-dans-le-monde-2022",
            "title": "État de la migration dans le monde 2022",
            "lang": "fr",
            "year": 2022,
            "page_count": 580,
            "isbn": ["978-92-9268-256-9"],
            "work": "world-migration-report-2022",
            "series": "World Migration Report",
            "metadata": ["dc", "og"],
            "upload": "2022-06-29",
            "abstract": "L’OIM publie les rapports État de la migration dans le monde depuis l’année 2000. Le "
            "Rapport 2022, onzième de la série, a été conçu pour contribuer à une meilleure compréhension de la "
            "migration dans le monde entier.\n\nCette nouvelle édition présente des données et informations clés sur "
            "la migration ainsi que des chapitres thématiques sur des questions migratoires d’actualité.",
        },
    ),
    (
        "hw-wmr-2022-es",
        {
            "site": PUB,
            "path": "/es/books/informe-sobre-las-migraciones-en-el-mundo-2022",
            "title": "Informe sobre las Migraciones en el Mundo 2022",
            "lang": "es",
            "year": 2022,
            "page_count": 572,
            "isbn": ["978-92-9268-257-6"],
            "work": "world-migration-report-2022",
            "series": "World Migration Report",
            "metadata": ["jsonld"],
            "abstract": "La OIM publica informes sobre las migraciones en el mundo desde el año 2000. El Informe 2022, "
            "undécimo de la serie, se ha elaborado para contribuir a una mayor comprensión de la migración en todo "
            "el mundo, con datos clave y capítulos temáticos sobre cuestiones migratorias de actualidad.",
        },
    ),
    (
        "hw-glossary-en",
        {
            "site": PUB,
            "path": "/books/international-migration-law-ndeg34-glossary-migration",
            "title": "International Migration Law N°34 – Glossary on Migration",
            "lang": "en",
            "year": 2019,
            "page_count": 248,
            "issn": "1813-2278",
            "work": "glossary-on-migration-iml-34",
            "series": "International Migration Law",
            "pdf_file": "iml_34_glossary.pdf",
            "metadata": ["citation"],
            "abstract": "The Glossary on Migration aims to promote a common understanding of migration terms and "
            "concepts, based on international standards, and to support their consistent use.",
        },
    ),
    (
        "hw-glossary-es",
        {
            "site": PUB,
            "path": "/es/books/derecho-internacional-sobre-migracion-ndeg34-glosario-de-la-oim",
            "title": "Derecho Internacional sobre Migración N°34 – Glosario de la OIM sobre Migración",
            "lang": "es",
            "year": 2019,
            "page_count": 262,
            "issn": "1813-2278",
            "work": "glossary-on-migration-iml-34",
            "series": "International Migration Law",
            "pdf_file": "iml-34-glossary-es.pdf",
            "metadata": ["dc"],
            "abstract": "El Glosario de la OIM sobre Migración tiene por objeto promover un entendimiento común de los "
            "términos y conceptos relativos a la migración, basado en las normas internacionales.",
        },
    ),
    (
        "hw-knowledge-bite-1",
        {
            "site": RR,
            "nid": 773,
            "sections": ["/en/resources/report"],
            "also": [(MP, "/en/resources/report")],
            "paths": {
                RR: "/en/resources/knowledge-bite-report/knowledge-bite-1-introduction-series",
                MP: "/en/resources/kmh-knowledge-bite-series-report/knowledge-bite-1-introduction-series",
            },
            "title": "Knowledge Bite #1- Introduction to the Series",
            "lang": "en",
            "year": 2020,
            "types": ["KMH Knowledge Bite Series", "Report"],
            "series": "Sustainable Reintegration Knowledge Bites Series",
            "regions": [
                "Asia and the Pacific",
                "East Africa and the Horn of Africa",
                "Southern Africa",
                "West and Central Africa",
            ],
            "pdfs": [("ENGLISH", "787.11 KB"), ("FRANÇAIS", "1.04 MB")],
            "metadata": ["jsonld"],
            "abstract": "This first introductory Knowledge Bite presents the series, which distils lessons learned on "
            "sustainable reintegration from IOM programmes into short, practical notes for practitioners.",
        },
    ),
    (
        "hw-knowledge-bite-2",
        {
            "site": MP,
            "sections": ["/en/resources/report"],
            "also": [(RR, "/en/resources/report")],
            "paths": {
                MP: "/en/resources/kmh-knowledge-bite-series-report/knowledge-bite-2-sustainable-reintegration-outcomes",  # noqa: E501
                RR: "/en/resources/knowledge-bite-report/knowledge-bite-2-sustainable-reintegration-outcomes",
            },
            "title": "Knowledge Bite #2- Sustainable Reintegration Outcomes",
            "lang": "en",
            "year": 2020,
            "types": ["KMH Knowledge Bite Series", "Report"],
            "series": "Sustainable Reintegration Knowledge Bites Series",
            "pdfs": [("ENGLISH", "912.40 KB")],
            "metadata": [],
            "abstract": "How do we know whether reintegration is sustainable? This Knowledge Bite reviews the "
            "indicators IOM uses to measure economic, social and psychosocial reintegration outcomes.",
        },
    ),
    (
        "hw-key-highlights-2023",
        {
            "site": MP,
            "sections": ["/en/resources/report"],
            "path": "/en/resources/report/return-and-reintegration-key-highlights-2023",
            "title": "Return and Reintegration Key Highlights 2023",
            "lang": "en",
            "year": 2024,
            "types": ["Report"],
            "metadata": ["og"],
            "abstract": "This report presents the key highlights of IOM’s return and reintegration activities in "
            "2023: more than 70,000 migrants assisted to return voluntarily, and reintegration support provided in "
            "over 130 countries of origin, with a focus on community-based projects.",
        },
    ),
    (
        "hw-key-highlights-2022",
        {
            "site": MP,
            "sections": ["/en/resources/report"],
            "path": "/en/resources/report/return-and-reintegration-key-highlights-2022",
            "title": "Return and Reintegration Key Highlights 2022",
            "lang": "en",
            "year": 2023,
            "types": ["Report"],
            "metadata": ["dc"],
            "abstract": "This report presents the key highlights of IOM’s return and reintegration activities in "
            "2022, a year in which assisted voluntary return resumed its pre-pandemic levels and new partnerships "
            "with development actors were launched.",
        },
    ),
    (
        "hw-key-highlights-2021",
        {
            # sitemap only: no listing shows it, the crawler must find it through sitemap.xml
            "site": MP,
            "sections": [],
            "path": "/en/resources/report/return-and-reintegration-key-highlights-2021",
            "title": "Return and Reintegration Key Highlights 2021",
            "lang": "en",
            "year": 2022,
            "types": ["Report"],
            "metadata": [],
            "abstract": "This report presents the key highlights of IOM’s return and reintegration activities in "
            "2021, when the COVID-19 pandemic continued to restrict mobility and counselling moved online.",
        },
    ),
    (
        "hw-horn-of-africa-evidence",
        {
            "site": MP,
            "sections": ["/en/resources/report"],
            "path": "/en/resources/report/evidence-migrant-protection-and-reintegration-horn-africa",
            "title": "Evidence on Migrant Protection and Reintegration in the Horn of Africa",
            "lang": "en",
            "year": 2023,
            "types": ["Report"],
            "countries": ["Djibouti", "Ethiopia", "Somalia", "Sudan"],
            "regions": ["East Africa and the Horn of Africa"],
            "metadata": ["jsonld", "og"],
            "pdfs": [("Key Findings - English", "319 KB"), ("Résultats clés - Français", "319.63 KB")],
            "abstract": "Drawing on surveys of more than 5,000 returnees, this report presents evidence on the "
            "protection needs of migrants along the Eastern Route and on the reintegration outcomes of those "
            "assisted to return to Djibouti, Ethiopia, Somalia and Sudan.",
        },
    ),
    (
        "hw-inner-journeys",
        {
            "site": MP,
            "sections": ["/en/resources/study"],
            "path": "/en/resources/study/inner-journeys-mental-health-and-psychosocial-perspectives-migration-return-and",  # noqa: E501
            "title": "Inner Journeys: Mental Health and Psychosocial Perspectives on Migration, Return and "
            "Reintegration",
            "lang": "en",
            "year": 2023,
            "types": ["Study"],
            "countries": ["Ethiopia", "Somalia", "Sudan"],
            "regions": ["East Africa and the Horn of Africa"],
            "metadata": ["citation"],
            "image_alt": "Cover page of the Inner Journeys report",
            "abstract": "This study explores how migrants from the Horn of Africa experience migration and return, "
            "and what their own accounts teach about mental health and psychosocial support during reintegration. "
            "It is based on in-depth interviews with returnees, their families and community members, and it "
            "shows that the psychological dimension of return deserves the same attention as its economic one.",
        },
    ),
    (
        "hw-cartilla-colombia",
        {
            "site": MP,
            "sections": ["/en/resources/leafletbooklet"],
            "path": "/es/resources/leafletbooklet/cartilla-de-informacion-y-orientacion-laboral-para-la-poblacion-colombiana",  # noqa: E501
            "title": "Cartilla de información y orientación laboral para la población colombiana",
            "lang": "es",
            "year": 2021,
            "types": ["Leaflet/Booklet"],
            "countries": ["Colombia"],
            "regions": ["South America"],
            "org": "Organización Internacional para las Migraciones (OIM)",
            "metadata": [],
            "abstract": "Esta cartilla ofrece información práctica sobre derechos laborales, búsqueda de empleo y "
            "servicios de orientación para las personas colombianas que retornan al país.",
        },
    ),
    (
        "hw-mrc-toolkit-news",
        {
            "site": MP,
            "kind": "news",
            "sections": ["/en/spotlight/articles"],
            "path": "/en/spotlight/articles/initiative/iom-toolkit-offers-key-advice-migrant-centres",
            "title": "IOM Toolkit Offers Key Advice on Migrant Centres",
            "lang": "en",
            "year": 2021,
            "caption": "A counsellor at a migrant resource centre in Tunis | © IOM 2021",
            "metadata": ["jsonld", "og"],
            "abstract": "The toolkit on migrant centres will be integrated into the forthcoming IOM Migrant Protection "
            "Platform, bringing together guidance for staff who run information and resource centres.",
        },
    ),
    (
        "hw-reintegration-handbook-news",
        {
            "site": RR,
            "kind": "news",
            "sections": ["/en/spotlight/articles"],
            "path": "/en/spotlight/articles/publication/iom-launches-reintegration-handbook",
            "title": "IOM Launches Reintegration Handbook",
            "lang": "en",
            "year": 2019,
            "caption": "Cover of the IOM Reintegration Handbook",
            "metadata": ["og"],
            "abstract": "IOM has launched its Reintegration Handbook, practical guidance on the design, implementation "
            "and monitoring of reintegration assistance, now available in English, French and Spanish.",
        },
    ),
    (
        "hw-vulnerability-study",
        {
            "site": MP,
            "sections": ["/en/resources/study"],
            "title": "Migrant Vulnerability to Human Trafficking and Exploitation: Evidence from the Central and "
            "Eastern Mediterranean Migration Routes",
            "lang": "en",
            "year": 2017,
            "types": ["Study"],
            "metadata": ["dc"],
            "abstract": "Based on surveys with more than 16,000 migrants, this study identifies the individual and "
            "contextual factors that make migrants travelling along the Central and Eastern Mediterranean routes "
            "vulnerable to trafficking and exploitation.",
        },
    ),
    (
        "hw-kb-short",
        {
            "site": RR,
            "sections": ["/en/resources/report"],
            "title": "Knowledge Bite #3- Community-Based Reintegration",
            "lang": "en",
            "year": 2021,
            "types": ["KMH Knowledge Bite Series", "Report"],
            "series": "Sustainable Reintegration Knowledge Bites Series",
            "path": "/en/resources/knowledge-bite-report/knowledge-bite-3-community-based-reintegration",
            "metadata": [],
            "abstract": "Community-based projects in return areas: what works, for whom, and at what cost.",
        },
    ),
    (
        "hw-rr-es-manual",
        {
            "site": RR,
            "sections": ["/en/resources/manual"],
            "title": "Manual de orientación para el retorno voluntario asistido",
            "lang": "es",
            "year": 2020,
            "types": ["Manual"],
            "org": "Organización Internacional para las Migraciones (OIM)",
            "metadata": ["og"],
            "abstract": "Este manual ofrece orientación práctica a los equipos que acompañan a las personas migrantes "
            "en el retorno voluntario asistido, desde la primera entrevista de asesoramiento hasta la llegada al país "
            "de origen y el seguimiento posterior, con herramientas, listas de verificación y ejemplos de casos "
            "concretos recogidos en la región.",
        },
    ),
    (
        "hw-pub-sitemap-only",
        {
            # on publications.iom.int but on no listing page (e.g. unpublished from the search view)
            "site": PUB,
            "sections": [],
            "path": "/books/migration-focus-trafficking",
            "title": "Migration in Focus: Trafficking",
            "lang": "en",
            "year": 2008,
            "page_count": 12,
            "metadata": [],
            "abstract": "An issue of the IOM information sheet series devoted to trafficking in persons.",
        },
    ),
]

# tails that turn a truncated seed teaser into a full abstract, by language; each opens with a
# word long enough that Drupal's 260-character trim falls back to the teaser's own last word
TAILS = {
    "en": [
        "accordingly, and it sets out the practical steps, tools and checklists that {org} and its partners use.",
        "particularly through case studies, checklists and practical tools drawn from field experience.",
        "notwithstanding differences between national contexts, and closes with recommendations for practitioners.",
        "respectively, and is accompanied by annexes with templates, case studies and further reading.",
        "consistently, drawing on consultations held with governments, civil society and migrants themselves.",
    ],
    "es": ["respectivamente, y ofrece herramientas prácticas, estudios de caso y recomendaciones para profesionales."],
    "fr": ["respectivement, et propose des outils pratiques, des études de cas et des recommandations aux praticiens."],
    "de": ["entsprechend, und bietet praktische Werkzeuge, Fallbeispiele und Empfehlungen für die Beratungspraxis."],
}

METADATA_ROTATION = [["jsonld", "og"], ["dc"], ["citation", "og"], [], ["og"], ["dc", "citation"]]


def build(seeds: Path) -> list[dict[str, Any]]:
    """All items, newest first by node creation date (the order listings show them in)."""
    items: list[dict[str, Any]] = []
    nid = iter(range(1001, 9999))
    for key, body in HANDWRITTEN[: len(HANDWRITTEN) // 2]:
        items.append(_handwritten(key, body, next(nid)))
    for prefix, site, section, default_type, entries in SEED_LISTINGS:
        items.extend(_from_listing(seeds, prefix, site, section, default_type, entries, nid))
    items.extend(_from_catalogue(seeds, nid))
    for key, body in HANDWRITTEN[len(HANDWRITTEN) // 2 :]:
        items.append(_handwritten(key, body, next(nid)))
    for n, item in enumerate(items):
        item["created"] = (NEWEST - timedelta(days=n, hours=n % 7)).strftime("%Y-%m-%dT%H:%M:%SZ")
        item.setdefault("metadata", METADATA_ROTATION[n % len(METADATA_ROTATION)])
    check_items(items)
    return items


def _base(item_id: str, nid: int, entry: E) -> dict[str, Any]:
    work = entry.work or slugify(entry.title)
    return {
        "id": item_id,
        "nid": nid,
        "kind": entry.kind,
        "title": entry.title,
        "abstract": "",
        "teaser": None,
        "text_language": entry.lang,
        "year": entry.year,
        "types": entry.types or [],
        "organisations": [entry.org] if entry.org else [],
        "regions": entry.regions,
        "countries": entry.countries,
        "series": entry.series,
        "page_count": None,
        "isbn": [],
        "eisbn": [],
        "issn": None,
        "languages": [],
        "reference_number": None,
        "pdfs": [],
        "toc": [],
        "subtitle": None,
        "caption": None,
        "sites": {},
        "edition_key": f"{entry.edition or work}:{entry.lang}",
        "work_key": work,
        "seed": [],
    }


def _from_listing(
    seeds: Path, prefix: str, site: str, section: str, default_type: str | None, entries: list[E], nid: Any
) -> list[dict[str, Any]]:
    path = _seed_file(seeds, prefix)
    parsed = text_listing.parse(path.read_bytes(), None)
    cards: list[list[dict[str, Any]]] = []
    for record in parsed.records:
        if record["kind"] == "news" and cards and cards[-1][-1]["kind"] == "caption":
            cards[-1].append(record)
        else:
            cards.append([record])
    if len(cards) != len(entries):
        raise SystemExit(f"{path.name}: {len(cards)} cards but {len(entries)} table entries")
    items = []
    for n, (records, entry) in enumerate(zip(cards, entries, strict=True)):
        entry.types = entry.types or ([default_type] if default_type else [])
        item = _base(f"{prefix}-{n + 1:02d}-{slugify(entry.title)[:40]}", next(nid), entry)
        item["seed"] = [{"file": path.name, "position": r["position"], "kind": r["kind"]} for r in records]
        teaser_record = records[-1]
        if records[0]["kind"] == "caption":
            item["caption"] = records[0]["abstract"]
        teaser = teaser_record["abstract"]
        if teaser_record["abstract_truncated"]:
            item["abstract"] = f"{teaser} {_tail(teaser, entry)}"
        else:
            item["abstract"] = teaser
        shown, _ = drupal_trim(item["abstract"])
        expected = teaser + ("..." if teaser_record["abstract_truncated"] else "")
        item["teaser"] = None if shown == expected else expected
        sections = {site: [section]}
        if entry.kind == "news":
            sections[site].extend(entry.extra.pop("sections_extra", {}).get(site, []))
        else:
            for t in entry.types:
                type_section = f"/en/resources/{TYPE_SLUGS[t]}"
                if type_section in {s.key for s in SITES[site].sections} and type_section not in sections[site]:
                    sections[site].append(type_section)
        for other_site, other_section in entry.also:
            sections.setdefault(other_site, []).append(other_section)
        for s, secs in sections.items():
            item["sites"][s] = {"path": entry.path.get(s) or _resource_path(s, entry), "sections": secs}
        item["pdfs"] = [] if entry.kind == "news" else [_pdf(entry.lang, item["id"])]
        item["languages"] = [] if entry.kind == "news" else [_language_name(entry.lang)]
        item.update(entry.extra)
        items.append(item)
    return items


def _from_catalogue(seeds: Path, nid: Any) -> list[dict[str, Any]]:
    path = _seed_file(seeds, "004")
    parsed = text_catalogue.parse(path.read_bytes(), None)
    items = []
    for record in parsed.records:
        position = record["position"]
        extra = dict(CATALOGUE_EXTRA.get(position, {}))
        lang = extra.pop("lang", "en")
        entry = E(
            record["title"], record["year"], lang=lang, types=["Handbooks and Manuals"], work=extra.pop("work", None)
        )
        slug = slugify(record["title"], prefix="/books/")
        item = _base(f"004-{position:02d}-{slug[:40]}", next(nid), entry)
        item.update(
            abstract=record["abstract"],
            page_count=record["page_count"],
            isbn=record["isbn"],
            eisbn=record["eisbn"],
            languages=record["languages"],
            seed=[{"file": path.name, "position": position, "kind": "publication"}],
            sites={PUB: {"path": f"/books/{slug}", "sections": ["/search-books"]}},
        )
        if record.get("pdf_available"):
            item["pdfs"] = [{"label": "Download PDF", "file": _pdf_name(slug, position), "size": ""}]
        item.update(extra)
        items.append(item)
    return items


def _handwritten(key: str, body: dict[str, Any], nid: int) -> dict[str, Any]:
    body = dict(body)
    site = body.pop("site")
    entry = E(
        body.pop("title"),
        body.pop("year"),
        org=body.pop("org", IOM),
        lang=body.pop("lang"),
        types=body.pop("types", None),
        work=body.pop("work", None),
        regions=body.pop("regions", []),
        countries=body.pop("countries", []),
        series=body.pop("series", None),
        kind=body.pop("kind", "publication"),
    )
    item = _base(key, body.pop("nid", nid), entry)
    item["abstract"] = body.pop("abstract")
    paths = body.pop("paths", {})
    if "path" in body:
        paths.setdefault(site, body.pop("path"))
    sections = {site: body.pop("sections", ["/search-books"] if site == PUB else [])}
    for other_site, other_section in body.pop("also", []):
        sections.setdefault(other_site, []).append(other_section)
    for s, secs in sections.items():
        item["sites"][s] = {"path": paths.get(s) or _resource_path(s, entry), "sections": secs}
    pdfs = body.pop("pdfs", None)
    pdf_file = body.pop("pdf_file", None)
    if site == PUB:
        slug = item["sites"][PUB]["path"].rsplit("/", 1)[-1]
        item["pdfs"] = [{"label": "Download PDF", "file": pdf_file or _pdf_name(slug, nid), "size": ""}]
    elif entry.kind != "news":
        item["pdfs"] = (
            [
                {"label": label, "file": f"{slugify(entry.title)[:50]}-{n}.pdf", "size": size}
                for n, (label, size) in enumerate(pdfs)
            ]
            if pdfs
            else [_pdf(entry.lang, key)]
        )
    item["languages"] = body.pop(
        "languages", item["languages"] or ([] if entry.kind == "news" else [_language_name(entry.lang)])
    )
    item.update(body)
    return item


def _resource_path(site: str, entry: E) -> str:
    if site == PUB:
        return f"/books/{slugify(entry.title, prefix='/books/')}"
    if entry.kind == "news":
        return f"/en/spotlight/articles/article/{slugify(entry.title, prefix='/en/spotlight/articles/article/')}"
    type_path = "-".join(TYPE_SLUGS[t] for t in entry.types) or "resource"
    prefix = f"/en/resources/{type_path}/"
    return prefix + slugify(entry.title, prefix=prefix)


def _tail(teaser: str, entry: E) -> str:
    options = TAILS.get(entry.lang, TAILS["en"])
    pick = int(hashlib.sha256(teaser.encode("utf-8")).hexdigest(), 16) % len(options)
    return options[pick].format(org="IOM")


def _pdf(lang: str, key: str) -> dict[str, str]:
    label = {"en": "ENGLISH", "es": "ESPAÑOL", "fr": "FRANÇAIS", "de": "DEUTSCH"}.get(lang, "ENGLISH")
    size = f"{(int(hashlib.sha256(key.encode()).hexdigest(), 16) % 4000) / 1000 + 0.2:.2f} MB"
    return {"label": label, "file": f"{key[:60]}.pdf", "size": size}


def _pdf_name(slug: str, n: int) -> str:
    stem = "-".join(slug.split("-")[:6])
    return f"{stem}_0.pdf" if n % 5 == 0 else f"{stem}.pdf"


def _language_name(code: str) -> str:
    return {"en": "English", "es": "Spanish", "fr": "French", "de": "German"}[code]


def _seed_file(seeds: Path, prefix: str) -> Path:
    found = sorted(seeds.glob(f"{prefix}_*.txt"))
    if not found:
        raise SystemExit(f"no seed dump {prefix}_*.txt in {seeds}")
    return found[0]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=Path, default=DEFAULT_SEEDS)
    parser.add_argument("--out", type=Path, default=DATASET_PATH)
    args = parser.parse_args(argv)
    items = build(args.seeds)
    payload = {
        "about": "Replica items: see tests/replica/README.md for the schema. Built by build_dataset.py.",
        "items": items,
    }
    args.out.write_text(json.dumps(payload, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    print(f"{len(items)} items written to {args.out}")


if __name__ == "__main__":
    main()
