"""Export the warehouse's editions or works to one file in one format; reads the warehouse, never writes it.

Catalogues, spreadsheets and reference managers each want the deduplicated records in their own
format, and incremental consumers want only what changed since they last synced. One query
(`select_records`) makes the records of a level with every field, so the seven formats cannot
disagree on what a record holds; the writers here (Parquet, CSV, JSON Lines) and in
pipeline/citation.py (Dublin Core, CSL-JSON, RIS, BibTeX) only change its shape.

Errors: a missing or unreadable warehouse is a WarehouseError, an unknown `--since` run an
UnknownRunError, an output that cannot be written an ExportError (pipeline/errors.py). The file
is written beside its destination and renamed over it, so a reader sees the old file or the new
one, never half of one.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

from pipeline import citation
from pipeline.dedup.cards import PAGER_PARAM
from pipeline.errors import ExportError, UnknownRunError, WarehouseError
from pipeline.urls import canonical_url, web_url_sql
from pipeline.warehouse import backend_of, connect

if TYPE_CHECKING:
    from pipeline.backend import Location

FORMATS = ("parquet", "csv", "jsonl", "dc", "csl-json", "ris", "bibtex")
LEVELS = ("edition", "work")

#: fields that pages show beside the title, taken out of sightings.extra (first non-empty value,
#: best source first); `published` and `date_of_upload` are ISO dates
EXTRA_FIELDS = (
    "subtitle",
    "type",
    "organisation",
    "publisher",
    "series",
    "reference_number",
    "issn",
    "region",
    "countries",
    "topics",
    "authors",
    "published",
    "date_of_upload",
)

#: the publications view's order of trust in a page format (macro in warehouse/schema/100_dedup.sql),
#: so a record's extra fields come from the sighting its title and year come from
SOURCE_RANK = "source_rank(p.format)"

#: SQL (raw_pages AS p): the page lists items (a listing format, or more than one card on it), so
#: neither it nor any page of its section is an item's own URL
LISTING_PAGE = "(coalesce(p.format NOT LIKE '%detail', TRUE) OR coalesce(p.sightings_count, 0) > 1)"

#: the registered table of listing pages' sections (`listing_sections`), one row per page URL
LISTING_SECTIONS = "export_listing_sections"

#: a 304 or an identical re-fetch shows the archived body again: each is a "seen" time of that page
_PAGE_SEEN = """
    confirmations AS (
        SELECT source, coalesce(final_url, url) AS url, sha256, fetched_at
        FROM fetches WHERE outcome = 'fetched' AND sha256 IS NOT NULL
        UNION ALL
        SELECT n.source, b.url, b.sha256, n.fetched_at
        FROM (SELECT source, url, fetched_at FROM fetches WHERE outcome = 'not_modified') AS n
        ASOF JOIN (
            SELECT source, url AS requested, coalesce(final_url, url) AS url, sha256, fetched_at
            FROM fetches WHERE outcome = 'fetched' AND sha256 IS NOT NULL
        ) AS b ON n.source = b.source AND n.url = b.requested AND n.fetched_at >= b.fetched_at
    ),
    page_seen AS (
        SELECT p.page_id, greatest(any_value(p.retrieved_at), max(c.fetched_at)) AS last_seen
        FROM raw_pages AS p
        LEFT JOIN confirmations AS c ON c.source = p.source AND c.url = p.url AND c.sha256 = p.sha256
        GROUP BY p.page_id
    )"""


#: SQL: the declared owner of the first of a record's sites that has one ($owner_sources and
#: $owner_names: the sources file's `owner`s, in pairs), else NULL
_OWNER = (
    "list_filter(list_transform({}, lambda src: $owner_names[list_position($owner_sources, src)]),"
    " lambda o: o IS NOT NULL)[1]"
)


def _distinct(column: str) -> str:
    """SQL for a list column's values once each, NULLs dropped, in their order (list_distinct reorders)."""
    return f"list_filter({column}, lambda v, i: v IS NOT NULL AND list_position({column}, v) = i)"


