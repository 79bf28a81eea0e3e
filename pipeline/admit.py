"""Admit a page supplied by hand (`archive add`) into the archive, or refuse it with one reason.

The crawler only archives what a declared site served within its limits; a file handed in by an
operator gets the same door: a declared source, the crawler's size limit, and text that reads as
a page. Without it an empty, binary or mis-encoded file, or a typo in the site's name, entered
the archive for good and failed only at the next ingest.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.errors import PageRefused
from pipeline.sources import SourcesFile

#: a charset a page declares for itself: <meta charset=...>, http-equiv, or an XML declaration
_DECLARED = re.compile(
    rb"""(?:<meta[^>]+charset\s*=\s*["']?\s*|<\?xml[^>]+encoding\s*=\s*["'])([a-zA-Z0-9_.:-]+)""", re.IGNORECASE
)
#: control characters no text page holds (tab, newlines and form feed are allowed)
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")


def admit_page(path: Path, source: str, sources: SourcesFile, sources_file: Path) -> bytes:
    """The file's bytes, once it passes every check; PageRefused naming the first that fails."""
    declared = [s.name for s in sources.sources]
    if source not in declared:
        raise PageRefused(f"source {source!r} is not declared in {sources_file} (declared: {', '.join(declared)})")
    limit = sources.crawler.max_body_bytes
    size = path.stat().st_size
    if size > limit:  # checked before reading: the file may be far larger than memory allows
        raise PageRefused(f"{size} bytes is over the {limit}-byte limit (crawler.max_body_bytes in {sources_file})")
    body = path.read_bytes()
    check_text(body)
    return body


def check_text(body: bytes) -> str:
    """The page as text, or PageRefused: empty, binary, undecodable, or without a letter."""
    if not body.strip():
        raise PageRefused("empty file: no text")
    nul = body.find(b"\x00")
    if nul >= 0:
        raise PageRefused(f"binary content: NUL byte at byte {nul}")
    try:
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        text = _declared_decode(body, f"not UTF-8 ({exc.reason} at byte {exc.start})")
    controls = len(_CONTROL.findall(text))
    if controls > max(8, len(text) // 1000):
        raise PageRefused(f"binary content: {controls} control characters")
    if not any(c.isalpha() for c in text):
        raise PageRefused("no text: not a single letter in the file")
    return text


def _declared_decode(body: bytes, why: str) -> str:
    match = _DECLARED.search(body[:4096])
    if match is None:
        raise PageRefused(f"undecodable text: {why} and no charset declared")
    charset = match.group(1).decode("ascii")
    try:
        return body.decode(charset)
    except LookupError:
        raise PageRefused(f"undecodable text: {why}; declared charset {charset!r} is unknown") from None
    except UnicodeDecodeError as exc:
        raise PageRefused(f"undecodable text: {why}, nor {charset} as declared ({exc.reason})") from None
