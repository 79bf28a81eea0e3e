"""Turn export records into the formats of library systems and reference managers; no I/O of its own.

Dublin Core (OAI-PMH's oai_dc), CSL-JSON (Zotero, Pandoc, citeproc), RIS (EndNote, Zotero,
Mendeley) and BibTeX each hold less than a warehouse record, so each mapping decides what goes
where once, here: the title joins its subtitle ("Title: Subtitle", as reference managers store
it), the other language editions become a relation (DC) or a note. With `export --since`, every
record says its operation (a DC attribute, a CSL `custom` value, RIS C1, a BibTeX `operation`
field) and a withdrawn record carries nothing else that the format does not require.

What makes a record citable (a citation processor or BibTeX style refuses or garbles one without):
- a creator and a publisher: the page's authors, else its organisation (a corporate author), else
  the site's declared owner (`owner` in sources.toml), which every page of an IOM site is by;
- the item's own URL only (its page, a card's link, else its PDF), never the listing it was found on: that
  listing is provenance, written where each format keeps where a record came from (CSL `source`,
  RIS `DP`, BibTeX `note`, DC `source`), so a reader of a citation is never sent to page 4 of a list;
- a resource type (RESOURCE_TYPES, the one table: the page's own Type field, else the item's or the
  listing section's Drupal path, e.g. `/en/resources/guideline`, else its heading) mapped to each
  format's types, and BibTeX entry types whose required fields the record has (else `@misc`);
- a title: a derived one (the opening of an abstract, when no page shows a title) is bracketed,
  as catalogues mark a title they supplied; the year only where a page gives one ("n.d." is right).

Records are the dicts of pipeline/export.py `select_records` (one row each), at either level.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any
from urllib.parse import quote

import bibtexparser
import rispy
from bibtexparser.library import Library
from bibtexparser.model import Entry, Field

from pipeline.urls import web_url

OAI_DC = "http://www.openarchives.org/OAI/2.0/oai_dc/"
DC = "http://purl.org/dc/elements/1.1/"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XML = "http://www.w3.org/XML/1998/namespace"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc/ http://www.openarchives.org/OAI/2.0/oai_dc.xsd"


@dataclass(frozen=True)
class ResourceType:
    """A kind of resource and its name in each format's vocabulary.

    `words` are what names it in a page's Type field, a Drupal section path (`/en/resources/manual`,
    `/es/resources/guideline-manual/...`) or a listing's heading, in the sites' three languages:
    lower case, accents removed, words separated by one space (matched as whole words).
    """

    slug: str  #: OAI-PMH set `type:<slug>`, the `resource_type` column
    label: str  #: what a citation prints as its genre when the page prints no type of its own
    csl: str
    ris: str
    bibtex: str
    words: tuple[str, ...] = ()


#: The one mapping table. Most specific first: a label or path naming two types ("Toolkit, Manual",
#: `guideline-manual`, "KMH Knowledge Bite Series, Report") takes the first listed here, as a manual is a
#: kind of guidance and a study a kind of report. `book` and `periodical` have no words: an ISBN or
#: an ISSN says them when nothing names a type.
RESOURCE_TYPES: tuple[ResourceType, ...] = (
    ResourceType("leaflet", "Leaflet", "pamphlet", "PAMP", "booklet", (
        "leaflet", "leaflets", "leafletbooklet", "booklet", "booklets", "brochure", "brochures", "pamphlet",
        "pamphlets", "flyer", "flyers", "folleto", "folletos", "depliant", "depliants", "factsheet", "fact sheet",
        "infographic", "infografia", "infographie",
    )),
    ResourceType("manual", "Manual", "book", "BOOK", "manual", (
        "manual", "manuals", "manuales", "manuel", "manuels", "handbook", "handbooks", "toolkit", "toolkits",
        "tool kit", "boite a outils", "caja de herramientas", "training package", "curriculum",
    )),
    ResourceType("study", "Study", "report", "RPRT", "techreport", (
        "study", "studies", "estudio", "estudios", "etude", "etudes", "research", "assessment", "assessments",
        "evaluation", "evaluations", "evaluacion",
    )),
    ResourceType("report", "Report", "report", "RPRT", "techreport", (
        "report", "reports", "informe", "informes", "rapport", "rapports", "paper", "papers", "brief", "briefs",
        "bite", "bites", "highlights", "snapshot", "bulletin", "boletin",
    )),
    ResourceType("guideline", "Guideline", "report", "RPRT", "techreport", (
        "guideline", "guidelines", "guidance", "guide", "guides", "guia", "guias", "directrices", "directives",
        "lignes directrices", "orientaciones", "orientations", "lineamientos",
    )),
    ResourceType("book", "Book", "book", "BOOK", "book"),
    ResourceType("periodical", "Periodical", "periodical", "JFULL", "misc"),
)  # fmt: skip
#: a record whose type nothing names: what each format calls a generic document
GENERIC = ResourceType("", "", "document", "GEN", "misc")
_BY_SLUG = {t.slug: t for t in RESOURCE_TYPES}

#: fields a BibTeX entry type must have to format (BibTeX's own table, as pybtex's `plain` style
#: applies it: it also wants an author and a year for @booklet); lacking one, an entry is a @misc,
#: which requires nothing, rather than an entry every style refuses or prints "n.d." into a year
BIBTEX_REQUIRED: dict[str, tuple[str, ...]] = {
    "book": ("author", "title", "publisher", "year"),
    "techreport": ("author", "title", "institution", "year"),
    "booklet": ("author", "title", "year"),
    "manual": ("title",),
    "misc": (),
}


def record_id(rec: dict[str, Any], level: str) -> str:
    return rec["edition_id"] if level == "edition" else rec["work_id"]


def is_withdrawn(rec: dict[str, Any]) -> bool:
    return rec.get("operation") == "withdrawn"


def full_title(rec: dict[str, Any]) -> str | None:
    """The title a citation shows: the page's title and its subtitle, else the derived one in brackets.

    Why brackets: a title no page shows (the opening of an abstract, cut with "…") is one the
    warehouse made up; catalogues enclose a title they supplied in square brackets (ISBD, RDA), so a
    reader of the citation knows not to search for it as the item's title.
    """
    title = rec.get("title")
    if not title:
        derived = rec.get("display_title")
        return f"[{derived}]" if derived else None
    subtitle = rec.get("subtitle")
    if subtitle and subtitle.lower() not in title.lower():
        return f"{title}: {subtitle}"
    return title


def resource_type(rec: dict[str, Any]) -> ResourceType:
    """The record's type (`resource_type`, from pipeline/export.py), else the generic document."""
    return _BY_SLUG.get(rec.get("resource_type") or "", GENERIC)