def _web(column: str) -> str:
    """SQL for a URL column kept only when it is a web (http/https) URL.

    Why here too: the parsers and the model drop other links, but a warehouse an older version
    built may hold them, and every format (and OAI-PMH, which reads `select_records`) must never
    hand a `javascript:` or `data:` link to a catalogue or a reference manager.
    """
    return web_url_sql(column)


def _web_list(column: str) -> str:
    """SQL for a list of URLs with only its web URLs, in their order."""
    return f"list_filter({column}, lambda u: ({web_url_sql('u')}) IS NOT NULL)"


def _words(column: str) -> str:
    """SQL: a text as the words of RESOURCE_TYPES are written (lower case, no accents, one space between words)."""
    return f"trim(regexp_replace(lower(strip_accents({column})), '[^a-z0-9]+', ' ', 'g'))"


def _type_case(words: str) -> str:
    """SQL: the first type of RESOURCE_TYPES (most specific first) that `words` name, else NULL."""
    whens = " ".join(
        f"WHEN regexp_matches({words}, '\\b(?:{'|'.join(t.words)})\\b') THEN '{t.slug}'"
        for t in citation.RESOURCE_TYPES
        if t.words
    )
    return f"CASE {whens} END"


#: the path segment under which the two platforms' Drupal puts a resource's type (`/en/resources/<type>`)
TYPE_PATH_SEGMENTS = ("resources", "recursos", "ressources")


def _after_type_segment(url: str) -> str:
    """SQL: what follows `/resources/` in a URL's path (`<type>/<item>...`), else NULL.

    String functions, not a regular expression: DuckDB's regexp_extract costs microseconds a row,
    and this runs on every sighting for every OAI-PMH request.
    """
    cases = []
    for name in TYPE_PATH_SEGMENTS:
        at = f"strpos({url}, '/{name}/')"
        query = f"strpos({url}, '?')"
        cases.append(
            f"CASE WHEN {at} > 0 AND ({query} = 0 OR {query} > {at}) THEN substr({url}, {at} + {len(name) + 2}) END"
        )
    return f"split_part(split_part(coalesce({', '.join(cases)}), '?', 1), '#', 1)"


def _item_type_segment(url: str) -> str:
    """SQL: the type segment of an item's URL, `/resources/<type>/<item>`; never the item's own name."""
    after = _after_type_segment(url)
    return f"CASE WHEN split_part({after}, '/', 2) <> '' THEN split_part({after}, '/', 1) END"


