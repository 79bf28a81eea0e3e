"""Shared vocabulary of the parsers: what a parse returns and how it fails.

A parser is a pure function `parse(body: bytes, url: str | None) -> ParsedPage`. It returns plain
dicts (validated later, once, where records enter the warehouse), lists the records it had to
give up on as `Problem`s, and raises `ParseError` only when the page as a whole is unusable.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any
from urllib.parse import urljoin, urlparse, urlsplit

import charset_normalizer


class ParseError(Exception):
    """The page as a whole cannot be parsed; the message says why in one line."""


@dataclass(frozen=True)
class Problem:
    """A record the parser found but could not read; it goes to `rejects`, never away."""

    position: int | None
    reason: str
    excerpt: str = ""


@dataclass(frozen=True)
class Line:
    """One line of visible text; `href` is set when the whole line is one link's text.

    Text dumps give plain lines; HTML gives lines with their link and heading flags. Both go
    through the same readers (`text_detail.extract`, `text_listing`), so unknown markup still
    gives the fields the text rules find.
    """

    text: str
    href: str | None = None
    heading: bool = False


class ShapeError(ParseError):
    """The page is not of the shape this format expects (a detail page fed as a listing...).

    It costs the page like any ParseError, and it is also a layout alert: either the format was
    chosen wrongly or the site changed what it prints.
    """


@dataclass
class ParsedPage:
    records: list[dict[str, Any]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    #: facts about the page itself (pager, detected layout, heading), for the run summary
    page_info: dict[str, Any] = field(default_factory=dict)


def absolute(base: str | None, href: str | None) -> str | None:
    """A link made absolute against the page's URL (as is when the page's URL is unknown)."""
    if not href:
        return None
    href = href.strip()
    if not base:
        return href
    if _PLAIN_HREF.fullmatch(href) and "/." not in href.partition("?")[0]:
        parts = _base_parts(base)
        if parts is not None:  # what urljoin returns for such a link, without its cost
            prefix, path = parts
            return prefix + (path + href if href[0] == "?" else href)
    return urljoin(base, href)


#: links whose join with an http(s) page URL is a concatenation: a path from the root (no `//`
#: start, no `;` parameters, no fragment, no character urljoin strips; dot segments are ruled
#: out by the caller) with a non-empty query or none, or a query alone (pager links `?page=2`)
_PLAIN_HREF = re.compile(r"/(?!/)[A-Za-z0-9_~%!$&'()*+,=:@./-]*(?:\?[!-\"$-~]+)?|\?[!-\"$-~]+")


@lru_cache(maxsize=64)
def _base_parts(base: str) -> tuple[str, str] | None:
    """(scheme://netloc, path) of an http(s) page URL without `;` parameters, else None."""
    try:
        parts = urlparse(base)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.params:
        return None
    return f"{parts.scheme}://{parts.netloc}", parts.path


def link_or_none(base: str | None, href: str | None) -> str | None:
    """`absolute` and `web_link`, but a link that is not a web URL (`http://[::1/x`, `mailto:`) gives None.

    For secondary links (pager, editions, PDFs): one broken link must not cost the record, and a
    link a crawler cannot fetch or a catalogue should not be handed is no link at all.
    A card's or page's own URL uses `absolute` and `web_link`, whose ValueError costs only that card.
    """
    try:
        link = absolute(base, href)
        return web_link(link) if link else None
    except ValueError:
        return None


def checked_link(base: str | None, href: str | None) -> tuple[str | None, str | None]:
    """(the web URL, None), or (None, why the link was dropped); (None, None) when there is no link.

    For links a record keeps beside its text (PDFs, a fallback card's title link): the record
    stays, the link goes, and the reason goes to `rejects` through a `Problem`.
    """
    try:
        link = absolute(base, href)
        return (web_link(link), None) if link else (None, None)
    except ValueError as exc:
        return None, str(exc)


#: the only schemes a record URL may have: what a crawler fetches and a catalogue can link to
WEB_SCHEMES = frozenset({"http", "https"})
#: what a browser strips around a URL (C0 controls and space) and removes inside it (tab, newline)
_C0_OR_SPACE = "".join(map(chr, range(0x21)))
_TAB_OR_NEWLINE = str.maketrans("", "", "\t\n\r")
#: characters no link may hold once read: controls, DEL, C1, and U+FFFD, the HTML parser's
#: stand-in for a NUL byte in an attribute
_LINK_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\ufffd]")


#: an http(s) URL of printable ASCII with a plain host name: a web URL as it stands (the check's
#: fast path; a quarter of a listing card's parse and validation went to the full reading)
_PLAIN_WEB = re.compile(r"[hH][tT][tT][pP][sS]?://[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*(?::[0-9]{1,5})?(?:[/?#][!-~]*)?")


class NotWebLink(ValueError):
    """A link that is a URL but not a web one (`javascript:`, `data:`, `file:`, `vbscript:`, no host).

    The record loses the link, not itself: its title and teaser are still what the page shows.
    """