def genre(rec: dict[str, Any]) -> str | None:
    """The type as a citation prints it: the page's own words for it, else the type's label."""
    return rec.get("type") or resource_type(rec).label or None


def identifiers(rec: dict[str, Any]) -> list[str]:
    """Print then electronic ISBNs, each once."""
    return list(dict.fromkeys([*(rec.get("isbn") or []), *(rec.get("eisbn") or [])]))


def link(rec: dict[str, Any]) -> str | None:
    """The record's own page (its detail page, a card's link), else its PDF file: web URLs only; else None.

    Never a page that merely lists it: a citation's URL is where the item is, and page 4 of a
    listing shows other items next month (the listing is `found_on`, see `provenance`).
    """
    return web_url(rec.get("url")) or next(iter(pdf_links(rec)), None)


def provenance(rec: dict[str, Any]) -> str | None:
    """The listing page the record was found on (the best one), for the formats' provenance field."""
    return next((w for u in rec.get("found_on") or [] if (w := web_url(u))), None)


def pdf_links(rec: dict[str, Any]) -> list[str]:
    """The record's PDF links that are web URLs.

    Why every renderer filters although the parsers, the model and the export query already
    do: a record may come from a warehouse an older version built, and a `javascript:` or `data:`
    link in an identifier is a script handed to every catalogue that imports the file.
    """
    return [w for u in rec.get("pdf_urls") or [] if (w := web_url(u))]


def creator(rec: dict[str, Any]) -> str | None:
    """The page's authors, else the organisation it names, else the site's owner (a corporate author)."""
    return rec.get("authors") or rec.get("organisation") or rec.get("owner")


def publisher(rec: dict[str, Any]) -> str | None:
    """The page's publisher, else its organisation, else the site's declared owner."""
    return rec.get("publisher") or rec.get("organisation") or rec.get("owner")


def is_corporate(rec: dict[str, Any]) -> bool:
    """True when the creator is an organisation, not persons the page names."""
    return not rec.get("authors")