def resource_types_sql() -> str:
    """SQL CTEs ending in `computed_types (edition_id, resource_type)`, one row per edition (withdrawn too).

    The type is citation.RESOURCE_TYPES' slug named by, in this order of trust: the page's own
    Type field (`sightings.extra.type`); the Drupal type segment of the item's own URL (the card's
    link, a detail page's URL: `/en/resources/<type>/<item>`, never the item's own name); the listing
    section it was found in (its URL's `resources/<type>` segment or last path segment, as the
    sources file names sections, and the listing page's heading, which names the section on these
    sites). Within one level the most specific type wins. None of these: an ISBN makes it a book,
    an ISSN (and no ISBN) a periodical, else NULL (a generic document). Any section the sources
    file may name gives a type or NULL, never an error. Shared by the export (`select_records`) and
    OAI-PMH's `type:` sets, so a set holds exactly the records a citation gives that type.

    Cost: string functions per sighting and per page (about 0.45 s at 180,000 sightings); the words
    are matched once per distinct text. Hence computed once per dedup pass into the table
    `edition_types` (pipeline/dedup/write.py), which readers take through `record_types_sql`.
    Withdrawn editions get a type too: one listed again keeps its type without another pass.
    """
    order = ", ".join(f"'{t.slug}'" for t in citation.RESOURCE_TYPES)
    section = f"split_part({_after_type_segment('url')}, '/', 1)"
    path = "rtrim(split_part(split_part(url, '?', 1), '#', 1), '/')"
    return f"""
    type_pages AS (
        SELECT page_id, coalesce(format LIKE '%detail', FALSE) AS detail_page,
               {_item_type_segment("url")} AS item_segment, nullif({section}, '') AS section_segment,
               CASE WHEN len(string_split({path}, '/')) > 3 THEN string_split({path}, '/')[-1] END AS last_segment,
               coalesce(page_info->>'heading', page_info->'headings'->>0) AS heading
        FROM raw_pages
    ),
    page_texts AS (
        SELECT page_id, 2 AS level, item_segment AS text FROM type_pages WHERE detail_page
        UNION ALL SELECT page_id, 3, section_segment FROM type_pages WHERE NOT detail_page
        UNION ALL SELECT page_id, 3, last_segment FROM type_pages WHERE NOT detail_page
        UNION ALL SELECT page_id, 3, heading FROM type_pages WHERE NOT detail_page
    ),
    type_src AS MATERIALIZED (
        SELECT m.edition_id, s.page_id, nullif(trim(s.extra->>'type'), '') AS page_type,
               {_item_type_segment("s.url")} AS own_segment, {_item_type_segment("s.detail_url")} AS detail_segment,
               nullif(trim(s.extra->>'issn'), '') IS NOT NULL AS has_issn,
               coalesce(len(s.isbn), 0) + coalesce(len(s.eisbn), 0) > 0 AS has_isbn
        FROM edition_members AS m JOIN sightings AS s USING (sighting_id)
        WHERE s.kind = 'publication'
    ),
    type_evidence AS MATERIALIZED (
        SELECT edition_id, 1 AS level, page_type AS text FROM type_src WHERE page_type IS NOT NULL
        UNION ALL SELECT edition_id, 2, own_segment FROM type_src WHERE own_segment IS NOT NULL
        UNION ALL SELECT edition_id, 2, detail_segment FROM type_src WHERE detail_segment IS NOT NULL
        UNION ALL SELECT s.edition_id, t.level, t.text
            FROM (SELECT DISTINCT edition_id, page_id FROM type_src) AS s JOIN page_texts AS t USING (page_id)
            WHERE nullif(t.text, '') IS NOT NULL
    ),
    text_types AS MATERIALIZED (
        -- the words matched once per distinct text; no filter on the match, which DuckDB would push
        -- below the DISTINCT and run on every row (arg_min skips the NULL specificity of no match)
        SELECT text, resource_type, list_position([{order}], resource_type) AS specificity
        FROM (SELECT text, {_type_case(_words("text"))} AS resource_type FROM (SELECT DISTINCT text FROM type_evidence))
    ),
    named_types AS (
        SELECT e.edition_id, arg_min(t.resource_type, e.level * 100 + t.specificity) AS resource_type
        FROM type_evidence AS e JOIN text_types AS t USING (text)
        GROUP BY e.edition_id
    ),
    serials AS (
        -- an ISBN on any of its sightings: the publications view's isbn/eisbn are the first non-empty ones
        SELECT edition_id, bool_or(has_issn) AS has_issn, bool_or(has_isbn) AS has_isbn
        FROM type_src GROUP BY edition_id
    ),
    computed_types AS (
        SELECT sr.edition_id,
               coalesce(n.resource_type,
                        CASE WHEN sr.has_isbn THEN 'book' WHEN sr.has_issn THEN 'periodical' END) AS resource_type
        FROM serials AS sr
        LEFT JOIN named_types AS n USING (edition_id)
    )"""


def stored_types_current(con: duckdb.DuckDBPyConnection) -> bool:
    """True when the table `edition_types` holds the last dedup pass's types (the pass wrote it).

    Why a check: a warehouse (or lake) built before schema step 160 has the table empty or not at
    all, and a reader must not write; it then computes the types itself, at the old cost.
    """
    found = con.execute(
        "SELECT count(DISTINCT table_name) FROM information_schema.tables "
        "WHERE table_name IN ('edition_types', 'dedup_runs')"
    ).fetchone()
    if not found or found[0] < 2:
        return False
    row = con.execute(
        "SELECT (SELECT max(dedup_run_id) FROM edition_types) = (SELECT max(dedup_run_id) FROM dedup_runs)"
    ).fetchone()
    return bool(row and row[0])


