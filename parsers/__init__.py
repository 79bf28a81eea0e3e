"""Page parsers, one module per page format; pure functions of the page bytes.

`PARSERS` maps an archive format name to its parse function. A new format is one module and
one line here.
"""

from __future__ import annotations

from collections.abc import Callable

from parsers import html_detail, html_listing, text_catalogue, text_detail, text_listing
from parsers.base import ParsedPage, ParseError, Problem, ShapeError

Parser = Callable[[bytes, str | None], ParsedPage]

PARSERS: dict[str, Parser] = {
    "text-listing": text_listing.parse,
    "text-catalogue": text_catalogue.parse,
    "text-detail": text_detail.parse,
    "html-listing": html_listing.parse,
    "html-detail": html_detail.parse,
}

__all__ = ["PARSERS", "ParseError", "ParsedPage", "Parser", "Problem", "ShapeError"]
