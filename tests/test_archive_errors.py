"""The archive's seams with the crawl and the command line (issue 20): typed errors, one read of the manifest.

A raw/ that refuses a write during the crawl reaches the command line as an `ArchiveWriteError`
carrying the machine's errno, and the exit code (README "Exit status": 5 for a full, forbidden or
read-only folder) is chosen from that, not from the words of the crawl report. The page listing
is read from the manifest once while the file is unchanged, so `ingest --source` checks a name
against the archive without reading a large manifest a second time for the load.
"""

from __future__ import annotations

import errno
import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from pipeline.archive import Archive, FetchLog
from pipeline.cli import archive_write_failure
from pipeline.crawl.recorder import ArchiveWriter
from pipeline.crawl.report import CrawlReport
from pipeline.errors import ArchiveError, ArchiveWriteError

BODY = b"<html><body><h1>A guide to return and reintegration</h1></body></html>\n"
#: the debug line `-v` shows each time the manifest is read through (pipeline/archive.py)
READ_THROUGH = "manifest.jsonl read to its end"


@pytest.fixture
def tmpfs() -> Iterator[Callable[[Path, str], Path]]:
    """`tmpfs(path, size)`: a small real filesystem at `path` that fills up (root only), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a tmpfs (CI runs as root)")
    mounted: list[Path] = []

    def mount(path: Path, size: str) -> Path:
        path.mkdir(parents=True, exist_ok=True)
        done = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)], capture_output=True)
        if done.returncode:
            pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
        mounted.append(path)
        return path

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def _submit_page(writer: ArchiveWriter, archive: Archive, body: bytes, n: int) -> None:
    url = f"https://publications.iom.int/books/guide-{n}"
    entry = archive.entry_for(body, source="publications.iom.int", url=url, format="html-detail", status=200)
    writer.submit((body, entry), {"kind": "detail", "source": "publications.iom.int", "url": url})


def test_a_full_raw_folder_stops_the_writer_with_a_typed_error_carrying_enospc(tmp_path: Path, tmpfs) -> None:
    folder = tmpfs(tmp_path / "rawfs", "64k")
    archive = Archive(folder / "raw")
    writer = ArchiveWriter(archive, FetchLog(archive.root))
    incompressible = os.urandom(256 * 1024)  # four times the filesystem, gzip or not
    _submit_page(writer, archive, incompressible, 1)
    with pytest.raises(ArchiveWriteError) as caught:
        writer.close()
    error = caught.value
    assert isinstance(error, ArchiveError)  # still an archive error for every caller that stops on one
    assert error.errno == errno.ENOSPC and error.machine_refused
    assert str(error).startswith("archive writes stopped: ")
    # what the command line makes of it: exit 5 naming raw/ (the writer's path, or raw/ itself when the OS names none)
    found = archive_write_failure(CrawlReport([], archive_write_error=error))
    assert found is not None and found[0] == errno.ENOSPC
    assert found[1] is None or found[1].startswith(str(folder))
    # nothing after the failure is written, and the next submission is refused with the same error
    with pytest.raises(ArchiveWriteError):
        _submit_page(writer, archive, BODY, 2)


def test_a_raw_folder_broken_otherwise_is_the_crawl_s_failure_not_the_machine_s(tmp_path: Path) -> None:
    """A file where `objects/` should be: the crawl stops with the reason, but no exit 5 is claimed for it."""
    raw = tmp_path / "raw"
    raw.mkdir()
    (raw / "objects").write_text("a file where the object directory should be")
    archive = Archive(raw)
    writer = ArchiveWriter(archive, FetchLog(raw))
    _submit_page(writer, archive, BODY, 1)
    with pytest.raises(ArchiveWriteError) as caught:
        writer.close()
    assert caught.value.errno not in (errno.ENOSPC, errno.EDQUOT, errno.EACCES, errno.EPERM, errno.EROFS)
    assert not caught.value.machine_refused
    assert archive_write_failure(CrawlReport([], archive_write_error=caught.value)) is None
    assert archive_write_failure(CrawlReport([])) is None
    assert archive_write_failure(None) is None  # an offline run has no crawl report


def test_the_page_listing_is_read_once_while_the_manifest_is_unchanged(empty_archive: Path) -> None:
    archive = Archive(empty_archive)
    first = archive.put(BODY, source="a.example.org", url="https://a.example.org/1", format="html-detail")
    second = archive.put(BODY + b"2", source="a.example.org", url="https://a.example.org/2", format="html-detail")
    assert [e.page_id for e in archive.entries()] == [first.page_id, second.page_id]
    assert [e.page_id for e in archive.entries()] == [first.page_id, second.page_id]
    assert archive.manifest_reads == 1
    # an append (a crawl, another worker) is seen at once: the file changed, so it is read again
    third = archive.put(BODY + b"3", source="b.example.org", url="https://b.example.org/3", format="html-detail")
    assert [e.page_id for e in archive.entries()] == [first.page_id, second.page_id, third.page_id]
    assert archive.manifest_reads == 2
    # a manifest replaced by another file (a quarantine rewrites it whole) is read again too
    kept = archive.manifest.read_bytes().splitlines(keepends=True)[:1]
    replacement = archive.manifest.with_name("manifest.new")
    replacement.write_bytes(b"".join(kept))
    os.replace(replacement, archive.manifest)
    assert [e.page_id for e in archive.entries()] == [first.page_id]
    assert archive.manifest_reads == 3


#: a sources file declaring none of the archive's sites (on a closed port: nothing is ever crawled)
ONE_OTHER_SITE = """[crawler]
connect_timeout = 0.5
probe_timeout = 0.5
max_retries = 0

[[sources]]
name = "elsewhere.test"
base_url = "http://127.0.0.1:9"
start_urls = ["/listing"]
"""


def test_an_offline_ingest_of_a_source_only_the_archive_holds_reads_the_manifest_once(
    tmp_path: Path, seed_archive: Path, run_cli
) -> None:
    """The `--source` check and the load share one listing: `-v` shows one read of the manifest, not two."""
    sources = tmp_path / "one-other-site.toml"
    sources.write_text(ONE_OTHER_SITE, encoding="utf-8")
    name = "migrantprotection.iom.int"  # in the seed archive, not in this sources file
    done = run_cli("-v", "ingest", "--offline", "--sources", str(sources), "--source", name, timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any(line.startswith("warning: --source") and name in line for line in done.stderr.splitlines())
    reads = [line for line in done.stderr.splitlines() if READ_THROUGH in line]
    assert len(reads) == 1, reads
    loaded = run_cli("query", "SELECT DISTINCT source FROM raw_pages", "--format", "csv")
    assert loaded.stdout.split() == ["source", name], loaded.stderr