def record_types_sql(stored: bool) -> str:
    """SQL CTEs ending in `record_types (edition_id, resource_type)`: the stored types, else computed."""
    if stored:
        return "record_types AS (SELECT edition_id, resource_type FROM edition_types)"
    return f"{resource_types_sql().strip()},\n    record_types AS (SELECT * FROM computed_types)"


def _extra_columns() -> str:
    return ",\n        ".join(
        f"first(nullif(trim(s.extra->>'{key}'), '') ORDER BY r.superseded, r.source_rank, r.url_first_seen, "
        f"r.page_key, s.sighting_id) "
        f"FILTER (WHERE nullif(trim(s.extra->>'{key}'), '') IS NOT NULL) AS {key}"
        for key in EXTRA_FIELDS
    )


def _edition_sql(stored_types: bool = False) -> str:
    extra = ", ".join(f"x.{key}" for key in EXTRA_FIELDS if key != "subtitle")
    return f"""
    {_PAGE_SEEN},
    {record_types_sql(stored_types)},
    ranked AS (
        SELECT m.edition_id, m.sighting_id, p.url AS page_url, p.retrieved_at, ps.last_seen,
               {SOURCE_RANK} AS source_rank, {LISTING_PAGE} AS listing_page,
               -- as the publications view ranks values: a page's current version first, then the page seen first
               p.url IS NOT NULL AND p.retrieved_at < max(p.retrieved_at) OVER (PARTITION BY p.source, p.url)
                   AS superseded,
               min(p.retrieved_at) OVER (PARTITION BY p.source, coalesce(p.url, p.page_id)) AS url_first_seen,
               coalesce(p.url, p.page_id) AS page_key
        FROM edition_members AS m
        JOIN sightings AS s USING (sighting_id)
        JOIN raw_pages AS p USING (page_id)
        JOIN page_seen AS ps USING (page_id)
        WHERE s.kind = 'publication'
    ),
    extras AS (
        SELECT r.edition_id,
        {_extra_columns()},
        flatten(list([s.detail_url, r.page_url] ORDER BY r.source_rank, r.retrieved_at DESC, s.sighting_id))
            AS source_urls,
        list(r.page_url ORDER BY r.source_rank, r.retrieved_at DESC, s.sighting_id)
            FILTER (WHERE r.listing_page AND r.page_url IS NOT NULL) AS found_on,
        max(r.last_seen) AS last_seen
        FROM ranked AS r JOIN sightings AS s USING (sighting_id)
        GROUP BY r.edition_id
    ),
    listing_keys AS (
        -- the sections of the listing pages that showed each edition, canonical (listing_sections)
        SELECT DISTINCT m.edition_id, m.work_id, k.section
        FROM edition_members AS m
        JOIN sightings AS s USING (sighting_id)
        JOIN raw_pages AS p USING (page_id)
        JOIN {LISTING_SECTIONS} AS k ON k.page_url = p.url
        WHERE s.kind = 'publication'
    ),
    own_urls AS (
        -- the item's URL unless it is (a page of) a listing it was found on: a card linking to `#`
        -- or `?page=1` resolves to its listing, which shows other items next month
        SELECT p.edition_id, CASE WHEN k.section IS NULL THEN {_web("p.url")} END AS url
        FROM publications AS p
        LEFT JOIN (SELECT DISTINCT edition_id, section FROM listing_keys) AS k
            ON k.edition_id = p.edition_id AND k.section = listing_section(p.url, '{PAGER_PARAM}')
    ),
    siblings AS (
        SELECT p.work_id,
               list(struct_pack(edition_id := p.edition_id, language := p.language, title := p.title,
                                display_title := p.display_title, url := o.url)
                    ORDER BY p.language NULLS LAST, p.edition_id) AS editions
        FROM publications AS p JOIN own_urls AS o USING (edition_id) GROUP BY p.work_id
    ),
    editions AS (
        SELECT
            p.edition_id, p.work_id, p.language, p.title, p.display_title, p.title_derived, x.subtitle,
            p.abstract, p.abstract_truncated, p.year, p.page_count, p.isbn, p.eisbn, p.languages,
            {extra},
            p.pdf_available, {_web_list("p.pdf_urls")} AS pdf_urls, o.url,
            coalesce({_web_list(_distinct("x.source_urls"))}, []) AS source_urls, p.sources,
            et.resource_type,
            -- never the item's own URL: that URL is no listing's (own_urls)
            coalesce({_web_list(_distinct("x.found_on"))}, []) AS found_on,
            {_OWNER.format("p.sources")} AS owner,
            list_filter(w.editions, lambda e: e.edition_id <> p.edition_id) AS other_editions,
            p.sighting_count, p.sighting_ids, p.first_seen, x.last_seen,
            rs.first_added_at, rs.last_changed_at,
            coalesce(p.years_seen, []) AS years_seen, coalesce(p.page_counts_seen, []) AS page_counts_seen,
            p.quality_flags, p.value_sources
        FROM publications AS p
        JOIN own_urls AS o USING (edition_id)
        LEFT JOIN extras AS x USING (edition_id)
        LEFT JOIN record_types AS et USING (edition_id)
        LEFT JOIN siblings AS w USING (work_id)
        LEFT JOIN record_status AS rs ON rs.level = 'edition' AND rs.id = p.edition_id
    )"""


