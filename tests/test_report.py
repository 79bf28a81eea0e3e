"""The run report, read as a person reads it: rendered by headless Chromium, then checked.

The warehouse is real: the seed archive plus two crawls of the local replica. Between the crawls
the test publishes an item whose title is hostile markup, edits a title, makes one detail page
fail for good and another too big, archives a page that is not a listing, and pins two editions
together in an overrides file. So the second run has new, changed and withdrawn records, a reject
and fetch failures, each caused by something the test did. Every number on the page is compared
with a query of the test's own on the warehouse, not with the report's queries.

Chromium is Debian's package (`apt-get install chromium`; .ci/run installs it). Without it the
browser tests skip, saying so; the tests that read the HTML file itself still run.
"""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

import duckdb
import pytest
from conftest import REPO_ROOT, copy_seed_archive, ingest_archive
from selectolax.lexbor import LexborHTMLParser as HTMLParser
from selectolax.lexbor import LexborNode as Node

from pipeline.archive import Archive
from pipeline.charts import column_chart, nice_max
from pipeline.ingest import IngestOptions, crawl_step, run_ingest
from pipeline.report import LIST_LIMIT, write_report
from pipeline.sources import load_sources
from pipeline.warehouse import connect, migrate
from tests.replica import Fault, Replica

HOSTILE = "<script>document.title='PWNED'</script> Hostile & <b>bold</b> <img src=x onerror=\"document.title='PWNED'\">"
FAILING_ITEM = "003-11-bali-process-policy-guide-criminalizing-"
OVERSIZE_ITEM = "003-12-worst-forms-child-labour-convention-1999"
TOUCHED_ITEM = "001-04-toolkit-child-focused-return-and-reinteg"
ARTIFACTS = REPO_ROOT / "reports"  # git-ignored: the screenshot and page of the last test run, to look at
#: the flags the machine's own probe uses: no sandbox as root, no calls home on a closed network
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
)


# -- the warehouse --------------------------------------------------------------------------------


def _crawl(root: Path, rep: Replica, **options: object) -> None:
    con = connect(root / "w.duckdb")
    try:
        migrate(con)
        archive = Archive(root / "raw")
        opts = IngestOptions(**options)  # type: ignore[arg-type]
        summary = run_ingest(con, archive, opts, fetch=crawl_step(load_sources(root / "s.toml"), archive, opts))
        assert summary.status in ("ok", "partial"), summary.message
    finally:
        con.close()


def _item_path(rep: Replica, prefix: str) -> str:
    item = next(i for i in rep.items if i["id"].startswith(prefix))
    url = rep.item_url(item["id"])
    return url.split("//", 1)[1].split("/", 1)[1]


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    """Two runs of seeds plus replica, the second with a new hostile title, an edit, a merge by hand,
    a reject and two fetch failures. Returns the warehouse path and what was done."""
    root = tmp_path_factory.mktemp("report")
    copy_seed_archive(root / "raw")
    with Replica(page_size=10, crawl_delay=0) as rep:
        rep.write_sources(root / "s.toml", max_retries=1)
        _crawl(root, rep)

        con = duckdb.connect(str(root / "w.duckdb"), read_only=True)
        pinned = [
            e
            for (e,) in con.execute(
                "SELECT edition_id FROM publications WHERE title IS NOT NULL AND language = 'en' "
                "AND sources = ['publications.iom.int'] ORDER BY sighting_count, edition_id LIMIT 2"
            ).fetchall()
        ]
        con.close()
        assert len(pinned) == 2
        overrides = root / "overrides.toml"
        overrides.write_text(
            f'[[pin]]\na = "{pinned[0]}"\nb = "{pinned[1]}"\nlevel = "edition"\nreason = "test: one edition"\n',
            encoding="utf-8",
        )
        rep.add_item(
            "publications.iom.int",
            rep.sections["publications.iom.int"][0],
            HOSTILE,
            "A field guide for border officials on first contact with unaccompanied children, with referral "
            "checklists, interview advice and the contacts of child protection services in twelve countries.",
        )
        touched = next(i for i in rep.items if i["id"].startswith(TOUCHED_ITEM))
        rep.touch_item(touched["id"], title=touched["title"] + " (Second Edition)")
        failing = rep.add_fault(Fault.server_error(_item_path(rep, FAILING_ITEM), times=None))
        rep.add_fault(Fault.oversized(_item_path(rep, OVERSIZE_ITEM), times=None))
        Archive(root / "raw").put(  # a notice supplied as a catalogue dump: refused, with the reason
            b"Maintenance notice <script>alert(1)</script>\nThe catalogue is being updated.\n",
            source="publications.iom.int",
            url="https://publications.iom.int/maintenance",
            format="text-catalogue",
        )
        _crawl(root, rep, full=True, overrides_path=overrides)
        assert failing.fired > 0
    return {"db": root / "w.duckdb", "pinned": pinned, "root": root}


