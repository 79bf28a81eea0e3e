"""Parse an HTML resource listing (Drupal view): one record per card, plus the pager.

Cards are found with Drupal's own, theme-independent hooks (`views-row`, `field--name-*` /
`views-field-*` class names), kept below as data. When none of them match, the site has changed
its markup: the page's visible text is read line by line with the rules written for the text
dumps (`parsers.text_listing`), a line that is wholly a link giving the next teaser its title and
URL, and `page_info["layout"]` says `fallback-text` so the crawler can flag the change. The
fallback keeps its records only when it finds a card (a title link with its teaser, or a teaser
trimmed with `...`): a notice alone is not a publication. A page without any card is not an
error: it returns no records and `cards == 0`, which the crawler reports as a layout alert.
A card that cannot be read (a link that is not a URL) is a `Problem` of its own; its neighbours load.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import parse_qs, urlsplit

from selectolax.lexbor import LexborHTMLParser, LexborNode

from parsers.base import (
    NotWebLink,
    ParsedPage,
    Problem,
    absolute,
    checked_link,
    link_or_none,
    split_truncation,
    web_link,
)
from parsers.html_common import (
    CHROME_TAGS,
    Line,
    classes,
    main_scope,
    node_text,
    parse_html,
    visible_lines,
)
from parsers.kinds import is_item_url, kind_of_url, node_type_kind
from parsers.text_listing import SKIP_LINKS, is_caption, is_heading

CARD_SELECTORS = (".views-row", ".view-content > article", "article.node--view-mode-teaser", ".search-result")
TITLE_SELECTORS = (
    "[class*='field--name-title'] a[href]",
    ".views-field-title a[href]",
    ".node__title a[href]",
    "h2 a[href]",
    "h3 a[href]",
    "h4 a[href]",
    "h5 a[href]",
)
TEASER_SELECTORS = (
    "[class*='field--name-body']",
    "[class*='field-name-body']",
    ".views-field-body",
    "[class*='field--name-field-summary']",
    "[class*='field--name-field-abstract']",
    "[class*='field--name-field-teaser']",
)
LABEL_SELECTOR = ".field__label, .field-label, .views-label"
VALUE_SELECTOR = ".field__item, .field-item, .field-content"
PAGER_SELECTORS = ("nav.pager", ".pager", "[class*='pager']", "[class*='pagination']", "[class*='paginator']")
ACTIVE_PAGE_SELECTOR = ".is-active, .pager-current, .active, [aria-current='page']"

#: Drupal field machine names: `field--name-field-year` (D8+), `field-name-field-year` (D7),
#: `views-field-field-year` (Views); the part after `field-` names the field
_FIELD_CLASS = re.compile(r"(?:^|\s)(?:field--name-|field-name-|views-field-)(?:field-)?([a-z0-9_-]+)")
NOT_CARD_FIELDS = frozenset({"title", "body", "image", "nothing", "view-node", "summary", "abstract", "teaser"})
FIELD_KEYS = {
    "resource_type": "type", "publication_type": "type", "type": "type", "types": "type",
    "year": "year", "year_of_publication": "year", "publication_year": "year",
    "organization": "organisation", "organisation": "organisation", "organizations": "organisation",
    "region": "region", "regions": "region", "country": "countries", "countries": "countries",
}  # fmt: skip
#: fields read from one card; cards show about ten, and each read walks the field's subtree
MAX_CARD_FIELDS = 40
READ_MORE = frozenset({"read more", "leer más", "lire la suite", "en savoir plus"})
NEWS_CLASS_HINTS = ("node--type-article", "node--type-news", "node-article", "node-news")
_YEAR = re.compile(r"\b(19[4-9]\d|20\d\d)\b")
_PAGE_LINK_NEXT = re.compile(r"\bnext\b|siguiente|suivant|^›+$", re.IGNORECASE)
_PAGE_LINK_LAST = re.compile(r"\blast\b|última|dernière|^»+$", re.IGNORECASE)
#: a line of text read as a teaser in the fallback: cut with "...", a sentence, or long
TEASER_MIN_WORDS = 12
_SENTENCE = re.compile(r"[.!?…]\W*$")


def parse(body: bytes, url: str | None = None) -> ParsedPage:
    tree = parse_html(body)
    page = ParsedPage()
    heading = tree.css_first("h1")
    page.page_info["heading"] = node_text(heading) or None
    cards = _cards(tree)
    records = [_guarded_card(card, n + 1, url, page) for n, card in enumerate(cards)]
    if cards and any(r is not None for r in records):
        page.records = [r for r in records if r is not None]
        page.page_info["layout"] = "structured"
        page.page_info["cards"] = len(cards)
    else:
        page.problems.clear()
        fallback = _fallback_records(tree, url, page.problems)
        # a page that shows no card (a notice, "we redesigned") yields nothing: the text rules
        # would read any sentence as a teaser and invent a publication
        page.records = fallback if any(_is_card(r) for r in fallback) else []
        if not page.records:
            page.problems.clear()
        page.page_info["layout"] = "fallback-text"
        page.page_info["cards"] = sum(1 for r in page.records if r["kind"] != "caption")
    page.page_info["pager"] = _pager(tree, url)
    return page


def _cards(tree: LexborHTMLParser) -> list[LexborNode]:
    """The outermost matches of the first card selector that matches.

    A card inside a card is part of its content (a nested view), not a card of this listing;
    reading only the outermost ones also reads every node once, however deep cards nest.
    """
    for selector in CARD_SELECTORS:
        found = tree.css(selector)
        if found:
            ids = {node.mem_id for node in found}
            return [node for node in found if not _inside(node, ids)]
    return []


def _inside(node: LexborNode, ids: set[int]) -> bool:
    parent = node.parent
    while parent is not None:
        if parent.mem_id in ids:
            return True
        parent = parent.parent
    return False


def _guarded_card(card: LexborNode, position: int, url: str | None, page: ParsedPage) -> dict[str, Any] | None:
    """One card that cannot be read (a link that is not a URL...) costs that card, recorded, not the page."""
    try:
        return _card_record(card, position, url, page)
    except ValueError as exc:
        page.problems.append(Problem(position, f"unreadable card: {exc}", node_text(card)[:120]))
        return None


def _card_record(card: LexborNode, position: int, url: str | None, page: ParsedPage) -> dict[str, Any] | None:
    link = _first(card, TITLE_SELECTORS)
    title = node_text(link) or None
    href = _card_link(absolute(url, link.attrs.get("href")) if link is not None else None, position, card, page, url)
    teaser_node = _first(card, TEASER_SELECTORS)
    extra = _card_fields(card)
    caption = card.css_first("figcaption, [class*='caption']")
    if caption is not None and node_text(caption):
        extra["caption"] = node_text(caption)
    teaser = _teaser(teaser_node) if teaser_node is not None else _longest_paragraph(card, title, extra)
    if not title and not teaser:
        page.problems.append(Problem(position, "listing card without title or teaser", node_text(card)[:120]))
        return None
    kind = _kind(card, href, extra, url)
    record: dict[str, Any] = {"position": position, "kind": kind, "title": title, "url": href}
    if teaser:
        abstract, truncated = split_truncation(teaser)
        record["abstract"] = abstract
        record["abstract_truncated"] = truncated
    year = _YEAR.search(extra.get("year", "") or extra.get("date", ""))
    if year:
        record["year"] = int(year.group(1))
    if extra:
        record["extra"] = extra
    return record


def _card_link(
    href: str | None, position: int, card: LexborNode, page: ParsedPage, listing: str | None = None
) -> str | None:
    """The card's link if it is a web URL to an item; another scheme, or a link back to a listing,
    is dropped, recorded, and the card kept.

    The card is still what the page shows (a title and a teaser); only the link could not be
    stored or exported. A link that leads back to a listing (`#`, `?page=2`, the listing itself, its
    section's page) is no item's URL: kept, it became the card's canonical URL and every export's
    link for it. A link that is not a URL at all (a NUL in it) raises: that costs the card.
    """
    if href is None:
        return None
    try:
        link = web_link(href)
    except NotWebLink as exc:
        page.problems.append(Problem(position, f"link dropped, card kept: {exc}", node_text(card)[:120]))
        return None
    why = _listing_link(link, listing)
    if why:
        page.problems.append(Problem(position, f"link dropped, card kept: {why}", node_text(card)[:120]))
        return None
    return link


def _listing_link(link: str, listing: str | None) -> str | None:
    """Why the link leads to a listing rather than an item, or None: the listing's own page (any
    query or fragment), or a site section's URL that is no item's (`kinds.is_item_url`) and does
    not lie below the listing's path (a listing lists what is under it: `/resources` lists
    `/resources/<slug>`)."""
    try:
        here = urlsplit(listing) if listing else None
        there = urlsplit(link)
    except ValueError:
        return None
    if here is not None and (here.netloc, here.path.rstrip("/")) == (there.netloc, there.path.rstrip("/")):
        return "it leads back to the listing itself"
    section = kind_of_url(link)
    below = here is not None and there.netloc == here.netloc and there.path.startswith(here.path.rstrip("/") + "/")
    if section is not None and not is_item_url(link) and not below:
        return f"it leads to a listing ({section[1]}), not to an item"
    return None


def _first(node: LexborNode, selectors: tuple[str, ...]) -> LexborNode | None:
    for selector in selectors:
        found = node.css_first(selector)
        if found is not None:
            return found
    return None


def _teaser(node: LexborNode) -> str:
    """The teaser's text without a trailing "Read more" link, which is not part of the abstract."""
    text = node_text(node)
    links = node.css("a")
    more = node_text(links[-1]) if links else ""
    if more and more.casefold() in READ_MORE and text.endswith(more):
        return text[: -len(more)].rstrip()
    return text


