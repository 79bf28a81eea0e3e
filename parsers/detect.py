"""Recognise what a text rendering is (listing, catalogue, detail, news) from its shape alone.

`archive add --format auto` stores a page under the format this returns, and each text parser
asks it before reading, so a detail page fed as a listing is refused with the reason instead of
being split into a record per line. The tests are on structure, stated for any page of the three
sites (SOURCES.md 2-4), not on any page's words:

- catalogue: entries anchored on a `YEAR/NN pages` metadata line;
- detail: a field label line (`Number of Pages`, `Type`, `Año`...), an attachment table header,
  the cover's alt text (`2021, IOM, <title>`), or the title printed twice at the top;
- listing: card teasers (whole sentences, or cut with `...`) and nothing else but a heading at
  the top, and no label; and evidence that they are cards, not prose paragraphs: two or more
  long teasers trimmed with `...`, a skip link or pager line, or a `?page=` URL;
- news or detail: a title-like first line followed by prose (the URL's path tells news apart);
- a page of one item, whatever it shows (a bookstore book with nothing but its abstract, a
  seminar page that opens with its dates): the URL names one item (`kinds.is_item_url`; no
  `?page=`) and the page shows fewer than two long trimmed teasers, or the
  page prints two field labels of an event, course or initiative, or a span of dates above its
  prose, or it is a page of the sites (a skip link) with prose and no cards;
- anything else is `None`, with the reason.

What kind of page a detail-shaped page is (publication, news, event, course, initiative, about)
is the detail parser's to say (`kinds.py`); `detect_format` names it in its reason.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

from parsers.base import ParsedPage, ParseError, decode_text, split_truncation, url_path
from parsers.kinds import is_date_range, is_item_url, kind_of_labels, kind_of_url
from parsers.text_detail import (
    _ALT_YEAR,
    PROSE_MIN_SENTENCE_WORDS,
    ends_sentence,
    is_caption,
    is_chrome,
    is_title_like,
    label_key,
    looks_like_prose,
)
from parsers.text_detail import parse as parse_text_detail
from parsers.vocab import ATTACHMENT_HEADERS, NEWS_PATH, PAGER_LINE, SKIP_LINKS

_CATALOGUE_META = re.compile(r"^\s*\d{4}\s*/\s*\d+\s*pages?\b", re.IGNORECASE)
#: lines looked at; the shape shows at the top of a page
HEAD_LINES = 400
HEADING_MAX_WORDS = 4
#: a teaser Drupal trimmed is cut at a few hundred characters (the seeds: 31 words and more);
#: a shorter line ending with '...' is prose trailing off
CUT_TEASER_MIN_WORDS = 20
#: pager links printed as lines of their own
PAGER_WORDS = frozenset(
    {
        "next", "previous", "first", "last", "siguiente", "anterior", "primero", "último", "suivant", "précédent",
        "première", "dernière", "next ›", "‹ previous", "« first", "last »", "siguiente ›", "‹ anterior",
        "« primero", "último »", "suivant ›", "‹ précédent", "« première", "dernière »",
    }
)  # fmt: skip

FORMAT_OF = {"listing": "text-listing", "catalogue": "text-catalogue", "detail": "text-detail", "news": "text-detail"}


def shape(text: str, url: str | None = None) -> tuple[str | None, str]:
    """(shape, reason): shape is listing, catalogue, detail, news or None (unknown)."""
    raw = [" ".join(line.split()) for line in text.splitlines()[: HEAD_LINES * 4]]
    lines = [line for line in raw if line][:HEAD_LINES]
    if sum(1 for line in lines if _CATALOGUE_META.match(line)) >= 1:
        return "catalogue", "has 'YEAR/NN pages' entry lines"
    content = [line for line in lines if not is_chrome(line)]
    if not content or all(_is_heading(line) for line in content):
        return None, "only chrome on the page (skip link, navigation, headings), no content"
    news = bool(NEWS_PATH.search(url_path(url)))
    labels = [line for line in content if label_key(line) is not None]
    if labels:
        return ("news" if news else "detail"), f"field labels ({', '.join(dict.fromkeys(labels[:3]))})"
    if any(line.rstrip(" :").casefold() in ATTACHMENT_HEADERS for line in content):
        return ("news" if news else "detail"), "an attachment table"
    if any(_ALT_YEAR.match(line) for line in content[:8]):
        return ("news" if news else "detail"), "a cover alt text 'YEAR, ORG, title'"
    if len(content) >= 2 and content[0] == content[1] and not looks_like_prose(content[0]):
        return ("news" if news else "detail"), "the title printed twice"
    one_item = _one_item(content, lines, url, _paragraph_blocks(raw))
    if one_item:
        return ("news" if news else "detail"), one_item
    first = content[0]
    teasers = [n for n, line in enumerate(content) if _is_teaser(line)]
    if teasers and _cut_short(content[-1]) and len(content) - 1 not in teasers:
        teasers.append(len(content) - 1)
    others = [n for n, line in enumerate(content) if n not in set(teasers)]
    cut = [n for n in teasers if split_truncation(content[n])[1]]
    # a listing is its cards: any other line is a heading at the top (before or after the
    # first card); a detail page opens with its title instead
    card_lines = teasers and all(n < 2 and _is_heading(content[n]) for n in others) and (cut or _is_teaser(first))
    if card_lines:
        evidence = _card_evidence(lines, [content[n] for n in cut], url)
        if evidence:
            return "listing", f"{len(teasers)} card teasers, {len(cut)} cut with '...'; {evidence}"
    if is_title_like(first) and any(looks_like_prose(line) for line in content[1:]):
        if news or any(is_caption(line) for line in content[1:3]):
            return "news", "a title, an image caption and paragraphs"
        return "detail", "a title followed by paragraphs"
    if card_lines:
        return None, (
            f"{len(teasers)} paragraph(s) of prose but no evidence of cards (at most one long teaser cut with "
            "'...', no skip link or pager, no ?page= URL): prose is not a listing"
        )
    return None, "no known shape: not a listing (card teasers), a catalogue, a detail or a news page"


def _one_item(content: list[str], lines: list[str], url: str | None, blocks: int = 0) -> str | None:
    """What shows that the page is one item's own page although it may show no title; None otherwise.

    Why: an item page may print nothing but prose (a bookstore book with only its abstract, an
    about page, a seminar page that opens with its dates), which the tests above leave unknown.
    The evidence is the page's own: its URL names one item (`kinds.is_item_url`: not a section, a
    category or a page of a listing), unless the page shows two or more long teasers trimmed with
    '...', which only a listing prints; or it prints two field labels of an
    event, a course or an initiative; or a span of dates above its first paragraph; or it is a
    page of the sites (Drupal's skip link) whose content is paragraphs of prose set apart by blank
    lines (a listing prints its cards one per line) with no sign of cards (trimmed teasers, a pager).
    """
    if not any(looks_like_prose(line) or is_title_like(line) for line in content):
        return None
    trimmed = [line for line in content if split_truncation(line)[1]]
    long_trimmed = [line for line in trimmed if len(line.split()) >= CUT_TEASER_MIN_WORDS]
    if is_item_url(url) and len(long_trimmed) < 2:  # a page of trimmed teasers lists, whatever its URL
        found = kind_of_url(url)
        return f"the page of one item ({found[1] if found else 'a node path'})"
    labels = kind_of_labels(content)
    if labels:
        return labels[1]
    opening = next((n for n, line in enumerate(content) if looks_like_prose(line)), len(content))
    span = next((line for line in content[:opening] if is_date_range(line)), None)
    if span:
        return f"a span of dates above the text ({span!r})"
    skip = any(line.casefold() in SKIP_LINKS for line in lines)
    pager = any(_is_listing_chrome(line) and line.casefold() not in SKIP_LINKS for line in lines)
    if skip and blocks >= 2 and not trimmed and not pager and not _has_pager_param(url):
        return "a page of the site (skip link) with paragraphs of prose and no cards"
    return None


def _paragraph_blocks(raw: list[str]) -> int:
    """Paragraphs of prose that a blank line sets apart from what follows them."""
    return sum(1 for n, line in enumerate(raw[:-1]) if not raw[n + 1] and looks_like_prose(line))


def _card_evidence(lines: list[str], cut: list[str], url: str | None) -> str | None:
    """What shows that these paragraphs are a listing's cards and not prose; None when nothing does.

    Why: any paragraph that ends a sentence reads as a teaser, so an email, a README or one long
    line of prose was taken for a listing and each paragraph became an invented sighting. A
    listing shows its cards by what Drupal does to them: several teasers trimmed with '...' at
    the same length, or the page around them (a skip link, a pager, a results count), or the
    listing's own URL (a `?page=` pager parameter).
    """
    trimmed = [line for line in cut if len(line.split()) >= CUT_TEASER_MIN_WORDS]
    if len(trimmed) >= 2:
        return f"{len(trimmed)} long teasers trimmed with '...'"
    chrome = [line for line in lines if _is_listing_chrome(line)]
    if chrome:
        return f"listing chrome ({chrome[0]!r})"
    if _has_pager_param(url):
        return "a pager URL (?page=)"
    return None


def _is_listing_chrome(line: str) -> bool:
    """A skip link, a pager ("Next ›", "Page 2 of 9", "1 2 3") or a results count; a lone number is not one."""
    folded = line.casefold().strip(" :")
    if folded in SKIP_LINKS or folded in PAGER_WORDS:
        return True
    return bool(PAGER_LINE.match(line)) and not line.strip(" .").isdigit()


def _has_pager_param(url: str | None) -> bool:
    if not url:
        return False
    try:
        return "page" in parse_qs(urlsplit(url).query)
    except ValueError:
        return False


def _is_teaser(line: str) -> bool:
    """A card's teaser is cut with '...' or is a whole sentence; a photo caption belongs to a card."""
    words = len(line.split())
    return (
        split_truncation(line)[1]
        or (words >= PROSE_MIN_SENTENCE_WORDS and ends_sentence(line))
        or is_caption(line)
    )


def _cut_short(line: str) -> bool:
    """A page's last line that is a teaser cut part way by the rendering itself (a page saved or
    excerpted part way through its last card: "... making cities much more diverse places in w"):
    as long as a trimmed teaser, with neither an end nor a '...'. Only the last line: anywhere
    else such a line is prose that goes on."""
    return len(line.split()) >= CUT_TEASER_MIN_WORDS and not ends_sentence(line) and not split_truncation(line)[1]


def _is_heading(line: str) -> bool:
    return len(line.split()) <= HEADING_MAX_WORDS and not split_truncation(line)[1]


def detect_format(body: bytes, url: str | None = None) -> tuple[str | None, str]:
    """(archive format, reason) for a supplied page: text dumps by their shape, HTML by the shape of
    its visible text. Raises ParseError for what is not text at all (empty, binary, undecodable)."""
    head = body[:2048].lstrip().lower()
    if head.startswith((b"<!doctype html", b"<html", b"<?xml")) or b"<body" in body[:65536].lower():
        from parsers.html_common import main_scope, parse_html, visible_lines  # lazy: selectolax

        tree = parse_html(body)
        text = "\n".join(line.text for line in visible_lines(main_scope(tree)))
        found, why = shape(text, url)
        if found is None:
            return None, why
        fmt = "html-listing" if found == "listing" else "html-detail"
        return fmt, _with_kind(fmt, body, url, f"HTML; {why}")
    found, why = shape(decode_text(body), url)
    if found is None:
        return None, why
    return FORMAT_OF[found], _with_kind(FORMAT_OF[found], body, url, why)


def _with_kind(fmt: str, body: bytes, url: str | None, why: str) -> str:
    """The reason, led by the kind of page the detail parser makes of it ("event page: URL path
    section /seminars/; ..."), so `archive add` says what the page will load as."""
    if not fmt.endswith("-detail"):
        return why
    try:
        parsed = _detail_parser(fmt)(body, url)
    except ParseError:
        return why
    if not parsed.records:
        return why
    return f"{parsed.page_info.get('kind') or parsed.records[0]['kind']}; {why}"


def _detail_parser(fmt: str) -> Callable[[bytes, str | None], ParsedPage]:
    """The detail parser module itself, not `parsers.PARSERS`: the package imports the listing
    parsers, which import this module, so asking the package would close an import circle."""
    if fmt == "html-detail":
        from parsers.html_detail import parse as parse_html_detail  # lazy: selectolax

        return parse_html_detail
    return parse_text_detail
