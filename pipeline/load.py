"""Write archive entries and parsed pages into the warehouse in bulk, one transaction a batch.

Every table states its key: raw_pages by page_id, sightings by sighting_id (<page_id>:<position>),
so replaying the same archive writes the same rows. A batch either lands whole or not at all,
which is what lets a killed run be started again without duplicates. Each transaction goes
through `warehouse.committed`, so on a lake a commit that conflicts with another worker's is
done again.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.archive import ArchiveEntry
from pipeline.warehouse import committed, next_ids, transaction

if TYPE_CHECKING:
    from pipeline.page_result import PageResult


@functools.cache
def _schemas() -> dict[str, Any]:
    """Arrow schemas of the bulk loads, built on first use.

    pyarrow (and the numpy it imports) costs about a quarter of a second to import: a run with
    nothing to load, and every command that only reads, should not pay it.
    """
    import pyarrow as pa

    list_ = pa.list_(pa.string())
    page = pa.schema(
        [
            ("page_id", pa.string()),
            ("source", pa.string()),
            ("url", pa.string()),
            ("format", pa.string()),
            ("sha256", pa.string()),
            ("retrieved_at", pa.string()),
            ("size_bytes", pa.int64()),
            ("http_status", pa.int32()),
            ("label", pa.string()),
        ]
    )

    sighting = pa.schema(
        [
            ("sighting_id", pa.string()),
            ("page_id", pa.string()),
            ("run_id", pa.int32()),
            ("source", pa.string()),
            ("position", pa.int32()),
            ("kind", pa.string()),
            ("title", pa.string()),
            ("abstract", pa.string()),
            ("abstract_truncated", pa.bool_()),
            ("full_abstract", pa.string()),
            ("year", pa.int32()),
            ("page_count", pa.int32()),
            ("isbn", list_),
            ("eisbn", list_),
            ("languages", list_),
            ("text_language", pa.string()),
            ("pdf_available", pa.bool_()),
            ("pdf_urls", list_),
            ("url", pa.string()),
            ("canonical_url", pa.string()),
            ("detail_url", pa.string()),
            ("edition_links", list_),
            ("extra", pa.string()),
            ("quality_flags", list_),
            ("toc", list_),
            ("attachments", list_),
        ]
    )

    reject = pa.schema(
        [
            ("run_id", pa.int32()),
            ("page_id", pa.string()),
            ("stage", pa.string()),
            ("position", pa.int32()),
            ("reason", pa.string()),
            ("excerpt", pa.string()),
            ("record", pa.string()),
        ]
    )

    fetch = pa.schema(
        [
            ("fetch_id", pa.string()),
            ("run_id", pa.int32()),
            ("source", pa.string()),
            ("kind", pa.string()),
            ("url", pa.string()),
            ("final_url", pa.string()),
            ("status", pa.int32()),
            ("outcome", pa.string()),
            ("reason", pa.string()),
            ("conditional", pa.bool_()),
            ("etag", pa.string()),
            ("last_modified", pa.string()),
            ("content_type", pa.string()),
            ("sha256", pa.string()),
            ("fetched_at", pa.string()),
            ("attempts", pa.int32()),
            ("elapsed_ms", pa.int32()),
        ]
    )
    return {"page": page, "sighting": sighting, "reject": reject, "fetch": fetch}


#: entries registered per statement: the rows of one chunk are all this holds in memory at once
REGISTER_CHUNK = 5_000


def register_pages(con: duckdb.DuckDBPyConnection, run_id: int, entries: Sequence[ArchiveEntry]) -> int:
    """Add archive entries the warehouse has not seen; return how many were new.

    In chunks: rows for the whole archive at once made the run's peak memory grow with it.
    """
    # a run over an archive the warehouse knows registers nothing: no bulk load to build
    known = {page_id for (page_id,) in con.execute("SELECT page_id FROM raw_pages").fetchall()}
    entries = [e for e in entries if e.page_id not in known]
    for start in range(0, len(entries), REGISTER_CHUNK):
        chunk = entries[start : start + REGISTER_CHUNK]
        committed(con, functools.partial(_register_chunk, con, run_id, chunk))
    # counted here, not as the table's growth: on a lake other workers add pages meanwhile
    return len({e.page_id for e in entries})


def _register_chunk(con: duckdb.DuckDBPyConnection, run_id: int, entries: Sequence[ArchiveEntry]) -> None:
    import pyarrow as pa

    rows = [
        {
            "page_id": e.page_id,
            "source": e.source,
            "url": e.url,
            "format": e.format,
            "sha256": e.sha256,
            "retrieved_at": e.retrieved_at,
            "size_bytes": e.size,
            "http_status": e.status,
            "label": e.label,
        }
        for e in entries
    ]
    con.register("incoming", pa.Table.from_pylist(rows, schema=_schemas()["page"]))
    try:
        con.execute(
            """
            INSERT INTO raw_pages BY NAME
            SELECT DISTINCT ON (page_id) page_id, source, url, format, sha256,
                   CAST(retrieved_at AS TIMESTAMPTZ) AS retrieved_at, size_bytes, http_status, label,
                   ? AS first_run_id, 'pending' AS parse_status
            FROM incoming
            WHERE page_id NOT IN (SELECT page_id FROM raw_pages)
            """,
            [run_id],
        )
    finally:
        con.unregister("incoming")


def write_batch(con: duckdb.DuckDBPyConnection, run_id: int, results: Sequence[PageResult]) -> tuple[int, int]:
    """Replace the sightings of these pages and record their rejects, atomically.

    A result marked `keep_rows` (its body could not be read) only adds its rejects: its page's
    sightings and parse status stay as an earlier run left them, since nothing replaces them.
    Returns (sightings written, rejects written).
    """
    import pyarrow as pa

    replaced = [r for r in results if not r.keep_rows]
    sighting_rows = [row for result in replaced for row in result.sighting_rows()]
    reject_rows = [
        {
            "run_id": run_id,
            "page_id": result.entry.page_id,
            "stage": r["stage"],
            "position": r.get("position"),
            "reason": r["reason"],
            "excerpt": r.get("excerpt"),
            "record": r.get("record"),
        }
        for result in results
        for r in result.rejects
    ]
    status_rows = [
        {
            "page_id": r.entry.page_id,
            "parse_status": "parsed" if r.ok else "failed",
            "parse_error": r.error,
            "sightings_count": r.sighting_count,
            "page_info": json.dumps(r.page_info, ensure_ascii=False, default=str) if r.page_info else None,
        }
        for r in replaced
    ]
    new_sightings = pa.Table.from_pylist(sighting_rows, schema=_schemas()["sighting"])
    new_rejects = _with_reject_ids(con, pa.Table.from_pylist(reject_rows, schema=_schemas()["reject"]))
    statuses = pa.Table.from_pylist(
        status_rows,
        schema=pa.schema(
            [
                ("page_id", pa.string()),
                ("parse_status", pa.string()),
                ("parse_error", pa.string()),
                ("sightings_count", pa.int32()),
                ("page_info", pa.string()),
            ]
        ),
    )
    tables = {"new_sightings": new_sightings, "new_rejects": new_rejects, "statuses": statuses}

    def write() -> None:
        with transaction(con):
            # only pages an earlier batch wrote can have rows: a first parse (every page of a rebuild)
            # skips the scan of the whole sightings table, which grows with the archive
            (written,) = con.execute(
                "SELECT count(*) FROM raw_pages "
                "WHERE parsed_run_id IS NOT NULL AND page_id IN (SELECT page_id FROM statuses)"
            ).fetchone() or (0,)
            if written:
                con.execute("DELETE FROM sightings WHERE page_id IN (SELECT page_id FROM statuses)")
            con.execute(
                "INSERT INTO sightings BY NAME "
                "SELECT * REPLACE (CAST(extra AS JSON) AS extra, CAST(? AS INTEGER) AS run_id) FROM new_sightings",
                [run_id],
            )
            con.execute(
                "INSERT INTO rejects BY NAME SELECT * REPLACE (CAST(record AS JSON) AS record) FROM new_rejects"
            )
            con.execute(
                """
                UPDATE raw_pages AS p
                SET parse_status = s.parse_status, parse_error = s.parse_error,
                    sightings_count = s.sightings_count, page_info = CAST(s.page_info AS JSON),
                    parsed_run_id = ?
                FROM statuses AS s
                WHERE p.page_id = s.page_id
                """,
                [run_id],
            )

    with _registered(con, tables):
        committed(con, write)
    return len(sighting_rows), len(reject_rows)


@contextlib.contextmanager
def _registered(con: duckdb.DuckDBPyConnection, tables: dict[str, Any]) -> Iterator[None]:
    """Arrow tables visible to SQL by name for a block: a retried transaction scans them again."""
    for name, table in tables.items():
        con.register(name, table)
    try:
        yield
    finally:
        for name in tables:
            con.unregister(name)


def _with_reject_ids(con: duckdb.DuckDBPyConnection, rejects: Any) -> Any:
    """Rejects with their ids: from `reject_seq`, taken here because a lake column has no sequence default."""
    import pyarrow as pa

    ids = next_ids(con, "reject_seq", rejects.num_rows)
    return rejects.append_column("reject_id", pa.array(ids, pa.int64()))


def write_rejects(con: duckdb.DuckDBPyConnection, run_id: int, rows: Sequence[dict]) -> int:
    """Record rejects that belong to no parsed page (e.g. a manifest line moved out); return how many."""
    import pyarrow as pa

    new_rejects = pa.Table.from_pylist(
        [{**{name: None for name in _schemas()["reject"].names}, **row, "run_id": run_id} for row in rows],
        schema=_schemas()["reject"],
    )
    with _registered(con, {"new_rejects": _with_reject_ids(con, new_rejects)}):
        committed(
            con,
            lambda: con.execute(
                "INSERT INTO rejects BY NAME SELECT * REPLACE (CAST(record AS JSON) AS record) FROM new_rejects"
            ),
        )
    return len(rows)


def register_fetches(con: duckdb.DuckDBPyConnection, records: Sequence[dict]) -> int:
    """Copy fetch-log lines the warehouse does not have yet into `fetches`."""
    known = {fetch_id for (fetch_id,) in con.execute("SELECT fetch_id FROM fetches").fetchall()}
    records = [r for r in records if r.get("fetch_id") and r["fetch_id"] not in known]
    if not records:  # nothing new in the fetch log: no bulk load to build
        return 0
    import pyarrow as pa

    rows = [{name: r.get(name) for name in _schemas()["fetch"].names} for r in records]
    with _registered(con, {"incoming": pa.Table.from_pylist(rows, schema=_schemas()["fetch"])}):
        committed(
            con,
            lambda: con.execute(
                """
                INSERT INTO fetches BY NAME
                SELECT DISTINCT ON (fetch_id) * REPLACE (CAST(fetched_at AS TIMESTAMPTZ) AS fetched_at)
                FROM incoming WHERE fetch_id NOT IN (SELECT fetch_id FROM fetches)
                """
            ),
        )
    # counted here, not as the table's growth: on a lake other workers add fetches meanwhile
    return len({r["fetch_id"] for r in records})


def register_walks(con: duckdb.DuckDBPyConnection, records: Sequence[dict]) -> int:
    """Copy the fetch log's section lines the warehouse does not have yet into `section_walks`.

    A line has no id of its own, so its hash is one (as the crawler's `fetch_id`): a replayed
    log loads the same rows. The pages a walk saw are named by URL and body hash in the log and
    turned into page_ids here. Returns how many walks were new.
    """
    import hashlib

    import pyarrow as pa

    from pipeline.archive import page_id_of

    rows = {}
    for r in records:
        if r.get("kind") != "section":
            continue
        walk_id = hashlib.sha256(repr(sorted((k, repr(v)) for k, v in r.items())).encode()).hexdigest()[:16]
        pages = r.get("walked_pages") or []
        rows[walk_id] = {
            "walk_id": walk_id,
            "run_id": r.get("run_id"),
            "source": r.get("source"),
            "section": r["url"],
            "started_at": r.get("started_at"),
            "finished_at": r.get("finished_at"),
            # a walk that names no page cannot say what it saw
            "walked_to_end": bool(r.get("walked_to_end")) and bool(pages) and bool(r.get("source")),
            "details_complete": bool(r.get("complete")),
            "pages": int(r.get("pages") or 0),
            "page_urls": [p["url"] for p in pages],
            "page_ids": [page_id_of(r.get("source") or "", p["url"], p["sha256"]) for p in pages],
            "pager_param": r.get("pager_param"),
        }
    known = {walk_id for (walk_id,) in con.execute("SELECT walk_id FROM section_walks").fetchall()}
    new = [row for walk_id, row in rows.items() if walk_id not in known]
    if not new:
        return 0
    list_ = pa.list_(pa.string())
    schema = pa.schema(
        [
            ("walk_id", pa.string()),
            ("run_id", pa.int32()),
            ("source", pa.string()),
            ("section", pa.string()),
            ("started_at", pa.string()),
            ("finished_at", pa.string()),
            ("walked_to_end", pa.bool_()),
            ("details_complete", pa.bool_()),
            ("pages", pa.int32()),
            ("page_urls", list_),
            ("page_ids", list_),
            ("pager_param", pa.string()),
        ]
    )
    with _registered(con, {"incoming_walks": pa.Table.from_pylist(new, schema=schema)}):
        committed(
            con,
            lambda: con.execute(
                """
                INSERT INTO section_walks BY NAME
                SELECT * REPLACE (CAST(started_at AS TIMESTAMPTZ) AS started_at,
                                  CAST(finished_at AS TIMESTAMPTZ) AS finished_at)
                FROM incoming_walks WHERE walk_id NOT IN (SELECT walk_id FROM section_walks)
                """
            ),
        )
    return len(new)


def complete_from_details(con: duckdb.DuckDBPyConnection) -> None:
    """Give each listing card the full abstract of its detail page, beside (not over) its teaser.

    Matched on the canonical URL, so a card linking to /en/... finds a detail fetched as /fr/...,
    and on the kind: a publication card never takes the prose of a news, event or about page
    that happens to sit at the URL it links to. Idempotent: it writes the same values on every run.
    """
    committed(
        con,
        lambda: con.execute(
            """
        UPDATE sightings AS card
        SET full_abstract = d.abstract, detail_url = d.url
        FROM (
            SELECT DISTINCT ON (s.canonical_url) s.canonical_url, s.abstract, s.url, s.kind
            FROM sightings AS s JOIN raw_pages AS p USING (page_id)
            WHERE p.format = 'html-detail' AND s.abstract IS NOT NULL AND s.canonical_url IS NOT NULL
            ORDER BY s.canonical_url, p.retrieved_at DESC
        ) AS d
        WHERE card.canonical_url = d.canonical_url AND card.kind = d.kind
          AND card.page_id IN (SELECT page_id FROM raw_pages WHERE format <> 'html-detail')
          AND (card.full_abstract IS DISTINCT FROM d.abstract OR card.detail_url IS DISTINCT FROM d.url)
        """
        ),
    )
