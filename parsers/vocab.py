"""Words the three sites print around their content, in the English, Spanish and French interfaces.

Kept as data, apart from the logic that uses them (`text_detail`, `text_listing`, `detect`,
`html_detail`, `kinds`), so a label seen on a new page is one line here and every parser knows it.
Keys are casefolded, without a trailing colon.
"""

from __future__ import annotations

import re
from typing import Literal, get_args

#: Drupal's skip link, in the three interface languages
SKIP_LINKS = frozenset({"skip to main content", "pasar al contenido principal", "aller au contenu principal"})

#: printed field labels -> record key, the one table of them: the text reader matches whole lines
#: and `Label: value` against it, the HTML detail parser Drupal's `field__label` (before the field's
#: machine name). Labels stay English on publications.iom.int under /es/ and /fr/; MP and R&R
#: translate theirs with the interface (SOURCES.md 2.3, 3.3, 4.3).
LABELS: dict[str, str] = {
    # language of the text, and other language editions
    "original language": "text_language", "language": "text_language", "idioma original": "text_language",
    "idioma": "text_language", "langue originale": "text_language", "langue d'origine": "text_language",
    "langue": "text_language",
    "languages": "languages", "available languages": "languages", "language(s)": "languages",
    "idiomas": "languages", "langues": "languages",
    "also available in": "editions", "también disponible en": "editions", "disponible también en": "editions",
    "également disponible en": "editions", "aussi disponible en": "editions", "disponible en": "editions",
    # numbers and dates
    "number of pages": "page_count", "pages": "page_count", "número de páginas": "page_count",
    "páginas": "page_count", "nombre de pages": "page_count",
    "year of publication": "year", "publication year": "year", "year": "year", "año de publicación": "year",
    "año": "year", "année de publication": "year", "année": "year",
    "date of upload": "date_of_upload", "upload date": "date_of_upload", "fecha de carga": "date_of_upload",
    "fecha de subida": "date_of_upload", "date de mise en ligne": "date_of_upload",
    "date de téléversement": "date_of_upload", "date de téléchargement": "date_of_upload",
    "publication date": "published", "date of publication": "published", "fecha de publicación": "published",
    "date de publication": "published",
    "last updated": "last_updated", "última actualización": "last_updated", "dernière mise à jour": "last_updated",
    "reference number": "reference_number", "número de referencia": "reference_number",
    "numéro de référence": "reference_number", "référence": "reference_number",
    "isbn": "isbn", "print isbn": "isbn", "isbn (print)": "isbn",
    "e-isbn": "eisbn", "eisbn": "eisbn", "electronic isbn": "eisbn", "isbn (electronic)": "eisbn",
    "isbn (pdf)": "eisbn", "isbn (epub)": "eisbn", "isbn pdf": "eisbn", "isbn (en ligne)": "eisbn",
    "isbn (digital)": "eisbn", "isbn (impreso)": "isbn", "isbn (imprimé)": "isbn",
    "issn": "issn", "e-issn": "issn",
    # taxonomy
    "type": "type", "types": "type", "resource type": "type", "publication type": "type", "tipo": "type",
    "tipo de recurso": "type", "type de ressource": "type", "type de publication": "type",
    "region": "region", "regions": "region", "región": "region", "regiones": "region", "région": "region",
    "régions": "region",
    "country": "countries", "countries": "countries", "país": "countries", "países": "countries",
    "pays": "countries",
    "organization": "organisation", "organisation": "organisation", "organizations": "organisation",
    "organisations": "organisation", "organización": "organisation", "organizaciones": "organisation",
    "publication series": "series", "series": "series", "serie de publicaciones": "series", "serie": "series",
    "série de publications": "series", "série": "series", "collection": "series",
    "serie de la publicación": "series", "série de la publication": "series",
    "topics": "topics", "themes": "topics", "thematic areas": "topics", "temas": "topics",
    "áreas temáticas": "topics", "thèmes": "topics", "domaines thématiques": "topics",
    "author": "authors", "authors": "authors", "autor": "authors", "autores": "authors", "auteur": "authors",
    "auteurs": "authors",
    "publisher": "publisher", "editorial": "publisher", "éditeur": "publisher",
}  # fmt: skip

