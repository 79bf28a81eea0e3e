"""Read what the warehouse holds and what the last run changed into plain data for the run report.

The report is for a person checking the night's run: what is there (per site, type, year,
language), what is new, changed or gone since the previous run, which rows were merged and why,
and what went wrong (quality flags, rejects, fetch failures). Everything is read here, in one
read-only connection, into small frozen records; `pipeline/report_html.py` turns them into one
self-contained page. Keeping the queries apart from the markup lets a test compare these numbers
with the warehouse and the page with these numbers.

Counts of editions per site, type and language count an edition once in every bucket it belongs
to (an edition seen on two sites counts for both), so those buckets may add up to more than the
number of editions; the report says so beside each chart.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import click

from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import WarehouseError
from pipeline.report_data import (
    LIST_LIMIT,
    ChangeItem,
    EditionExample,
    FetchFailure,
    FlagRow,
    Refusal,
    RejectGroup,
    RejectRow,
    Report,
    Run,
    RunChanges,
    Sighting,
    SiteRow,
    WorkExample,
)

if TYPE_CHECKING:  # DuckDB loads when a report is built, not for `--help`
    import duckdb

    from pipeline.backend import Location

#: objects the report reads; a warehouse without them was built by an older version
REQUIRED = (
    "runs",
    "raw_pages",
    "sightings",
    "rejects",
    "fetches",
    "publications",
    "works",
    "match_links",
    "edition_members",
    "dedup_ids",
    "record_changes",
    "edition_withdrawals",
    "section_walks",
)

#: a withdrawal reason as counted: merges are one reason whatever id they merged into
REASON_KIND = (
    "CASE WHEN starts_with({col}, 'merged into ') THEN 'merged into another id' "
    "ELSE coalesce({col}, '(not recorded)') END"
)

#: examples of merges the page shows per level, one per rule
EXAMPLES = 4

#: fetch outcomes that brought (or confirmed) a body; every other outcome is a failure
FETCH_OK = ("fetched", "not_modified")

_TS = "strftime(CAST({col} AT TIME ZONE 'UTC' AS TIMESTAMP), '%Y-%m-%d %H:%M UTC')"


def _rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def _int(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int | None:
    """One integer (a latest run id, ...); None where SQL gives NULL, e.g. max() over no rows."""
    row = con.execute(sql, params or []).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def _count(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> int:
    """A count(*): never NULL, so the report's totals are plain ints."""
    return _int(con, sql, params) or 0


def check_schema(con: duckdb.DuckDBPyConnection) -> None:
    """Refuse a warehouse the report cannot read, naming what is missing, rather than fail mid-page."""
    present = {
        name
        for (name,) in _rows(con, "SELECT table_name FROM duckdb_tables() UNION SELECT view_name FROM duckdb_views()")
    }
    missing = [name for name in REQUIRED if name not in present]
    if missing:
        raise WarehouseError(
            f"the warehouse lacks {', '.join(missing)}: it was not built by this version; run `make ingest` first"
        )