def _longest_paragraph(card: LexborNode, title: str | None, extra: dict[str, str]) -> str | None:
    known = {title, *extra.values()}
    texts = [node_text(p) for p in card.css("p")]
    texts = [t for t in texts if t and t not in known]
    return max(texts, key=len) if texts else None


def _card_fields(card: LexborNode) -> dict[str, str]:
    """Every Drupal field the card shows, by field name (type, year, organisation...)."""
    extra: dict[str, str] = {}
    for node in card.css("[class]"):
        match = _FIELD_CLASS.search(classes(node))
        if not match or match.group(1) in NOT_CARD_FIELDS:
            continue
        name = match.group(1).replace("-", "_")
        key = FIELD_KEYS.get(name, name)
        if key in extra:
            continue
        if len(extra) >= MAX_CARD_FIELDS:  # each field reads its subtree: bounded, so nesting stays linear
            break
        label = node.css_first(LABEL_SELECTOR)
        values = [node_text(v) for v in node.css(VALUE_SELECTOR)]
        values = [v for v in values if v]
        if not values:
            text = node_text(node)
            if label is not None:
                text = text.removeprefix(node_text(label)).strip(" :")
            values = [text] if text else []
        if values:
            extra[key] = ", ".join(dict.fromkeys(values))
    return extra


