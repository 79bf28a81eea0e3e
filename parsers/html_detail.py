"""Parse an HTML detail page of one publication into one record (position 1).

Sources, most trusted first: embedded metadata (JSON-LD, `citation_*`, Dublin Core `DC.*` /
`dcterms.*`, OpenGraph last because its description is often trimmed), then Drupal's field
markup (`field--name-*` / `field-name-*`, labelled or not; a printed label is read by
`vocab.LABELS`, the one table the text reader uses too, before the field's machine name), then, when no
field markup is left after a redesign, the visible text read like the text dumps: a label line
followed by its value lines (a label may have no value), `ISSN 2223-5248` on one line, the MP
image alt text `2021, IOM, <title>` as the only place the year shows.

The kind of page (`kinds.py`): the URL's section first (`/learning/seminars/<slug>` is an event,
`/resources/guideline/<slug>` a publication, whatever the markup says), then JSON-LD news types
and news node classes, then Drupal's content type read from <body> (`page-node-type-event`) or
the page's own node (`node--type-e-course` on the node holding the <h1>; a related teaser in an
<aside>, a footer block or a view shows other nodes' types), then JSON-LD (`Event`, `Course`), then
an about section's URL, then what the visible text shows (a status field, event labels) when the
page has no field markup; a publication otherwise. The title is the page's own heading: an <h1>
that is a section heading ("Objectives") or a span of dates is not one.

Edition links are other editions (hreflang alternates, "Also available in", language
switchers, JSON-LD translations) minus re-renders of this very node under another interface
prefix: `/es/books/x` is `/books/x` in a Spanish interface, not a Spanish edition.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from selectolax.lexbor import LexborHTMLParser, LexborNode

from parsers import text_detail
from parsers.base import ParsedPage, ParseError, Problem, checked_link, link_or_none, split_truncation, url_path
from parsers.html_common import (
    CHROME_TAGS,
    classes,
    clean,
    json_ld,
    ld_text,
    ld_types,
    ld_values,
    main_scope,
    meta_tags,
    node_text,
    parse_html,
    same_node_path,
    visible_lines,
)
from parsers.kinds import is_date_range, is_section_heading, kind_of_url, node_type_kind
from parsers.vocab import LABELS, LANGUAGE_NAMES, LD_KINDS, SINGLE_VALUED

_FIELD_CLASS = re.compile(r"(?:^|\s)(?:field--name-|field-name-)(?:field-)?([a-z0-9_-]+)")
LABEL_SELECTOR = ".field__label, .field-label"
VALUE_SELECTOR = ".field__item, .field-item"

#: Drupal field machine names (after `field-`) -> record key
FIELD_KEYS = {
    "year": "year", "year_of_publication": "year", "publication_year": "year",
    "number_of_pages": "page_count", "pages": "page_count", "page_count": "page_count",
    "isbn": "isbn", "e_isbn": "eisbn", "eisbn": "eisbn",
    "original_language": "text_language", "languages": "languages", "language": "text_language",
    "resource_type": "type", "publication_type": "type", "type": "type",
    "region": "region", "regions": "region", "countries": "countries", "country": "countries",
    "organization": "organisation", "organisation": "organisation",
    "publication_series": "series", "series": "series", "reference_number": "reference_number", "issn": "issn",
    "date_of_upload": "date_of_upload", "also_available_in": "editions", "subtitle": "subtitle",
    "attachments": "attachments", "files": "attachments", "image": "image", "table_of_contents": "toc",
    "body": "body", "abstract": "body", "description": "body", "title": "title", "last_updated": "last_updated",
}  # fmt: skip
#: record keys that go to `extra` as text
EXTRA_KEYS = ("type", "region", "countries", "organisation", "series", "reference_number", "issn",
              "date_of_upload", "published", "subtitle", "publisher", "authors", "topics", "last_updated")  # fmt: skip
CONTENT_TYPES = frozenset(
    [
        "Book",
        "Report",
        "CreativeWork",
        "ScholarlyArticle",
        "Article",
        "NewsArticle",
        "BlogPosting",
        "PublicationIssue",
        "Periodical",
        "DigitalDocument",
        "Thesis",
        "Chapter",
        "Guide",
        "HowTo",
    ]
)
NEWS_TYPES = frozenset({"NewsArticle", "BlogPosting", "ReportageNewsArticle"})
NEWS_CLASS_HINTS = ("node--type-article", "node--type-news", "node-article", "node-news")
LANGUAGE_SWITCHERS = ".language-switcher-language-url a[href], ul.language-switcher a[href], a.language-link[href]"
_YEAR = re.compile(r"\b(19[4-9]\d|20\d\d)\b")
_ALT_YEAR = re.compile(r"^\s*(19[4-9]\d|20\d\d)\s*,")
_PDF_HREF = re.compile(r"\.pdf(?:$|[?#])", re.IGNORECASE)
_ISBN_VALUE = re.compile(r"[0-9][0-9Xx\- ]{8,17}[0-9Xx]")


@dataclass
class _Sources:
    """Everything the page offers, read once, before any field is chosen.

    Why: each field is taken from the first source that has it (metadata, field markup, the
    visible text), so every step below needs the same sources at hand; reading them once keeps the
    steps small and the page parsed once.
    """

    tree: LexborHTMLParser
    url: str | None
    canonical: str | None
    #: the page's own address: the canonical link, else the address it was fetched from
    base: str | None
    meta: dict[str, list[str]]
    ld_nodes: list[dict[str, Any]]
    ld: dict[str, Any]
    scope: LexborNode
    #: Drupal fields by record key (the body apart), and the visible text's fields on a page without them
    values: dict[str, list[str]]
    fields: dict[str, list[str]]
    body_node: LexborNode | None
    layout: str
    flags: list[str]
    text_title: str | None = None
    text_abstract: str | None = None
    text_lists: dict[str, Any] = field(default_factory=dict)
    text_paths: dict[str, str] = field(default_factory=dict)


def parse(body: bytes, url: str | None = None) -> ParsedPage:
    """One record from an HTML detail page (format `html-detail`); see the module docstring."""
    src = _read_sources(body, url)
    page = ParsedPage()
    record = _identity(src, page)
    _add_bibliographic(record, src)
    _add_files_and_editions(record, src, page)
    extra = _extra(src)
    if extra:
        record["extra"] = extra
    _add_text_lists(record, src.text_lists)
    if src.flags:
        record["quality_flags"] = src.flags

    page.page_info["layout"] = src.layout
    page.page_info["fields"] = _field_paths(record, src.layout, src.fields, src.text_paths)
    page.page_info["metadata"] = _metadata_kinds(src)
    if not (record.get("title") or record.get("abstract")):
        page.problems.append(Problem(1, "detail page without title or abstract", node_text(src.scope)[:120]))
        return page
    page.records.append({k: v for k, v in record.items() if v is not None})
    return page


def _read_sources(body: bytes, url: str | None) -> _Sources:
    """The page's metadata, field markup and, when a redesign left no field markup, its visible
    text read by the text-detail rules (then the text's fields come before the markup's)."""
    tree = parse_html(body)
    canonical = _canonical(tree, url)
    ld_nodes, ld_broken = json_ld(tree)
    scope = main_scope(tree)
    fields, body_node = _fields(scope)
    src = _Sources(
        tree=tree,
        url=url,
        canonical=canonical,
        base=canonical or url,
        meta=meta_tags(tree),
        ld_nodes=ld_nodes,
        ld=_main_ld(ld_nodes),
        scope=scope,
        values={},
        fields=fields,
        body_node=body_node,
        layout="structured" if fields or body_node is not None else "fallback-text",
        flags=["jsonld_unreadable"] if ld_broken else [],
    )
    text_fields: dict[str, list[str]] = {}
    if src.layout == "fallback-text":
        src.text_title, text_fields, src.text_abstract, src.text_lists, src.text_paths = _read_text(
            tree, scope, src.base
        )
        src.flags.append("layout:fallback-text")
    src.values = dict(text_fields)
    for key, found in fields.items():
        src.values.setdefault(key, found)
    return src


def _identity(src: _Sources, page: ParsedPage) -> dict[str, Any]:
    """The record's kind, link, title and abstract: what says which item this page is."""
    ld, meta = src.ld, src.meta
    kind = _kind(src.tree, ld, src.base, src.text_lists.get("kind"))
    own, why = checked_link(None, src.base)
    if why:
        page.problems.append(Problem(1, f"page link dropped, record kept: {why}", ""))
    record: dict[str, Any] = {"position": 1, "kind": kind, "url": own}
    record["title"] = _first_text(
        ld_text(ld.get("name")) if ld else None,
        ld_text(ld.get("headline")) if ld else None,
        _meta(meta, "citation_title"),
        _meta(meta, "dc.title", "dcterms.title"),
        _own_heading(node_text(src.tree.css_first("h1"))),
        src.text_title,
        _meta(meta, "og:title"),
        _page_title(src.tree),
    )
    abstract, truncated = _abstract(src.body_node, ld, meta, src.text_abstract)
    if abstract:
        record["abstract"] = abstract
        record["abstract_truncated"] = truncated
    return record