def _work_sql(stored_types: bool = False) -> str:
    lead = ("subtitle", "abstract", "abstract_truncated", "year", "page_count", *EXTRA_FIELDS[1:], "resource_type")
    lead_fields = ", ".join(f"l.{key}" for key in lead)
    lead_first = "title IS NULL, (language = 'en') DESC NULLS LAST, edition_id"
    return f"""
    {_edition_sql(stored_types)},
    lead AS (
        -- the edition the work's title comes from (the works view: a titled edition, English first)
        SELECT DISTINCT ON (work_id) * FROM editions ORDER BY work_id, {lead_first}
    ),
    unions AS (
        -- lists of all its editions, the lead edition's values first
        SELECT work_id,
               flatten(list(isbn ORDER BY {lead_first})) AS isbn,
               flatten(list(eisbn ORDER BY {lead_first})) AS eisbn,
               flatten(list(pdf_urls ORDER BY {lead_first})) AS pdf_urls,
               flatten(list(source_urls ORDER BY {lead_first})) AS source_urls,
               flatten(list(found_on ORDER BY {lead_first})) AS found_on,
               bool_or(pdf_available) AS pdf_available,
               min(first_seen) AS first_seen, max(last_seen) AS last_seen,
               flatten(list(quality_flags ORDER BY {lead_first})) AS quality_flags
        FROM editions GROUP BY work_id
    ),
    works_out AS (
        SELECT
            w.work_id, w.title, w.display_title, w.title_derived, {lead_fields},
            {_distinct("u.isbn")} AS isbn, {_distinct("u.eisbn")} AS eisbn, w.languages, u.pdf_available,
            {_distinct("u.pdf_urls")} AS pdf_urls,
            -- nor a listing that showed another of its editions
            CASE WHEN listing_section(l.url, '{PAGER_PARAM}') NOT IN (SELECT section FROM listing_keys AS k
                                                                     WHERE k.work_id = w.work_id) THEN l.url END AS url,
            {_distinct("u.source_urls")} AS source_urls, w.sources,
            {_distinct("u.found_on")} AS found_on,
            {_OWNER.format("w.sources")} AS owner,
            l.edition_id AS lead_edition_id, w.edition_count, s.editions,
            CAST(w.sighting_count AS BIGINT) AS sighting_count, u.first_seen, u.last_seen, rs.first_added_at,
            rs.last_changed_at,
            {_distinct("u.quality_flags")} AS quality_flags
        FROM works AS w
        JOIN lead AS l USING (work_id)
        JOIN unions AS u USING (work_id)
        JOIN siblings AS s USING (work_id)
        LEFT JOIN record_status AS rs ON rs.level = 'work' AND rs.id = w.work_id
    )"""