#: keys whose label takes exactly one value (one line of text, one item of a Drupal field)
SINGLE_VALUED = frozenset(
    {"text_language", "page_count", "year", "date_of_upload", "published", "reference_number", "issn"}
)
#: keys whose value is a date; the bookstore prints a blank line between label and date
DATE_KEYS = frozenset({"date_of_upload", "published"})

#: a header line that opens the attachment table (MP and R&R; SOURCES.md 3.3, 4.3)
ATTACHMENT_HEADERS = frozenset(
    {"attachment size", "attachment", "attachments", "pièce jointe taille", "pièces jointes", "adjunto tamaño",
     "archivo adjunto tamaño", "archivos adjuntos", "documents", "downloads", "descargas", "téléchargements"}
)  # fmt: skip
#: a header line that opens a table of contents
TOC_HEADERS = frozenset(
    {"table of contents", "contents", "índice", "contenido", "tabla de contenido", "table des matières", "sommaire"}
)

#: whole lines that are interface chrome wherever they appear (links, buttons, breadcrumbs)
CHROME_LINES = frozenset(
    {
        "alt", "read more", "leer más", "lire la suite", "en savoir plus", "share", "compartir", "partager",
        "print", "imprimir", "imprimer", "back to top", "volver arriba", "retour en haut", "home", "inicio",
        "accueil", "breadcrumb", "main navigation", "navegación principal", "navigation principale", "menu",
        "menú", "search", "buscar", "rechercher", "apply", "aplicar", "appliquer", "reset", "restablecer",
        "réinitialiser", "filter", "filters", "filtrar", "filtres", "sort by", "ordenar por", "trier par",
        "download", "descargar", "télécharger", "order", "add to cart", "view more", "ver más", "voir plus",
        "english", "español", "français", "pager", "pagination", "paginación",
        "first", "previous", "next", "last", "primero", "anterior", "siguiente", "último", "première",
        "précédent", "suivant", "dernière", "« first", "‹ previous", "next ›", "last »",
        "« primero", "‹ anterior", "siguiente ›", "último »", "« première", "‹ précédent", "suivant ›",
        "dernière »",
    }
)  # fmt: skip
#: a notice about the interface or a publisher's legal disclaimer, not content ("This page is
#: undergoing translation.", "The opinions expressed in this publication are those of...", the
#: United Nations map disclaimer under every map: "This map is for illustration purposes only.")
NOTICE_LINE = re.compile(
    r"^(?:this page is (?:under ?going|being) translat|esta página (?:está )?en (?:proceso de )?traducci"
    r"|cette page est en (?:cours de )?traduction"
    r"|(?:the )?opinions expressed in (?:this|the) (?:publication|report)|(?:las )?opiniones expresadas en"
    r"|(?:les )?opinions exprimées dans"
    r"|this map is for illustration purposes only"
    r"|(?:este|el) mapa (?:es )?(?:solo|sólo|únicamente )?(?:con fines )?ilustrativ"
    r"|cette carte (?:est )?(?:fournie )?(?:uniquement |seulement )?à (?:titre|des fins) (?:d'illustration|indicati))",
    re.IGNORECASE,
)
#: a link's words telling the reader to act ("Download the Mobile version here.", "REGISTER here",
#: "Haga clic aquí", "Cliquez ici"): the anchor of a link, not content
CALL_TO_ACTION = re.compile(
    r"^(?:download|click|read|view|see|access|register|watch|listen|descargue|descargar|haga clic|lea|vea"
    r"|regístrese|inscríbase|cliquez|téléchargez|télécharger|lisez|consultez|inscrivez-vous|regardez)\b"
    r".{0,60}\b(?:here|aquí|acá|ici)\s*[.!:]?$",
    re.IGNORECASE,
)
#: a pager or results-count line: "1 2 3 … 9", "Page 2 of 9", "Showing 1 - 10 of 120"
PAGER_LINE = re.compile(
    r"^(?:[‹›«»<>…\s\d|]+|(?:page|página|pagina)\s+\d+(?:\s+(?:of|de|sur)\s+\d+)?"
    r"|(?:showing|mostrando|affichage)\b.*\d+.*|\d+\s+(?:results?|resultados?|résultats?))$",
    re.IGNORECASE,
)