def _add_bibliographic(record: dict[str, Any], src: _Sources) -> None:
    """Year, page count, ISBNs and the text's language: metadata first, then the fields (a year, else
    a publication date), then the cover's alt text (the only place MP prints the year)."""
    ld, meta, values = src.ld, src.meta, src.values
    year = _first_year(
        *(ld_text(v) for key in ("datePublished", "dateCreated", "copyrightYear") for v in ld_values(ld, key)),
        *_metas(meta, "citation_publication_date", "citation_date", "citation_year"),
        *_metas(meta, "dc.date", "dcterms.date", "dcterms.issued", "dcterms.created"),
        *values.get("year", []),
        *values.get("published", []),  # a publication date gives the year too, as in the text reader
        *_alt_years(src.scope),
    )
    if year:
        record["year"] = year
    pages = _first_int(*(ld_text(v) for v in ld_values(ld, "numberOfPages")), *values.get("page_count", []))
    if pages:
        record["page_count"] = pages
    eisbn = _isbns(values.get("eisbn", []))
    isbn = _isbns(
        [ld_text(v) or "" for v in ld_values(ld, "isbn")]
        + _metas(meta, "citation_isbn")
        + [v for v in _metas(meta, "dc.identifier", "dcterms.identifier") if "isbn" in v.lower()]
        + values.get("isbn", [])
    )
    isbn = [i for i in isbn if _digits(i) not in {_digits(e) for e in eisbn}]  # an e-ISBN is not also a print one
    if isbn:
        record["isbn"] = isbn
    if eisbn:
        record["eisbn"] = eisbn
    text_language = _first_text(
        *values.get("text_language", []),
        *(ld_text(v) for v in ld_values(ld, "inLanguage")),
        _meta(meta, "dc.language", "dcterms.language"),
        _meta(meta, "citation_language"),
    )
    if text_language:
        record["text_language"] = text_language


