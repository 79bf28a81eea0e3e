"""The raw archive: bodies stored once by content (gzip), every retrieval in an append-only manifest."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest

from pipeline.archive import Archive
from pipeline.errors import ArchiveError
from tests.conftest import REPO_RAW

BODY = "Skip to main content\n\nA card teaser about migration in Mesoamérica...\n".encode()


def object_files(archive: Archive) -> list:
    return sorted(p for p in archive.objects.rglob("*") if p.is_file())


def manifest_lines(archive: Archive) -> list[dict]:
    return [json.loads(line) for line in archive.manifest.read_text(encoding="utf-8").splitlines()]


def test_put_stores_the_body_gzipped_under_the_sha256_of_the_uncompressed_bytes(empty_archive):
    archive = Archive(empty_archive)
    entry = archive.put(
        BODY, source="site.example.org", url="https://site.example.org/en/resources?page=1", format="text-listing"
    )
    sha = hashlib.sha256(BODY).hexdigest()
    assert entry.sha256 == sha
    assert entry.size == len(BODY)
    (path,) = object_files(archive)
    assert path == empty_archive / "objects" / sha[:2] / f"{sha}.gz"
    stored = path.read_bytes()
    assert stored != BODY
    assert gzip.decompress(stored) == BODY
    (line,) = manifest_lines(archive)
    assert line["sha256"] == sha
    assert line["size"] == len(BODY)
    assert (line["source"], line["url"], line["format"]) == (
        "site.example.org",
        "https://site.example.org/en/resources?page=1",
        "text-listing",
    )
    assert archive.read(sha) == BODY


def test_identical_bodies_are_stored_once_and_every_retrieval_is_recorded(empty_archive):
    archive = Archive(empty_archive)
    first = archive.put(BODY, source="a.example.org", url="https://a.example.org/1", format="text-listing")
    second = archive.put(BODY, source="b.example.org", url="https://b.example.org/1", format="text-listing")
    other = archive.put(
        BODY + b"Another card...\n", source="a.example.org", url="https://a.example.org/2", format="text-listing"
    )
    assert first.sha256 == second.sha256 != other.sha256
    assert len(object_files(archive)) == 2
    assert len(manifest_lines(archive)) == 3
    assert [e.page_id for e in archive.entries()] == [first.page_id, second.page_id, other.page_id]
    assert len({first.page_id, second.page_id, other.page_id}) == 3


def test_the_same_page_retrieved_again_is_one_page_the_first_retrieval_kept(empty_archive):
    archive = Archive(empty_archive)
    day1 = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
    archive.put(BODY, source="a.example.org", url="https://a.example.org/1", format="text-listing", retrieved_at=day1)
    archive.put(
        BODY,
        source="a.example.org",
        url="https://a.example.org/1",
        format="text-listing",
        retrieved_at=day1 + timedelta(1),
    )
    assert len(manifest_lines(archive)) == 2
    (entry,) = archive.entries()
    assert entry.retrieved_at == "2025-03-01T12:00:00+00:00"


def test_retrieval_time_is_recorded_in_utc(empty_archive):
    archive = Archive(empty_archive)
    local = datetime(2025, 3, 1, 14, 30, tzinfo=timezone(timedelta(hours=2)))
    entry = archive.put(BODY, source="a.example.org", url=None, format="text-listing", retrieved_at=local)
    assert entry.retrieved_at == "2025-03-01T12:30:00+00:00"


def test_compressed_objects_are_reproducible(tmp_path):
    one, two = Archive(tmp_path / "one"), Archive(tmp_path / "two")
    one.put(BODY, source="a.example.org", url=None, format="text-listing")
    two.put(BODY, source="a.example.org", url=None, format="text-listing")
    assert object_files(one)[0].read_bytes() == object_files(two)[0].read_bytes()
    assert not [p for p in one.objects.rglob(".tmp-*")], "temporary files left behind"


def test_read_refuses_an_object_whose_bytes_do_not_match_its_hash(empty_archive):
    archive = Archive(empty_archive)
    entry = archive.put(BODY, source="a.example.org", url=None, format="text-listing")
    (path,) = object_files(archive)
    path.write_bytes(gzip.compress(BODY.replace(b"migration", b"emigration")))
    with pytest.raises(ArchiveError, match=f"{entry.sha256} does not match its hash"):
        archive.read(entry.sha256)


def test_read_refuses_an_object_that_is_not_gzip(empty_archive):
    archive = Archive(empty_archive)
    entry = archive.put(BODY, source="a.example.org", url=None, format="text-listing")
    object_files(archive)[0].write_bytes(b"not gzip at all")
    with pytest.raises(ArchiveError, match=f"{entry.sha256} is unreadable"):
        archive.read(entry.sha256)


def test_read_of_a_missing_object_names_it(empty_archive):
    archive = Archive(empty_archive)
    entry = archive.put(BODY, source="a.example.org", url=None, format="text-listing")
    object_files(archive)[0].unlink()
    with pytest.raises(ArchiveError, match=f"{entry.sha256} is missing"):
        archive.read(entry.sha256)


def test_torn_last_manifest_line_is_skipped_with_a_warning_and_repaired_by_the_next_put(empty_archive, caplog):
    archive = Archive(empty_archive)
    first = archive.put(BODY, source="a.example.org", url="https://a.example.org/1", format="text-listing")
    with open(archive.manifest, "ab") as fh:  # a writer killed half-way through its line
        fh.write(b'{"format": "text-listing", "headers": {}, "label": null, "retrieved_at": "2025-')
    with caplog.at_level(logging.WARNING, logger="pipeline.archive"):
        assert [e.page_id for e in archive.entries()] == [first.page_id]
    assert any("manifest.jsonl:2" in r.getMessage() and "skipping" in r.getMessage() for r in caplog.records)

    second = archive.put(
        b"Another page...\n", source="a.example.org", url="https://a.example.org/2", format="text-listing"
    )
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="pipeline.archive"):
        assert [e.page_id for e in archive.entries()] == [first.page_id, second.page_id]
    assert len(caplog.records) == 1  # the torn line is still skipped, alone on its line
    assert archive.manifest.read_bytes().endswith(b"\n")


def test_committed_archive_holds_the_five_seeds_intact():
    # read-only use of the repository's raw/: every object must still match its manifest line
    archive = Archive(REPO_RAW)
    entries = archive.entries()
    assert sorted(e.label[:3] for e in entries) == ["000", "001", "002", "003", "004"]
    for entry in entries:
        body = archive.read(entry.sha256)
        assert len(body) == entry.size
        assert hashlib.sha256(body).hexdigest() == entry.sha256
    formats = {e.label[:3]: (e.format, e.source) for e in entries}
    assert formats == {
        "000": ("text-listing", "returnandreintegration.iom.int"),
        "001": ("text-listing", "migrantprotection.iom.int"),
        "002": ("text-listing", "migrantprotection.iom.int"),
        "003": ("text-listing", "returnandreintegration.iom.int"),
        "004": ("text-catalogue", "publications.iom.int"),
    }


def test_cli_archive_add_stores_a_file_byte_for_byte(tmp_path, empty_archive, run_cli):
    dump = tmp_path / "005_listing.txt"
    dump.write_bytes(BODY)
    result = run_cli(
        "archive",
        "add",
        str(dump),
        "--source",
        "migrantprotection.iom.int",
        "--url",
        "https://migrantprotection.iom.int/en/resources/report",
        "--format",
        "text-listing",
        "--retrieved-at",
        "2025-03-01T12:00:00+00:00",
    )
    assert result.returncode == 0, result.stderr
    sha = hashlib.sha256(BODY).hexdigest()
    assert sha in result.stdout and "005_listing.txt" in result.stdout
    archive = Archive(empty_archive)
    (entry,) = archive.entries()
    assert (entry.sha256, entry.label, entry.retrieved_at) == (sha, "005_listing.txt", "2025-03-01T12:00:00+00:00")
    assert archive.read(sha) == BODY


def test_cli_archive_add_refuses_an_unknown_format(tmp_path, empty_archive, run_cli):
    dump = tmp_path / "thing.pdf"
    dump.write_bytes(b"%PDF-1.4")
    result = run_cli("archive", "add", str(dump), "--source", "a.example.org", "--format", "pdf-thing")
    assert result.returncode == 2
    assert "pdf-thing" in result.stderr
    assert not (empty_archive / "manifest.jsonl").exists()


class _MemoryStore:
    """A second ObjectStore, kept in a dict: what an object-storage backend would plug in."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.puts = 0

    def put(self, key: str, data: bytes) -> None:
        self.puts += 1
        self.blobs[key] = data

    def get(self, key: str) -> bytes:
        try:
            return self.blobs[key]
        except KeyError:
            raise FileNotFoundError(key) from None

    def exists(self, key: str) -> bool:
        return key in self.blobs

    def keys(self, prefix: str) -> Iterator[str]:
        return iter([k for k in self.blobs if k.startswith(prefix)])

    def where(self, key: str) -> str:
        return f"memory://{key}"


