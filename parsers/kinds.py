"""What a page is about: a publication, a news article, or a page that is no publication.

The three sites serve, besides publications and news, pages on events (seminars, webinars,
conferences), courses (e-courses, trainings), initiatives (projects, programmes) and about pages
(about, contact, FAQ, static text). Those must never become publications: loaded as one, a seminar
page was a publication titled "Objectives" or "1 - 2 December 2021". The evidence, strongest first,
each stated for any Drupal page of these sites, never for one page's words:

1. the URL's Drupal section, the left-most of the first two segments after the language that
   names one (`/en/learning/seminars/<slug>`, `/fr/propos`, `/en/resources/guideline/<slug>`;
   `/spotlight/articles/event/<slug>` is a Spotlight article about an event: news), never a file
   (`/sites/...`, `/system/files/...`, a name with an extension) nor a deeper segment: Drupal
   aliases name the section first, while a slug or a file's folder may hold any word; an event,
   course, initiative or news section decides here;
2. a labelled type value that names a kind of page (`Type: Webinar`, `Tipo: Curso en línea`);
3. a publication section (`/books/`, `/resources/<type>/`): its text's headings do not make it
   an event;
4. a `Status` field saying where an activity stands ("Past activities", "En cours"): programmes
   and projects have a status, publications and events do not;
5. field labels only such pages print (`Venue`, `Registration`, `Target audience`; `Duration`,
   `Certificate`; `Donor`, `Budget`), two of one kind (one alone may be a heading inside a
   publication's text);
6. an about section (`/about/`, `/propos`): a static page, unless 2-5 said otherwise (the
   sites present their programmes under /about/ too, with a status and countries);
7. a span of dates at the top of the page ("1 - 2 December 2021"): publications carry one date
   (of upload or publication), events and courses run over a span;
8. otherwise a publication.

HTML pages (`html_detail`) take, after the URL's section (1 and 3), JSON-LD news types, then
Drupal's content type from <body> or the page's own node only (never a teaser or block around
it), then JSON-LD `Event`/`Course`/..., then 6, then the visible text's evidence.

Vocabularies are in `vocab.py` (`PageKind`, `KIND_NAMES`, `KIND_SEGMENTS`, `TYPE_KINDS`, `KIND_LABELS`,
`DATE_RANGE`).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable
from urllib.parse import parse_qs, urlsplit

from parsers.base import url_path
from parsers.vocab import (
    ABOUT_PREFIXES,
    ACTIVITY_STATUS,
    DATE_RANGE,
    ITEM_SEGMENTS,
    KIND_LABELS,
    KIND_SEGMENTS,
    NEWS_SEGMENTS,
    NODE_TYPE_KINDS,
    NON_PUBLICATION,
    SECTION_HEADINGS,
    TYPE_KINDS,
    TYPED_ITEM_SEGMENTS,
)

#: labels of one kind that make a page of that kind
KIND_LABELS_NEEDED = 2
#: a Drupal language prefix (`/en/`, `/es/`, `/fr/`, `/ar/`, `/pt-br/`)
_LANGUAGE_SEGMENT = re.compile(r"^[a-z]{2}(?:-[a-z]{2,4})?$")


#: path segments under which Drupal serves files, not pages (`/sites/default/files/...`, `/system/files/...`)
_FILE_ROOTS = frozenset({"sites", "system", "files"})
#: how many segments after the language prefix name the section (`/learning/seminars/<slug>`)
SECTION_DEPTH = 2
#: a segment that is a file's name (`guide.pdf`, `agenda.docx`)
_FILE_NAME = re.compile(r"\.[a-z0-9]{2,5}$")


def _segments(url: str | None) -> list[str]:
    """The URL path's segments after the language prefix, casefolded."""
    segments = [s for s in url_path(url).casefold().split("/") if s]
    while segments and _LANGUAGE_SEGMENT.match(segments[0]) and segments[0] not in KIND_SEGMENTS:
        segments = segments[1:]
    return segments


def kind_of_url(url: str | None) -> tuple[str, str] | None:
    """(kind, evidence) from the URL's Drupal section: the first SECTION_DEPTH segments after the
    language; None when none names one, and for a file (under `/sites/` or `/system/files/`, or a
    segment with a file extension).

    Why the section only: Drupal's path aliases put the section first and the item last
    (`/learning/seminars/<slug>`), while a slug, a file's folder or a file's name may hold any word
    (`/books/ioms-project-handbook` is a book, `.../files/documents/2022/projects/guide.pdf` a file,
    `/regional-designations/global/contact` a region's contact block). The left-most section wins.
    """
    segments = _segments(url)
    if segments and segments[0] in _FILE_ROOTS:
        return None
    for n, segment in enumerate(segments[:SECTION_DEPTH]):
        if _FILE_NAME.search(segment):
            return None
        if segment in NEWS_SEGMENTS:
            return "news", f"URL path section /{segment}/"
        if segment in ITEM_SEGMENTS:
            return "publication", f"URL path section /{segment}/"
        if segment in KIND_SEGMENTS:
            return KIND_SEGMENTS[segment], f"URL path section /{segment}/"
        if n == 0 and segment.startswith(ABOUT_PREFIXES):  # a top-level alias: /propos-de-loim-publications
            return "about", f"URL path /{segment}"
    return None


#: the levels of the news section before a category (`/spotlight/articles/<category>/<slug>`)
_NEWS_LEVELS = frozenset({"articles"})


