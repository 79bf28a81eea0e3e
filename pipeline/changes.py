"""Log what each dedup pass added, changed and withdrew, per edition and per work, and why.

Downstream catalogues sync incrementally (`export --since`, OAI-PMH `from`/`until` and deleted
records) and the report says what is new and gone; all of them need to know when a record last
changed, which the views cannot say. After every pass, each record's exported fields are hashed
and compared with the last hash logged for its id in `record_changes`: a new id is `added`, a
different hash `changed`, an id that is no longer published `withdrawn`. Comparing with the log,
not with the previous pass, makes a crash between the pass and the log harmless: the next pass
logs the difference.

An id stops being published when it merges into another, when none of its sightings are left,
or when the sites stop listing it. The archive keeps every page version, so the sightings of an
item the sites dropped never go away by themselves: absence has to be read from the walks of the
listing sections (`section_walks`). An edition seen on listing pages is withdrawn when every
section that ever showed it was walked to its end at least `withdraw_after_walks` times since it
last showed it (`withdrawals`); a walk that failed, stopped early or raised a layout alert proves
nothing and does not count, and an offline run has no walks at all. Those editions go into
`edition_withdrawals`, which the `publications` view leaves out; the comparison above then logs
them withdrawn, and logs them added again if a later walk shows them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import duckdb

from pipeline.settings import default
from pipeline.warehouse import committed, next_ids, transaction

if TYPE_CHECKING:
    import pyarrow as pa

#: fields whose change is a change of the record for a catalogue (not counts or sighting lists)
EDITION_FIELDS = "work_id, language, title, abstract, year, page_count, isbn, eisbn, languages, pdf_urls, url, sources"
WORK_FIELDS = "title, languages, edition_ids"

#: listing page formats: the pages whose cards a section walk reads
LISTING_FORMATS = ("html-listing", "text-listing")


def _fields(level: str) -> list[str]:
    return (EDITION_FIELDS if level == "edition" else WORK_FIELDS).split(", ")


def _current_sql(level: str) -> str:
    """Each published record's hash of its exported fields, and the hash of each field apart.

    The whole-record hash is what decides a change (and is what earlier logs hold); the hashes
    per field only say which fields it was, for the change's reason.
    """
    names = _fields(level)
    packed = ", ".join(f"{f} := {f}" for f in names)
    each = ", ".join(f"hash({f})" for f in names)
    if level == "edition":
        return f"SELECT edition_id AS id, hash(struct_pack({packed})) AS h, [{each}] AS fh FROM publications"
    return f"SELECT work_id AS id, hash(struct_pack({packed})) AS h, [{each}] AS fh FROM works"


#: editions to withdraw by absence, with the sections that showed them ($n: withdraw_after_walks)
WITHDRAWALS_SQL = """
WITH walk_pages AS (
    SELECT w.walk_id, w.section, w.finished_at, unnest(w.page_ids) AS page_id
    FROM section_walks AS w
),
last_rejects AS (  -- pages whose last parse gave up on a record: a card may be missing from their sightings
    SELECT DISTINCT r.page_id
    FROM rejects AS r JOIN raw_pages AS p ON p.page_id = r.page_id AND r.run_id = p.parsed_run_id
),
complete AS (  -- walks that read every page of their section, each page parsed whole
    SELECT w.walk_id, any_value(w.section) AS section, any_value(w.started_at) AS started_at
    FROM section_walks AS w
    JOIN walk_pages AS wp USING (walk_id)
    LEFT JOIN raw_pages AS p ON p.page_id = wp.page_id
    LEFT JOIN last_rejects AS rj ON rj.page_id = wp.page_id
    WHERE w.walked_to_end AND w.started_at IS NOT NULL
    GROUP BY w.walk_id
    HAVING bool_and(coalesce(p.parse_status = 'parsed', false) AND rj.page_id IS NULL)
),
threshold AS (  -- per section: the start of its N-th latest complete walk
    SELECT section, started_at AS since
    FROM (SELECT section, started_at, row_number() OVER (PARTITION BY section ORDER BY started_at DESC) AS nth
          FROM complete)
    WHERE nth = $n
),
walked_pages AS (  -- each page version a walk saw: its section and the end of the last walk that saw it
    SELECT page_id, any_value(section) AS section, max(finished_at) AS last_walked_at
    FROM walk_pages GROUP BY page_id
),
params AS (
    SELECT source, any_value(pager_param) AS param FROM section_walks
    WHERE source IS NOT NULL AND pager_param IS NOT NULL GROUP BY source
),
listed AS (  -- every listing page version that shows an edition, its section, and when it last showed it
    SELECT DISTINCT m.edition_id, m.work_id, p.page_id,
           -- a page no recorded walk saw (an older version): its URL without the pager parameter
           coalesce(wp.section, listing_section(p.url, coalesce(pr.param, 'page'))) AS section,
           greatest(p.retrieved_at, wp.last_walked_at) AS shown_at
    FROM edition_members AS m
    JOIN sightings AS s USING (sighting_id)
    JOIN raw_pages AS p ON p.page_id = s.page_id
    LEFT JOIN walked_pages AS wp ON wp.page_id = p.page_id
    LEFT JOIN params AS pr ON pr.source = p.source
    WHERE s.kind = 'publication' AND p.format IN ('html-listing', 'text-listing')
),
last_listed AS (  -- per edition and section: when a page of it last showed the edition
    SELECT edition_id, any_value(work_id) AS work_id, section, max(shown_at) AS last_listed_at
    FROM listed GROUP BY edition_id, section
),
gone AS (
    SELECT l.edition_id, any_value(l.work_id) AS work_id, list_sort(list(l.section)) AS sections,
           max(l.last_listed_at) AS last_listed_at
    FROM last_listed AS l LEFT JOIN threshold AS t ON t.section = l.section
    GROUP BY l.edition_id
    -- every section that showed it (one of unknown section never qualifies) walked N times since
    HAVING bool_and(coalesce(t.since > l.last_listed_at, false))
),
walks_since AS (  -- for the withdrawn only: complete walks since, in the section with the fewest
    SELECT edition_id, CAST(min(n) AS INTEGER) AS walks_since
    FROM (
        SELECT g.edition_id, l.section, count(c.walk_id) AS n
        FROM gone AS g
        JOIN last_listed AS l ON l.edition_id = g.edition_id
        LEFT JOIN complete AS c ON c.section = l.section AND c.started_at > l.last_listed_at
        GROUP BY g.edition_id, l.section
    )
    GROUP BY edition_id
)
SELECT g.edition_id, g.work_id, g.sections, g.last_listed_at, s.walks_since,
       coalesce(o.withdrawn_run_id, $run_id) AS withdrawn_run_id, $dedup_run_id AS dedup_run_id,
       'not listed by ' || $n || ' complete walks of ' || array_to_string(g.sections, ', ') AS reason