def _add_files_and_editions(record: dict[str, Any], src: _Sources, page: ParsedPage) -> None:
    """PDF links, other editions and the languages the work is available in (a languages field,
    else the attachments' language names, else the edition links' names beside the text's own)."""
    dropped: list[str] = []
    pdf_urls, attachment_languages = _pdfs(src.scope, src.meta, src.ld, src.base, dropped)
    for why in dict.fromkeys(dropped):
        page.problems.append(Problem(1, f"PDF link dropped, record kept: {why}", ""))
    if pdf_urls:
        record["pdf_urls"] = pdf_urls
        record["pdf_available"] = True
    editions, edition_names = _editions(src.tree, src.scope, src.ld, src.base, src.canonical, src.url)
    if editions:
        record["edition_links"] = editions
    languages = _split(src.values.get("languages", [])) or attachment_languages
    text_language = record.get("text_language")
    if not languages and edition_names:
        languages = ([text_language] if text_language and not _is_code(text_language) else []) + edition_names
    if languages:
        record["languages"] = list(dict.fromkeys(languages))


def _extra(src: _Sources) -> dict[str, str]:
    """The fields that have no column of their own, as text; the publisher also names the
    organisation when the page names none."""
    ld, meta, values = src.ld, src.meta, src.values
    extra: dict[str, str] = {}
    for key in EXTRA_KEYS:
        if values.get(key):
            extra[key] = ", ".join(dict.fromkeys(values[key]))
    publisher = _first_text(
        *(ld_text(v) for v in ld_values(ld, "publisher")),
        _meta(meta, "citation_publisher"),
        _meta(meta, "dc.publisher", "dcterms.publisher"),
    )
    if publisher:
        extra.setdefault("publisher", publisher)
        extra.setdefault("organisation", publisher)
    if "type" not in extra and _metas(meta, "dc.type", "dcterms.type"):
        extra["type"] = ", ".join(_metas(meta, "dc.type", "dcterms.type"))
    series = _first_text(*(ld_text(v) for v in ld_values(ld, "isPartOf")))
    if series:
        extra.setdefault("series", series)
    return extra


