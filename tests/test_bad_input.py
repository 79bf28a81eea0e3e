"""Bad input in the archive: each failure is recorded against its page and the run goes on.

The bad pages are added to a temporary copy of the archive (through `Archive.put`, the CLI's
`archive add`, or a manifest line written by hand for a format the CLI would refuse).
"""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
from pathlib import Path

import duckdb
import pytest

from pipeline.archive import Archive
from tests.conftest import REPO_RAW, copy_seed_archive, ingest_archive

SOURCE = "bad-input.test"
SEED_SIGHTINGS = 103


def seed_004() -> bytes:
    archive = Archive(REPO_RAW)
    (entry,) = [e for e in archive.entries() if e.label.startswith("004_")]
    return archive.read(entry.sha256)


ENTRY_6_META = b"2020/51 pages E-ISBN 978-92-9068-838-9 English, Armenian Available for PDF download\n"

#: seed 004 cut right after the metadata line of its 6th entry, as a download cut short would be
CUT_CATALOGUE = seed_004()[: seed_004().index(ENTRY_6_META) + len(ENTRY_6_META)]
#: a catalogue holding nothing but one truncated entry
TRUNCATED_ONLY = b"Guide for Reintegration of Returnees in Armenia\n\n2020/51 pages E-ISBN 978-92-9068-838-9 Engl"
BINARY = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01\x00" + bytes(range(256)) * 8
UNKNOWN_FORMAT_BODY = b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj << /Type /Catalog >> endobj\n"