#: words of a line that names an image rather than the item ("Cover of the ... report")
CAPTION_OPENERS = ("cover", "portada", "couverture", "photo", "foto", "image", "imagen", "illustration")

#: resource-type terms printed without a label on MP (SOURCES.md 3.3)
TYPE_TERMS = frozenset(
    {
        "report", "guideline", "guidelines", "manual", "handbook", "toolkit", "study", "position paper",
        "policy brief", "brief", "factsheet", "fact sheet", "infographic", "leaflet", "booklet", "leaflet/booklet",
        "brochure", "training", "training material", "video", "article", "guide", "guidance", "framework",
        "strategy", "case study", "assessment", "evaluation", "research", "knowledge bite", "kmh knowledge bite series",
        "informe", "directrices", "directriz", "estudio", "guía", "herramienta", "caja de herramientas",
        "folleto", "documento de posición", "rapport", "étude", "lignes directrices", "boîte à outils",
        "manuel", "note d'orientation", "dépliant", "document de position",
    }
)  # fmt: skip
#: words that make a line a list of world regions (en, es, fr)
REGION_WORDS = frozenset(
    {
        "africa", "áfrica", "afrique", "asia", "asie", "pacific", "pacífico", "pacifique", "europe", "europa",
        "americas", "américas", "amériques", "america", "américa", "amérique", "caribbean", "caribe", "caraïbes",
        "middle east", "oriente medio", "moyen-orient", "horn", "cuerno", "corne", "global", "mundial",
        "mondial", "mediterranean", "mediterráneo", "méditerranée", "central asia", "oceania", "oceanía", "océanie",
    }
)  # fmt: skip
#: an organisation's name: "... Organization for Migration (IOM)", "Organisation internationale..."
ORGANISATION = re.compile(
    r"\b(?:organi[sz]ation|organización|organisation|foundation|fundación|fondation|agency|agencia|agence"
    r"|office|oficina|bureau|ministry|ministerio|ministère|united nations|naciones unidas|nations unies"
    r"|unicef|unhcr|acnur|ilo|oit|iom|oim|unodc|undp|pnud)\b",
    re.IGNORECASE,
)
#: language names as printed in "Also available in", attachment rows and language fields
LANGUAGE_NAMES = frozenset(
    {
        "english", "french", "spanish", "arabic", "russian", "portuguese", "chinese", "german", "italian",
        "armenian", "ukrainian", "dutch", "turkish", "persian", "farsi", "dari", "pashto", "urdu", "bengali",
        "amharic", "tigrinya", "somali", "swahili", "hausa", "japanese", "korean", "thai", "vietnamese",
        "indonesian", "greek", "romanian", "polish", "hungarian", "albanian", "serbian", "croatian",
        "français", "español", "castellano", "العربية", "русский", "português", "deutsch", "italiano", "中文",
        "anglais", "espagnol", "arabe", "russe", "portugais", "chinois", "allemand", "italien",
        "inglés", "francés", "árabe", "ruso", "portugués", "chino", "alemán",
    }
)  # fmt: skip
#: path segments of news and article pages (SOURCES.md 3.1, 4.1)
NEWS_SEGMENTS = ("spotlight", "news", "noticias", "actualites", "actualités", "article", "articles", "stories", "blog")
NEWS_PATH = re.compile(rf"/(?:{'|'.join(NEWS_SEGMENTS)})(?:/|$)")

# --- page kinds (what a page is about: a publication, or a page that is none) -------------------

#: the kinds of page that are no publication and no news: one sighting of their kind, never deduplicated
NonPublicationKind = Literal["event", "course", "initiative", "about"]
#: the sighting kinds a page or card can have; `caption` is a photo caption of a news card. The one
#: declaration: `models.SightingRecord.kind`, `PAGE_KINDS` and `NON_PUBLICATION` are read from it.
PageKind = Literal["publication", "news", NonPublicationKind, "caption"]
PAGE_KINDS: tuple[str, ...] = get_args(PageKind)
NON_PUBLICATION: frozenset[str] = frozenset(get_args(NonPublicationKind))

