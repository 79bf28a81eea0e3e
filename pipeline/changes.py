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

from pipeline.warehouse import committed, next_ids, transaction

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
    over every sighting's text) was evaluated for the join and again for the anti-join. The
    changes are computed first and numbered from `record_change_seq` afterwards, through
    warehouse.next_ids: a lake has no sequences for an INSERT to call.
    """
    import pyarrow as pa

    found = {}
    for level in ("edition", "work"):
        found[level] = con.execute(
            f"""
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
            """,
            [level],
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
                        "INSERT INTO record_changes SELECT change_id, ?, ?, ?, id, op, now(), h FROM dd_changes "
                        "ORDER BY change_id",
                        [dedup_run_id, run_id, level],
                    )
                finally:
                    con.unregister("dd_changes")

    committed(con, write)
    return counts