def other_editions(rec: dict[str, Any], level: str) -> list[dict[str, Any]]:
    """Editions of the same work besides this one (all of them, for a work)."""
    return list((rec.get("other_editions") if level == "edition" else rec.get("editions")) or [])


def editions_note(rec: dict[str, Any], level: str) -> str | None:
    """A human-readable note of the other language editions, for formats with no relation field."""
    parts = [
        f"{e.get('language') or '?'}: {e.get('title') or e.get('display_title') or e['edition_id']} ({e['edition_id']})"
        for e in other_editions(rec, level)
    ]
    if not parts:
        return None
    label = "Other editions" if level == "edition" else "Editions"
    return f"{label}: " + "; ".join(parts)


def _one_line(text: str | None) -> str | None:
    return " ".join(text.split()) if text else text


#: characters XML 1.0 forbids (control characters a PDF's text layer can leave in an abstract)
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def _stamp(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, datetime) else value


# -- Dublin Core ----------------------------------------------------------------------------------


def write_dublin_core(records: Iterable[dict[str, Any]], level: str, fh: IO[bytes]) -> None:
    """One XML document: <records> holding a <record> per record, each with one oai_dc:dc.

    The wrapper carries what Dublin Core has no element for (the stable id, the operation, the
    date the record last changed); each oai_dc:dc holds only the fifteen DC elements, as the
    oai_dc schema requires, so it can be lifted into an OAI-PMH response or a repository import.
    """
    ET.register_namespace("oai_dc", OAI_DC)
    ET.register_namespace("dc", DC)
    ET.register_namespace("xsi", XSI)
    root = ET.Element("records", {"level": level})
    for rec in records:
        attrs = {"id": record_id(rec, level)}
        if rec.get("operation"):
            attrs["operation"] = rec["operation"]
        stamp = _stamp(rec.get("last_changed_at"))
        if stamp is not None:
            attrs["last-changed"] = stamp
        wrapper = ET.SubElement(root, "record", attrs)
        if not is_withdrawn(rec):
            wrapper.append(dublin_core(rec, level))
    ET.ElementTree(root).write(fh, encoding="utf-8", xml_declaration=True)


def dublin_core(rec: dict[str, Any], level: str) -> ET.Element:
    dc = ET.Element(f"{{{OAI_DC}}}dc", {f"{{{XSI}}}schemaLocation": OAI_DC_SCHEMA})
    lang = rec.get("language") if level == "edition" else None

    def add(name: str, value: Any, *, text_lang: str | None = None) -> None:
        if value is None or value == "":
            return
        element = ET.SubElement(dc, f"{{{DC}}}{name}")
        element.text = _NOT_XML.sub("", str(value))
        if text_lang:
            element.set(f"{{{XML}}}lang", text_lang)

    add("identifier", record_id(rec, level))
    add("title", full_title(rec), text_lang=lang)
    add("creator", creator(rec))
    for topic in (rec.get("topics") or "").split(", "):
        add("subject", topic)
    add("description", rec.get("abstract"), text_lang=lang)
    add("publisher", publisher(rec))
    add("date", rec.get("year"))
    add("type", "Text")  # DCMI Type Vocabulary
    add("type", genre(rec))
    if rec.get("pdf_available") or rec.get("pdf_urls"):
        add("format", "application/pdf")
    if rec.get("page_count"):
        add("format", f"{rec['page_count']} pages")
    add("identifier", web_url(rec.get("url")))
    for number in identifiers(rec):
        add("identifier", f"urn:isbn:{number}")
    add("identifier", f"urn:issn:{rec['issn']}" if rec.get("issn") else None)
    for url in pdf_links(rec):
        add("identifier", url)
    languages = [lang] if lang else list(rec.get("languages") or [])
    for code in languages:
        add("language", code)
    for url in dict.fromkeys(w for u in rec.get("found_on") or [] if (w := web_url(u))):
        add("source", url)  # the listings it was found on: where the record comes from, not the item
    add("relation", rec.get("series"))
    for edition in other_editions(rec, level):
        add("relation", web_url(edition.get("url")) or edition["edition_id"])
    add("coverage", rec.get("region"))
    add("coverage", rec.get("countries"))
    return dc


# -- CSL-JSON -------------------------------------------------------------------------------------


def to_csl_json(records: Iterable[dict[str, Any]], level: str) -> str:
    """A CSL-JSON array (CSL 1.0.2 data schema): Zotero, Pandoc and citeproc import it as is."""
    return json.dumps([csl_item(rec, level) for rec in records], ensure_ascii=False, indent=1) + "\n"