def _kind(card: LexborNode, href: str | None, extra: dict[str, str], listing: str | None = None) -> str:
    """A card's kind: news by its markup or photo caption; else the kind its link's URL section
    names (`kinds.kind_of_url`: a card linking to /learning/seminars/<slug> is an event), except on
    a listing of a publication section, where only an item URL of another section makes a card
    another kind (its cards link to files and pages whose words name nothing); a card with no link
    is of the kind the listing's own section names; a publication otherwise."""
    markup = classes(card) + " " + " ".join(classes(n) for n in card.css("article, [class*='node']"))
    if any(hint in markup for hint in NEWS_CLASS_HINTS):
        return "news"
    node_type = node_type_kind(markup)
    if node_type and node_type not in ("about", "publication"):  # a listed Basic page is a card like any other
        return node_type
    if "caption" in extra and is_caption(extra["caption"]):
        return "news"
    own = kind_of_url(listing)
    if href:
        found = kind_of_url(href)
        if own and own[0] == "publication" and not is_item_url(href):  # a publication listing's file or page
            return "publication"
        return found[0] if found else "publication"
    return own[0] if own else "publication"


# --- fallback: the visible text, read like the text dumps ----------------------------------


def _fallback_records(tree: LexborHTMLParser, url: str | None, problems: list[Problem]) -> list[dict[str, Any]]:
    lines = visible_lines(main_scope(tree), skip=CHROME_TAGS)
    records: list[dict[str, Any]] = []
    pending: Line | None = None
    pending_meta: list[str] = []
    previous_kind: str | None = None

    def add(kind: str, text: str | None, title_line: Line | None) -> None:
        record: dict[str, Any] = {
            "position": len(records) + 1,
            "kind": kind,
            "title": title_line.text if title_line else None,
            "url": _fallback_link(url, title_line, len(records) + 1, problems) if title_line else None,
            "quality_flags": ["layout:fallback-text"],
        }
        if text:
            abstract, truncated = split_truncation(text)
            record["abstract"] = abstract
            record["abstract_truncated"] = truncated
        year = next((m for m in (_YEAR.fullmatch(v) for v in pending_meta) if m), None)
        if year and kind != "caption":
            record["year"] = int(year.group(1))
        records.append(record)

    for line in lines:
        text = line.text
        if text.casefold() in SKIP_LINKS or text.casefold() in READ_MORE:
            continue
        if line.href and not _is_pager_href(line.href) and not split_truncation(text)[1]:
            if pending is not None:
                add(previous_kind if previous_kind == "news" else "publication", None, pending)
            pending, pending_meta = line, []
            continue
        if line.heading or (pending is None and is_heading(text)):
            continue
        if is_caption(text):
            add("caption", text, None)
            previous_kind = "caption"
            continue
        if not _looks_like_teaser(text):
            pending_meta.append(text)
            continue
        kind = "news" if previous_kind == "caption" else "publication"
        add(kind, text, pending)
        previous_kind, pending, pending_meta = kind, None, []
    if pending is not None:
        add("publication", None, pending)
    return records