def is_item_url(url: str | None) -> bool:
    """A URL of one item's own page: a section segment followed by the item's slug or node number
    (`/books/<slug>`, `/resources/<type>/<slug>`, `/learning/seminars/<slug>`, `/node/123`,
    `/spotlight/articles/<category>/<slug>`), without a pager parameter.

    Why: such a page describes one item even when all it shows is a paragraph of prose (the bookstore
    prints some books with nothing but their abstract), while a section's listing is the section
    alone (`/resources/guideline`), a category of it (`/spotlight/articles/event`), a page of it
    (`?page=2`) or a search (`/search-books?...`).
    """
    segments = _segments(url)
    if len(segments) == 2 and segments[0] == "node" and segments[1].isdigit():
        return True
    if not segments or _has_pager(url):
        return False
    kind = kind_of_url(url)
    if kind is None:
        return False
    if segments[0] in ITEM_SEGMENTS:
        # /books/<slug>, /publications/<slug>; /resources/<type>/<slug> (a /resources/<type> alone
        # is the type's listing: the resource platforms file every item under its type)
        return len(segments) >= (3 if segments[0] in TYPED_ITEM_SEGMENTS else 2)
    if kind[0] == "about":
        return True  # an about page is one page, whatever its depth (`/fr/propos`, `/en/about/x`)
    if kind[0] in NON_PUBLICATION:
        return len(segments) >= 2 and segments[-1] not in KIND_SEGMENTS
    if kind[0] == "news":  # /spotlight/<category>/<slug>, /spotlight/articles/<category>/<slug>
        rest = segments[1:]
        if rest and rest[0] in _NEWS_LEVELS:
            rest = rest[1:]
        return len(rest) >= 2
    return False


def _has_pager(url: str | None) -> bool:
    try:
        return bool(url) and "page" in parse_qs(urlsplit(url or "").query)
    except ValueError:
        return False


_NODE_TYPE = re.compile(r"(?:^|\s)(?:page-node-type-|node--type-)([a-z0-9_-]+)")


def node_type_kind(markup: str) -> str | None:
    """The kind Drupal's content-type classes name (`page-node-type-event`, `node--type-e-course`),
    or None: an event is an `event` node whatever its URL alias; `page` is a Basic page."""
    for match in _NODE_TYPE.finditer(markup):
        kind = NODE_TYPE_KINDS.get(match.group(1).replace("-", "_")) or NODE_TYPE_KINDS.get(match.group(1))
        if kind:
            return kind
    return None


def kind_of_type(values: Iterable[str]) -> str | None:
    """The kind a labelled type value names (`Webinar`, `E-course`), or None for a publication type."""
    for value in values:
        for part in value.split(","):
            kind = TYPE_KINDS.get(part.strip().casefold())
            if kind:
                return kind
    return None


def kind_of_labels(lines: Iterable[str]) -> tuple[str, str] | None:
    """(kind, evidence) when KIND_LABELS_NEEDED distinct labels of one kind are printed as lines."""
    seen: dict[str, list[str]] = {}
    for line in lines:
        folded = line.rstrip(" :\u00a0").casefold()
        kind = KIND_LABELS.get(folded)
        if kind and folded not in seen.setdefault(kind, []):
            seen[kind].append(folded)
    counts = Counter({kind: len(labels) for kind, labels in seen.items()})
    if not counts:
        return None
    kind, n = counts.most_common(1)[0]
    if n < KIND_LABELS_NEEDED:
        return None
    return kind, f"{kind} labels ({', '.join(seen[kind][:3])})"


#: a span of dates is a short line; longer ones are not tried (a hostile page's one long line)
DATE_RANGE_MAX_CHARS = 80


def is_date_range(text: str) -> bool:
    if len(text) > DATE_RANGE_MAX_CHARS * 2:
        return False
    line = " ".join(text.split())
    return len(line) <= DATE_RANGE_MAX_CHARS and bool(DATE_RANGE.match(line))


def is_section_heading(text: str) -> bool:
    """A heading of a section of the page ("Objectives", "Fechas", "Contexte"): never a title."""
    return text.rstrip(" :\u00a0").casefold() in SECTION_HEADINGS


def page_kind(
    url: str | None,
    lines: Iterable[str],
    types: Iterable[str] = (),
    *,
    top: Iterable[str] = (),
    status: Iterable[str] = (),
) -> tuple[str, str]:
    """(kind, evidence) of a page, by the rules of this module's docstring, strongest first.

    `lines` are the page's label and heading lines, `types` its labelled type values, `top` the
    lines before its first paragraph of prose (where an event prints its dates), `status` the
    values of its `Status` field.
    """
    by_url = kind_of_url(url)
    if by_url and by_url[0] not in ("publication", "about"):
        return by_url
    by_type = kind_of_type(types)
    if by_type:
        return by_type, "a type field naming it"
    if by_url and by_url[0] == "publication":  # a publication's section: its text's headings do not make it an event
        return by_url
    state = next((v for v in status if v.strip(" .").casefold() in ACTIVITY_STATUS), None)
    if state:
        return "initiative", f"a status field ({state!r})"
    by_labels = kind_of_labels(lines)
    if by_labels:
        return by_labels
    if by_url:
        return by_url
    span = next((line for line in top if is_date_range(line)), None)
    if span:
        return "event", f"a span of dates at the top ({span!r})"
    return "publication", "no evidence of another kind"
