"""Every command says the same of a lake as of a DuckDB file loaded from the same archive.

The file is the reference: its commands are tested on their own elsewhere (test_cli, test_analyst,
test_report, test_oai). Here the same seeds go into a file and into a lake, and each command's
output on the lake must match its output on the file, apart from run times.
"""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path

import pytest
from lxml import etree

from pipeline.lake import connect_lake
from tests.pg import PgCluster
from tests.test_lake_workers import assert_same_warehouse, cli
from tests.test_oai import serving
from tests.test_real_pages import LABELS, ROOT

OAI = "{http://www.openarchives.org/OAI/2.0/}"


@pytest.fixture
def both(pg_cluster: PgCluster, tmp_path: Path, seed_archive: Path) -> tuple[str, str, Path]:
    spec = "ducklake:postgres:" + pg_cluster.conninfo(pg_cluster.create_database())
    file = str(tmp_path / "single.duckdb")
    for where, extra in ((file, []), (spec, ["--data-path", str(tmp_path / "data")])):
        done = cli("ingest", "--offline", "--raw", str(seed_archive), "--warehouse", where, *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    return file, spec, tmp_path


def _same_output(both: tuple[str, str, Path], *args: str) -> str:
    file, spec, tmp = both
    outputs = []
    for where in (file, spec):
        done = cli(*args, "--warehouse", where, cwd=tmp)
        assert done.returncode == 0, (args, done.stderr)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1], args
    return outputs[0]


def test_stats_query_and_schema_agree(both: tuple[str, str, Path]) -> None:
    file, spec, tmp = both
    stats = []
    for where in (file, spec):
        done = cli("stats", "--json", "--warehouse", where, cwd=tmp)
        assert done.returncode == 0, done.stderr
        figures = json.loads(done.stdout)
        figures.pop("last_runs")  # start times
        stats.append(figures)
    assert stats[0] == stats[1]
    assert stats[0]["editions_and_works"][0]["editions"] > 0
    text = _same_output(
        both,
        "query",
        "SELECT edition_id, work_id, display_title, language, sources FROM publications ORDER BY ALL",
        "--format",
        "csv",
    )
    assert text.count("\n") > 50
    _same_output(both, "query", "SELECT work_id, languages, edition_ids FROM works ORDER BY ALL", "--format", "json")
    shapes = []
    for where in (file, spec):
        done = cli("schema", "--json", "--warehouse", where, cwd=tmp)
        assert done.returncode == 0, done.stderr
        # every table and view with its columns' names; the lake-only comments table aside (README)
        shapes.append(
            {
                t["name"]: (t["kind"], t["comment"], [(c["name"], c["comment"]) for c in t["columns"]])
                for t in json.loads(done.stdout)
                if t["name"] != "lake_view_column_comments"
            }
        )
    # names, kinds and every comment, views' columns included; types aside (FLOAT[512] is FLOAT[] on a lake)
    assert shapes[0] == shapes[1]
    assert {"publications", "works", "sightings", "record_changes"} <= set(shapes[0])


def test_dedup_report_and_oai_agree(both: tuple[str, str, Path]) -> None:
    file, spec, tmp = both
    said = []
    for where in (file, spec):
        done = cli("dedup", "--warehouse", where, cwd=tmp)
        assert done.returncode == 0, done.stderr
        passed = re.search(r"sightings -> (\d+) editions -> (\d+) works", done.stdout)
        assert passed, done.stdout
        out = tmp / f"report-{'lake' if where == spec else 'file'}.html"
        done = cli("report", "--warehouse", where, "--out", str(out), cwd=tmp)
        assert done.returncode == 0, done.stderr
        said.append((passed.groups(), done.stdout.split(": ", 1)[1]))  # "97 editions, 90 works; run 1 ok"
    assert said[0] == said[1]
    identifiers = []
    for where in (file, spec):
        with serving(Path(where), tmp) as endpoint:
            ids: list[str] = []
            url = f"{endpoint}?verb=ListIdentifiers&metadataPrefix=oai_dc"
            while url:
                root = etree.fromstring(urllib.request.urlopen(url, timeout=30).read())
                ids += [h.findtext(f"{OAI}identifier") for h in root.iter(f"{OAI}header")]
                token = root.findtext(f".//{OAI}resumptionToken")
                url = f"{endpoint}?verb=ListIdentifiers&resumptionToken={token}" if token else ""
        identifiers.append(ids)
    assert identifiers[0] and identifiers[0] == identifiers[1]


def test_search_answers_alike_on_a_lake_and_a_file(both: tuple[str, str, Path]) -> None:
    """The lake keeps its index in its data folder (the catalog names it), read like the file's."""
    _file, _spec, tmp = both
    assert (tmp / "data" / "search.duckdb").exists()
    for query in ("Etimos Foundation toolkit", "conseil au retour"):
        found = json.loads(_same_output(both, "search", query, "--format", "json", "--level", "edition"))
        assert found["results"], query
    etimos = json.loads(_same_output(both, "search", "Etimos", "--format", "json", "--limit", "1"))
    assert sorted(e["language"] for e in etimos["results"][0]["editions"]) == ["es", "es", "es", "fr", "fr", "fr"]


def test_real_pages_load_alike_into_a_lake_and_a_file(pg_cluster: PgCluster, tmp_path: Path) -> None:
    """Input nobody here wrote: the real page renderings of tests/real_pages, every shape, both backends."""
    raw = tmp_path / "raw"
    added = 0
    for page in LABELS:
        url = ["--url", page["url"]] if page.get("url") else []
        done = cli(
            "archive",
            "add",
            str(ROOT / page["file"]),
            "--raw",
            str(raw),
            "--source",
            page["source"],
            *url,
            "--format",
            "auto",
            cwd=tmp_path,
        )
        added += done.returncode == 0  # pages of no known shape are refused here, as on a file
    assert added >= len(LABELS) // 2
    spec = "ducklake:postgres:" + pg_cluster.conninfo(pg_cluster.create_database())
    file = tmp_path / "single.duckdb"
    for where, extra in ((str(file), []), (spec, ["--data-path", str(tmp_path / "data")])):
        done = cli("ingest", "--offline", "--raw", str(raw), "--warehouse", where, *extra, cwd=tmp_path)
        assert done.returncode == 0, done.stderr
    con = connect_lake(spec, read_only=True)
    try:
        assert con.execute("SELECT count(*) FROM publications").fetchone()[0] > 0
        assert_same_warehouse(con, file, may_be_empty=("fetches", "rejects"))  # never fetched
    finally:
        con.close()