def _fallback_link(url: str | None, line: Line, position: int, problems: list[Problem]) -> str | None:
    """A title line's link if it is a web URL; else the record keeps its text and the drop is recorded."""
    link, why = checked_link(url, line.href)
    why = why or (_listing_link(link, url) if link else None)
    if why:  # another scheme, not a URL at all, or back to a listing: the text lines are still the card
        problems.append(Problem(position, f"link dropped, card kept: {why}", line.text[:120]))
        return None
    return link


def _is_card(record: dict[str, Any]) -> bool:
    """A card as a listing shows one: a title link with its teaser, or a teaser Drupal trimmed."""
    return record["kind"] != "caption" and (
        bool(record.get("abstract_truncated")) or bool(record.get("url") and record.get("abstract"))
    )


def _looks_like_teaser(text: str) -> bool:
    _, truncated = split_truncation(text)
    return (
        truncated or (bool(_SENTENCE.search(text)) and len(text.split()) >= 4) or len(text.split()) >= TEASER_MIN_WORDS
    )


def _is_pager_href(href: str) -> bool:
    try:
        return "page" in parse_qs(urlsplit(href).query)
    except ValueError:
        return False


# --- pager -----------------------------------------------------------------------------------


def _pager(tree: LexborHTMLParser, url: str | None) -> dict[str, Any]:
    """Next page URL and last page number (0-based), from `pager__item`/`pager-*` or link text."""
    container = _first_in_tree(tree, PAGER_SELECTORS)
    scope = container if container is not None else tree.root
    try:
        here = urlsplit(url or "")
    except ValueError:
        here = urlsplit("")
    current = _page_param(url or "") or 0
    active = container.css_first(ACTIVE_PAGE_SELECTOR) if container is not None else None
    if active is not None:
        link = active if active.tag == "a" else active.css_first("a[href]")
        if link is not None and _page_param(link.attrs.get("href") or "") is not None:
            current = _page_param(link.attrs.get("href") or "") or 0
        elif node_text(active).isdigit():
            current = int(node_text(active)) - 1
    next_url: str | None = None
    last_page: int | None = None
    seen_pages = [current]
    for link in scope.css("a[href]") if scope is not None else []:
        href = link.attrs.get("href") or ""
        target = link_or_none(url, href)
        if target is None:  # not a URL: not a pager link either
            continue
        try:
            page_no = _page_param(target)
            target_path = urlsplit(target).path
        except ValueError:  # a malformed link (http://[::1/x) is no pager link: skipped, not fatal
            continue
        if page_no is None:
            # a pager's "first" link is the bare listing URL (page 0); elsewhere, not a pager link
            if container is None or target_path != (here.path or target_path):
                continue
            page_no = 0
        seen_pages.append(page_no)
        hints = " ".join([link.attrs.get("rel") or "", classes(link), classes(link.parent) if link.parent else ""])
        text = node_text(link)
        if "next" in hints or (not re.search(r"last|first|prev", hints) and _PAGE_LINK_NEXT.search(text)):
            if page_no > current and next_url is None:
                next_url = target
        elif "last" in hints or _PAGE_LINK_LAST.search(text):
            last_page = page_no
    if last_page is None and next_url is None and (container is not None or len(seen_pages) > 1):
        last_page = max(seen_pages)
    return {"next": next_url, "last_page": last_page}


def _first_in_tree(tree: LexborHTMLParser, selectors: tuple[str, ...]) -> LexborNode | None:
    for selector in selectors:
        node = tree.css_first(selector)
        if node is not None:
            return node
    return None


def _page_param(url: str) -> int | None:
    if "page" not in url and "%" not in url:  # no `page` key, even percent-encoded: skip the parse
        return None
    try:
        values = parse_qs(urlsplit(url).query).get("page")
        return max(0, int(values[0])) if values else None
    except ValueError:
        return None