def write_manifest_line(root: Path, body: bytes, **fields: object) -> str:
    """Store `body` as an archive object and append a manifest line by hand; return its sha256."""
    sha = hashlib.sha256(body).hexdigest()
    path = root / "objects" / sha[:2] / f"{sha}.gz"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(body))
    line = {
        "source": SOURCE,
        "url": None,
        "sha256": sha,
        "size": len(body),
        "retrieved_at": "2025-03-01T12:00:00+00:00",
        "status": None,
        "headers": {},
        "label": None,
        **fields,
    }
    with open(root / "manifest.jsonl", "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
    return sha


def put(root: Path, body: bytes, name: str, fmt: str) -> str:
    """Add a page the normal way; return its page_id."""
    return Archive(root).put(body, source=SOURCE, url=f"https://{SOURCE}/{name}", format=fmt, label=name).page_id


def add_bad_pages(root: Path, *, with_cut_catalogue: bool = True) -> dict[str, str]:
    """Add the bad pages; return label -> page_id."""
    ids = {
        "empty.txt": put(root, b"", "empty.txt", "text-listing"),
        "binary.bin": put(root, BINARY, "binary.bin", "text-listing"),
        "truncated-only.txt": put(root, TRUNCATED_ONLY, "truncated-only.txt", "text-catalogue"),
    }
    write_manifest_line(root, UNKNOWN_FORMAT_BODY, format="pdf-thing", url=f"https://{SOURCE}/thing.pdf", label="thing")
    (unknown,) = [e for e in Archive(root).entries() if e.format == "pdf-thing"]
    ids["thing"] = unknown.page_id
    if with_cut_catalogue:
        ids["cut-catalogue.txt"] = put(root, CUT_CATALOGUE, "cut-catalogue.txt", "text-catalogue")
    return ids


#: label -> what the page-level failure must say
PAGE_FAILURES = {
    "empty.txt": "empty page",
    "binary.bin": "binary content",
    "thing": "unknown page format 'pdf-thing'",
    "truncated-only.txt": "no abstract (truncated entry?)",
}


@pytest.fixture(scope="module")
def mixed(tmp_path_factory) -> tuple[Path, dict[str, str], object]:
    """The seed archive plus every kind of bad page, ingested once: (db path, page ids, summary)."""
    base = tmp_path_factory.mktemp("mixed")
    raw = copy_seed_archive(base / "raw")
    ids = add_bad_pages(raw)
    db = base / "warehouse.duckdb"
    return db, ids, ingest_archive(raw, db)


@pytest.fixture
def mixed_con(mixed):
    con = duckdb.connect(str(mixed[0]), read_only=True)
    yield con
    con.close()


def test_run_goes_on_past_bad_pages(mixed):
    _, _, summary = mixed
    assert summary.status == "partial"
    assert summary.pages_failed == len(PAGE_FAILURES)
    assert summary.pages_parsed == 5 + 1  # the seeds and the cut catalogue


def test_good_pages_are_loaded_in_full_beside_bad_ones(mixed, mixed_con):
    _, ids, _ = mixed
    seeds = mixed_con.execute("SELECT count(*) FROM sightings WHERE source <> ?", [SOURCE]).fetchone()[0]
    assert seeds == SEED_SIGHTINGS
    cut = mixed_con.execute(
        "SELECT position, title FROM sightings WHERE page_id = ? ORDER BY position", [ids["cut-catalogue.txt"]]
    ).fetchall()
    assert [p for p, _ in cut] == [1, 2, 3, 4, 5]
    assert cut[4][1] == "Trafficking in Persons: Victim Identification and Assistance (Training Guide)"


@pytest.mark.parametrize("label", sorted(PAGE_FAILURES))
def test_each_bad_page_is_failed_with_its_reason(mixed, mixed_con, label):
    _, ids, _ = mixed
    page_id = ids[label]
    status, error, count = mixed_con.execute(
        "SELECT parse_status, parse_error, sightings_count FROM raw_pages WHERE page_id = ?", [page_id]
    ).fetchone()
    assert status == "failed"
    assert PAGE_FAILURES[label] in error
    assert count == 0
    rejects = mixed_con.execute(
        "SELECT stage, reason FROM rejects WHERE page_id = ? AND position IS NULL", [page_id]
    ).fetchall()
    assert len(rejects) == 1
    assert rejects[0][0] == "parse"
    assert PAGE_FAILURES[label] in rejects[0][1]
    assert mixed_con.execute("SELECT count(*) FROM sightings WHERE page_id = ?", [page_id]).fetchone()[0] == 0


def test_truncated_catalogue_entry_is_a_parse_reject_of_its_page(mixed, mixed_con):
    _, ids, _ = mixed
    rows = mixed_con.execute(
        "SELECT stage, position, reason, excerpt FROM rejects WHERE page_id = ?", [ids["cut-catalogue.txt"]]
    ).fetchall()
    assert len(rows) == 1
    stage, position, reason, excerpt = rows[0]
    assert (stage, position) == ("parse", 6)
    assert "truncated" in reason
    assert excerpt.startswith("Guide for Reintegration of Returnees in Armenia")
    status = mixed_con.execute("SELECT parse_status FROM raw_pages WHERE page_id = ?", [ids["cut-catalogue.txt"]])
    assert status.fetchone()[0] == "parsed"


def test_rejects_belong_to_the_run_and_to_known_pages(mixed_con):
    orphans = mixed_con.execute(
        "SELECT count(*) FROM rejects WHERE page_id NOT IN (SELECT page_id FROM raw_pages) OR run_id <> 1"
    ).fetchone()[0]
    assert orphans == 0
    (rejects_added,) = mixed_con.execute("SELECT rejects_added FROM runs WHERE run_id = 1").fetchone()
    assert rejects_added == mixed_con.execute("SELECT count(*) FROM rejects").fetchone()[0]


def test_second_run_over_bad_pages_changes_nothing(tmp_path, seed_archive, ingest, table_rows):
    add_bad_pages(seed_archive)
    db = tmp_path / "w.duckdb"
    ingest(seed_archive, db)
    con = duckdb.connect(str(db), read_only=True)
    before = {t: table_rows(con, t) for t in ("raw_pages", "sightings", "rejects")}
    con.close()
    summary = ingest(seed_archive, db)
    assert (summary.status, summary.pages_parsed, summary.pages_failed, summary.rejects_added) == ("ok", 0, 0, 0)
    con = duckdb.connect(str(db), read_only=True)
    after = {t: table_rows(con, t) for t in ("raw_pages", "sightings", "rejects")}
    assert con.execute("SELECT count(*) FROM runs").fetchone()[0] == 2
    con.close()
    assert after == before


def test_archive_of_only_bad_pages_is_a_failed_run(tmp_path, empty_archive, ingest):
    add_bad_pages(empty_archive, with_cut_catalogue=False)
    db = tmp_path / "w.duckdb"
    summary = ingest(empty_archive, db)
    assert summary.status == "failed"
    assert (summary.pages_parsed, summary.pages_failed) == (0, 4)
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    assert con.execute("SELECT DISTINCT parse_status FROM raw_pages").fetchall() == [("failed",)]
    con.close()


# -- records that fail validation -----------------------------------------------------------

INVALID_CATALOGUE = b"""\
A Valid Entry

2019/40 pages English Available for PDF download

A valid abstract.

An Entry From Before The Organisation Existed

1800/40 pages English Available for PDF download

Its abstract.

An Entry Without Pages

2019/0 pages English Available for PDF download

Its abstract.
"""


def test_record_failing_validation_is_a_reject_naming_the_field(tmp_path, empty_archive, ingest):
    page_id = put(empty_archive, INVALID_CATALOGUE, "invalid.txt", "text-catalogue")
    db = tmp_path / "w.duckdb"
    summary = ingest(empty_archive, db)
    assert summary.status == "ok"
    assert [(page_id in f, "record 2" in f, "record 3" in f) for f in summary.failures] == [
        (True, True, False),
        (True, False, True),
    ]
    con = duckdb.connect(str(db), read_only=True)
    rejects = con.execute(
        "SELECT stage, position, reason, excerpt, record->>'title' FROM rejects WHERE page_id = ? ORDER BY position",
        [page_id],
    ).fetchall()
    sightings = con.execute("SELECT position, title FROM sightings").fetchall()
    con.close()
    assert [(r[0], r[1]) for r in rejects] == [("validate", 2), ("validate", 3)]
    assert rejects[0][2].startswith("year:") and "1800" in rejects[0][2]
    assert rejects[1][2].startswith("page_count:") and "0" in rejects[1][2]
    assert [r[4] for r in rejects] == ["An Entry From Before The Organisation Existed", "An Entry Without Pages"]
    assert all(r[3] for r in rejects)
    assert sightings == [(1, "A Valid Entry")]


# -- the archive itself damaged -------------------------------------------------------------


def seed_object(raw: Path, seed: str) -> tuple[str, Path]:
    (entry,) = [e for e in Archive(raw).entries() if e.label.startswith(f"{seed}_")]
    return entry.page_id, raw / "objects" / entry.sha256[:2] / f"{entry.sha256}.gz"


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (lambda path: path.write_bytes(gzip.compress(b"Skip to main content\nAn edited line...\n")), "does not match"),
        (lambda path: path.write_bytes(b"\x00garbage, not gzip"), "unreadable"),
        (lambda path: path.unlink(), "missing"),
    ],
    ids=["edited", "garbage", "missing"],
)
def test_damaged_archive_object_fails_its_page_only(tmp_path, seed_archive, ingest, damage, reason):
    page_id, path = seed_object(seed_archive, "001")
    damage(path)
    db = tmp_path / "w.duckdb"
    summary = ingest(seed_archive, db)
    assert summary.status == "partial"
    assert (summary.pages_parsed, summary.pages_failed) == (4, 1)
    (failure,) = summary.failures
    assert page_id in failure and reason in failure
    con = duckdb.connect(str(db), read_only=True)
    status, error = con.execute(
        "SELECT parse_status, parse_error FROM raw_pages WHERE page_id = ?", [page_id]
    ).fetchone()
    assert status == "failed" and reason in error and "archive object" in error
    assert con.execute("SELECT count(*) FROM sightings").fetchone()[0] == SEED_SIGHTINGS - 20
    con.close()