def id_column(level: str) -> str:
    """Each level keeps the warehouse's own id name, so an export joins back to the views."""
    return "edition_id" if level == "edition" else "work_id"


def listing_sections(con: duckdb.DuckDBPyConnection, ids: list[str] | None = None) -> pa.Table:
    """Each listing page's URL and its section in canonical form (pager parameter removed).

    Why in Python: canonical spelling is pipeline/urls.py's (w3lib), the one the parsers gave
    `sightings.canonical_url`; compared in SQL with raw page URLs (`/en/`, `http:`, a trailing
    slash) an item URL that is its own listing never matched. With `ids` (records of either
    level), only the pages that showed their works' editions: an OAI-PMH page canonicalises a few
    URLs, not every listing in the warehouse.
    """
    where = ""
    params: dict[str, Any] = {}
    if ids is not None:
        where = """AND p.page_id IN (
            SELECT s.page_id FROM sightings AS s JOIN edition_members AS m USING (sighting_id)
            WHERE m.work_id IN (SELECT work_id FROM edition_members
                                WHERE list_contains($ids, edition_id) OR list_contains($ids, work_id)))"""
        params["ids"] = ids
    urls = con.execute(
        f"SELECT DISTINCT p.url FROM raw_pages AS p WHERE p.url IS NOT NULL AND {LISTING_PAGE} {where}", params
    ).fetchall()
    rows = [(u, key) for (u,) in urls if (key := canonical_url(u, drop_params=(PAGER_PARAM,)))]
    return pa.table(
        {
            "page_url": pa.array([u for u, _ in rows], pa.string()),
            "section": pa.array([k for _, k in rows], pa.string()),
        }
    )


def select_records(
    con: duckdb.DuckDBPyConnection,
    level: str,
    since: int | None = None,
    ids: list[str] | None = None,
    *,
    since_snapshot: int | None = None,
    owners: Mapping[str, str] | None = None,
) -> pa.Table:
    """The records of a level, ordered by id; with `since`, only those changed in later runs.

    Besides the warehouse's fields, each record says what a citation needs (pipeline/citation.py):
    `resource_type` (`resource_types_sql`), `found_on` (the listing pages that showed it, best
    first: provenance, never its URL) and `owner` (the declared owner of its site, from `owners`,
    source name -> owner: the sources file's, which the warehouse does not hold).

    With `since`, an `operation` column says added, changed or withdrawn relative to the state
    after run `since`, and `change_reason` why, as the change log gave it for the latest change
    ("not listed by 2 complete walks of ...", "merged into ed_...", "listed again", the fields that
    changed): an id first logged after it is added (even if it also changed since), an
    id gone now is withdrawn (its row carries only the id and the operation), any other changed.
    Gone means no longer published: merged into another id, no sightings left, or no longer
    listed by the sites (`edition_withdrawals`, which the `publications` view leaves out, so the
    live records here never include it).
    `ids` (without `since`) keeps only those records: OAI-PMH serves a page of them at a time
    with the same fields, so its Dublin Core cannot differ from the export's.

    `since_snapshot` (a lake only) is the same relative to a lake snapshot: the changes committed
    after it, told by the `snapshot_id` DuckLake keeps on every row. Unlike run numbers, which
    concurrent workers take in one order and commit in another, snapshots are the order in which
    changes became visible, so a consumer that stored the snapshot of its last export misses
    nothing and gets nothing twice.
    """
    if level not in LEVELS:
        raise ValueError(f"unknown level {level!r}")
    if ids is not None and since is not None:
        raise ValueError("select_records: ids and since cannot be combined")
    con.register(LISTING_SECTIONS, listing_sections(con, ids))
    try:
        return _select_records(con, level, since, ids, since_snapshot, owners)
    finally:
        con.unregister(LISTING_SECTIONS)


