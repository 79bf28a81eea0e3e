"""Canonical URLs: one spelling for one page, so sightings of the same node compare equal.

w3lib does the RFC work (percent-encoding, query order, fragments); on top of it the rules
specific to these Drupal sites: the interface-language prefix (/en/, /es/, /fr/) re-renders the
same node, the pager parameter and tracking parameters do not name a different item, and http
and https serve the same content.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

from w3lib.url import canonicalize_url, url_query_cleaner

from parsers.base import WEB_SCHEMES, NotWebLink, web_link

#: interface prefixes that re-render the same node (SOURCES.md section 5)
INTERFACE_PREFIXES = ("en", "es", "fr", "ar")
TRACKING_PARAMS = (
    "utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content", "gclid", "fbclid", "mc_cid", "mc_eid",
)  # fmt: skip
_PREFIX = re.compile(r"^/(?:{})(?=/|$)".format("|".join(INTERFACE_PREFIXES)))


#: an http(s) URL with a plain host and path (no port, query, fragment, dot, `%` or `//`): its
#: canonical spelling is its own, with the rules below; w3lib's work is skipped for it (a fifth
#: of a listing card's validation went there)
_PLAIN = re.compile(r"https?://([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)((?:/[A-Za-z0-9_-]+)*/?)")


def canonical_url(url: str | None, *, drop_params: tuple[str, ...] = ()) -> str | None:
    """The canonical spelling of an item URL; None stays None."""
    if not url:
        return None
    plain = _PLAIN.fullmatch(url)
    if plain is not None:
        path = _PREFIX.sub("", plain.group(2)) or "/"
        return "https://" + plain.group(1).lower() + (path.rstrip("/") if len(path) > 1 else path)
    return _canonical(url, drop_params)


def _canonical(url: str, drop_params: tuple[str, ...]) -> str:
    cleaned = url_query_cleaner(url, TRACKING_PARAMS + drop_params, remove=True)
    cleaned = canonicalize_url(cleaned, keep_fragments=False)
    parts = urlsplit(cleaned)
    path = _PREFIX.sub("", parts.path) or "/"
    if len(path) > 1:
        path = path.rstrip("/")
    scheme = "https" if parts.scheme in ("http", "https") else parts.scheme
    return urlunsplit((scheme, parts.netloc.lower(), path, parts.query, ""))


def web_url(url: str | None) -> str | None:
    """The URL if it may be a record URL (http or https with a host, read as a browser reads it), else None.

    Why: the one rule for every URL the warehouse stores or an export hands out (`sightings.url`,
    PDF, detail and edition links, `dc:identifier`, BibTeX `url`, RIS `UR`): a `javascript:`,
    `data:`, `file:` or `vbscript:` link is a script or a local file in a catalogue or a
    reference manager. The parsers apply the same rule (`parsers.base.web_link`) and record what
    they drop; this is the check behind them, for models, exports and citations.
    """
    if not url:
        return None
    try:
        return web_link(url)
    except ValueError:
        return None


def url_refusal(url: str) -> str | None:
    """Why `url` may not be a record URL, in a few words; None when it may."""
    try:
        web_link(url)
    except NotWebLink as exc:
        return str(exc)
    except ValueError as exc:
        return f"not a URL: {exc}"
    return None


#: SQL for the same rule over a column of a warehouse an older version built, which may hold what
#: the parsers now drop: an http(s) URL with a host, no space before it, no control character or
#: U+FFFD in it (RE2 syntax; a DuckDB string literal passes backslashes through)
WEB_URL_SQL = (
    r"CASE WHEN regexp_full_match({0}, '(?i)https?://[^/?#\s@]*[^/?#\s@:][^\x00-\x1f\x7f-\x9f\x{{fffd}}]*', 's') "
    "THEN {0} END"
)


def web_url_sql(column: str) -> str:
    """SQL giving `column` when it is a web URL (see WEB_URL_SQL), else NULL."""
    return WEB_URL_SQL.format(column)


__all__ = ["WEB_SCHEMES", "canonical_url", "url_refusal", "web_url", "web_url_sql"]
