"""Turn export records into the formats of library systems and reference managers; no I/O of its own.

Dublin Core (OAI-PMH's oai_dc), CSL-JSON (Zotero, Pandoc, citeproc), RIS (EndNote, Zotero,
Mendeley) and BibTeX each hold less than a warehouse record, so each mapping decides what goes
where once, here: the title joins its subtitle ("Title: Subtitle", as reference managers store
it), the organisation is the corporate author, the other language editions become a relation
(DC) or a note. With `export --since`, every record says its operation (a DC attribute, a CSL
`custom` value, RIS C1, a BibTeX `operation` field) and a withdrawn record carries nothing else
that the format does not require.

Records are the dicts of pipeline/export.py `select_records` (one row each), at either level.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterable
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

#: words in a page's type that make a publication a report or a book (else: ISBN means book)
_REPORT_WORDS = ("report", "paper", "brief", "bite", "highlights", "study", "assessment", "snapshot")
_BOOK_WORDS = ("book", "manual", "handbook", "toolkit", "guide", "glossary", "compendium", "directrices")


def record_id(rec: dict[str, Any], level: str) -> str:
    return rec["edition_id"] if level == "edition" else rec["work_id"]


def is_withdrawn(rec: dict[str, Any]) -> bool:
    return rec.get("operation") == "withdrawn"


def full_title(rec: dict[str, Any]) -> str | None:
    """The title a citation shows: the page's title (else the derived one) and its subtitle."""
    title = rec.get("title") or rec.get("display_title")
    subtitle = rec.get("subtitle")
    if title and subtitle and subtitle.lower() not in title.lower():
        return f"{title}: {subtitle}"
    return title


def kind(rec: dict[str, Any]) -> str:
    """book, report or periodical: what the record is, from the page's type, ISBN and ISSN."""
    text = (rec.get("type") or "").lower()
    has_isbn = bool(rec.get("isbn") or rec.get("eisbn"))
    if rec.get("issn") and not has_isbn:
        return "periodical"
    if any(word in text for word in _REPORT_WORDS):
        return "report"
    if has_isbn or any(word in text for word in _BOOK_WORDS):
        return "book"
    return "report"


def identifiers(rec: dict[str, Any]) -> list[str]:
    """Print then electronic ISBNs, each once."""
    return list(dict.fromkeys([*(rec.get("isbn") or []), *(rec.get("eisbn") or [])]))


def link(rec: dict[str, Any]) -> str | None:
    """The record's own page, else a page that shows it, else its PDF: web (http/https) URLs only."""
    for candidate in (rec.get("url"), *(rec.get("source_urls") or []), *(rec.get("pdf_urls") or [])):
        if web_url(candidate):
            return web_url(candidate)
    return None


def pdf_links(rec: dict[str, Any]) -> list[str]:
    """The record's PDF links that are web URLs.

    Why every renderer filters although the parsers, the model and the export query already
    do: a record may come from a warehouse an older version built, and a `javascript:` or `data:`
    link in an identifier is a script handed to every catalogue that imports the file.
    """
    return [w for u in rec.get("pdf_urls") or [] if (w := web_url(u))]


def creator(rec: dict[str, Any]) -> str | None:
    return rec.get("authors") or rec.get("organisation")


def publisher(rec: dict[str, Any]) -> str | None:
    return rec.get("publisher") or rec.get("organisation")


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
        if rec.get("last_changed_at") is not None:
            attrs["last-changed"] = _stamp(rec["last_changed_at"])
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
    add("type", rec.get("type"))
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
    add("relation", rec.get("series"))
    for edition in other_editions(rec, level):
        add("relation", web_url(edition.get("url")) or edition["edition_id"])
    add("coverage", rec.get("region"))
    add("coverage", rec.get("countries"))
    return dc


# -- CSL-JSON -------------------------------------------------------------------------------------

_CSL_TYPE = {"book": "book", "report": "report", "periodical": "periodical"}


def to_csl_json(records: Iterable[dict[str, Any]], level: str) -> str:
    """A CSL-JSON array (CSL 1.0.2 data schema): Zotero, Pandoc and citeproc import it as is."""
    return json.dumps([csl_item(rec, level) for rec in records], ensure_ascii=False, indent=1) + "\n"


