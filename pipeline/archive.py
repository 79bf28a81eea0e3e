"""Keep the raw archive: every body stored once by content (gzip), every retrieval in a manifest.

Layout under the archive root (`raw/` by default):

    objects/ab/ab12...ef.gz   the body exactly as retrieved, gzip-compressed, named by the
                              SHA-256 of the *uncompressed* bytes (identical bodies stored once)
    manifest.jsonl            one JSON line per retrieval: source, url, format, sha256, size,
                              retrieved_at, status, headers; append-only
    manifest.rejected.jsonl   lines moved out of the manifest because they cannot be read, each
                              with its line number and the reason (likewise fetchlog.rejected.jsonl)

Writes are crash-safe: an object is written to a temporary file and renamed into place before
its manifest line is appended (and fsync'ed), so a manifest line never points at a missing
object. A run killed while appending leaves at most one torn last line, which `entries()`
skips with a warning and the next append repairs.

Every line is checked field by field when read (`entry_from_record`, `check_fetch_record`), so a
hand-edited or damaged line is skipped with its reason instead of stopping a load later;
`quarantine_lines` moves such lines into the side file so the next run reads a clean file.
Appends and that rewrite hold the file's lock (`.<name>.lock`), so neither loses the other's line.

Every object is decompressed as a stream that stops at `max_object_bytes` (64 MiB, or
`$IOM_ARCHIVE_MAX_OBJECT_BYTES`): a few kilobytes of gzip can expand to gigabytes, and an object
that expands past the cap is damage like a truncated one (`ArchiveError`), never a MemoryError.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import json
import logging
import os
import re
import tempfile
import zlib
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from pipeline.errors import ArchiveError, ConfigError
from pipeline.settings import env_names, from_environment

log = logging.getLogger(__name__)

#: what an archived body may expand to when read: well above any crawler `max_body_bytes` in use
#: (5 MB by default; every body was archived under it), far below what a worker's memory holds
MAX_OBJECT_BYTES_ENV = env_names("archive_max_object_bytes")[0]
#: bytes decompressed (and read from the object file) per step
_CHUNK = 256 * 1024

FORMATS = ("text-listing", "text-catalogue", "text-detail", "html-listing", "html-detail")
#: bodies archived for the record but not parsed into sightings
AUXILIARY_FORMATS = ("robots-txt", "sitemap-xml")


@dataclass(frozen=True, slots=True)  # slots: a run holds one per archived page
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
        return page_id_of(self.source, self.url, self.sha256)


def page_id_of(source: str, url: str | None, sha256: str) -> str:
    """The page_id of a body archived at a URL, known without its manifest line.

    A section walk names the pages it saw by URL and body hash (a 304 has no entry of its own);
    the load turns them into page_ids with this, the same formula as `ArchiveEntry.page_id`.
    """
    key = f"{source}\n{url or ''}\n{sha256}"
    return hashlib.sha256(key.encode()).hexdigest()[:16]


class ObjectStore(Protocol):
    """Where the archive keeps its bodies: immutable blobs under keys `objects/<ab>/<sha256>.gz`.

    The one thing a shared archive (object storage for workers on several machines, README "The
    raw archive beyond one disk") must provide. The contract is what object storage gives:
    `put` is atomic and durable (after it returns, every reader gets the whole blob; before, none
    gets part of it); keys are content hashes, so a blob is never rewritten with other content.
    """

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes:
        """The blob; FileNotFoundError if there is none under `key`."""
        ...

    def exists(self, key: str) -> bool: ...

    def keys(self, prefix: str) -> Iterator[str]: ...

    def where(self, key: str) -> str:
        """Where the blob is, for messages (a path, a URL)."""
        ...


class LocalStore:
    """The archive's folder on a local or network file system (the default)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def put(self, key: str, data: bytes) -> None:
        """Write to a temporary file, fsync, rename: a crash leaves the old state or the whole blob."""
        path = self.root / key
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace_file(path, data, prefix=".tmp-")  # `keys` and `object_shas` skip such files

    def get(self, key: str) -> bytes:
        return (self.root / key).read_bytes()

    def open(self, key: str) -> BinaryIO:
        """The blob as a file, read in steps by `Archive.read` (never whole into memory)."""
        return open(self.root / key, "rb")  # the caller closes it

    def exists(self, key: str) -> bool:
        return (self.root / key).exists()

    def keys(self, prefix: str) -> Iterator[str]:
        base = self.root / prefix
        if base.is_dir():
            for path in base.rglob("*"):
                if path.is_file() and not path.name.startswith(".tmp-"):
                    yield path.relative_to(self.root).as_posix()

    def where(self, key: str) -> str:
        return str(self.root / key)


def object_key(sha256: str) -> str:
    """The key of a body: two hex digits of fan-out keep folders (and object-storage listings) small."""
    return f"objects/{sha256[:2]}/{sha256}.gz"


def max_object_bytes() -> int:
    """The cap on a body read back from the archive (setting `archive_max_object_bytes`, 64 MiB).

    An environment variable rather than a parameter: the parse workers build their own `Archive`
    in other processes, and a lowered cap must reach them too.
    """
    try:
        value = int(from_environment("archive_max_object_bytes"))
    except ConfigError as exc:
        raise ArchiveError(f"{exc}: give a positive whole number of bytes") from exc
    if value <= 0:
        raise ArchiveError(f"{MAX_OBJECT_BYTES_ENV}={value!r} is not a positive whole number of bytes")
    return value


class Archive:
    def __init__(self, root: Path, blobs: ObjectStore | None = None, max_object_bytes: int | None = None) -> None:
        self.root = Path(root)
        self.objects = self.root / "objects"
        self.manifest = self.root / "manifest.jsonl"
        #: the bodies' storage; the manifest and fetch log stay files under `root` (README on sharing)
        self.blobs: ObjectStore = blobs if blobs is not None else LocalStore(self.root)
        self._max_object_bytes = max_object_bytes
        #: times the manifest was read to its end (`iter_entries` run through), for the log and the tests
        self.manifest_reads = 0
        #: the last page listing and the state of the manifest file it was read from (see `entries`)
        self._listing: tuple[tuple[int, int, int, int], list[ArchiveEntry]] | None = None

    @property
    def max_object_bytes(self) -> int:
        """What one body may expand to when read (see the module docstring)."""
        return self._max_object_bytes if self._max_object_bytes is not None else max_object_bytes()

    # -- writing ---------------------------------------------------------------------------
    def entry_for(
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
        """The manifest entry of a retrieval, before anything is written.

        Split from the write so that a crawler can know a body's name (its sha256) at once and
        leave the compression and the fsyncs to a writer thread (`store`).
        """
        if format not in FORMATS + AUXILIARY_FORMATS:
            raise ArchiveError(f"unknown page format {format!r}; known: {', '.join(FORMATS + AUXILIARY_FORMATS)}")
        when = (retrieved_at or datetime.now(UTC)).astimezone(UTC)
        return ArchiveEntry(
            source=source,
            url=url,
            format=format,
            sha256=hashlib.sha256(body).hexdigest(),
            size=len(body),
            retrieved_at=when.isoformat(timespec="seconds"),
            status=status,
            headers=dict(headers or {}),
            label=label,
        )

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
        entry = self.entry_for(
            body, source=source, url=url, format=format, retrieved_at=retrieved_at, status=status,
            headers=headers, label=label,
        )  # fmt: skip
        self.store([(body, entry)])
        return entry

    def store(self, items: Sequence[tuple[bytes, ArchiveEntry]], threads: Executor | None = None) -> None:
        """Write the bodies, then their manifest lines: a group commit.

        Every object is durable (written, fsync'ed, renamed) before the manifest names it, and the
        lines of the whole group share one append and one fsync. With `threads`, the objects are
        written in parallel: the file system then commits their fsyncs together (about six times
        fewer milliseconds per object on ext4 with eight threads than one after the other).
        """
        if threads is None:
            for body, entry in items:
                self._write_object(entry.sha256, body)
        else:
            list(threads.map(lambda item: self._write_object(item[1].sha256, item[0]), items))
        append_jsonl_many(self.manifest, [asdict(entry) for _, entry in items])

    def has_object(self, sha256: str) -> bool:
        return self.blobs.exists(object_key(sha256))

    def object_problem(self, sha256: str) -> str | None:
        """Why the stored body of `sha256` cannot be used (missing, unreadable, edited), else None.

        The whole body is read and hashed: only that tells an intact object from one whose bytes
        were swapped for another valid gzip stream.
        """
        try:
            self.read(sha256)
        except ArchiveError as exc:
            return str(exc)
        return None

    def object_shas(self) -> list[str]:
        """The sha256 named by every object file on disk, sorted (temporary files left aside)."""
        names = (key.rsplit("/", 1)[-1] for key in self.blobs.keys("objects"))
        return sorted(n[:-3] for n in names if n.endswith(".gz") and _SHA256.fullmatch(n[:-3]))

    def _write_object(self, sha: str, body: bytes) -> None:
        key = object_key(sha)
        if self.blobs.exists(key) and self.object_problem(sha) is None:
            return  # stored once; a damaged copy is replaced by the good body re-fetched now
        # mtime=0 keeps the compressed bytes reproducible for the same body
        self.blobs.put(key, gzip.compress(body, compresslevel=6, mtime=0))

    # -- reading ---------------------------------------------------------------------------
    def read(self, sha256: str) -> bytes:
        """Return the body and check it still hashes to its name.

        Decompressed step by step, never past `max_object_bytes`: an object that expands further
        (a gzip bomb, or a body swapped for a larger one) is an `ArchiveError` like any damage.
        """
        key = object_key(sha256)
        limit = self.max_object_bytes
        try:
            opener = getattr(self.blobs, "open", None)
            if opener is not None:
                with opener(key) as fh:
                    body = gunzip_bounded(iter(lambda: fh.read(_CHUNK), b""), limit)
            else:  # a store without streaming reads: the compressed blob in memory, its expansion bounded
                body = gunzip_bounded(iter([self.blobs.get(key)]), limit)
        except FileNotFoundError as exc:
            raise ArchiveError(f"archive object {sha256} is missing ({self.blobs.where(key)})") from exc
        except ExpandsTooFar as exc:
            raise ArchiveError(
                f"archive object {sha256} is unreadable: it expands past {exc.limit} bytes "
                f"(a decompression bomb or a swapped object; cap: ${MAX_OBJECT_BYTES_ENV}) ({self.blobs.where(key)})"
            ) from exc
        except (OSError, EOFError, zlib.error) as exc:  # gzip.BadGzipFile is an OSError
            raise ArchiveError(f"archive object {sha256} is unreadable: {exc}") from exc
        if hashlib.sha256(body).hexdigest() != sha256:
            raise ArchiveError(f"archive object {sha256} does not match its hash ({self.blobs.where(key)})")
        return body

    def iter_entries(self) -> Iterator[ArchiveEntry]:
        """Every manifest line in order, torn or invalid lines skipped with a warning."""
        lines = 0
        for lineno, data in read_jsonl(self.manifest):
            lines = lineno
            try:
                entry = entry_from_record(data)
            except ValueError as exc:
                log.warning("%s:%d: skipping unreadable manifest line (%s)", self.manifest, lineno, exc)
                continue
            yield entry
        self.manifest_reads += 1
        log.debug("%s read to its end (%d lines; read %d times)", self.manifest, lines, self.manifest_reads)

    def entries(self) -> list[ArchiveEntry]:
        """One entry per page (source, URL, body), the first retrieval kept.

        Read once while the manifest file is unchanged: `ingest --source` checks its names against
        this listing and the load then takes the same one, so a large manifest is not read twice.
        A manifest changed since (a crawl appended to it, a quarantine replaced it) is read again.
        """
        before = self._manifest_state()
        if before is not None and self._listing is not None and self._listing[0] == before:
            return list(self._listing[1])
        seen: dict[str, ArchiveEntry] = {}
        for entry in self.iter_entries():
            seen.setdefault(entry.page_id, entry)
        listing = list(seen.values())
        # keyed by the state seen before the read: a line appended meanwhile makes the next call read again
        self._listing = (before, listing) if before is not None else None
        return list(listing)

    def _manifest_state(self) -> tuple[int, int, int, int] | None:
        """(device, inode, size, mtime) of the manifest: any append or replacement changes it."""
        try:
            st = os.stat(self.manifest)
        except FileNotFoundError:
            return None
        return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns


class ExpandsTooFar(ValueError):
    """Compressed data that decompresses to more than the bytes allowed."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        super().__init__(f"expands past {limit} bytes")


def gunzip_bounded(chunks: Iterator[bytes], limit: int) -> bytes:
    """The gzip stream in `chunks` decompressed, or ExpandsTooFar once it passes `limit` bytes.

    No zlib call is asked for more than the bytes left under the limit (plus one, to tell "exactly
    the limit" from "more"), so memory stays near `limit` whatever the stream holds. Members are
    concatenated and zero padding after the last is ignored, as `gzip.decompress` does; other
    trailing bytes or a stream that stops before its end raise OSError / EOFError / zlib.error.
    """
    out = bytearray()
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def take(data: bytes) -> bytes:
        want = min(_CHUNK, limit - len(out) + 1)
        piece = inflater.decompress(data, want)
        out.extend(piece)
        if len(out) > limit:
            raise ExpandsTooFar(limit)
        rest = inflater.unconsumed_tail
        while not rest and not inflater.eof and len(piece) == want:  # input used up, output pending
            want = min(_CHUNK, limit - len(out) + 1)
            piece = inflater.decompress(b"", want)
            out.extend(piece)
            if len(out) > limit:
                raise ExpandsTooFar(limit)
        return inflater.unused_data if inflater.eof else rest

    padding = False
    for chunk in chunks:
        data = chunk
        while data:
            if inflater.eof:  # what follows a member: zero padding, or another member (zlib checks it)
                if padding or not data.strip(b"\0"):
                    padding = True
                    if data.strip(b"\0"):
                        raise OSError("trailing garbage after the gzip stream")
                    break
                inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
            data = take(data)
    if not inflater.eof:
        raise EOFError("compressed file ended before the end-of-stream marker was reached")
    return bytes(out)


class FetchLog:
    """Every request's outcome, append-only in `raw/fetchlog.jsonl` beside the manifest.

    It is the crawler's memory between runs: the validators (ETag, Last-Modified) of each URL
    for conditional requests, which detail pages are archived, and which listing sections were
    walked to the end (so an incremental run may stop early only after one complete walk).
    The warehouse's `fetches` table is loaded from it, and `section_walks` from its `section`
    lines: each says whether the walk read every page of its section (`walked_to_end`) and
    which bodies it saw (`walked_pages`), the evidence for withdrawing an item no longer listed.
    A section line also remembers what its cards showed (`card_fingerprints`, only those that
    differ from the section's earlier lines): a corrected title or teaser on a card is how a
    nightly run learns that a detail page it will not otherwise fetch again has changed.
    """

    def __init__(self, root: Path) -> None:
        self.path = Path(root) / "fetchlog.jsonl"

    def append(self, record: dict[str, Any]) -> None:
        append_jsonl(self.path, record)

    def append_many(self, records: Sequence[dict[str, Any]]) -> None:
        append_jsonl_many(self.path, records)

    def records(self) -> Iterator[dict[str, Any]]:
        """Every readable line in order; a line with a field of the wrong type is skipped, loudly."""
        for lineno, data in read_jsonl(self.path):
            try:
                check_fetch_record(data)
            except ValueError as exc:
                log.warning("%s:%d: skipping unreadable fetch-log line (%s)", self.path, lineno, exc)
                continue
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
                # a walk logs only the cards that look different from its section's last walks
                # (lines written before cards had fingerprints have none: nothing to compare with)
                if rec.get("card_fingerprints"):
                    state.card_fingerprints.setdefault(rec["url"], {}).update(rec["card_fingerprints"])
                continue
            if rec.get("outcome") == "fetched" and rec.get("sha256"):
                state.validators[rec["url"]] = {
                    "etag": rec.get("etag") or "",
                    "last-modified": rec.get("last_modified") or "",
                    "sha256": rec["sha256"],
                    # where the body is archived (after redirects): a 304 names that page
                    "url": rec.get("final_url") or rec["url"],
                }
                state.kinds[rec["url"]] = rec.get("kind") or ""
        return state


@dataclass
class FetchState:
    #: url -> {"etag", "last-modified", "sha256", "url" (as archived)} of its last successful fetch
    validators: dict[str, dict[str, str]] = field(default_factory=dict)
    complete_sections: set[str] = field(default_factory=set)
    #: section URL -> median cards per page on its last complete walk ("what it usually shows")
    section_cards: dict[str, float] = field(default_factory=dict)
    #: url -> kind of request (listing, detail, robots, sitemap) of its last successful fetch
    kinds: dict[str, str] = field(default_factory=dict)
    #: section URL -> {canonical card URL -> fingerprint of the card's title and teaser} as the
    #: section's walks last showed it (`pipeline.crawl.listings.card_fingerprint`)
    card_fingerprints: dict[str, dict[str, str]] = field(default_factory=dict)
    _cards_by_url: dict[str, set[str]] | None = field(default=None, init=False, repr=False, compare=False)

    def card_changed(self, url: str, fingerprint: str) -> bool:
        """Whether a card now shows a title or teaser that no section last showed for its URL.

        Compared with every section's memory, not only the walk's own: an item moved to another
        section, or a section renamed, keeps what its card said; and a site that trims one teaser
        differently in two sections does not look changed on every run. A URL never fingerprinted
        (a first run, a fetch log from before fingerprints) has not changed: there is nothing to
        refetch against. Read once per crawl, so the index is built on first use.
        """
        if self._cards_by_url is None:
            index: dict[str, set[str]] = {}
            for cards in self.card_fingerprints.values():
                for card, seen in cards.items():
                    index.setdefault(card, set()).add(seen)
            self._cards_by_url = index
        seen_before = self._cards_by_url.get(url)
        return seen_before is not None and bool(seen_before) and fingerprint not in seen_before


def append_jsonl(path: Path, record: dict[str, Any]) -> None:
    """Append one JSON line durably; repair a torn last line left by a killed writer first."""
    append_jsonl_many(path, [record])


def append_jsonl_many(path: Path, records: Sequence[dict[str, Any]]) -> None:
    """Append JSON lines with one write and one fsync; repair a torn last line first.

    A kill during the write leaves at most one torn line at the end, which the next append
    closes and every reader skips (`read_jsonl`).
    """
    if not records:
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    data = b"".join(json.dumps(r, ensure_ascii=False, sort_keys=True).encode("utf-8") + b"\n" for r in records)
    with _locked(path), open(path, "ab+") as fh:
        fh.seek(0, os.SEEK_END)
        if fh.tell() > 0:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def read_jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for every readable line; a torn or corrupt line is skipped, loudly."""
    if not path.exists():
        return
    with open(path, "rb") as fh:
        for lineno, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                data = parse_line(line)
            except ValueError as exc:
                log.warning("%s:%d: skipping unreadable line (%s)", path, lineno, exc)
                continue
            yield lineno, data


def parse_line(line: bytes) -> dict[str, Any]:
    """One JSONL line as an object, or ValueError saying why it is not one."""
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc})") from exc
    if not isinstance(data, dict):
        raise ValueError(f"not a JSON object but {type(data).__name__}")
    return data


# -- what a line must hold ---------------------------------------------------------------------

_SHA256 = re.compile(r"[0-9a-f]{64}")
_FINGERPRINT = re.compile(r"[0-9a-f]{16}")
#: ISO 8601 forms that both Python and DuckDB's TIMESTAMPTZ cast read
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}(?:[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?)?(?:Z|[+-]\d{2}:?\d{2})?")
_INT32 = 2**31 - 1
_ENTRY_REQUIRED = frozenset({"source", "url", "format", "sha256", "size", "retrieved_at"})
_ENTRY_FIELDS = _ENTRY_REQUIRED | {"status", "headers", "label"}


def entry_from_record(data: dict[str, Any]) -> ArchiveEntry:
    """A manifest line as an entry, every field of its type, or ValueError naming the field.

    Checked where the line is read because the load converts fields in bulk: one `retrieved_at`
    that DuckDB cannot cast would fail the whole batch, run after run.
    """
    unknown = sorted(set(data) - _ENTRY_FIELDS)
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}")
    missing = sorted(_ENTRY_REQUIRED - set(data))
    if missing:
        raise ValueError(f"missing field(s) {', '.join(missing)}")
    _text(data, "source")
    _text(data, "format")
    _optional(data, "url", str)
    _optional(data, "label", str)
    _sha256(data, "sha256", required=True)
    _integer(data, "size", 0, 2**63 - 1, required=True)
    _time(data, "retrieved_at", required=True)
    _integer(data, "status", 100, 599)
    headers = data.get("headers") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in headers.items()):
        raise ValueError(f"headers: {headers!r} is not an object of strings")
    return ArchiveEntry(**{**data, "headers": dict(headers)})