def csl_item(rec: dict[str, Any], level: str) -> dict[str, Any]:
    if is_withdrawn(rec):  # `type` is required by the schema; `document` claims nothing
        return {"id": record_id(rec, level), "type": "document", "custom": {"operation": "withdrawn"}}
    item: dict[str, Any] = {"id": record_id(rec, level), "type": resource_type(rec).csl}
    optional: dict[str, Any] = {
        "title": full_title(rec),
        "author": [{"literal": creator(rec)}] if creator(rec) else None,  # a name not split into family/given
        "abstract": rec.get("abstract"),
        "issued": {"date-parts": [[rec["year"]]]} if rec.get("year") else None,
        "publisher": publisher(rec),
        "genre": genre(rec),
        "collection-title": rec.get("series"),
        "number": rec.get("reference_number"),
        "number-of-pages": rec.get("page_count"),
        "ISBN": " ".join(identifiers(rec)) or None,
        "ISSN": rec.get("issn"),
        "URL": link(rec),
        "source": provenance(rec),  # "library catalog" in Zotero; the styles do not print it
        "language": rec.get("language") if level == "edition" else _single(rec.get("languages")),
        "note": editions_note(rec, level),
    }
    item.update({k: v for k, v in optional.items() if v not in (None, "")})
    if rec.get("operation"):
        item["custom"] = {"operation": rec["operation"]}
    return item


def _single(values: list[str] | None) -> str | None:
    return values[0] if values and len(values) == 1 else None


# -- RIS ------------------------------------------------------------------------------------------


def _ris_authors(rec: dict[str, Any]) -> list[str] | None:
    who = _one_line(creator(rec))
    if not who:
        return None
    return [who.replace(",", "") if is_corporate(rec) else who]  # a comma would make it "Last, First"


class _RisWriter(rispy.RisWriter):
    """rispy's writer without its "1." line before each record, which is not RIS (readers skip it at best)."""

    def set_header(self, count: int) -> str:
        return ""


def to_ris(records: Iterable[dict[str, Any]], level: str) -> str:
    """RIS, written by rispy: one TY ... ER block per record, each tag on one line."""
    return rispy.dumps([ris_entry(rec, level) for rec in records], implementation=_RisWriter)


def ris_entry(rec: dict[str, Any], level: str) -> dict[str, Any]:
    """rispy's field names for the RIS tags (TY, ID, TI, AU, AB, PY, SN, UR, L1, DP, LA, PB, T3, N1, C1...).

    AU holds a corporate author as one name with no comma (readers split "Last, First" at the
    comma only); UR only the item's own page (else its PDF), L1 its PDF, DP the listing it was found on.
    """
    if is_withdrawn(rec):
        return {"type_of_reference": "GEN", "id": record_id(rec, level), "custom1": "withdrawn"}
    language = rec.get("language") if level == "edition" else _single(rec.get("languages"))
    note = editions_note(rec, level)
    fields: dict[str, Any] = {
        "type_of_reference": resource_type(rec).ris,
        "id": record_id(rec, level),
        "title": _one_line(full_title(rec)),
        "authors": _ris_authors(rec),
        "abstract": _one_line(rec.get("abstract")),
        "year": str(rec["year"]) if rec.get("year") else None,
        "issn": " ".join(identifiers(rec)) or rec.get("issn"),  # SN: ISBN, or ISSN for a periodical
        "urls": [link(rec)] if link(rec) else None,
        "file_attachments1": next(iter(pdf_links(rec)), None),
        "database_provider": provenance(rec),
        "language": language,
        "publisher": _one_line(publisher(rec)),
        "tertiary_title": _one_line(rec.get("series")),
        "start_page": str(rec["page_count"]) if rec.get("page_count") else None,
        "note": _one_line(rec.get("reference_number")),
        "type_of_work": _one_line(genre(rec)),
        "keywords": [t for t in (rec.get("topics") or "").split(", ") if t] or None,
        "notes": [_one_line(note)] if note else None,
        "custom1": rec.get("operation"),
    }
    return {k: v for k, v in fields.items() if v not in (None, "", [])}


# -- BibTeX ---------------------------------------------------------------------------------------

