"""Admit a page supplied by hand (`archive add`) into the archive, or refuse it with one reason.

The crawler only archives what a declared site served within its limits; a file handed in by an
operator gets the same door: a declared source, the crawler's size limit, and text that reads as
a page. Without it an empty, binary or mis-encoded file, or a typo in the site's name, entered
the archive for good and failed only at the next ingest.
"""

from __future__ import annotations

import os
import re
import stat
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
    body = read_page_file(path, sources.crawler.max_body_bytes, sources_file)
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


#: what `archive add` calls a file that is not a regular one
_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    """Why a file of this mode is no page: its kind, or None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kind = next((name for test, name in _KINDS if test(mode)), "not a regular file")
    return f"{kind}, not a regular file: only a page saved as a file is archived"


def read_page_file(path: Path, limit: int, sources_file: Path) -> bytes:
    """The bytes of a page handed in as a file, never more than `limit`; PageRefused otherwise.

    A FIFO blocks a reader for ever and /dev/zero never ends, and both report a size of 0: so the
    kind is checked before opening, the file opened without blocking and checked again (it may
    have been swapped meanwhile), and at most `limit` + 1 bytes read whatever the size said.
    """
    too_big = f"over the {limit}-byte limit (crawler.max_body_bytes in {sources_file})"
    try:
        before = os.stat(path)
    except FileNotFoundError:
        raise PageRefused("no such file") from None
    except OSError as exc:
        raise PageRefused(f"cannot be read: {exc.strerror or exc}") from None
    if why := _not_regular(before.st_mode):
        raise PageRefused(why)
    if before.st_size > limit:  # before reading: the file may be far larger than memory allows
        raise PageRefused(f"{before.st_size} bytes is {too_big}")
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise PageRefused(f"cannot be read: {exc.strerror or exc}") from None
    try:
        if why := _not_regular(os.fstat(fd).st_mode):
            raise PageRefused(why)
        chunks: list[bytes] = []
        size = 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise PageRefused(f"cannot be read: {exc.strerror or exc}") from None
    finally:
        os.close(fd)
    if size > limit:  # it grew while read
        raise PageRefused(f"more than {limit} bytes is {too_big}")
    return b"".join(chunks)