def check_fetch_record(data: dict[str, Any]) -> None:
    """Raise ValueError naming the field when a fetch-log line would not load or steer the crawler."""
    _text(data, "url")
    if data.get("kind") == "section":
        if not isinstance(data.get("complete"), bool):
            raise ValueError(f"complete: {data.get('complete')!r} is not true or false")
        _integer(data, "pages", 0, _INT32)
        _integer(data, "run_id", 0, _INT32)
        value = data.get("cards_median")
        if value is not None and (isinstance(value, bool) or not isinstance(value, int | float)):
            raise ValueError(f"cards_median: {value!r} is not a number")
        # what a walk saw, for withdrawals (lines written before walks recorded them lack these)
        _optional(data, "walked_to_end", bool)
        for name in ("source", "pager_param"):
            _optional(data, name, str)
        _time(data, "started_at")
        _time(data, "finished_at")
        pages = data.get("walked_pages")
        if pages is not None:
            if not isinstance(pages, list):
                raise ValueError(f"walked_pages: {pages!r} is not a list")
            for page in pages:
                if not isinstance(page, dict) or not isinstance(page.get("url"), str):
                    raise ValueError(f"walked_pages: {page!r} is not an object with a url")
                _sha256(page, "sha256", required=True)
        cards = data.get("card_fingerprints")  # lines written before cards had fingerprints lack it
        if cards is not None:
            if not isinstance(cards, dict):
                raise ValueError(f"card_fingerprints: {cards!r} is not an object")
            for card, fingerprint in cards.items():
                if not card.strip() or not (isinstance(fingerprint, str) and _FINGERPRINT.fullmatch(fingerprint)):
                    raise ValueError(f"card_fingerprints: {card!r}: {fingerprint!r} is not a 16-digit hex fingerprint")
        return
    for name in ("fetch_id", "source", "kind", "final_url", "outcome", "reason", "etag", "last_modified",
                 "content_type", "format"):  # fmt: skip
        _optional(data, name, str)
    _sha256(data, "sha256")
    _integer(data, "status", 0, 999)
    for name in ("attempts", "elapsed_ms", "run_id"):
        _integer(data, name, 0, _INT32)
    _optional(data, "conditional", bool)
    _time(data, "fetched_at")