#: LaTeX's special characters as text commands
_LATEX = {
    "\\": r"\textbackslash{}",
    "{": r"\{",
    "}": r"\}",
    "&": r"\&",
    "%": r"\%",
    "$": r"\$",
    "#": r"\#",
    "_": r"\_",
    "~": r"\textasciitilde{}",
    "^": r"\textasciicircum{}",
}
#: BibTeX counts every brace, escaped or not: a lone one would end (or never end) the field
_LONE_BRACES = {**_LATEX, "{": r"\textbraceleft{}", "}": r"\textbraceright{}"}
_LATEX_RE = re.compile("|".join(re.escape(c) for c in _LATEX))
_ACRONYM = re.compile(r"(?<![\\\w{])([A-Z][A-Z0-9]*[A-Z][A-Z0-9]*)\b")


def _balanced(text: str) -> bool:
    depth = 0
    for char in text:
        depth += {"{": 1, "}": -1}.get(char, 0)
        if depth < 0:
            return False
    return depth == 0


def latex(text: str) -> str:
    """Text with LaTeX's special characters escaped; other Unicode kept (biber, Zotero, JabRef read UTF-8)."""
    table = _LATEX if _balanced(text) else _LONE_BRACES
    return _LATEX_RE.sub(lambda m: table[m.group(0)], text)


def latex_title(text: str) -> str:
    """A title whose acronyms (IOM, MPP) keep their capitals in styles that lowercase titles."""
    return _ACRONYM.sub(r"{\1}", latex(text))


def _url(url: str) -> str:
    return quote(url, safe=":/?#[]@!$&'()*+,;=%-._~")  # braces and spaces percent-encoded, the rest as is


def to_bibtex(records: Iterable[dict[str, Any]], level: str) -> str:
    """BibTeX entries (@book, @techreport, @manual, @booklet, @misc), keyed by the stable id."""
    library = Library()
    for rec in records:
        library.add(bibtex_entry(rec, level))
    return bibtexparser.write_string(library)


def bibtex_type(rec: dict[str, Any]) -> str:
    """The record's BibTeX entry type when it has every field that type requires, else `misc`.

    Why: a @techreport or @book with no year is refused by BibTeX's styles (pybtex: "missing
    field"); the year is never invented, so such a record is cited as what it can be, a @misc.
    """
    wanted = resource_type(rec).bibtex
    have = {
        "author": creator(rec),
        "title": full_title(rec),
        "publisher": publisher(rec),
        "institution": publisher(rec),
        "year": rec.get("year"),
    }
    return wanted if all(have.get(name) for name in BIBTEX_REQUIRED.get(wanted, ())) else "misc"


def bibtex_entry(rec: dict[str, Any], level: str) -> Entry:
    key = record_id(rec, level)
    if is_withdrawn(rec):
        return Entry("misc", key, [Field("operation", "withdrawn")])
    entry_type = bibtex_type(rec)
    body = publisher(rec)
    title = full_title(rec)
    who = creator(rec)
    where = {"book": "publisher", "techreport": "institution", "manual": "organization", "misc": "howpublished"}
    listed = provenance(rec)
    note = "; ".join(n for n in (editions_note(rec, level), f"Listed on {listed}" if listed else None) if n)
    values: list[tuple[str, str | None]] = [
        ("title", latex_title(title) if title else None),
        # braced whole: a corporate name is never read as "Last, First", and persons stay as the page
        # prints them (its separators are not BibTeX's "and")
        ("author", "{" + latex(who) + "}" if who else None),
        ("year", str(rec["year"]) if rec.get("year") else None),
        (where.get(entry_type, "publisher"), latex(body) if body else None),
        ("type", latex(genre(rec) or "") or None if entry_type in ("techreport", "misc") else None),
        ("number", latex(rec["reference_number"]) if rec.get("reference_number") else None),
        ("series", latex(rec["series"]) if rec.get("series") else None),
        ("pagetotal", str(rec["page_count"]) if rec.get("page_count") else None),
        ("isbn", ", ".join(identifiers(rec)) or None),
        ("issn", rec.get("issn")),
        ("url", _url(url) if (url := link(rec)) else None),
        ("language", rec.get("language") if level == "edition" else _single(rec.get("languages"))),
        ("abstract", latex(rec["abstract"]) if rec.get("abstract") else None),
        ("keywords", latex(rec["topics"]) if rec.get("topics") else None),
        ("note", latex(note) or None),
        ("operation", rec.get("operation")),
    ]
    return Entry(entry_type, key, [Field(name, value) for name, value in values if value])
