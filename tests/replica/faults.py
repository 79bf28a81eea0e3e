"""Faults the replica injects: what goes wrong, on which paths, and how many times.

A fault matches a request when its `path` regex is found in the request target (path plus
`?query`) and its `site` (a source name) is unset or equal; it fires `times` times (None: for
ever), the first matching fault in insertion order winning. Each kind mimics a failure a crawler
meets on the real sites:

| kind | what the client sees | knobs |
|---|---|---|
| `rate_limit` | 429 with `Retry-After` | `retry_after` (seconds, or an HTTP date string) |
| `error` | a 5xx status (a burst: `times` in a row, then OK) | `status` (500, 502, 503...) |
| `slow` | the normal page, after a delay | `delay` seconds |
| `timeout` | nothing: the server hangs, then closes the connection | `delay` (> the client's read timeout) |
| `truncate` | headers announce the whole body, half is sent, connection closed | |
| `drip` | headers at once, then the body one byte every `delay` seconds (never "timing out" a read) | `delay` |
| `redirect` | 302 to another host | `location` (default `http://offsite.example.org` + path) |
| `wrong_charset` | the UTF-8 page declared as iso-8859-1 (header and meta) | `charset` |
| `oversize` | the page padded to `size` bytes | `size` |
| `markup_changed` | the same content in a redesigned markup, without metadata | |
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

KINDS = (
    "rate_limit",
    "error",
    "slow",
    "timeout",
    "truncate",
    "drip",
    "redirect",
    "wrong_charset",
    "oversize",
    "markup_changed",
)


@dataclass
class Fault:
    kind: str
    path: str = ".*"
    site: str | None = None
    times: int | None = 1
    status: int = 503
    retry_after: float | str = 1
    delay: float | None = None  # default: 1 s when slow, 30 s when timing out
    location: str | None = None
    charset: str = "iso-8859-1"
    size: int = 6_000_000
    #: how many times it has fired so far (tests read it)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}; known: {', '.join(KINDS)}")
        if self.times is not None and self.times < 0:
            raise ValueError("Fault.times must be >= 0 or None (for ever)")
        if self.kind == "error" and not 500 <= self.status <= 599:
            raise ValueError(f"an error fault needs a 5xx status, not {self.status}")
        re.compile(self.path)
        if self.delay is None:
            self.delay = 30.0 if self.kind == "timeout" else 1.0

    def matches(self, site: str, target: str) -> bool:
        if self.site is not None and self.site != site:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        return re.search(self.path, target) is not None

    @property
    def exhausted(self) -> bool:
        return self.times is not None and self.fired >= self.times

    # readable constructors for the common cases
    @classmethod
    def rate_limited(
        cls, path: str = ".*", *, retry_after: float | str = 1, times: int | None = 1, site: str | None = None
    ) -> Fault:
        return cls("rate_limit", path, site, times, status=429, retry_after=retry_after)

    @classmethod
    def server_error(
        cls, path: str = ".*", *, status: int = 503, times: int | None = 1, site: str | None = None
    ) -> Fault:
        return cls("error", path, site, times, status=status)

    @classmethod
    def slow(cls, path: str = ".*", *, delay: float = 1.0, times: int | None = 1, site: str | None = None) -> Fault:
        return cls("slow", path, site, times, delay=delay)

    @classmethod
    def timeout(cls, path: str = ".*", *, hang: float = 30.0, times: int | None = 1, site: str | None = None) -> Fault:
        return cls("timeout", path, site, times, delay=hang)

    @classmethod
    def drip(cls, path: str = ".*", *, delay: float = 2.0, times: int | None = 1, site: str | None = None) -> Fault:
        return cls("drip", path, site, times, delay=delay)

    @classmethod
    def truncated(cls, path: str = ".*", *, times: int | None = 1, site: str | None = None) -> Fault:
        return cls("truncate", path, site, times)

    @classmethod
    def redirect_offsite(
        cls, path: str = ".*", *, location: str | None = None, times: int | None = 1, site: str | None = None
    ) -> Fault:
        return cls("redirect", path, site, times, location=location)

    @classmethod
    def wrong_charset(
        cls, path: str = ".*", *, charset: str = "iso-8859-1", times: int | None = 1, site: str | None = None
    ) -> Fault:
        return cls("wrong_charset", path, site, times, charset=charset)

    @classmethod
    def oversized(
        cls, path: str = ".*", *, size: int = 6_000_000, times: int | None = 1, site: str | None = None
    ) -> Fault:
        return cls("oversize", path, site, times, size=size)

    @classmethod
    def markup_changed(cls, path: str = ".*", *, times: int | None = None, site: str | None = None) -> Fault:
        return cls("markup_changed", path, site, times)