def _text(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name}: {value!r} is not a non-empty string")


def _optional(data: dict[str, Any], name: str, kind: type) -> None:
    value = data.get(name)
    if value is not None and not isinstance(value, kind):
        raise ValueError(f"{name}: {value!r} is not a {kind.__name__}")


def _sha256(data: dict[str, Any], name: str, *, required: bool = False) -> None:
    value = data.get(name)
    if (value is not None or required) and not (isinstance(value, str) and _SHA256.fullmatch(value)):
        raise ValueError(f"{name}: {value!r} is not a SHA-256 hex digest")


def _integer(data: dict[str, Any], name: str, low: int, high: int, *, required: bool = False) -> None:
    value = data.get(name)
    if value is None and not required:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{name}: {value!r} is not a whole number from {low} to {high}")


def _time(data: dict[str, Any], name: str, *, required: bool = False) -> None:
    value = data.get(name)
    if value is None and not required:
        return
    try:
        if not isinstance(value, str) or not _ISO_TIME.fullmatch(value):
            raise ValueError
        datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"{name}: {value!r} is not an ISO 8601 time") from None


# -- quarantine ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class BadLine:
    """A line moved out of the manifest or the fetch log, and why."""

    file: str
    lineno: int
    text: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file} line {self.lineno}: {self.reason}"


