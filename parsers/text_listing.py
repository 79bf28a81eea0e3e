"""Parse a text rendering of a Drupal resource listing: one card teaser per line.

The rendering keeps no markup, so a line is classified by what it looks like:
- page chrome: the skip link, navigation and pager lines (`parsers.vocab`, en/es/fr), and a
  lone section heading (a few capitalised words with no sentence punctuation, e.g. a
  resource-type name);
- a photo caption: a line carrying a photo credit (`| ©`); it belongs to a news card;
- a news teaser: the line right after a caption (the article's untrimmed lead sentence);
- everything else: one card's teaser, trimmed with `...` when it was cut; the card is of the kind
  the listing's URL section names (`kinds.kind_of_url`: `/spotlight/articles` lists news,
  `/learning/webinars` events), a publication otherwise: a section lists its own items.

A text that is not a listing (a detail page, a catalogue, a page of chrome) is refused with
`ShapeError` and the shape it has (`parsers.detect`), never split into a record per line.
"""

from __future__ import annotations

import re

from parsers.base import ParsedPage, ShapeError, decode_text, split_truncation
from parsers.detect import shape
from parsers.kinds import kind_of_url
from parsers.text_detail import is_chrome
from parsers.vocab import SKIP_LINKS

__all__ = ["SKIP_LINKS", "is_caption", "is_heading", "parse"]

_CAPTION = re.compile(r"\|\s*(?:©|\(c\)|photo:)", re.IGNORECASE)
_SENTENCE_END = re.compile(r"[.!?…:;,]\s*$")
HEADING_MAX_WORDS = 4
HEADING_MAX_CHARS = 40


def is_heading(line: str) -> bool:
    """A lone section heading: short, capitalised, and not a sentence."""
    words = line.split()
    return (
        0 < len(words) <= HEADING_MAX_WORDS
        and len(line) <= HEADING_MAX_CHARS
        and line[0].isupper()
        and not _SENTENCE_END.search(line)
        and not any(ch.isdigit() for ch in line)
    )


def is_caption(line: str) -> bool:
    return bool(_CAPTION.search(line))


def parse(body: bytes, url: str | None = None) -> ParsedPage:
    text = decode_text(body)
    found, why = shape(text, url)
    if found != "listing":
        raise ShapeError(f"not a listing: {'looks like a ' + found + ' page' if found else 'unknown shape'} ({why})")
    page = ParsedPage()
    section = kind_of_url(url)
    listed = section[0] if section else "publication"
    previous_kind: str | None = None
    headings: list[str] = []
    for raw_line in text.splitlines():
        line = " ".join(raw_line.split())
        if not line:
            continue
        if is_chrome(line):
            continue
        if is_heading(line):
            headings.append(line)
            continue
        if is_caption(line):
            kind = "caption"
        elif previous_kind == "caption":
            kind = "news"
        else:
            kind = listed
        abstract, truncated = split_truncation(line)
        page.records.append(
            {
                "position": len(page.records) + 1,
                "kind": kind,
                "title": None,
                "abstract": abstract,
                "abstract_truncated": truncated,
                "url": None,
            }
        )
        previous_kind = kind
    if not page.records:
        raise ShapeError("no listing lines found: the page holds only chrome")
    page.page_info["headings"] = headings
    return page