def _add_text_lists(record: dict[str, Any], text_lists: dict[str, Any]) -> None:
    """What only the visible text holds (table of contents, attachment rows), and its edition and
    file links when the markup gave none."""
    for key in ("toc", "attachments"):
        if text_lists.get(key):
            record[key] = text_lists[key]
    if text_lists.get("edition_links") and not record.get("edition_links"):
        record["edition_links"] = text_lists["edition_links"]
    if text_lists.get("pdf_urls") and not record.get("pdf_urls"):
        record["pdf_urls"] = text_lists["pdf_urls"]
        record["pdf_available"] = True


def _metadata_kinds(src: _Sources) -> list[str]:
    """Which kinds of embedded metadata the page carries (for the layout report)."""
    meta = src.meta
    return [
        name
        for name, present in (
            ("json-ld", bool(src.ld_nodes)),
            ("citation", any(k.startswith("citation_") for k in meta)),
            ("dublin-core", any(k.startswith(("dc.", "dcterms.")) for k in meta)),
            ("opengraph", any(k.startswith("og:") for k in meta)),
        )
        if present
    ]


# --- structured sources ------------------------------------------------------------------------


def _canonical(tree: LexborHTMLParser, url: str | None) -> str | None:
    link = tree.css_first('link[rel="canonical"][href]')
    return link_or_none(url, link.attrs.get("href")) if link is not None else None


def _main_ld(nodes: list[dict[str, Any]]) -> dict[str, Any]:
    for node in nodes:
        if ld_types(node) & CONTENT_TYPES:
            return node
    return next((n for n in nodes if n.get("name") or n.get("headline")), {})


def _meta(meta: dict[str, list[str]], *keys: str) -> str | None:
    for key in keys:
        if meta.get(key):
            return meta[key][0]
    return None


def _metas(meta: dict[str, list[str]], *keys: str) -> list[str]:
    return [v for key in keys for v in meta.get(key, [])]


def _kind(tree: LexborHTMLParser, ld: dict[str, Any], url: str | None, text_kind: str | None) -> str:
    """The page's kind, by the module docstring's order of evidence."""
    by_url = kind_of_url(url)
    if by_url and by_url[0] != "about":  # a section's URL: its markup and metadata do not make it another kind
        return by_url[0]
    if ld_types(ld) & NEWS_TYPES:
        return "news"
    markup = _own_classes(tree)
    if any(hint in markup for hint in NEWS_CLASS_HINTS):
        return "news"
    node_type = node_type_kind(markup)
    if node_type and node_type != "publication":
        return node_type
    for ld_type, kind in LD_KINDS.items():
        if ld_type in ld_types(ld):
            return kind
    if by_url:
        return by_url[0]
    return text_kind or "publication"


