"""Parse a text rendering of a Drupal resource listing: one card teaser per line.

The rendering keeps no markup, so a line is classified by what it looks like:
- page chrome: the skip link, in any of the interface languages, and a lone section heading
  (a few capitalised words with no sentence punctuation, e.g. a resource-type name);
- a photo caption: a line carrying a photo credit (`| ©`); it belongs to a news card;
- a news teaser: the line right after a caption (the article's untrimmed lead sentence);
- everything else: one publication card's teaser, trimmed with `...` when it was cut.
"""

from __future__ import annotations

import re

from parsers.base import ParsedPage, ParseError, decode_text, split_truncation

#: Drupal's skip link as printed by the themes of the three sites (interface en/es/fr).
SKIP_LINKS = frozenset(
    {"skip to main content", "pasar al contenido principal", "aller au contenu principal"}
)

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
    page = ParsedPage()
    previous_kind: str | None = None
    headings: list[str] = []
    for raw_line in text.splitlines():
        line = " ".join(raw_line.split())
        if not line:
            continue
        if line.casefold() in SKIP_LINKS:
            continue
        if is_heading(line):
            headings.append(line)
            continue
        if is_caption(line):
            kind = "caption"
        elif previous_kind == "caption":
            kind = "news"
        else:
            kind = "publication"
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
        raise ParseError("no listing lines found: the page holds only chrome")
    page.page_info["headings"] = headings
    return page