#: URL path segments that name a site section whose pages are of one kind. Drupal path aliases
#: put the section first (`/en/learning/seminars/<slug>`, `/fr/propos`, `/es/acerca-de`), in the
#: interface language; a segment is matched whole (or, for the about family, as a slug prefix:
#: `propos-de-loim-publications`). Checked in path order, the left-most section wins:
#: `/spotlight/articles/event/<slug>` is a Spotlight article about an event, i.e. news.
KIND_SEGMENTS: dict[str, str] = {
    **dict.fromkeys(
        ("events", "event", "seminars", "seminar", "webinars", "webinar", "conferences", "conference",
         "workshops", "meetings", "eventos", "evento", "seminarios", "seminario", "conferencias",
         "evenements", "événements", "evenement", "événement", "seminaires", "séminaires", "webinaires",
         "webinaire", "conferences-et-evenements", "agenda"), "event"),
    **dict.fromkeys(
        ("e-courses", "e-course", "ecourses", "courses", "course", "online-courses", "e-learning", "elearning",
         "trainings", "cursos", "curso", "cursos-en-linea", "formations", "formation", "cours", "cours-en-ligne"),
        "course"),
    **dict.fromkeys(
        ("initiatives", "initiative", "projects", "project", "programmes", "programs", "iniciativas", "iniciativa",
         "proyectos", "proyecto", "programas", "projets", "projet"), "initiative"),
    **dict.fromkeys(
        ("about", "about-us", "who-we-are", "propos", "a-propos", "qui-sommes-nous", "acerca", "acerca-de",
         "quienes-somos", "sobre-nosotros", "contact", "contact-us", "contacto", "contactez-nous", "faq", "faqs",
         "preguntas-frecuentes", "foire-aux-questions", "terms-of-use", "privacy-policy", "disclaimer",
         "aviso-legal", "mentions-legales", "sitemap", "help", "ayuda", "aide"), "about"),
}  # fmt: skip
#: slug prefixes of about pages whose alias names what they are about ("about-the-platform",
#: "propos-de-loim-publications", "acerca-de-la-plataforma")
ABOUT_PREFIXES = ("about-", "propos-", "a-propos-", "acerca-", "sobre-", "quienes-somos-", "qui-sommes-nous-")
#: path segments of a single publication's own page (`/books/<slug>`, `/resources/<type>/<slug>`)
ITEM_SEGMENTS = frozenset({"books", "book", "resources", "recursos", "ressources", "publications", "publicaciones"})
#: the item sections whose items sit one level deeper, below a type (`/resources/guideline/<slug>`)
TYPED_ITEM_SEGMENTS = frozenset({"resources", "recursos", "ressources"})