def csl_item(rec: dict[str, Any], level: str) -> dict[str, Any]:
    if is_withdrawn(rec):  # `type` is required by the schema; `document` claims nothing
        return {"id": record_id(rec, level), "type": "document", "custom": {"operation": "withdrawn"}}
    item: dict[str, Any] = {"id": record_id(rec, level), "type": _CSL_TYPE[kind(rec)]}
    optional: dict[str, Any] = {
        "title": full_title(rec),
        "author": [{"literal": creator(rec)}] if creator(rec) else None,
        "abstract": rec.get("abstract"),
        "issued": {"date-parts": [[rec["year"]]]} if rec.get("year") else None,
        "publisher": publisher(rec),
        "genre": rec.get("type"),
        "collection-title": rec.get("series"),
        "number": rec.get("reference_number"),
        "number-of-pages": rec.get("page_count"),
        "ISBN": " ".join(identifiers(rec)) or None,
        "ISSN": rec.get("issn"),
        "URL": link(rec),
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

_RIS_TYPE = {"book": "BOOK", "report": "RPRT", "periodical": "JFULL"}


class _RisWriter(rispy.RisWriter):
    """rispy's writer without its "1." line before each record, which is not RIS (readers skip it at best)."""

    def set_header(self, count: int) -> str:
        return ""


def to_ris(records: Iterable[dict[str, Any]], level: str) -> str:
    """RIS, written by rispy: one TY ... ER block per record, each tag on one line."""
    return rispy.dumps([ris_entry(rec, level) for rec in records], implementation=_RisWriter)


def ris_entry(rec: dict[str, Any], level: str) -> dict[str, Any]:
    """rispy's field names for the RIS tags (TY, ID, TI, AU, AB, PY, SN, UR, L1, LA, PB, T3, N1, C1...)."""
    if is_withdrawn(rec):
        return {"type_of_reference": "GEN", "id": record_id(rec, level), "custom1": "withdrawn"}
    language = rec.get("language") if level == "edition" else _single(rec.get("languages"))
    note = editions_note(rec, level)
    fields: dict[str, Any] = {
        "type_of_reference": _RIS_TYPE[kind(rec)],
        "id": record_id(rec, level),
        "title": _one_line(full_title(rec)),
        "authors": [_one_line(creator(rec))] if creator(rec) else None,
        "abstract": _one_line(rec.get("abstract")),
        "year": str(rec["year"]) if rec.get("year") else None,
        "issn": " ".join(identifiers(rec)) or rec.get("issn"),  # SN: ISBN, or ISSN for a periodical
        "urls": [u for u in dict.fromkeys([link(rec), *pdf_links(rec)]) if u] or None,
        "file_attachments1": (pdf_links(rec) or [None])[0],
        "language": language,
        "publisher": _one_line(publisher(rec)),
        "tertiary_title": _one_line(rec.get("series")),
        "start_page": str(rec["page_count"]) if rec.get("page_count") else None,
        "note": _one_line(rec.get("reference_number")),
        "type_of_work": _one_line(rec.get("type")),
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
    """BibTeX entries (@book, @techreport; @misc for a withdrawn id), keyed by the stable id."""
    library = Library()
    for rec in records:
        library.add(bibtex_entry(rec, level))
    return bibtexparser.write_string(library)


def bibtex_entry(rec: dict[str, Any], level: str) -> Entry:
    key = record_id(rec, level)
    if is_withdrawn(rec):
        return Entry("misc", key, [Field("operation", "withdrawn")])
    entry_type = "book" if kind(rec) == "book" else "techreport"
    body = publisher(rec)
    title = full_title(rec)
    values: list[tuple[str, str | None]] = [
        ("title", latex_title(title) if title else None),
        ("author", "{" + latex(creator(rec)) + "}" if creator(rec) else None),  # a corporate name, not "Last, First"
        ("year", str(rec["year"]) if rec.get("year") else None),
        ("publisher" if entry_type == "book" else "institution", latex(body) if body else None),
        ("type", latex(rec["type"]) if entry_type == "techreport" and rec.get("type") else None),
        ("number", latex(rec["reference_number"]) if rec.get("reference_number") else None),
        ("series", latex(rec["series"]) if rec.get("series") else None),
        ("pagetotal", str(rec["page_count"]) if rec.get("page_count") else None),
        ("isbn", ", ".join(identifiers(rec)) or None),
        ("issn", rec.get("issn")),
        ("url", _url(link(rec)) if link(rec) else None),
        ("language", rec.get("language") if level == "edition" else _single(rec.get("languages"))),
        ("abstract", latex(rec["abstract"]) if rec.get("abstract") else None),
        ("keywords", latex(rec["topics"]) if rec.get("topics") else None),
        ("note", latex(editions_note(rec, level) or "") or None),
        ("operation", rec.get("operation")),
    ]
    return Entry(entry_type, key, [Field(name, value) for name, value in values if value])