def gather(con: duckdb.DuckDBPyConnection, db_path: str = "", now: datetime | None = None) -> Report:
    """Read the whole report from an open (read-only) warehouse connection."""
    check_schema(con)
    report = Report(db_path=db_path, generated_at=(now or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC"))
    _runs(con, report)
    _inventory(con, report)
    _changes(con, report)
    _merges(con, report)
    _quality(con, report)
    _fetches(con, report)
    return report


def _runs(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    rows = _rows(
        con,
        f"""SELECT run_id, status, {_TS.format(col="started_at")}, {_TS.format(col="finished_at")}, pages_parsed,
                   pages_failed, sightings_added, rejects_added, message
            FROM runs ORDER BY run_id DESC LIMIT 10""",
    )
    report.runs = [Run(*row) for row in rows]


def _inventory(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    report.totals = {
        "pages": _count(con, "SELECT count(*) FROM raw_pages"),
        "sightings": _count(con, "SELECT count(*) FROM sightings"),
        "publication_sightings": _count(con, "SELECT count(*) FROM sightings WHERE kind = 'publication'"),
        "editions": _count(con, "SELECT count(*) FROM publications"),
        "works": _count(con, "SELECT count(*) FROM works"),
        "multilingual_works": _count(con, "SELECT count(*) FROM works WHERE len(languages) > 1"),
        "rejects": _count(con, "SELECT count(*) FROM rejects"),
        "flagged_sightings": _count(con, "SELECT count(*) FROM sightings WHERE len(quality_flags) > 0"),
    }
    pages = dict(_rows(con, "SELECT source, count(*) FROM raw_pages GROUP BY source"))
    sightings = dict(_rows(con, "SELECT source, count(*) FROM sightings WHERE kind = 'publication' GROUP BY source"))
    editions = dict(
        _rows(con, "SELECT site, count(*) FROM (SELECT unnest(sources) AS site FROM publications) GROUP BY site")
    )
    works = dict(_rows(con, "SELECT site, count(*) FROM (SELECT unnest(sources) AS site FROM works) GROUP BY site"))
    names = sorted(set(pages) | set(editions), key=lambda s: (-editions.get(s, 0), s))
    report.sites = [
        SiteRow(s, pages.get(s, 0), sightings.get(s, 0), editions.get(s, 0), works.get(s, 0)) for s in names
    ]
    by_year = _rows(con, "SELECT year, count(*) FROM publications GROUP BY year ORDER BY year NULLS LAST")
    report.years = [(int(y), int(n)) for y, n in by_year if y is not None]
    report.years_unknown = sum(int(n) for y, n in by_year if y is None)
    report.languages = [
        (lang or "", int(n))
        for lang, n in _rows(
            con,
            "SELECT language, count(*) AS n FROM publications GROUP BY language ORDER BY n DESC, language NULLS LAST",
        )
    ]
    # a sighting's type is what its page printed (extra.type, several joined by ", "); an edition has
    # every type any of its sightings shows
    typed = """
        SELECT DISTINCT m.edition_id, trim(unnest(string_split(s.extra->>'type', ', '))) AS type
        FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
        WHERE nullif(trim(s.extra->>'type'), '') IS NOT NULL
    """
    report.types = [
        (t, int(n))
        for t, n in _rows(
            con, f"SELECT type, count(*) AS n FROM ({typed}) WHERE type <> '' GROUP BY type ORDER BY n DESC, type"
        )
    ]
    with_type = _count(con, f"SELECT count(DISTINCT edition_id) FROM ({typed}) WHERE type <> ''")
    report.types_unknown = report.totals["editions"] - with_type


def _changes(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    """The net change of each record in the latest run that logged any: a record added and then
    changed by a second pass of the same run is new; one that came and went is left out."""
    current = report.current_run
    if current is None:
        return
    report.change_run = current.run_id
    report.previous_run = _int(con, "SELECT max(run_id) FROM runs WHERE run_id < ?", [current.run_id])
    rows = _rows(
        con,
        """
        WITH per_id AS (
            SELECT level, id, arg_min(op, change_id) AS first_op, arg_max(op, change_id) AS last_op,
                   arg_max(reason, change_id) AS reason
            FROM record_changes WHERE run_id = ? GROUP BY level, id
        ),
        net AS (
            SELECT level, id,
                   CASE WHEN last_op = 'withdrawn' THEN CASE WHEN first_op = 'added' THEN NULL ELSE 'withdrawn' END
                        WHEN first_op = 'added' THEN 'added' ELSE 'changed' END AS op,
                   reason
            FROM per_id
        )
        SELECT n.level, n.op, n.id,
               coalesce(p.display_title, w.display_title, s.title, derived_title(s.abstract)) AS title,
               coalesce(p.title_derived, w.title_derived, s.title IS NULL AND s.abstract IS NOT NULL, false),
               coalesce(p.language, array_to_string(w.languages, ', '), s.text_language) AS language,
               coalesce(p.url, s.canonical_url) AS url,
               i.merged_into,
               coalesce(mp.display_title, mw.display_title) AS merged_into_title,
               n.reason
        FROM net AS n
        LEFT JOIN publications AS p ON n.level = 'edition' AND p.edition_id = n.id
        LEFT JOIN works AS w ON n.level = 'work' AND w.work_id = n.id
        LEFT JOIN dedup_ids AS i ON i.id = n.id
        LEFT JOIN sightings AS s ON n.op = 'withdrawn' AND s.sighting_id = i.seed_sighting_id
        LEFT JOIN publications AS mp ON mp.edition_id = i.merged_into
        LEFT JOIN works AS mw ON mw.work_id = i.merged_into
        WHERE n.op IS NOT NULL
        ORDER BY CASE n.op WHEN 'added' THEN 0 WHEN 'changed' THEN 1 ELSE 2 END, n.level, title NULLS LAST, n.id
        """,
        [current.run_id],
    )
    items = [ChangeItem(*row) for row in rows]
    counts: dict[tuple[str, str], int] = {}
    for item in items:
        counts[(item.level, item.op)] = counts.get((item.level, item.op), 0) + 1
    report.change_counts = counts
    report.changes = items
    reasons: dict[tuple[str, str, str], int] = {}
    for item in items:
        reason = item.reason or "(not recorded)"
        if item.op == "withdrawn" and reason.startswith("merged into "):
            reason = "merged into another id"
        reasons[(item.level, item.op, reason)] = reasons.get((item.level, item.op, reason), 0) + 1
    report.change_reasons = [(*key, n) for key, n in sorted(reasons.items())]
    _change_history(con, report)


def _change_history(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    """Records added, changed and withdrawn by each of the last runs, and why they were withdrawn."""
    runs = [r.run_id for r in report.runs]
    if not runs:
        return
    counts: dict[int, dict[tuple[str, str], int]] = {run: {} for run in runs}
    for run, level, op, n in _rows(
        con,
        "SELECT run_id, level, op, count(*) FROM record_changes WHERE list_contains(?, run_id) GROUP BY ALL",
        [runs],
    ):
        counts[run][(level, op)] = int(n)
    withdrawn: dict[int, list[tuple[str, str, int]]] = {run: [] for run in runs}
    for run, level, reason, n in _rows(
        con,
        f"""SELECT run_id, level, {REASON_KIND.format(col="reason")} AS kind, count(*) AS n
            FROM record_changes WHERE op = 'withdrawn' AND list_contains(?, run_id)
            GROUP BY ALL ORDER BY run_id, level, n DESC, kind""",
        [runs],
    ):
        withdrawn[run].append((level, reason, int(n)))
    report.change_history = [RunChanges(run, counts[run], withdrawn[run]) for run in runs]


def _merges(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    dedup_run = _int(con, "SELECT max(dedup_run_id) FROM match_links")
    report.merged_editions = _count(con, "SELECT count(*) FROM publications WHERE sighting_count > 1")
    report.multilingual_works = report.totals["multilingual_works"]
    if dedup_run is None:
        return
    report.dedup_run = int(dedup_run)
    joined = "FROM match_links WHERE dedup_run_id = ? AND decision = 'joined' AND level = ?"
    report.edition_rules = [
        (r, int(n))
        for r, n in _rows(
            con, f"SELECT rule, count(*) AS n {joined} GROUP BY rule ORDER BY n DESC, rule", [dedup_run, "edition"]
        )
    ]
    report.work_rules = [
        (r, int(n))
        for r, n in _rows(
            con, f"SELECT rule, count(*) AS n {joined} GROUP BY rule ORDER BY n DESC, rule", [dedup_run, "work"]
        )
    ]
    # one example per rule: the edition it joined that spans the most sites, then the most sightings
    for rule, _n in report.edition_rules[: EXAMPLES + 2]:
        row = con.execute(
            """
            SELECT p.edition_id, p.display_title, p.language, p.sighting_count, p.sources
            FROM match_links AS l JOIN publications AS p ON p.edition_id = l.edition_a
            WHERE l.dedup_run_id = ? AND l.level = 'edition' AND l.decision = 'joined' AND l.rule = ?
              AND p.sighting_count > 1
            ORDER BY len(p.sources) DESC, p.sighting_count DESC, p.title IS NULL, p.edition_id LIMIT 1
            """,
            [dedup_run, rule],
        ).fetchone()
        if row is None or any(e.edition_id == row[0] for e in report.edition_examples):
            continue
        rules = _rows(
            con,
            "SELECT rule, count(*) AS n FROM match_links WHERE dedup_run_id = ? AND level = 'edition' "
            "AND decision = 'joined' AND edition_a = ? GROUP BY rule ORDER BY n DESC, rule",
            [dedup_run, row[0]],
        )
        sightings = _rows(
            con,
            """
            SELECT s.source, p.format, s.title,
                   coalesce(s.full_abstract, s.abstract) AS text, s.url
            FROM edition_members AS m JOIN sightings AS s USING (sighting_id) JOIN raw_pages AS p USING (page_id)
            WHERE m.edition_id = ?
            -- one of each site and page format first: the point is to show how differently it was seen
            ORDER BY row_number() OVER (PARTITION BY s.source, p.format ORDER BY s.sighting_id), s.source, p.format
            LIMIT 5
            """,
            [row[0]],
        )
        report.edition_examples.append(
            EditionExample(
                rule,
                row[0],
                row[1],
                row[2],
                int(row[3]),
                list(row[4]),
                [(r, int(n)) for r, n in rules],
                [Sighting(*s) for s in sightings],
            )
        )
        if len(report.edition_examples) >= EXAMPLES:
            break
    for rule, _n in report.work_rules:
        row = con.execute(
            """
            SELECT w.work_id, w.display_title, w.languages, w.edition_count, l.score, l.evidence
            FROM match_links AS l JOIN publications AS p ON p.edition_id = l.edition_a JOIN works AS w USING (work_id)
            WHERE l.dedup_run_id = ? AND l.level = 'work' AND l.decision = 'joined' AND l.rule = ?
            ORDER BY len(w.languages) DESC, w.title IS NULL, w.edition_count, l.score DESC, w.work_id LIMIT 1
            """,
            [dedup_run, rule],
        ).fetchone()
        if row is None or any(e.work_id == row[0] for e in report.work_examples):
            continue
        editions = _rows(
            con,
            # every language before a second edition of any: the point is to show the languages
            "SELECT language, display_title FROM publications WHERE work_id = ? ORDER BY row_number() OVER "
            "(PARTITION BY language ORDER BY title IS NULL, display_title), language NULLS LAST LIMIT 6",
            [row[0]],
        )
        report.work_examples.append(
            WorkExample(rule, row[0], row[1], list(row[2]), editions, int(row[3]), float(row[4]), row[5])
        )
        if len(report.work_examples) >= EXAMPLES:
            break
    report.refusals = [
        Refusal(level, rule, decision, reason, int(n))
        for level, rule, decision, reason, n in _rows(
            con,
            "SELECT level, rule, decision, reason, count(*) AS n FROM match_links "
            "WHERE dedup_run_id = ? AND decision <> 'joined' GROUP BY ALL ORDER BY n DESC, level, rule, reason",
            [dedup_run],
        )
    ]


def _quality(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    rows = _rows(
        con,
        """
        WITH f AS (
            SELECT s.sighting_id, s.title, unnest(s.quality_flags) AS flag FROM sightings AS s
            WHERE len(s.quality_flags) > 0
        )
        SELECT split_part(f.flag, ':', 1) AS kind, count(DISTINCT f.sighting_id), count(DISTINCT m.edition_id),
               list_sort(list_distinct(list(f.flag)))[1:3], any_value(f.title) FILTER (WHERE f.title IS NOT NULL)
        FROM f LEFT JOIN edition_members AS m USING (sighting_id)
        GROUP BY kind ORDER BY 2 DESC, kind
        """,
    )
    report.flags = [FlagRow(k, int(s), int(e), list(ex), t) for k, s, e, ex, t in rows]
    report.reject_groups = [
        RejectGroup(stage, reason, int(n), int(last))
        for stage, reason, n, last in _rows(
            con,
            "SELECT stage, reason, count(*) AS n, max(run_id) FROM rejects GROUP BY stage, reason "
            f"ORDER BY n DESC, stage, reason LIMIT {LIST_LIMIT}",
        )
    ]
    report.recent_rejects = [
        RejectRow(*row)
        for row in _rows(
            con,
            """
            SELECT r.run_id, r.stage, p.source, p.url, r.reason, r.excerpt
            FROM rejects AS r LEFT JOIN raw_pages AS p USING (page_id)
            ORDER BY r.reject_id DESC LIMIT 15
            """,
        )
    ]


def _fetches(con: duckdb.DuckDBPyConnection, report: Report) -> None:
    """Failures of the latest run that fetched anything: an offline run after it does not hide them."""
    fetch_run = _int(con, "SELECT max(run_id) FROM fetches")
    failed = f"outcome NOT IN {FETCH_OK!r}"
    report.fetch_failures_all_runs = _count(con, f"SELECT count(*) FROM fetches WHERE {failed}")
    report.totals["fetch_failures"] = 0
    if fetch_run is None:
        return
    report.fetch_run = int(fetch_run)
    report.totals["fetch_failures"] = _count(
        con, f"SELECT count(*) FROM fetches WHERE run_id = ? AND {failed}", [fetch_run]
    )
    report.fetch_outcomes = [
        (o, int(n))
        for o, n in _rows(
            con,
            "SELECT outcome, count(*) AS n FROM fetches WHERE run_id = ? GROUP BY outcome ORDER BY n DESC, outcome",
            [fetch_run],
        )
    ]
    report.fetch_failures = [
        FetchFailure(o, r, s, int(n), list(src), url)
        for o, r, s, n, src, url in _rows(
            con,
            f"""
            SELECT outcome, reason, max(status), count(*) AS n, list_sort(list_distinct(list(source))), min(url)
            FROM fetches WHERE run_id = ? AND {failed}
            GROUP BY outcome, reason ORDER BY n DESC, outcome, reason LIMIT {LIST_LIMIT}
            """,
            [fetch_run],
        )
    ]


def build_report(db_path: Location, now: datetime | None = None) -> Report:
    """Open the warehouse read-only (a report never blocks or alters an ingest's data) and gather."""
    import duckdb

    from pipeline.warehouse import connect, rebuild_hint

    con = connect(db_path, read_only=True)
    try:
        return gather(con, str(db_path), now)
    except duckdb.Error as exc:
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
        raise WarehouseError(f"{db_path} is not a readable warehouse ({reason}); {rebuild_hint(db_path)}") from exc
    finally:
        con.close()


def write_report(db_path: Location, out: Path, now: datetime | None = None) -> Report:
    """Write the report page to `out` (through a temporary file, so a reader never sees half a page)."""
    from pipeline.report_html import render

    report = build_report(db_path, now)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    try:
        tmp.write_text(render(report), encoding="utf-8")
        tmp.replace(out)
    except OSError:  # a full or read-only disk: leave the last good report, not a torn temp file
        tmp.unlink(missing_ok=True)
        raise
    return report


# -- the command ------------------------------------------------------------------------------
# The only part of this module that prints or picks an exit code (pipeline/cli.py's codes).


@click.command()
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("report.html"),
    show_default=True,
    help="HTML file to write (one self-contained page: no script, no network needed to view it).",
)
@warehouse_options(read_only=True)
def report(out: Path, db: str | None, data_path: Path | None) -> None:
    """Write the run report: counts per site, type, year and language; what the latest run added,
    changed and withdrew; merges and the rules behind them; quality flags, rejects, fetch failures."""
    from pipeline.errors import PipelineError, WarehouseLockedError

    try:
        settings = settings_from(db, data_path)
        written = write_report(settings.db_path, out)
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(4 if isinstance(exc, WarehouseLockedError) else 5)
    except OSError as exc:
        click.echo(f"error: cannot write {out}: {exc}", err=True)
        sys.exit(5)
    run = written.current_run
    click.echo(
        f"{out}: {written.totals['editions']} editions, {written.totals['works']} works"
        + (f"; run {run.run_id} {run.status}" if run else "; no run yet")
    )