def rejected_path(path: Path) -> Path:
    """Side file of a JSONL file: `manifest.jsonl` -> `manifest.rejected.jsonl`."""
    return path.with_name(f"{path.stem}.rejected{path.suffix}")


def quarantine_lines(path: Path, check: Callable[[dict[str, Any]], object]) -> list[BadLine]:
    """Move the complete lines that do not parse or that `check` refuses into the side file.

    Moved rather than skipped: a skipped line would stop, or be reported by, every later run
    until someone edits the file by hand; moved with its reason, the next run reads a clean file
    and the line is kept beside it. A torn last line (no newline: a writer killed mid-line, or
    one still writing) is left alone; the next append ends it and a later quarantine takes it.
    """
    if not path.exists():
        return []
    with _locked(path):
        lines = path.read_bytes().split(b"\n")
        tail = lines.pop()  # b"" when the file ends with a newline
        keep: list[bytes] = []
        bad: list[BadLine] = []
        for lineno, line in enumerate(lines, 1):
            reason = None
            if line.strip():
                try:
                    check(parse_line(line))
                except ValueError as exc:
                    reason = str(exc)
            if reason is None:
                keep.append(line)
            else:
                bad.append(BadLine(path.name, lineno, line.decode("utf-8", "backslashreplace"), reason))
        if not bad:
            return []
        now = datetime.now(UTC).isoformat(timespec="seconds")
        for item in bad:  # evidence first: a crash before the rewrite leaves the line in both files
            append_jsonl(
                rejected_path(path),
                {"file": item.file, "line": item.lineno, "text": item.text, "reason": item.reason,
                 "quarantined_at": now},
            )  # fmt: skip
        _replace_file(path, b"".join(line + b"\n" for line in keep) + tail)
    return bad


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold the lock of a JSONL file (a separate `.<name>.lock`: the file itself gets replaced)."""
    lock = path.with_name(f".{path.name}.lock")
    lock.parent.mkdir(parents=True, exist_ok=True)
    with open(lock, "a") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _replace_file(path: Path, content: bytes, prefix: str | None = None) -> None:
    """Write beside `path`, fsync, rename over it: readers see the old file or the new one whole."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=prefix or f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(content)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