FROM gone AS g
JOIN walks_since AS s USING (edition_id)
LEFT JOIN edition_withdrawals AS o USING (edition_id)
ORDER BY g.edition_id
"""


def withdrawals(con: duckdb.DuckDBPyConnection, after_walks: int, dedup_run_id: int, run_id: int | None) -> pa.Table:
    """The editions the sites no longer list, as rows of `edition_withdrawals` (an Arrow table).

    Judged from the data alone (walks, pages, clusters), so running it again, or after a
    rebuild from raw/, gives the same answer. Walks are ordered by time, not by run id: run ids
    start again when a warehouse is rebuilt, while the fetch log keeps the older runs' walks.
    """
    params = {"n": max(1, int(after_walks)), "run_id": run_id, "dedup_run_id": dedup_run_id}
    return con.execute(WITHDRAWALS_SQL, params).to_arrow_table()


def _write_withdrawals(con: duckdb.DuckDBPyConnection, rows: pa.Table) -> None:
    """Replace `edition_withdrawals` with `rows`, unless it holds them already (a lake snapshot saved)."""
    wanted = sorted(zip(*(rows.column(c).to_pylist() for c in ("edition_id", "walks_since", "reason")), strict=True))
    held = sorted(con.execute("SELECT edition_id, walks_since, reason FROM edition_withdrawals").fetchall())
    if held == wanted:
        return

    def write() -> None:
        with transaction(con):
            con.execute("DELETE FROM edition_withdrawals")
            con.execute("INSERT INTO edition_withdrawals BY NAME SELECT * FROM dd_withdrawals")

    con.register("dd_withdrawals", rows)
    try:
        committed(con, write)
    finally:
        con.unregister("dd_withdrawals")


#: complete walks without an edition before it is withdrawn, unless the caller's settings say otherwise
DEFAULT_WITHDRAW_AFTER_WALKS: int = default("withdraw_after_walks")


def record(
    con: duckdb.DuckDBPyConnection,
    dedup_run_id: int,
    run_id: int | None,
    withdraw_after_walks: int = DEFAULT_WITHDRAW_AFTER_WALKS,
) -> dict[str, int]:
    """Withdraw what the sites no longer list, then append this pass's changes to record_changes.

    Returns counts like {"editions_added": 3}. `withdraw_after_walks` comes from the caller's
    settings (`Settings.withdraw_after_walks`, IOM_WITHDRAW_AFTER_WALKS), through the ingest's
    options and the dedup pass.

    The current hashes are materialised once: inlined, the `publications` view (ordered aggregates
    over every sighting's text) was evaluated for the join and again for the anti-join. The
    changes are computed first and numbered from `record_change_seq` afterwards, through
    warehouse.next_ids: a lake has no sequences for an INSERT to call. The withdrawals are
    written in a transaction of their own before: a crash between the two leaves a log that the
    next pass completes, as for any other change.
    """
    import pyarrow as pa

    _write_withdrawals(con, withdrawals(con, withdraw_after_walks, dedup_run_id, run_id))

    found = {}
    for level in ("edition", "work"):
        names = "[" + ", ".join(f"'{f}'" for f in _fields(level)) + "]"
        gone_reason = "all its editions withdrawn" if level == "work" else "no longer published"
        found[level] = con.execute(
            f"""
            WITH cur AS MATERIALIZED ({_current_sql(level)}),
            last AS (
                SELECT id, arg_max(op, change_id) = 'withdrawn' AS withdrawn,
                       arg_max(content_hash, change_id) AS content_hash,
                       arg_max(field_hashes, change_id) AS field_hashes
                FROM record_changes WHERE level = $level GROUP BY id
            )
            SELECT c.id, CASE WHEN l.id IS NULL OR l.withdrawn THEN 'added' ELSE 'changed' END AS op, c.h, c.fh,
                   CASE WHEN l.id IS NULL THEN 'new'
                        WHEN l.withdrawn THEN 'listed again'
                        WHEN l.field_hashes IS NULL OR len(l.field_hashes) <> len(c.fh) THEN NULL
                        ELSE nullif(array_to_string(
                            list_filter({names}, lambda f, i: c.fh[i] IS DISTINCT FROM l.field_hashes[i]), ', '), '')
                   END AS reason
            FROM cur AS c LEFT JOIN last AS l USING (id)
            WHERE l.id IS NULL OR l.withdrawn OR l.content_hash IS DISTINCT FROM c.h
            UNION ALL
            SELECT l.id, 'withdrawn' AS op, NULL AS h, NULL AS fh,
                   CASE WHEN w.reason IS NOT NULL THEN w.reason
                        WHEN i.status = 'merged' THEN 'merged into ' || i.merged_into
                        WHEN i.status = 'retired' THEN 'no sightings left'
                        ELSE '{gone_reason}' END AS reason
            FROM last AS l
            LEFT JOIN edition_withdrawals AS w ON $level = 'edition' AND w.edition_id = l.id
            LEFT JOIN dedup_ids AS i ON i.id = l.id
            WHERE NOT l.withdrawn AND l.id NOT IN (SELECT id FROM cur)
            ORDER BY op, id
            """,
            {"level": level},
        ).to_arrow_table()
    ids = iter(next_ids(con, "record_change_seq", sum(t.num_rows for t in found.values())))
    counts: dict[str, int] = {}
    for level, table in found.items():
        found[level] = table.append_column(
            "change_id", pa.array([next(ids) for _ in range(table.num_rows)], pa.int64())
        )
        for op in table.column("op").to_pylist():
            counts[f"{level}s_{op}"] = counts.get(f"{level}s_{op}", 0) + 1

    def write() -> None:
        with transaction(con):
            for level, table in found.items():
                con.register("dd_changes", table)
                try:
                    con.execute(
                        "INSERT INTO record_changes (change_id, dedup_run_id, run_id, level, id, op, changed_at, "
                        "content_hash, reason, field_hashes) "
                        "SELECT change_id, ?, ?, ?, id, op, now(), h, reason, fh FROM dd_changes ORDER BY change_id",
                        [dedup_run_id, run_id, level],
                    )
                finally:
                    con.unregister("dd_changes")

    committed(con, write)
    return counts


def describe(counts: dict[str, int]) -> str:
    """One line for a run's notes: `editions: 2 added, 1 withdrawn; works: 1 withdrawn`."""
    parts = []
    for level in ("edition", "work"):
        ops = [f"{n} {op}" for op in ("added", "changed", "withdrawn") if (n := counts.get(f"{level}s_{op}"))]
        if ops:
            parts.append(f"{level}s: {', '.join(ops)}")
    return "; ".join(parts) or "no record changed"