def test_the_archive_needs_only_its_object_store_interface(tmp_path: Path) -> None:
    """Bodies go through `Archive.blobs` alone: another store holds them, the folder gets none."""
    store = _MemoryStore()
    archive = Archive(tmp_path / "raw", blobs=store)
    body = b"<html><body>une page</body></html>"
    entry = archive.put(body, source="s", url="https://example.org/a", format="html-listing")
    archive.put(body, source="s", url="https://example.org/b", format="html-listing")
    sha = hashlib.sha256(body).hexdigest()
    # the key layout is the folder's: objects/<two hex digits>/<sha256>.gz, the body gzip-compressed
    assert list(store.blobs) == [f"objects/{sha[:2]}/{sha}.gz"]
    assert gzip.decompress(store.blobs[f"objects/{sha[:2]}/{sha}.gz"]) == body
    assert store.puts == 1  # stored once per content
    assert not (tmp_path / "raw" / "objects").exists()
    assert archive.read(entry.sha256) == body
    assert archive.object_shas() == [sha]
    assert [e.url for e in archive.entries()] == ["https://example.org/a", "https://example.org/b"]
    store.blobs[f"objects/{sha[:2]}/{sha}.gz"] = gzip.compress(b"other bytes")
    problem = archive.object_problem(sha)
    assert problem is not None and "does not match its hash" in problem and "memory://" in problem
    del store.blobs[f"objects/{sha[:2]}/{sha}.gz"]
    assert "is missing" in (archive.object_problem(sha) or "")
