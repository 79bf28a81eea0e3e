"""Faults in raw/ made by hand (damaged objects, bad lines, a lost manifest, bad files handed in),
and what `archive verify`, `ingest`, `ingest --reparse`, `archive add` and the crawler do about them.

Every test damages a real copy of the archive on disk and runs the real command; the expected
outcome follows from the damage done. docs/operations.md "Faults and what a run does" lists the same rows.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from urllib.parse import urlsplit

import duckdb
import pytest

from pipeline.archive import Archive, FetchLog
from pipeline.verify import verify_archive
from tests.replica import Replica
from tests.test_crawl import crawl_ingest

SEED_SIGHTINGS = 103
EXIT_DAMAGE = 5


def seed_object(raw: Path, seed: str = "001") -> tuple[str, str, Path]:
    """(page_id, sha256, object path) of a seed page."""
    (entry,) = [e for e in Archive(raw).entries() if e.label.startswith(f"{seed}_")]
    return entry.page_id, entry.sha256, raw / "objects" / entry.sha256[:2] / f"{entry.sha256}.gz"


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def flip_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def other_body(path: Path) -> None:
    path.write_bytes(gzip.compress(b"Skip to main content\nAn edited teaser...\n"))


def delete(path: Path) -> None:
    path.unlink()


DAMAGE = {"truncated": truncate, "flipped-byte": flip_byte, "other-body": other_body, "deleted": delete}


def query(db: Path, sql: str, params: list | None = None) -> list[tuple]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql, params or []).fetchall()
    finally:
        con.close()


def last_run(db: Path) -> tuple:
    return query(db, "SELECT status, exit_code FROM runs ORDER BY run_id DESC LIMIT 1")[0]


# -- archive verify ------------------------------------------------------------------------------


def test_verify_of_an_intact_archive_exits_0(seed_archive, run_cli):
    result = run_cli("archive", "verify")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        "archive intact: 5 objects, 5 manifest lines, 0 fetch-log lines checked; 0 lines quarantined, 0 warnings"
    ]


@pytest.mark.fault(
    fault="archive object deleted, truncated, byte flipped (`archive verify`)",
    does="one `problem:` line per object, then a summary",
    status="",
    exit=5,
    recorded="stdout of `archive verify`",
)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_verify_names_a_damaged_object_and_exits_5(seed_archive, run_cli, damage):
    _, sha, path = seed_object(seed_archive)
    DAMAGE[damage](path)
    result = run_cli("archive", "verify", "--raw", str(seed_archive))
    assert result.returncode == EXIT_DAMAGE, result.stdout + result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and sha in problems[0], result.stdout
    expected = {"deleted": "missing", "other-body": "does not match its hash"}.get(damage, "unreadable")
    assert expected in problems[0]
    assert result.stdout.splitlines()[-1].startswith("1 problems:")


@pytest.mark.fault(
    fault="unreadable manifest or fetch-log line (`archive verify`)",
    does="the line is moved to `*.rejected.jsonl` with its reason; the next verify is clean",
    status="",
    exit=5,
    recorded="`raw/manifest.rejected.jsonl`, `raw/fetchlog.rejected.jsonl`",
)
def test_verify_quarantines_bad_lines_with_their_reason_then_is_clean(seed_archive, run_cli):
    manifest = seed_archive / "manifest.jsonl"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[2])
    bad["retrieved_at"] = "yesterday"
    lines[2] = json.dumps(bad)
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with open(seed_archive / "fetchlog.jsonl", "w", encoding="utf-8") as fh:
        fh.write(
            json.dumps({"url": "http://127.0.0.1/a", "status": "abc", "outcome": "failed", "fetch_id": "f1"}) + "\n"
        )
        fh.write("{not json\n")
        fh.write(json.dumps({"url": "http://127.0.0.1/b", "status": 404, "outcome": "failed", "fetch_id": "f2"}) + "\n")

    first = run_cli("archive", "verify")
    assert first.returncode == EXIT_DAMAGE, first.stdout + first.stderr
    problems = [line for line in first.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 3, first.stdout
    assert "manifest.jsonl line 3: retrieved_at: 'yesterday' is not an ISO 8601 time" in problems[0]
    assert "fetchlog.jsonl line 1: status: 'abc'" in problems[1]
    assert "fetchlog.jsonl line 2: not JSON" in problems[2]
    rejected = [json.loads(x) for x in (seed_archive / "manifest.rejected.jsonl").read_text().splitlines()]
    assert [(r["line"], json.loads(r["text"])["retrieved_at"]) for r in rejected] == [(3, "yesterday")]
    assert "retrieved_at" in rejected[0]["reason"]
    assert len(Archive(seed_archive).entries()) == 4
    assert [r["fetch_id"] for r in FetchLog(seed_archive).records()] == ["f2"]

    second = run_cli("archive", "verify")
    assert second.returncode == 0, second.stdout
    assert "warning: object 40eb45fefabc: no manifest line names it" in second.stdout  # its line went


# -- ingest and ingest --reparse with a damaged object -------------------------------------------


@pytest.mark.fault(
    fault="archive object deleted, truncated, byte flipped (ingest, `--reparse`)",
    does="the page keeps the rows an earlier run gave it; never deleted",
    status="partial",
    exit=5,
    recorded="`rejects` (stage archive), `error:` line, last-run JSON",
)
@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_object_fails_the_run_as_partial_and_keeps_its_rows(tmp_path, seed_archive, run_cli, damage):
    db = tmp_path / "warehouse.duckdb"
    assert run_cli("ingest", "--offline").returncode == 0
    page_id, sha, path = seed_object(seed_archive)
    kept = query(db, "SELECT count(*) FROM sightings WHERE page_id = ?", [page_id])[0][0]
    assert kept > 0
    DAMAGE[damage](path)

    plain = run_cli("ingest", "--offline")  # the page was parsed already: noticed all the same
    assert plain.returncode == EXIT_DAMAGE, plain.stdout + plain.stderr
    assert "partial" in plain.stdout and "archive damaged" in plain.stdout
    assert [line for line in plain.stderr.splitlines() if line.startswith("error:") and sha in line]
    assert last_run(db) == ("partial", EXIT_DAMAGE)

    reparse = run_cli("ingest", "--offline", "--reparse")
    assert reparse.returncode == EXIT_DAMAGE, reparse.stdout + reparse.stderr
    assert last_run(db) == ("partial", EXIT_DAMAGE)
    assert query(db, "SELECT count(*) FROM sightings")[0][0] == SEED_SIGHTINGS
    assert query(db, "SELECT count(*) FROM sightings WHERE page_id = ?", [page_id])[0][0] == kept
    assert query(db, "SELECT parse_status FROM raw_pages WHERE page_id = ?", [page_id]) == [("parsed",)]
    rejects = query(db, "SELECT run_id, stage, reason FROM rejects WHERE page_id = ? ORDER BY run_id", [page_id])
    assert [(run, stage) for run, stage, _ in rejects] == [(2, "archive"), (3, "archive")]
    assert all(sha in reason for _, _, reason in rejects)
    last = json.loads((tmp_path / "warehouse.duckdb.last-run.json").read_text())
    assert (last["status"], last["exit_code"]) == ("partial", EXIT_DAMAGE)


def test_a_restored_object_makes_the_next_run_ok_again(tmp_path, seed_archive, ingest):
    db = tmp_path / "w.duckdb"
    _, _, path = seed_object(seed_archive)
    good = path.read_bytes()
    path.unlink()
    first = ingest(seed_archive, db)  # never parsed: failed for want of its body
    assert (first.status, first.pages_failed) == ("partial", 1)
    assert first.archive_damage
    path.write_bytes(good)
    second = ingest(seed_archive, db)
    assert (second.status, second.pages_parsed, second.archive_damage) == ("ok", 1, [])
    assert query(db, "SELECT count(*) FROM sightings")[0][0] == SEED_SIGHTINGS


# -- bad manifest and fetch-log lines --------------------------------------------------------------


@pytest.mark.fault(
    fault='manifest line with a bad `retrieved_at`, fetch-log line with `status: "abc"`',
    does="quarantined once; the rest loads; the next run is `ok`, 0",
    status="partial",
    exit=5,
    recorded="`rejects` (stage archive), side files",
)
def test_bad_lines_are_quarantined_once_and_never_block_later_runs(tmp_path, seed_archive, run_cli):
    db = tmp_path / "warehouse.duckdb"
    manifest = seed_archive / "manifest.jsonl"
    lines = manifest.read_text(encoding="utf-8").splitlines()
    bad = json.loads(lines[0])
    bad["retrieved_at"] = "not a time"
    lines[0] = json.dumps(bad)
    manifest.write_text("\n".join(lines) + "\n", encoding="utf-8")
    fetch_line = {
        "url": "http://127.0.0.1/a",
        "status": "abc",
        "outcome": "fetched",
        "fetch_id": "f1",
        "kind": "detail",
    }
    (seed_archive / "fetchlog.jsonl").write_text(json.dumps(fetch_line) + "\n", encoding="utf-8")

    first = run_cli("ingest", "--offline")
    assert first.returncode == EXIT_DAMAGE, first.stdout + first.stderr
    assert "Traceback" not in first.stderr and "Conversion" not in first.stderr
    errors = [line for line in first.stderr.splitlines() if line.startswith("error: archive:")]
    assert len(errors) == 2, first.stderr
    assert "manifest.jsonl line 1: retrieved_at" in errors[0] and "manifest.rejected.jsonl" in errors[0]
    assert "fetchlog.jsonl line 1: status: 'abc'" in errors[1] and "fetchlog.rejected.jsonl" in errors[1]
    assert last_run(db) == ("partial", EXIT_DAMAGE)
    assert query(db, "SELECT count(*) FROM raw_pages")[0][0] == 4
    rejects = query(db, "SELECT page_id, stage, reason FROM rejects ORDER BY reject_id")
    assert [(p, s) for p, s, _ in rejects] == [(None, "archive"), (None, "archive")]
    assert (seed_archive / "fetchlog.rejected.jsonl").exists()

    second = run_cli("ingest", "--offline")
    assert second.returncode == 0, second.stdout + second.stderr
    assert last_run(db) == ("ok", 0)


@pytest.mark.fault(
    fault="torn last line (a writer killed mid-line)",
    does="skipped with a warning",
    status="ok",
    exit=0,
    recorded="stderr warning",
)
def test_a_torn_last_line_is_not_damage(tmp_path, seed_archive, ingest):
    with open(seed_archive / "manifest.jsonl", "ab") as fh:  # a writer killed mid-line
        fh.write(b'{"format": "text-listing", "sha256": "d3c1')
    summary = ingest(seed_archive, tmp_path / "w.duckdb")
    assert (summary.status, summary.archive_damage) == ("ok", [])
    assert not (seed_archive / "manifest.rejected.jsonl").exists()


# -- a lost manifest -------------------------------------------------------------------------------


@pytest.mark.fault(
    fault="manifest deleted or emptied while objects exist",
    does="refused before anything runs; restore the file",
    status="no run",
    exit=5,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("how", ["deleted", "emptied"])
def test_a_lost_manifest_is_refused_not_reported_ok(tmp_path, seed_archive, run_cli, how):
    manifest = seed_archive / "manifest.jsonl"
    assert run_cli("ingest", "--offline").returncode == 0
    if how == "deleted":
        manifest.unlink()
    else:
        manifest.write_bytes(b"")
    result = run_cli("ingest", "--offline")
    assert result.returncode == EXIT_DAMAGE, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and "manifest.jsonl" in line and "5 objects" in line and "Restore" in line
    db = tmp_path / "warehouse.duckdb"
    assert query(db, "SELECT count(*) FROM runs")[0][0] == 1  # no run recorded
    assert query(db, "SELECT count(*) FROM sightings")[0][0] == SEED_SIGHTINGS
    verify = run_cli("archive", "verify")
    assert verify.returncode == EXIT_DAMAGE and "is lost" in verify.stdout


def test_a_fresh_archive_without_a_manifest_is_fine(empty_archive):
    assert verify_archive(Archive(empty_archive)).clean


# -- archive add at the door -----------------------------------------------------------------------

PAGE = "Skip to main content\n\nA card teaser about migration in Mesoamérica...\n".encode()
LATIN1_HTML = '<html><head><meta charset="iso-8859-1"></head><body><p>Migración en Mesoamérica</p></body></html>'


@pytest.mark.fault(
    fault="`archive add` of an undeclared source, an empty, binary, NUL-laden, non-UTF-8 or letterless file",
    does="refused, nothing written",
    status="",
    exit=2,
    recorded="one `error:` line",
)
@pytest.mark.parametrize(
    ("body", "source", "reason"),
    [
        (PAGE, "no-such-site.example.org", "source 'no-such-site.example.org' is not declared"),
        (b"", "publications.iom.int", "empty file"),
        (b" \n\t\n", "publications.iom.int", "empty file"),
        (b"\x89PNG\r\n\x1a\n" + bytes(range(256)), "publications.iom.int", "binary content: NUL byte"),
        (PAGE + b"\x00\x00" + PAGE, "publications.iom.int", "binary content: NUL byte"),
        (PAGE.decode().encode("latin-1"), "publications.iom.int", "not UTF-8"),
        (b"\x1b\x02\x03\x04\x05\x06\x07\x08\x0e\x0f\x10 text", "publications.iom.int", "control characters"),
        (b"1234 5678 ... --- ***\n", "publications.iom.int", "not a single letter"),
    ],
    ids=["undeclared-source", "empty", "blank", "binary", "nul-laden", "not-utf8", "controls", "no-letters"],
)
def test_archive_add_refuses_at_the_door(tmp_path, empty_archive, run_cli, body, source, reason):
    page = tmp_path / "page.txt"
    page.write_bytes(body)
    result = run_cli("archive", "add", str(page), "--source", source, "--format", "text-listing")
    assert result.returncode == 2, result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("error: page.txt: not archived: ") and reason in line, line
    assert list(empty_archive.iterdir()) == []


@pytest.mark.fault(
    fault="`archive add` of a file over `max_body_bytes`",
    does="refused, nothing written",
    status="",
    exit=2,
    recorded="one `error:` line",
)
def test_archive_add_refuses_a_file_over_the_size_limit(tmp_path, empty_archive, run_cli):
    sources = tmp_path / "small.toml"
    sources.write_text(
        '[crawler]\nmax_body_bytes = 1000\n\n[[sources]]\nname = "publications.iom.int"\n'
        'base_url = "http://127.0.0.1:9"\nstart_urls = ["/listing"]\n',
        encoding="utf-8",
    )
    page = tmp_path / "big.txt"
    page.write_bytes(PAGE * 20)
    result = run_cli(
        "archive", "add", str(page), "--source", "publications.iom.int", "--format", "text-listing",
        env={"IOM_SOURCES": str(sources)},
    )  # fmt: skip
    assert result.returncode == 2
    assert f"{len(PAGE) * 20} bytes is over the 1000-byte limit" in result.stderr
    assert list(empty_archive.iterdir()) == []
    page.write_bytes(PAGE)
    ok = run_cli("archive", "add", str(page), "--source", "publications.iom.int", "--format", "text-listing",
                 env={"IOM_SOURCES": str(sources)})  # fmt: skip
    assert ok.returncode == 0, ok.stderr


def test_archive_add_takes_a_page_in_the_charset_it_declares(tmp_path, empty_archive, run_cli):
    page = tmp_path / "latin1.html"
    page.write_bytes(LATIN1_HTML.encode("latin-1"))
    result = run_cli("archive", "add", str(page), "--source", "publications.iom.int", "--format", "html-detail")
    assert result.returncode == 0, result.stderr
    (entry,) = Archive(empty_archive).entries()
    assert Archive(empty_archive).read(entry.sha256) == LATIN1_HTML.encode("latin-1")


# -- the crawler -----------------------------------------------------------------------------------


@pytest.mark.fault(
    fault="damaged archive object, site reachable",
    does="the crawler fetches the page again (no If-None-Match) and the body repairs the object",
    status="ok",
    exit=0,
    recorded="`fetches`",
)
@pytest.mark.parametrize("damage", ["deleted", "flipped-byte"])
def test_the_crawler_fetches_a_page_again_when_its_object_is_damaged(tmp_path, damage):
    with Replica(page_size=10) as replica:
        sources = replica.write_sources(tmp_path / "s.toml")
        assert crawl_ingest(tmp_path, sources).status == "ok"
        archive = Archive(tmp_path / "raw")
        detail = next(r for r in FetchLog(archive.root).records() if r.get("kind") == "detail" and r.get("sha256"))
        path = archive.objects / detail["sha256"][:2] / f"{detail['sha256']}.gz"
        DAMAGE[damage](path)
        replica.clear_requests()

        summary = crawl_ingest(tmp_path, sources)
        target = urlsplit(detail["url"]).path
        again = [r for r in replica.requests if r.path == target]
        assert [(r.status, r.conditional) for r in again] == [(200, False)]
        assert archive.object_problem(detail["sha256"]) is None  # the fresh body repaired it
        assert summary.status == "ok" and summary.archive_damage == [], summary.message
        others = [r for r in replica.requests if r.path != target and "/resources/" in r.path]
        assert all(r.status == 304 for r in others if r.conditional)
    assert verify_archive(archive).clean