#: elements whose nodes are other items shown around the page's own (teasers, blocks, views)
_OTHER_NODES = frozenset({"aside", "footer", "header", "nav"})


def _own_classes(tree: LexborHTMLParser) -> str:
    """The classes that state the page's own content type: <body>'s (`page-node-type-*`) and the
    node that holds the page's <h1> (else the first node of the main content).

    Why: a page shows other nodes too (a related event's teaser in an <aside>, a Basic page block in
    the footer, a view of webinars), each with its own `node--type-*`; only the page's own node and
    <body> speak for the page.
    """
    found = [classes(tree.body)] if tree.body is not None else []
    heading = tree.css_first("h1")
    candidates = [heading] if heading is not None else []
    candidates += main_scope(tree).css("article, [class*='node--type-']")
    for start in candidates:
        node: LexborNode | None = start
        own: LexborNode | None = None
        while node is not None and node.tag not in ("body", "html"):
            names = classes(node)
            if node.tag in _OTHER_NODES or "views-row" in names.split() or "view-mode-teaser" in names:
                own = None
                break
            if own is None and (node.tag == "article" or "node--type-" in names):
                own = node
            node = node.parent
        if own is not None:
            found.append(classes(own))
            break
    return " ".join(found)


def _own_heading(text: str | None) -> str | None:
    """An <h1> that names the item; a section heading or a span of dates names no item."""
    if not text or is_section_heading(text) or is_date_range(text):
        return None
    return text


def _fields(scope: LexborNode) -> tuple[dict[str, list[str]], LexborNode | None]:
    """Drupal fields by record key; the body field is returned apart (its paragraphs matter)."""
    found: dict[str, list[str]] = {}
    body: LexborNode | None = None
    for node in scope.css("[class]"):
        match = _FIELD_CLASS.search(classes(node))
        if not match:
            continue
        label_node = node.css_first(LABEL_SELECTOR)
        label = clean(node_text(label_node)).rstrip(": \u00a0").casefold() if label_node is not None else ""
        name = match.group(1).replace("-", "_")
        key = LABELS.get(label) or FIELD_KEYS.get(name) or name
        if key == "body":
            body = body or node
            continue
        if key in ("title", "image", "attachments", "toc", "editions") or key in found:
            continue
        items = [node_text(v) for v in node.css(VALUE_SELECTOR) if v.mem_id != node.mem_id]
        values = [v for v in items if v]
        if not values and not items:
            text = node_text(node)
            if label_node is not None:
                text = text.removeprefix(node_text(label_node)).strip(" :\u00a0")
            values = [text] if text else []
        found[key] = values if key not in SINGLE_VALUED else values[:1]
    return {k: v for k, v in found.items() if v}, body


def _abstract(
    body: LexborNode | None, ld: dict[str, Any], meta: dict[str, list[str]], text_abstract: str | None
) -> tuple[str | None, bool]:
    """The visible body keeps its paragraphs; metadata descriptions come next, OpenGraph last."""
    if body is not None:
        text = _paragraphs(body)
        if text:
            return split_truncation(text)
    candidates = [
        ld_text(ld.get("description")) if ld else None,
        _meta(meta, "citation_abstract"),
        _meta(meta, "dc.description", "dcterms.description", "dcterms.abstract"),
        text_abstract,
        _meta(meta, "og:description", "description"),
    ]
    for candidate in candidates:
        if candidate:
            text, truncated = split_truncation(candidate)
            if not truncated:
                return text, False
    for candidate in candidates:
        if candidate:
            return split_truncation(candidate)
    return None, False


