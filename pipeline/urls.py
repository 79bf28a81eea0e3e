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
