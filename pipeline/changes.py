"""Log what each dedup pass added, changed and withdrew, per edition and per work.

Downstream catalogues sync incrementally (`export --since`, OAI-PMH `from`/`until` and deleted
records) and the report says what is new and gone; all of them need to know when a record last
changed, which the views cannot say. After every pass, each record's exported fields are hashed
and compared with the last hash logged for its id in `record_changes`: a new id is `added`, a
different hash `changed`, an id that is no longer there `withdrawn` (its pages are gone, or it
was merged into another id). Comparing with the log, not with the previous pass, makes a crash
between the pass and the log harmless: the next pass logs the difference.
"""

from __future__ import annotations

import duckdb

#: fields whose change is a change of the record for a catalogue (not counts or sighting lists)
EDITION_FIELDS = "work_id, language, title, abstract, year, page_count, isbn, eisbn, languages, pdf_urls, url, sources"
WORK_FIELDS = "title, languages, edition_ids"


def _current_sql(level: str) -> str:
    if level == "edition":
        fields = ", ".join(f"{f} := {f}" for f in EDITION_FIELDS.split(", "))
        return f"SELECT edition_id AS id, hash(struct_pack({fields})) AS h FROM publications"
    fields = ", ".join(f"{f} := {f}" for f in WORK_FIELDS.split(", "))
    return f"SELECT work_id AS id, hash(struct_pack({fields})) AS h FROM works"


def record(con: duckdb.DuckDBPyConnection, dedup_run_id: int, run_id: int | None) -> dict[str, int]:
    """Append this pass's changes to record_changes; returns counts like {"edition_added": 3}.

    The current hashes are materialised once: inlined, the `publications` view (ordered aggregates
    over every sighting's text) was evaluated for the join and again for the anti-join.
    """
    counts: dict[str, int] = {}
    con.execute("BEGIN TRANSACTION")
    try:
        for level in ("edition", "work"):
            con.execute(
                f"""
                INSERT INTO record_changes
                SELECT nextval('record_change_seq'), ?, ?, ?, id, op, now(), h
                FROM (
                    WITH cur AS MATERIALIZED ({_current_sql(level)}),
                    last AS (SELECT id, content_hash, withdrawn FROM record_status WHERE level = ?)
                    SELECT c.id, CASE WHEN l.id IS NULL OR l.withdrawn THEN 'added' ELSE 'changed' END AS op, c.h
                    FROM cur AS c LEFT JOIN last AS l USING (id)
                    WHERE l.id IS NULL OR l.withdrawn OR l.content_hash IS DISTINCT FROM c.h
                    UNION ALL
                    SELECT l.id, 'withdrawn' AS op, NULL AS h
                    FROM last AS l ANTI JOIN cur AS c USING (id)
                    WHERE NOT l.withdrawn
                    ORDER BY op, id
                )
                """,
                [dedup_run_id, run_id, level, level],
            )
            for op, n in con.execute(
                "SELECT op, count(*) FROM record_changes WHERE dedup_run_id = ? AND level = ? GROUP BY op",
                [dedup_run_id, level],
            ).fetchall():
                counts[f"{level}s_{op}"] = int(n)
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return counts