def test_torn_last_manifest_line_is_skipped_with_a_warning(tmp_path, seed_archive, ingest, caplog):
    with open(seed_archive / "manifest.jsonl", "ab") as fh:  # kill -9 while appending a line
        fh.write(b'{"format": "text-listing", "headers": {}, "label": "005.txt", "retrieved_at": "20')
    with caplog.at_level(logging.WARNING):
        summary = ingest(seed_archive, tmp_path / "w.duckdb")
    assert summary.status == "ok"
    assert (summary.pages_parsed, summary.sightings_added) == (5, SEED_SIGHTINGS)
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("manifest.jsonl:6" in w and "skipping" in w for w in warnings), warnings


# -- through the command line ---------------------------------------------------------------


def test_cli_reports_one_line_per_failure_and_exits_0(tmp_path, seed_archive, run_cli):
    # `archive add` refuses such files at the door (tests/test_archive_faults.py); a crawl may
    # still archive them, which is what the library call stands for
    ids = {"empty.txt": put(seed_archive, b"", "empty.txt", "text-listing")}
    ids["binary.bin"] = put(seed_archive, BINARY, "binary.bin", "text-listing")
    ids["truncated-only.txt"] = put(seed_archive, TRUNCATED_ONLY, "truncated-only.txt", "text-catalogue")
    write_manifest_line(seed_archive, UNKNOWN_FORMAT_BODY, format="pdf-thing", label="thing")
    ids["thing"] = next(e.page_id for e in Archive(seed_archive).entries() if e.format == "pdf-thing")
    cut_id = put(seed_archive, CUT_CATALOGUE, "cut-catalogue.txt", "text-catalogue")

    result = run_cli("ingest", "--offline")
    assert result.returncode == 0, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    for label, reason in PAGE_FAILURES.items():
        lines = [line for line in errors if ids[label] in line]
        assert len(lines) == 1, (label, errors)
        assert reason in lines[0]
    # the truncated entry of an otherwise good page is named too: page and entry
    lines = [line for line in errors if cut_id in line]
    assert len(lines) == 1, errors
    assert "6" in lines[0] and "truncated" in lines[0]
    assert len(errors) == len(PAGE_FAILURES) + 1
    assert "partial" in result.stdout


