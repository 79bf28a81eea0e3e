"""Words the three sites print around their content, in the English, Spanish and French interfaces.

Kept as data, apart from the logic that uses them (`text_detail`, `text_listing`, `detect`), so a
label seen on a new page is one line here. Keys are casefolded, without a trailing colon.
"""

from __future__ import annotations

import re

#: Drupal's skip link, in the three interface languages
SKIP_LINKS = frozenset({"skip to main content", "pasar al contenido principal", "aller au contenu principal"})

#: printed field labels -> record key. Labels stay English on publications.iom.int under /es/ and
#: /fr/; MP and R&R translate theirs with the interface (SOURCES.md 2.3, 3.3, 4.3).
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

#: keys whose label takes exactly one value line
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
#: undergoing translation.", "The opinions expressed in this publication are those of...")
NOTICE_LINE = re.compile(
    r"^(?:this page is (?:under ?going|being) translat|esta página (?:está )?en (?:proceso de )?traducci"
    r"|cette page est en (?:cours de )?traduction"
    r"|(?:the )?opinions expressed in (?:this|the) (?:publication|report)|(?:las )?opiniones expresadas en"
    r"|(?:les )?opinions exprimées dans)",
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
NEWS_PATH = re.compile(r"/(?:spotlight|news|noticias|actualites|actualités|articles?|stories|blog)(?:/|$)")