#: whole-line field labels that only an event, a course or an initiative page prints (en, es, fr);
#: casefolded, without the colon. Two of one kind make a page of that kind (one may be a section
#: of a publication's text).
KIND_LABELS: dict[str, str] = {
    **dict.fromkeys(
        ("dates", "date and time", "time", "venue", "location", "registration", "register", "register here",
         "speakers", "panelists", "panellists", "moderator", "agenda", "programme of the event", "organizers",
         "organisers", "target audience", "participants", "how to join", "event type", "recording",
         "fechas", "fecha y hora", "hora", "lugar", "inscripción", "inscripciones", "ponentes", "panelistas",
         "moderador", "moderadora", "organizadores", "público destinatario", "público objetivo", "participantes",
         "lieu", "date et heure", "heure", "inscription", "inscriptions", "intervenants", "intervenantes",
         "panélistes", "modérateur", "modératrice", "organisateurs", "public cible", "ordre du jour"), "event"),
    **dict.fromkeys(
        ("duration", "modules", "course modules", "certificate", "certification", "enrol", "enroll", "enrolment",
         "enrollment", "start course", "learning objectives", "learning outcomes", "prerequisites", "level",
         "course language", "self-paced", "duración", "módulos", "certificado", "inscribirse",
         "objetivos de aprendizaje", "requisitos previos", "nivel", "durée", "certificat", "s'inscrire",
         "objectifs d'apprentissage", "prérequis", "niveau"), "course"),
    **dict.fromkeys(
        ("status", "donor", "donors", "funded by", "funding", "budget", "implementing partners", "partners",
         "duration of the project", "project duration", "project period", "implementation period",
         "estado", "donante", "donantes", "financiado por", "financiación", "presupuesto", "socios",
         "socios de implementación", "período de ejecución", "statut", "donateur", "donateurs", "bailleur",
         "bailleurs", "financé par", "financement", "partenaires", "période de mise en œuvre"), "initiative"),
}  # fmt: skip
#: the English names of the kinds of page that are no publication, as a type field (`Type: Webinar`),
#: a Drupal content type (`node--type-e-course`) and a schema.org type (`Event`) print them; the one
#: table `TYPE_KINDS`, `NODE_TYPE_KINDS` and `LD_KINDS` are read from
KIND_NAMES: dict[str, tuple[str, ...]] = {
    "event": ("event", "events", "seminar", "webinar", "conference", "workshop", "meeting"),
    "course": ("e-course", "ecourse", "course", "online course", "e-learning", "elearning"),
    "initiative": ("initiative", "project", "programme", "program"),
}
#: a labelled type value that names a kind of page rather than a publication type: the names
#: above and their Spanish and French words
TYPE_KINDS: dict[str, str] = {
    **{name: kind for kind, names in KIND_NAMES.items() for name in names},
    **dict.fromkeys(("evento", "seminario", "conferencia", "taller", "événement", "séminaire", "webinaire",
                     "conférence", "atelier"), "event"),
    **dict.fromkeys(("curso", "curso en línea", "cours", "cours en ligne", "formation en ligne"), "course"),
    **dict.fromkeys(("iniciativa", "proyecto", "programa", "projet"), "initiative"),
}  # fmt: skip
#: headings of a page's sections: never the page's title (en, es, fr); casefolded, no colon
SECTION_HEADINGS = frozenset(
    {
        "objectives", "objective", "aims", "purpose", "goals", "dates", "date", "agenda", "description",
        "background", "context", "overview", "summary", "introduction", "about", "about the event",
        "about the course", "about the project", "about the initiative", "key messages", "key findings",
        "outcomes", "expected outcomes", "results", "methodology", "structure", "content", "programme",
        "program", "speakers", "target audience", "audience", "who should attend", "registration",
        "venue", "location", "resources", "related resources", "documents", "materials", "presentations",
        "recording", "contact", "contacts", "partners", "donors", "activities", "modules", "learning objectives",
        "related content", "related news", "format", "formato", "see also", "more information", "further information",
        "objetivos", "objetivo", "propósito", "fechas", "fecha", "descripción", "antecedentes", "contexto",
        "resumen", "introducción", "acerca del evento", "mensajes clave", "resultados", "resultados esperados",
        "metodología", "estructura", "contenido", "programa", "ponentes", "público destinatario", "inscripción",
        "lugar", "recursos", "recursos relacionados", "materiales", "presentaciones", "grabación", "contacto",
        "socios", "actividades", "módulos", "más información",
        "objectifs", "objectif", "but", "finalité", "historique", "contexte", "aperçu", "résumé",
        "à propos", "a propos", "messages clés", "résultats", "résultats attendus",
        "méthodologie", "contenu", "intervenants", "public cible", "inscription",
        "lieu", "ressources", "ressources associées", "présentations", "enregistrement",
        "partenaires", "activités", "plus d'informations", "pour en savoir plus", "ordre du jour",
    }
)  # fmt: skip

#: month names and abbreviations in the three interface languages, for date ranges
MONTHS = (
    "january|february|march|april|may|june|july|august|september|october|november|december"
    "|jan|feb|mar|apr|jun|jul|aug|sep|sept|oct|nov|dec"
    "|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|setiembre|octubre|noviembre|diciembre"
    "|ene|abr|ago|dic"
    "|janvier|février|fevrier|mars|avril|mai|juin|juillet|août|aout|septembre|octobre|novembre|décembre"
    "|decembre|janv|févr|avr|juil|déc"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th|er|º)?"