def _paragraphs(body: LexborNode) -> str:
    blocks: list[str] = []
    for node in body.css("p, li"):
        text = node_text(node)
        if not text:
            continue
        if node.tag == "li":
            line = f"- {text}"
            if blocks and blocks[-1].startswith("- "):
                blocks[-1] += "\n" + line
            else:
                blocks.append(line)
        else:
            blocks.append(text)
    return "\n\n".join(blocks) if blocks else node_text(body)


def _alt_years(scope: LexborNode) -> list[str]:
    """MP prints the year only in the cover's alt text: "2021, IOM, <title>"."""
    years = []
    for img in scope.css("img[alt]"):
        match = _ALT_YEAR.match(img.attrs.get("alt") or "")
        if match:
            years.append(match.group(1))
    return years


def _pdfs(
    scope: LexborNode, meta: dict[str, list[str]], ld: dict[str, Any], base: str | None, dropped: list[str]
) -> tuple[list[str], list[str]]:
    """PDF links (web URLs only: why each other one was dropped goes to `dropped`) and the languages they name."""
    urls: list[str | None] = []
    languages: list[str] = []

    def add(href: str) -> None:
        link, why = checked_link(base, href)
        urls.append(link)
        if why:
            dropped.append(why)

    for value in _metas(meta, "citation_pdf_url"):
        add(value)
    for media in ld_values(ld, "encoding") + ld_values(ld, "associatedMedia"):
        if isinstance(media, dict):
            content = media.get("contentUrl") or media.get("url")
            if isinstance(content, str) and (
                "pdf" in str(media.get("encodingFormat", "")).lower() or _PDF_HREF.search(content)
            ):
                add(content)
    for link in scope.css("a[href]"):
        href = link.attrs.get("href") or ""
        if _PDF_HREF.search(href) or (link.attrs.get("type") or "").lower() == "application/pdf":
            add(href)
            label = node_text(link)
            name = label.rsplit(" - ", 1)[-1].strip()
            if name.casefold() in LANGUAGE_NAMES:
                languages.append(name)
    return [u for u in dict.fromkeys(urls) if u], list(dict.fromkeys(languages))


def _editions(
    tree: LexborHTMLParser,
    scope: LexborNode,
    ld: dict[str, Any],
    base: str | None,
    canonical: str | None,
    url: str | None,
) -> tuple[list[str], list[str]]:
    """Other editions' URLs, and the language names the "Also available in" links print."""
    own_paths = [p for p in (url_path(canonical), url_path(url)) if p]
    candidates: list[str] = []
    names: list[str] = []
    for link in tree.css('link[rel="alternate"][hreflang][href]'):
        if (link.attrs.get("hreflang") or "").lower() != "x-default":
            candidates.append(link.attrs.get("href") or "")
    for node in scope.css("[class]"):
        match = _FIELD_CLASS.search(classes(node))
        if not match:  # only fields are read below: reading every node's label costs size x depth
            continue
        label_node = node.css_first(LABEL_SELECTOR)
        label = clean(node_text(label_node)).rstrip(": \u00a0").casefold() if label_node is not None else ""
        if match and (
            LABELS.get(label) == "editions" or FIELD_KEYS.get(match.group(1).replace("-", "_")) == "editions"
        ):
            for link in node.css("a[href]"):
                candidates.append(link.attrs.get("href") or "")
                if node_text(link):
                    names.append(node_text(link))
    for link in tree.css(LANGUAGE_SWITCHERS):
        candidates.append(link.attrs.get("href") or "")
    for key in ("workTranslation", "translationOfWork"):
        for value in ld_values(ld, key):
            target = value.get("@id") or value.get("url") if isinstance(value, dict) else value
            if isinstance(target, str):
                candidates.append(target)
    editions: list[str] = []
    for href in candidates:
        target = link_or_none(base, href)
        if not target or target.startswith(("#", "javascript:", "mailto:")):
            continue
        if any(same_node_path(url_path(target), own) for own in own_paths):
            continue
        if target not in editions:
            editions.append(target)
    return editions, list(dict.fromkeys(names))


