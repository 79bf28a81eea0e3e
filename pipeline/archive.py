"""Keep the raw archive: every body stored once by content (gzip), every retrieval in a manifest.

Layout under the archive root (`raw/` by default):

    objects/ab/ab12...ef.gz   the body exactly as retrieved, gzip-compressed, named by the
                              SHA-256 of the *uncompressed* bytes (identical bodies stored once)
    manifest.jsonl            one JSON line per retrieval: source, url, format, sha256, size,
                              retrieved_at, status, headers; append-only

Writes are crash-safe: an object is written to a temporary file and renamed into place before
its manifest line is appended (and fsync'ed), so a manifest line never points at a missing
object. A run killed while appending leaves at most one torn last line, which `entries()`
skips with a warning and the next append repairs.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pipeline.errors import ArchiveError

log = logging.getLogger(__name__)

FORMATS = ("text-listing", "text-catalogue", "text-detail", "html-listing", "html-detail")
#: bodies archived for the record but not parsed into sightings
AUXILIARY_FORMATS = ("robots-txt", "sitemap-xml")


@dataclass(frozen=True)
class ArchiveEntry:
    source: str
    url: str | None
    format: str
    sha256: str
    size: int
    retrieved_at: str  # ISO 8601, UTC
    status: int | None = None
    headers: dict[str, str] = field(default_factory=dict)
    label: str | None = None  # e.g. the file name a seed dump was supplied under

    @property
    def page_id(self) -> str:
        """Stable id of one page: the same body at the same URL of the same source."""
        key = f"{self.source}\n{self.url or ''}\n{self.sha256}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.manifest = self.root / "manifest.jsonl"

    # -- writing ---------------------------------------------------------------------------
    def put(
        self,
        body: bytes,
        *,
        source: str,
        url: str | None,
        format: str,
        retrieved_at: datetime | None = None,
        status: int | None = None,
        headers: dict[str, str] | None = None,
        label: str | None = None,
    ) -> ArchiveEntry:
        """Store a body (once per content) and record this retrieval in the manifest."""
        if format not in FORMATS + AUXILIARY_FORMATS:
            raise ArchiveError(f"unknown page format {format!r}; known: {', '.join(FORMATS + AUXILIARY_FORMATS)}")
        sha = hashlib.sha256(body).hexdigest()
        self._write_object(sha, body)
        when = (retrieved_at or datetime.now(UTC)).astimezone(UTC)
        entry = ArchiveEntry(
            source=source,
            url=url,
            format=format,
            sha256=sha,
            size=len(body),
            retrieved_at=when.isoformat(timespec="seconds"),
            status=status,
            headers=dict(headers or {}),
            label=label,
        )
        self._append(entry)
        return entry

    def has_object(self, sha256: str) -> bool:
        return self._object_path(sha256).exists()

    def _object_path(self, sha256: str) -> Path:
        return self.objects / sha256[:2] / f"{sha256}.gz"

    def _write_object(self, sha: str, body: bytes) -> None:
        path = self._object_path(sha)
        if path.exists():
            return
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as fh:
                # mtime=0 keeps the compressed bytes reproducible for the same body
                fh.write(gzip.compress(body, compresslevel=6, mtime=0))
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def _append(self, entry: ArchiveEntry) -> None:
        append_jsonl(self.manifest, asdict(entry))

    # -- reading ---------------------------------------------------------------------------
    def read(self, sha256: str) -> bytes:
        """Return the body and check it still hashes to its name."""
        path = self._object_path(sha256)
        try:
            body = gzip.decompress(path.read_bytes())
        except FileNotFoundError as exc:
            raise ArchiveError(f"archive object {sha256} is missing ({path})") from exc
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise ArchiveError(f"archive object {sha256} is unreadable: {exc}") from exc
        if hashlib.sha256(body).hexdigest() != sha256:
            raise ArchiveError(f"archive object {sha256} does not match its hash ({path})")
        return body

    def iter_entries(self) -> Iterator[ArchiveEntry]:
        """Every manifest line in order, torn or invalid lines skipped with a warning."""
        for lineno, data in read_jsonl(self.manifest):
            try:
                yield ArchiveEntry(**data)
            except TypeError as exc:
                log.warning("%s:%d: skipping unreadable manifest line (%s)", self.manifest, lineno, exc)

    def entries(self) -> list[ArchiveEntry]:
        """One entry per page (source, URL, body), the first retrieval kept."""
        seen: dict[str, ArchiveEntry] = {}
        for entry in self.iter_entries():
            seen.setdefault(entry.page_id, entry)
        return list(seen.values())


class FetchLog:
    """Every request's outcome, append-only in `raw/fetchlog.jsonl` beside the manifest.

    It is the crawler's memory between runs: the validators (ETag, Last-Modified) of each URL
    for conditional requests, which detail pages are archived, and which listing sections were
    walked to the end (so an incremental run may stop early only after one complete walk).
    The warehouse's `fetches` table is loaded from it.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "fetchlog.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record)

    def records(self) -> Iterator[dict[str, Any]]:
        for _lineno, data in read_jsonl(self.path):
            yield data

    def state(self) -> FetchState:
        state = FetchState()
        for rec in self.records():
            if rec.get("kind") == "section":
                if rec.get("complete"):
                    state.complete_sections.add(rec["url"])
                    if rec.get("cards_median"):
                        state.section_cards[rec["url"]] = float(rec["cards_median"])
                else:  # the latest walk decides: an unfinished one means walk it all again
                    state.complete_sections.discard(rec["url"])
                continue
            if rec.get("outcome") == "fetched" and rec.get("sha256"):
                state.validators[rec["url"]] = {
                    "etag": rec.get("etag") or "",
                    "last-modified": rec.get("last_modified") or "",
                    "sha256": rec["sha256"],
                }
        return state


@dataclass
class FetchState:
    #: url -> {"etag", "last-modified", "sha256"} of its last successful fetch
    validators: dict[str, dict[str, str]] = field(default_factory=dict)
    complete_sections: set[str] = field(default_factory=set)
    #: section URL -> median cards per page on its last complete walk ("what it usually shows")
    section_cards: dict[str, float] = field(default_factory=dict)


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line durably; repair a torn last line left by a killed writer first."""
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, ensure_ascii=False, sort_keys=True)
    with open(path, "ab+") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write(line.encode("utf-8") + b"\n")
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every readable line; a torn or corrupt line is skipped, loudly."""
    if not path.exists():
        return
    with open(path, encoding="utf-8", errors="replace") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as exc:
                log.warning("%s:%d: skipping unreadable line (%s)", path, lineno, exc)
                continue
            if isinstance(data, dict):
                yield lineno, data
            else:
                log.warning("%s:%d: skipping line that is not an object", path, lineno)