def _select_records(
    con: duckdb.DuckDBPyConnection,
    level: str,
    since: int | None,
    ids: list[str] | None,
    since_snapshot: int | None,
    owners: Mapping[str, str] | None,
) -> pa.Table:
    key = id_column(level)
    stored = stored_types_current(con)
    body = _edition_sql(stored) if level == "edition" else _work_sql(stored)
    final = "editions" if level == "edition" else "works_out"
    con.execute("SET TimeZone = 'UTC'")
    column = "run_id"
    if since_snapshot is not None:
        since, column = since_snapshot, "snapshot_id"
    pairs = sorted((owners or {}).items())
    params: dict[str, Any] = {"owner_sources": [s for s, _ in pairs], "owner_names": [o for _, o in pairs]}
    if since is None:
        where = "" if ids is None else f"WHERE list_contains($ids, {key})"
        sql = f"WITH {body.strip()} SELECT * FROM {final} {where} ORDER BY {key}"
        return con.sql(sql, params=params if ids is None else {**params, "ids": ids}).to_arrow_table()
    if column == "run_id":
        _check_run(con, since)
    sql = f"""
    WITH {body.strip()},
    touched AS (
        SELECT id,
               arg_max(op, change_id) FILTER (WHERE {column} <= $since) AS before,
               arg_max(op, change_id) AS now,
               arg_max(reason, change_id) AS reason
        FROM record_changes WHERE level = $level
        GROUP BY id
        HAVING bool_or({column} > $since)
    )
    SELECT CASE WHEN t.now = 'withdrawn' OR r.{key} IS NULL THEN 'withdrawn'
                WHEN t.before IS NULL OR t.before = 'withdrawn' THEN 'added'
                ELSE 'changed' END AS operation,
           t.reason AS change_reason,
           t.id AS {key}, r.* EXCLUDE ({key})
    FROM touched AS t LEFT JOIN {final} AS r ON r.{key} = t.id AND t.now <> 'withdrawn'
    ORDER BY t.id
    """
    return con.sql(sql, params={**params, "since": since, "level": level}).to_arrow_table()


def _check_run(con: duckdb.DuckDBPyConnection, since: int) -> None:
    if since == 0:
        return
    last = con.execute("SELECT max(run_id) FROM runs").fetchall()[0][0]
    found = con.execute("SELECT count(*) FROM runs WHERE run_id = ?", [since]).fetchall()[0][0]
    if not found:
        known = f"runs are 1..{last}" if last else "the warehouse has no runs yet"
        raise UnknownRunError(f"--since {since}: no such run ({known}; 0 exports every change ever logged)")


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    format: str
    level: str
    records: int
    operations: dict[str, int]
    #: the lake snapshot the export read (None for a DuckDB file): the next --since-snapshot
    snapshot: int | None = None

    @property
    def message(self) -> str:
        ops = ", ".join(f"{n} {op}" for op, n in sorted(self.operations.items()))
        text = f"{self.records} {self.level}s written to {self.path} ({self.format})" + (f": {ops}" if ops else "")
        if self.snapshot is not None:
            text += f"; as of lake snapshot {self.snapshot} (next time: --since-snapshot {self.snapshot})"
        return text