# --- the visible text, read like the text dumps --------------------------------------------------


def _read_text(
    tree: LexborHTMLParser, scope: LexborNode, url: str | None
) -> tuple[str | None, dict[str, list[str]], str | None, dict[str, Any], dict[str, str]]:
    """The visible text through the text-detail reader: title, field values, abstract, the
    record's list fields (toc, attachments, edition links) and which rule found each field."""
    try:  # the reader drops skip links and other chrome itself
        found = text_detail.extract(visible_lines(scope, skip=CHROME_TAGS), url)
    except ParseError:
        return _page_title(tree), {}, None, {}, {}
    record = found.records[0]
    fields: dict[str, list[str]] = {}
    for key in ("year", "page_count"):
        if record.get(key):
            fields[key] = [str(record[key])]
    for key in ("isbn", "eisbn", "languages"):
        if record.get(key):
            fields[key] = list(record[key])
    if record.get("text_language"):
        fields["text_language"] = [record["text_language"]]
    for key, value in (record.get("extra") or {}).items():
        if key in EXTRA_KEYS or key in ("date_of_upload", "published"):
            fields[key] = [value]
    lists = {k: record[k] for k in ("toc", "attachments", "edition_links", "pdf_urls") if record.get(k)}
    if record.get("kind") != "publication":
        lists["kind"] = record["kind"]
    title = record.get("title") or _page_title(tree)
    return title, fields, record.get("abstract"), lists, found.page_info.get("fields", {})


def _field_paths(
    record: dict[str, Any], layout: str, fields: dict[str, list[str]], text_paths: dict[str, str]
) -> dict[str, str]:
    """Which path each field of the record took: Drupal field markup, embedded metadata, or the
    visible text read by the text-detail rules (and which of its rules)."""
    paths: dict[str, str] = {}
    for key in ("title", "abstract", "year", "page_count", "isbn", "eisbn", "text_language", "languages", "toc",
                "attachments", "edition_links", "pdf_urls"):  # fmt: skip
        if not record.get(key):
            continue
        if key in text_paths:
            paths[key] = f"text: {text_paths[key]}"
        elif key in fields:
            paths[key] = "field markup"
        elif key in ("title", "abstract") and layout == "fallback-text":
            paths[key] = "metadata or page title"
        else:
            paths[key] = "metadata or selectors"
    for key in record.get("extra") or {}:
        paths[f"extra.{key}"] = f"text: {text_paths[key]}" if key in text_paths else "field markup or metadata"
    return paths


# --- small value readers -----------------------------------------------------------------------


def _page_title(tree: LexborHTMLParser) -> str | None:
    node = tree.css_first("title")
    text = node_text(node)
    return re.split(r"\s+[|–-]\s+", text)[0] if text else None


def _first_text(*values: str | None) -> str | None:
    return next((clean(v) for v in values if v and clean(v)), None)


def _first_year(*values: str | None) -> int | None:
    for value in values:
        match = _YEAR.search(value or "")
        if match:
            return int(match.group(1))
    return None


def _first_int(*values: str | None) -> int | None:
    for value in values:
        match = re.search(r"\d+", value or "")
        if match:
            return int(match.group(0))
    return None


def _isbns(values: list[str]) -> list[str]:
    found: list[str] = []
    for value in values:
        for match in _ISBN_VALUE.finditer(value):
            isbn = clean(match.group(0))
            if _digits(isbn) not in {_digits(f) for f in found}:
                found.append(isbn)
    return found


def _digits(value: str) -> str:
    return re.sub(r"[^0-9Xx]", "", value).upper()


def _split(values: list[str]) -> list[str]:
    return [part.strip() for value in values for part in re.split(r"\s*[,;/]\s*", value) if part.strip()]


def _is_code(value: str) -> bool:
    return len(value) <= 3 and value.isalpha()