@pytest.fixture(scope="module")
def page(scenario: dict[str, object]) -> Path:
    out = Path(scenario["root"]) / "report.html"  # type: ignore[arg-type]
    write_report(Path(scenario["db"]), out)  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="module")
def sql(scenario: dict[str, object]) -> Iterator[Callable[..., list[tuple]]]:
    con = duckdb.connect(str(scenario["db"]), read_only=True)

    def run(query: str, params: list | None = None) -> list[tuple]:
        return con.execute(query, params or []).fetchall()

    yield run
    con.close()


# -- the browser ----------------------------------------------------------------------------------


def chromium() -> str:
    found = shutil.which("chromium")
    if found is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    return found


def browse(page: Path, tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """One headless Chromium run on the page, with a fresh profile; fails the test on a non-zero exit."""
    done = subprocess.run(
        [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={tmp_path / 'profile'}", *args, page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done


@pytest.fixture(scope="module")
def rendered(page: Path, tmp_path_factory: pytest.TempPathFactory) -> HTMLParser:
    """The page as Chromium built it (after any script had its chance to run), parsed again."""
    done = browse(page, tmp_path_factory.mktemp("chromium"), "--virtual-time-budget=3000", "--dump-dom")
    assert "</html>" in done.stdout
    return HTMLParser(done.stdout)


@pytest.fixture(scope="module", params=["chromium", "file"])
def dom(request: pytest.FixtureRequest, page: Path) -> HTMLParser:
    """Each check twice: on the DOM Chromium rendered, and on the file as written (so the numbers are
    still checked on a machine where Chromium cannot be installed)."""
    if request.param == "chromium":
        return request.getfixturevalue("rendered")
    return HTMLParser(page.read_text(encoding="utf-8"))


def table(dom: HTMLParser, table_id: str, column: str) -> dict[str, int]:
    """{row key: number} of one numeric column of a report table, as rendered."""
    node = dom.css_first(f"table#{table_id}")
    assert node is not None, f"no table {table_id} on the page"
    values = {}
    for row in node.css("tbody tr"):
        cell = row.css_first(f'td[data-col="{column}"]')
        # the number a person reads is the number in data-value
        assert int(cell.text().replace(",", "")) == int(cell.attributes["data-value"])
        values[row.attributes["data-key"]] = int(cell.attributes["data-value"])
    return values


def bars(dom: HTMLParser, chart_id: str) -> list[tuple[str, int]]:
    chart = dom.css_first(f"svg#{chart_id}")
    assert chart is not None, f"no chart {chart_id} on the page"
    return [(b.attributes["data-label"], int(b.attributes["data-value"])) for b in chart.css("rect.bar")]


# -- what the page shows --------------------------------------------------------------------------


def test_screenshot_of_the_rendered_report(page: Path, tmp_path: Path) -> None:
    shot = tmp_path / "report.png"
    browse(page, tmp_path, "--window-size=1280,7000", f"--screenshot={shot}")
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 100_000, "a blank page compresses to almost nothing"
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(shot, ARTIFACTS / "test_report.png")
    shutil.copy(page, ARTIFACTS / "test_report.html")
    print(f"\nscreenshot: {shot} (copied to {ARTIFACTS / 'test_report.png'})")


def test_counts_per_site_year_language_and_type_equal_the_warehouse(
    dom: HTMLParser, sql: Callable[..., list[tuple]]
) -> None:
    editions = dict(sql("SELECT s, count(*) FROM (SELECT unnest(sources) AS s FROM publications) GROUP BY s"))
    assert len(editions) == 3
    assert table(dom, "table-sites", "n_editions") == editions
    assert table(dom, "table-sites", "n_pages") == dict(sql("SELECT source, count(*) FROM raw_pages GROUP BY ALL"))
    assert dict(bars(dom, "chart-sites")) == editions
    assert len(bars(dom, "chart-sites")) == len(editions)

    years = dict(sql("SELECT year, count(*) FROM publications WHERE year IS NOT NULL GROUP BY year"))
    drawn = bars(dom, "chart-years")
    assert [label for label, _ in drawn] == [str(y) for y in range(min(years), max(years) + 1)]
    assert {int(label): n for label, n in drawn if n} == years
    shown = table(dom, "table-years", "n_editions")
    assert shown.pop("unknown") == sql("SELECT count(*) FROM publications WHERE year IS NULL")[0][0]
    assert {int(y): n for y, n in shown.items()} == years

    languages = dict(sql("SELECT coalesce(language, ''), count(*) FROM publications GROUP BY ALL"))
    assert table(dom, "table-languages", "n_editions") == languages
    assert sorted(n for _, n in bars(dom, "chart-languages")) == sorted(languages.values())

    types: Counter[str] = Counter()
    untyped = 0
    for (found,) in sql(
        "SELECT list(DISTINCT s.extra->>'type') FILTER (WHERE s.extra->>'type' IS NOT NULL) FROM publications p "
        "LEFT JOIN edition_members m USING (edition_id) LEFT JOIN sightings s USING (sighting_id) GROUP BY p.edition_id"
    ):
        names = {t.strip() for value in found or [] for t in value.split(", ") if t.strip()}
        types.update(names)
        untyped += not names
    assert len(types) > 3
    shown_types = table(dom, "table-types", "n_editions")
    assert shown_types.pop("") == untyped
    assert shown_types == dict(types)
    assert dict(bars(dom, "chart-types")) == dict(types)

    tiles = {t.attributes["data-key"]: int(t.css_first(".value").attributes["data-value"]) for t in dom.css(".tile")}
    assert tiles["editions"] == sql("SELECT count(*) FROM publications")[0][0]
    assert tiles["works"] == sql("SELECT count(*) FROM works")[0][0]
    assert tiles["pages"] == sql("SELECT count(*) FROM raw_pages")[0][0]


def test_new_changed_and_gone_are_the_change_log_of_the_last_run(
    dom: HTMLParser, sql: Callable[..., list[tuple]], scenario: dict[str, object]
) -> None:
    logged = {(level, op): n for level, op, n in sql("SELECT level, op, records FROM changes WHERE run_id = 2")}
    for op in ("added", "changed", "withdrawn"):
        assert table(dom, "table-changes", f"n_{op}") == {
            level: logged.get((level, op), 0) for level in ("edition", "work")
        }
    assert logged[("edition", "withdrawn")] == 1 and logged[("edition", "added")] >= 1

    def listed(op: str) -> dict[str, Node]:
        return {row.attributes["data-key"]: row for row in dom.css(f"table#list-{op} tbody tr")}

    added, gone = listed("added"), listed("withdrawn")
    assert len(added) == min(logged[("edition", "added")] + logged.get(("work", "added"), 0), LIST_LIMIT)
    hostile = sql("SELECT edition_id FROM publications WHERE title LIKE '%Hostile%'")[0][0]
    assert added[hostile].css_first('td[data-col="title"]').text().strip() == HOSTILE
    # an edited title keeps its edition (same page): changed, with the new title
    second = sql("SELECT edition_id FROM publications WHERE title LIKE '%(Second Edition)'")[0][0]
    assert "(Second Edition)" in listed("changed")[second].css_first('td[data-col="title"]').text()

    # the pin merged one id into the other: it is gone, with its title and where it went
    pinned = scenario["pinned"]
    merged = sql("SELECT id, merged_into FROM dedup_ids WHERE id IN ? AND status = 'merged'", [pinned])
    assert len(merged) == 1
    loser, winner = merged[0]
    note = gone[loser].css_first('td[data-col="note"]').text()
    assert "merged into" in note and winner in note
    winner_title = sql("SELECT display_title FROM publications WHERE edition_id = ?", [winner])[0][0]
    assert winner_title in note
    assert gone[loser].css_first('td[data-col="title"]').text().strip() not in ("", "(no title)")
    # the winner is "changed" only when absorbing the other edition changed its exported fields
    # (which sighting gives each field depends on retrieval order): the page follows the log
    winner_changed = sql(
        "SELECT count(*) FROM record_changes WHERE run_id = 2 AND level = 'edition' AND id = ? AND op = 'changed'",
        [winner],
    )[0][0]
    if logged[("edition", "changed")] <= LIST_LIMIT:
        assert (winner in listed("changed")) == bool(winner_changed)
    assert hostile not in listed("changed") and loser not in added


def test_merges_show_rules_and_examples_from_match_links(dom: HTMLParser, sql: Callable[..., list[tuple]]) -> None:
    joins = {
        f"{level}:{rule}": n
        for level, rule, n in sql(
            "SELECT level, rule, count(*) FROM match_links WHERE decision = 'joined' "
            "AND dedup_run_id = (SELECT max(dedup_run_id) FROM match_links) GROUP BY ALL"
        )
    }
    assert table(dom, "table-rules", "n_joins") == joins
    assert "edition:pin" in joins
    examples = dom.css("#merges article.example")
    assert len(examples) >= 3
    languages_in_work_examples = [
        a.css_first("p").text()
        for a in examples
        if a.attributes["data-rule"] in {r.split(":")[1] for r in joins if r.startswith("work:")}
    ]
    assert any("en, es, fr" in text for text in languages_in_work_examples)
    refused = sql(
        "SELECT count(*) FROM match_links WHERE decision <> 'joined' AND dedup_run_id = "
        "(SELECT max(dedup_run_id) FROM match_links)"
    )[0][0]
    assert sum(table(dom, "table-refusals", "n_pairs").values()) == refused


def test_quality_flags_rejects_and_fetch_failures(dom: HTMLParser, sql: Callable[..., list[tuple]]) -> None:
    flags = dict(
        sql(
            "SELECT split_part(f, ':', 1), count(DISTINCT sighting_id) FROM "
            "(SELECT sighting_id, unnest(quality_flags) AS f FROM sightings) GROUP BY ALL"
        )
    )
    assert flags and table(dom, "table-flags", "n_sightings") == flags
    assert dict(bars(dom, "chart-flags")) == flags

    rejects = sql("SELECT stage || ':' || reason, count(*) FROM rejects GROUP BY ALL")
    assert rejects, "the page that is not a listing should be a reject"
    assert table(dom, "table-rejects", "n_rejects") == dict(rejects)

    failures = sql(
        "SELECT outcome || ':' || reason, count(*) FROM fetches WHERE run_id = 2 "
        "AND outcome NOT IN ('fetched', 'not_modified') GROUP BY ALL"
    )
    assert table(dom, "table-fetch-failures", "n_requests") == dict(failures)
    outcomes = {key.split(":")[0] for key, _ in failures}
    assert {"failed", "refused"} <= outcomes
    shown = dom.css_first("table#table-fetch-failures").text()
    for (url,) in sql(
        "SELECT min(url) FROM fetches WHERE run_id = 2 AND outcome IN ('failed', 'refused') GROUP BY outcome"
    ):
        assert url in shown
    assert table(dom, "table-fetch-outcomes", "n_requests") == dict(
        sql("SELECT outcome, count(*) FROM fetches WHERE run_id = 2 GROUP BY ALL")
    )


def test_a_hostile_title_is_shown_as_text_and_never_run(rendered: HTMLParser, tmp_path: Path) -> None:
    # the probe can see a script run: the same markup, unescaped, changes the title Chromium dumps
    control = tmp_path / "control.html"
    control.write_text(f"<!DOCTYPE html><html><head><title>report</title></head><body>{HOSTILE}</body></html>")
    ran = HTMLParser(browse(control, tmp_path, "--virtual-time-budget=3000", "--dump-dom").stdout)
    assert ran.css_first("title").text() == "PWNED"

    dom = rendered
    assert dom.css_first("title").text().endswith("IOM publications warehouse")
    assert dom.css("script") == []
    assert dom.css("body b") == [] and dom.css("img") == []
    assert not [n for n in dom.css("*") if any(a.lower().startswith("on") for a in n.attributes)]
    assert HOSTILE in dom.body.text()


# -- the file itself, no browser needed -----------------------------------------------------------


def test_the_page_needs_no_network_and_holds_no_script(page: Path) -> None:
    source = page.read_text(encoding="utf-8")
    assert "<script" not in source.lower() and "&lt;script&gt;document.title=" in source
    tree = HTMLParser(source)
    assert tree.css("script, link, iframe, object, embed, img, audio, video") == []
    assert not [n for n in tree.css("[src]")]
    csp = tree.css_first('meta[http-equiv="Content-Security-Policy"]').attributes["content"]
    assert "default-src 'none'" in csp
    assert len(tree.css("svg.chart")) >= 5
    for link in tree.css("a[href]"):
        href = link.attributes["href"]
        assert href.startswith(("#", "http://", "https://")), href


def test_cli_writes_the_report_and_says_what_it_holds(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], built_warehouse: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out" / "report.html"
    done = run_cli("report", "--out", str(out), "--db", str(built_warehouse))
    assert done.returncode == 0, done.stderr
    con = duckdb.connect(str(built_warehouse), read_only=True)
    editions, works = con.execute("SELECT (SELECT count(*) FROM publications), (SELECT count(*) FROM works)").fetchone()
    con.close()
    assert f"{editions} editions, {works} works; run 1 ok" in done.stdout
    text = HTMLParser(out.read_text(encoding="utf-8")).body.text()
    assert "No crawl recorded" in text  # the seed warehouse was built offline
    assert not (tmp_path / "out" / "report.html.tmp").exists()


def test_cli_without_a_warehouse_says_so(
    run_cli: Callable[..., subprocess.CompletedProcess[str]], tmp_path: Path
) -> None:
    done = run_cli("report", "--out", str(tmp_path / "r.html"), "--db", str(tmp_path / "none.duckdb"))
    assert done.returncode == 5
    assert "no warehouse" in done.stderr and not (tmp_path / "r.html").exists()


def test_an_empty_warehouse_and_a_quiet_rerun_still_make_a_page(tmp_path: Path, built_warehouse: Path) -> None:
    empty = tmp_path / "empty.duckdb"
    con = connect(empty)
    migrate(con)
    con.close()
    report = write_report(empty, tmp_path / "empty.html")
    assert report.current_run is None
    assert "No run recorded yet" in (tmp_path / "empty.html").read_text(encoding="utf-8")

    # a second run over the same archive changes nothing, and the page says so
    db = tmp_path / "again.duckdb"
    shutil.copy(built_warehouse, db)
    ingest_archive(copy_seed_archive(tmp_path / "raw"), db)
    report = write_report(db, tmp_path / "again.html")
    assert report.change_run == 2 and report.previous_run == 1 and report.changes == []
    text = HTMLParser((tmp_path / "again.html").read_text(encoding="utf-8")).body.text()
    assert "Nothing was added, changed or withdrawn in this run" in text


def test_charts_draw_one_bar_per_value_and_escape_labels() -> None:
    svg = HTMLParser(column_chart([("2019", 3), ("2020", 0), ("<b>x</b>", 1)], chart_id="c", title="t", unit="u"))
    drawn = svg.css("rect.bar")
    assert [(b.attributes["data-label"], b.attributes["data-value"]) for b in drawn] == [
        ("2019", "3"),
        ("2020", "0"),
        ("<b>x</b>", "1"),
    ]
    assert svg.css("b") == []
    assert [nice_max(v) for v in (0, 1, 7, 21, 260, 999)] == [1, 1, 10, 25, 500, 1000]