_MONTH = rf"(?:de\s+)?(?:{MONTHS})\.?"
_YEAR_PART = r"(?:,?\s*(?:de\s+)?(?:19|20)\d\d)"
_DATE_PART = rf"(?:{_DAY}\s+{_MONTH}{_YEAR_PART}?|{_MONTH}\s+{_DAY}{_YEAR_PART}?|{_DAY})"
#: what stands between the two ends of a span of dates (en, es, fr): a dash, or a word
SPAN_SEPARATOR = r"(?:[-–—]|\b(?:to|until|al|a|au|jusqu'au)\b)"
#: what may open a span of dates ("from 3 to 5 May", "del 3 al 5 de mayo", "du 3 au 5 mai")
SPAN_OPENER = r"(?:from|del?|du)\s+"
#: a month's name, as a word
MONTH_WORD = re.compile(rf"\b(?:{MONTHS})\b", re.IGNORECASE)
#: a line that is a span of dates ("1 - 2 December 2021", "28 February – 25 March", "del 1 al 2 de
#: diciembre de 2021", "du 1er au 2 décembre 2021", "June 3-5, 2024"): an event's or course's
#: dates, never a title
DATE_RANGE = re.compile(
    rf"^(?=.*\b(?:{MONTHS})\b)(?:{SPAN_OPENER})?{_DATE_PART}\s*{SPAN_SEPARATOR}\s*"
    rf"{_DATE_PART}{_YEAR_PART}?\s*$",
    re.IGNORECASE,
)
#: kind labels whose value goes to `extra` under an English key (the others under `details`)
KIND_FIELD_KEYS: dict[str, str] = {
    **dict.fromkeys(("dates", "date and time", "fechas", "fecha y hora", "date et heure"), "dates"),
    **dict.fromkeys(("time", "hora", "heure"), "time"),
    **dict.fromkeys(("venue", "location", "lugar", "lieu"), "venue"),
    **dict.fromkeys(("duration", "duración", "durée", "duration of the project", "project duration",
                     "project period", "implementation period", "período de ejecución",
                     "période de mise en œuvre"), "duration"),
    **dict.fromkeys(("status", "estado", "statut"), "status"),
    **dict.fromkeys(("donor", "donors", "funded by", "funding", "donante", "donantes", "financiado por",
                     "financiación", "donateur", "donateurs", "bailleur", "bailleurs", "financé par",
                     "financement"), "donor"),
    **dict.fromkeys(("target audience", "público destinatario", "público objetivo", "public cible"), "audience"),
    **dict.fromkeys(("event type",), "event_type"),
    **dict.fromkeys(("level", "nivel", "niveau"), "level"),
}  # fmt: skip
#: values of a `Status` field that state where an activity stands: a programme's or project's, not a
#: publication's (en, es, fr)
ACTIVITY_STATUS = frozenset(
    {"past activities", "past activity", "past", "ongoing", "ongoing activities", "current", "active", "completed",
     "closed", "planned", "upcoming", "actividades pasadas", "en curso", "finalizado", "finalizada", "activo",
     "completado", "activités passées", "en cours", "terminé", "terminée", "achevé", "actif", "à venir"}
)  # fmt: skip
#: Drupal content-type machine names (`page-node-type-<type>` on <body>, `node--type-<type>` on the
#: node) -> kind: the names of KIND_NAMES as machine names, and the types of news, static pages
#: (`page` is Drupal's "Basic page") and publications
NODE_TYPE_KINDS: dict[str, str] = {
    **{re.sub(r"[ -]", "_", name): kind for kind, names in KIND_NAMES.items() for name in names},
    **dict.fromkeys(("article", "news", "news_article", "blog_post", "story"), "news"),
    **dict.fromkeys(("training",), "course"),
    **dict.fromkeys(("page", "basic_page", "static_page"), "about"),
    **dict.fromkeys(("resource", "publication", "book", "document"), "publication"),
}  # fmt: skip
#: schema.org types of pages that are no publication: the names of KIND_NAMES as types (`Event`,
#: `Course`, `Project`), and the schema.org types of events and static pages
LD_KINDS: dict[str, str] = {
    **{name.capitalize(): kind for kind, names in KIND_NAMES.items() for name in names if name.isalpha()},
    "EducationEvent": "event", "AboutPage": "about", "ContactPage": "about", "FAQPage": "about",
}  # fmt: skip