def web_link(url: str) -> str:
    """The absolute link as a browser reads it, when it is an http(s) URL with a host.

    Why: a card's link becomes `sightings.url` and then the identifier every export hands to
    catalogues and reference managers; a `javascript:` or `data:` link there is a stored script.
    The scheme is read the way browsers read it (WHATWG URL: controls and spaces around the link
    stripped, tabs and newlines inside removed, case ignored), so ` Java<tab>Script:` and an
    entity-encoded `&#106;avascript:` (the HTML parser has decoded it) are caught too.

    Raises NotWebLink for another scheme or a missing host (drop the link, keep the record), and
    ValueError for what is not a URL at all, a control character or a NUL left in it, or a
    malformed host (the card is unreadable: it costs that card, as any broken card).
    """
    if _PLAIN_WEB.fullmatch(url):  # nearly every link: printable ASCII, http(s), a plain host
        return url
    cleaned = url.strip(_C0_OR_SPACE).translate(_TAB_OR_NEWLINE)
    bad = _LINK_CONTROL.search(cleaned)
    if bad:
        what = "U+FFFD (a NUL or undecodable byte in the page)" if bad.group() == "\ufffd" else "a control character"
        raise ValueError(f"link holds {what} at character {bad.start()}: not a URL")
    parts = urlsplit(cleaned)
    host = parts.hostname  # ValueError for a malformed IPv6 host or port
    scheme = parts.scheme.lower()
    if scheme not in WEB_SCHEMES:
        named = f"{scheme[:20]}: link" if scheme else "relative link without a page URL"
        raise NotWebLink(f"{named}, not a web (http/https) URL")
    if not host:
        raise NotWebLink(f"{scheme}: link without a host, not a web URL")
    return cleaned


def url_path(url: str | None) -> str:
    """The path of a URL; "" when there is none or it is not a URL."""
    try:
        return urlsplit(url).path if url else ""
    except ValueError:
        return ""


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
#: NUL bytes a text page may hold (in its first 4 KiB) before it counts as binary. Why not 0: one
#: stray NUL in one link of a hostile or damaged page made the whole listing unreadable; HTML
#: parsers read a NUL as U+FFFD (WHATWG), and the link holding it costs only its card (`web_link`).
#: Binary files and UTF-16 text hold NULs by the hundred.
MAX_NULS = 8


def decode_text(body: bytes, declared: str | None = None) -> str:
    """Bytes to text, refusing what is not text instead of producing mojibake records.

    UTF-8 is tried first (all three sites serve it); then a declared charset other than UTF-8;
    then the charset detected from the bytes (charset-normalizer), because pages omit their
    charset or declare one they do not use (a Latin-1 page calling itself UTF-8).
    """
    if not body or not body.strip():
        raise ParseError("empty page: no text to parse")
    nuls = body.count(b"\x00", 0, 4096)
    if nuls > MAX_NULS:
        raise ParseError(f"binary content: {nuls} NUL bytes in the first 4 KiB, not a text page")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if nuls:  # a stray NUL is tolerated in text, not in bytes that are not even UTF-8
            raise ParseError(f"binary content: NUL bytes in a body that is not UTF-8 (byte {exc.start})") from exc
        guessed = _decode_declared(body, declared) or _decode_detected(body)
        if guessed is None:
            raise ParseError(f"undecodable text: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        text = guessed
    controls = len(_CONTROL.findall(text, 0, 4096))
    if controls > 8:
        raise ParseError(f"binary content: {controls} control characters in the first 4 KiB")
    return unicodedata.normalize("NFC", text)


def _decode_declared(body: bytes, declared: str | None) -> str | None:
    if not declared or declared.lower().replace("_", "-") in ("utf-8", "utf8"):
        return None
    try:
        return body.decode(declared)
    except (LookupError, UnicodeDecodeError, ValueError):
        return None


def _decode_detected(body: bytes) -> str | None:
    """The detector's guess; when it reads the page as some Latin script, Windows-1252 instead.

    Why: the sites write en/es/fr, and on a short page the detector finds Baltic or Central
    European code pages as clean as Western ones (ç read as į); WHATWG makes windows-1252 the
    default for such pages too. A Cyrillic or Greek guess is kept.
    """
    best = charset_normalizer.from_bytes(body).best()
    if best is None:
        return None
    guessed = str(best)
    if all(ch.isascii() or unicodedata.name(ch, "").startswith("LATIN") or not ch.isalpha() for ch in guessed):
        try:
            return body.decode("cp1252")
        except UnicodeDecodeError:
            pass
    return guessed


_MD_BOLD = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_LATEX_SYMBOL = re.compile(r"\\(?:bullet|textbullet|item|cdot|ldots|newline)\b\s*")
_LATEX_WRAP = re.compile(r"\\[a-zA-Z]+\{([^{}]*)\}")
_STRAY_MARKS = re.compile(r"(?<!\w)\*{1,3}(?!\w)")


def clean_markup(text: str) -> tuple[str, bool]:
    """Remove markdown and LaTeX residue left by the text rendering; say whether any was found."""
    cleaned = _MD_BOLD.sub(r"\2", text)
    cleaned = _LATEX_WRAP.sub(r"\1", cleaned)
    cleaned = _LATEX_SYMBOL.sub("", cleaned)
    cleaned = _STRAY_MARKS.sub("", cleaned)
    return cleaned, cleaned != text


_TRUNCATION = re.compile(r"\s*(?:\.\.\.|…)(?:\s*(?:Read more|Leer más|Lire la suite|En savoir plus))?\s*$", re.I)


def split_truncation(text: str) -> tuple[str, bool]:
    """Strip a trailing ellipsis marker (Drupal's trimmed teaser) and report whether it was there."""
    match = _TRUNCATION.search(text)
    if not match:
        return text, False
    return text[: match.start()].rstrip(" ,;:"), True