def export(
    db_path: Location,
    out: Path,
    fmt: str,
    level: str = "edition",
    since: int | None = None,
    since_snapshot: int | None = None,
    owners: Mapping[str, str] | None = None,
) -> ExportSummary:
    """Write the records of `level` (changed since run `since`, or lake snapshot `since_snapshot`) to `out`.

    `owners` (source name -> the owner the sources file declares) names the publisher of records
    whose pages name none.
    """
    if fmt not in FORMATS:
        raise ValueError(f"unknown format {fmt!r}")
    con = connect(db_path, read_only=True)
    snapshot = None
    try:
        snapshot = backend_of(con).read_snapshot(con)
        if snapshot is not None:
            if since_snapshot is not None and since_snapshot > snapshot:
                raise UnknownRunError(f"--since-snapshot {since_snapshot}: the lake's latest snapshot is {snapshot}")
        elif since_snapshot is not None:
            raise UnknownRunError(f"--since-snapshot {since_snapshot}: a DuckDB file has no snapshots; use --since RUN")
        try:
            table = select_records(con, level, since, since_snapshot=since_snapshot, owners=owners)
        except duckdb.Error as exc:
            reason = f"{type(exc).__name__}: {exc}".splitlines()[0]
            raise WarehouseError(
                f"{db_path} is not a readable warehouse, or predates the change log ({reason}); run `make ingest`"
            ) from exc
    finally:
        con.close()
    write_atomically(out, lambda fh: WRITERS[fmt](table, level, fh), binary=fmt == "parquet")
    operations: dict[str, int] = {}
    if "operation" in table.column_names:
        for op in table.column("operation").to_pylist():
            operations[op] = operations.get(op, 0) + 1
    return ExportSummary(out, fmt, level, table.num_rows, operations, snapshot)


def write_atomically(out: Path, write: Callable[[IO[Any]], None], *, binary: bool = False) -> None:
    """Write through a temporary file in the destination's directory, then rename it over `out`.

    A rename within one file system is atomic: a reader (or a harvester polling the file) sees
    the previous export or the new one whole, and a failed export leaves the previous one as it was.
    """
    out = Path(out)
    directory = out.parent
    if not directory.is_dir():
        raise ExportError(f"cannot write {out}: no directory {directory}")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        fh: IO[Any] = os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8", newline="")
        with fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes it private; an export is meant to be shared
        os.replace(tmp, out)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise ExportError(f"cannot write {out}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# -- flat formats ---------------------------------------------------------------------------------


def _write_parquet(table: pa.Table, level: str, fh: IO[bytes]) -> None:
    pq.write_table(table, fh, compression="zstd")


def _json_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    return value


def _write_jsonl(table: pa.Table, level: str, fh: IO[str]) -> None:
    for row in table.to_pylist():
        fh.write(json.dumps(_json_value(row), ensure_ascii=False) + "\n")


#: a spreadsheet takes a cell starting with one of these for a formula (OWASP, CSV injection)
FORMULA_TRIGGERS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> str:
    """One CSV cell: lists and structs as JSON, text that a spreadsheet would run defused.

    Text opening with = + - @ tab or CR is prefixed with a single quote, as OWASP advises, so
    Excel, LibreOffice and Sheets show it instead of evaluating it. Only text is touched: JSON
    cells open with [ or {, and numbers are never negative here.
    """
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list | dict):
        return json.dumps(_json_value(value), ensure_ascii=False)
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return "'" + value if value.startswith(FORMULA_TRIGGERS) else value
    return str(value)


def _write_csv(table: pa.Table, level: str, fh: IO[str]) -> None:
    writer = csv.writer(fh, lineterminator="\r\n")  # RFC 4180 line ends
    writer.writerow(table.column_names)
    for row in table.to_pylist():
        writer.writerow([csv_cell(v) for v in row.values()])


def _text_writer(render: Callable[[Iterable[dict[str, Any]], str], str]) -> Callable[[pa.Table, str, IO[str]], None]:
    def write(table: pa.Table, level: str, fh: IO[str]) -> None:
        fh.write(render(table.to_pylist(), level))

    return write


def _write_dc(table: pa.Table, level: str, fh: IO[str]) -> None:
    buffer = io.BytesIO()
    citation.write_dublin_core(table.to_pylist(), level, buffer)
    fh.write(buffer.getvalue().decode("utf-8"))


WRITERS: dict[str, Callable[[pa.Table, str, Any], None]] = {
    "parquet": _write_parquet,
    "csv": _write_csv,
    "jsonl": _write_jsonl,
    "dc": _write_dc,
    "csl-json": _text_writer(citation.to_csl_json),
    "ris": _text_writer(citation.to_ris),
    "bibtex": _text_writer(citation.to_bibtex),
}