def test_cli_exits_1_when_nothing_could_be_processed(tmp_path, empty_archive, run_cli):
    add_bad_pages(empty_archive, with_cut_catalogue=False)
    result = run_cli("ingest", "--offline")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "failed" in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == len(PAGE_FAILURES)
    con = duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True)
    assert con.execute("SELECT status FROM runs").fetchall() == [("failed",)]
    con.close()


def test_cli_warns_about_a_torn_manifest_line_and_goes_on(seed_archive, run_cli):
    with open(seed_archive / "manifest.jsonl", "ab") as fh:
        fh.write(b'{"format": "text-listing", "sha256": "d3c1')
    result = run_cli("ingest", "--offline")
    assert result.returncode == 0, result.stderr
    assert "manifest.jsonl:6" in result.stderr and "skipping" in result.stderr
    assert f"{SEED_SIGHTINGS} sightings" in result.stdout


def test_page_whose_every_record_fails_validation_counts_as_failed(tmp_path, empty_archive, ingest):
    """A page that yields no valid record is not 'parsed': alone in the archive, the run fails."""
    catalogue = b"Catalogue\n\nA Title Too Old\n\n1800/40 pages English Available for PDF download\n\nAn abstract.\n"
    Archive(empty_archive).put(catalogue, source="publications.iom.int", url=None, format="text-catalogue")
    summary = ingest(empty_archive, tmp_path / "w.duckdb")
    assert summary.status == "failed"
    assert summary.pages_failed == 1 and summary.sightings_added == 0
