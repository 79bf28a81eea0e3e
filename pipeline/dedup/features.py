"""Read publication sightings into comparable features: one DuckDB pass, then numpy arrays.

DuckDB does the per-sighting text work (normalising, hashing, splitting, language detection,
signal extraction) because it is vectorised and uses both cores; Python keeps only small
per-sighting arrays and the few strings the rules need (titles, URLs, ISBNs). The temp tables
`dd_s` (one row a sighting, keyed by `idx`) and `dd_tok` (content words of the opening) stay on
the connection for the later stages.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.normalise import (
    ALL_STOPWORDS,
    LANGUAGE_LEAD,
    LANGUAGE_WINDOW,
    LANGUAGES,
    MIN_LANGUAGE_HITS,
    NORMALISE_SQL,
    SIGNAL_REGEX,
    STOPWORDS,
    sql_string_list,
    title_numbers,
)
from pipeline.urls import canonical_url

#: words of a text's opening compared by MinHash and by the paraphrase rule: a listing teaser
#: is cut at about 260 characters, i.e. 35-45 words, so 48 words of the full text cover it
WINDOW_WORDS = 48
#: normalised characters kept for prefix tests (teasers: 260 on MP/R&R, 400 on the old bookstore)
HEAD_CHARS = 450

LANG_CODES: tuple[str, ...] = (*LANGUAGES, "ar", "ru", "zh")


def _norm(column: str) -> str:
    return NORMALISE_SQL.format(x=column)


@dataclass
class Features:
    """Per-sighting arrays indexed by `idx` (sightings ordered by sighting_id).

    Only numbers per sighting: strings (ids, URLs, titles) stay in DuckDB, URLs and titles come
    over once per distinct value, so a million sightings cost tens of megabytes here.
    """

    page_idx: np.ndarray
    lang: np.ndarray  # index into LANG_CODES, -1 unknown
    year: np.ndarray  # -1 unknown
    pages: np.ndarray  # -1 unknown
    truncated: np.ndarray
    norm_len: np.ndarray
    ntok: np.ndarray
    url_id: np.ndarray  # -1 none
    title_id: np.ndarray  # -1 none
    urls: list[str]
    titles: list[str]  # normalised titles
    title_nums: list[frozenset[int]]
    isbn: dict[int, frozenset[str]] = field(default_factory=dict)
    eisbn: dict[int, frozenset[str]] = field(default_factory=dict)
    links: dict[int, tuple[str, ...]] = field(default_factory=dict)  # canonical edition links

    @property
    def n(self) -> int:
        return len(self.page_idx)

    def language(self, idx: int) -> str | None:
        code = int(self.lang[idx])
        return LANG_CODES[code] if code >= 0 else None


def build(con: duckdb.DuckDBPyConnection) -> Features:
    """Create the temp tables and return the arrays; publication sightings only.

    dd_s keeps only what later stages join on: hashes, lengths, the normalised opening (`head`,
    enough for any teaser) and the signals, never whole texts, so its size per sighting is
    bounded whatever the length of the abstracts.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dd_s AS
        WITH keys AS (
            -- numbered apart from the texts: a window over wide rows would sort the texts too
            SELECT sighting_id,
                   (row_number() OVER (ORDER BY sighting_id) - 1)::INTEGER AS idx,
                   (dense_rank() OVER (ORDER BY page_id) - 1)::INTEGER AS page_idx
            FROM sightings WHERE kind = 'publication'
        ), base AS (
            SELECT s.sighting_id, s.title, s.year, s.page_count, s.isbn, s.eisbn,
                   s.text_language, s.edition_links,
                   coalesce(s.canonical_url, s.detail_url) AS url,
                   coalesce(nullif(s.full_abstract, ''), s.abstract) AS text,
                   coalesce(s.abstract_truncated AND nullif(s.full_abstract, '') IS NULL, false) AS truncated
            FROM sightings AS s
            WHERE s.kind = 'publication'
        ), normed AS (
            SELECT *, {_norm("text")} AS norm, {_norm("title")} AS norm_title FROM base
        ), narrow AS (
            SELECT
                sighting_id, norm_title, year, page_count, isbn, eisbn, text_language, url,
                edition_links, truncated,
                length(norm)::INTEGER AS norm_len,
                hash(norm) AS text_hash,
                left(norm, {HEAD_CHARS}) AS head,
                -- as printed: normalised once per distinct value later (signal_table); a lambda
                -- per signal here cost more than normalising the texts themselves
                list_concat(
                    regexp_extract_all(coalesce(title, ''), '{SIGNAL_REGEX}', 1),
                    regexp_extract_all(coalesce(text, ''), '{SIGNAL_REGEX}', 1)
                ) AS signals
            FROM normed
        )
        SELECT k.idx, k.page_idx, n.*
        FROM narrow AS n JOIN keys AS k USING (sighting_id)
        """
    )
    # stopwords as a table: an anti-join costs less than a list literal tested on every word
    con.register("dd_stop", stopword_table())
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE dd_tok AS
            SELECT DISTINCT idx, (hash(w) % 4294967296)::UINTEGER AS h
            FROM (SELECT idx, unnest(string_split(head, ' ')[1:{WINDOW_WORDS}]) AS w FROM dd_s)
            WHERE length(w) > 1 AND w NOT IN (SELECT w FROM dd_stop)
            """
        )
        _detect_languages(con)
    finally:
        con.unregister("dd_stop")
    lang_case = " ".join(f"WHEN '{code}' THEN {k}" for k, code in enumerate(LANG_CODES))
    # URLs and titles are numbered in SQL; Python receives each distinct string once
    cols = con.execute(
        f"""
        WITH t AS (SELECT idx, count(*)::INTEGER AS ntok FROM dd_tok GROUP BY idx),
        u AS (SELECT url, (row_number() OVER (ORDER BY url) - 1)::INTEGER AS url_id
              FROM (SELECT DISTINCT url FROM dd_s WHERE url IS NOT NULL)),
        ti AS (SELECT norm_title, (row_number() OVER (ORDER BY norm_title) - 1)::INTEGER AS title_id
               FROM (SELECT DISTINCT norm_title FROM dd_s WHERE norm_title <> ''))
        SELECT s.idx, s.page_idx,
               coalesce(CASE coalesce(l.lang, s.text_language) {lang_case} END, -1)::TINYINT AS lang,
               coalesce(s.year, -1)::INTEGER AS year, coalesce(s.page_count, -1)::INTEGER AS pages,
               s.truncated, s.norm_len, coalesce(t.ntok, 0)::INTEGER AS ntok,
               coalesce(u.url_id, -1)::INTEGER AS url_id, coalesce(ti.title_id, -1)::INTEGER AS title_id
        FROM dd_s AS s LEFT JOIN dd_lang AS l USING (idx) LEFT JOIN t USING (idx)
        LEFT JOIN u USING (url) LEFT JOIN ti USING (norm_title)
        ORDER BY s.idx
        """
    ).fetchnumpy()
    urls = [r[0] for r in con.execute("SELECT DISTINCT url FROM dd_s WHERE url IS NOT NULL ORDER BY url").fetchall()]
    titles = [
        r[0] for r in con.execute("SELECT DISTINCT norm_title FROM dd_s WHERE norm_title <> '' ORDER BY 1").fetchall()
    ]
    feats = Features(
        page_idx=np.asarray(cols["page_idx"], dtype=np.int32),
        lang=np.asarray(cols["lang"], dtype=np.int8),
        year=np.asarray(cols["year"], dtype=np.int32),
        pages=np.asarray(cols["pages"], dtype=np.int32),
        truncated=np.asarray(cols["truncated"], dtype=bool),
        norm_len=np.asarray(cols["norm_len"], dtype=np.int32),
        ntok=np.asarray(cols["ntok"], dtype=np.int32),
        url_id=np.asarray(cols["url_id"], dtype=np.int32),
        title_id=np.asarray(cols["title_id"], dtype=np.int32),
        urls=urls,
        titles=titles,
        title_nums=[title_numbers(t) for t in titles],
    )
    del cols
    for name, target in (("isbn", feats.isbn), ("eisbn", feats.eisbn)):
        for idx, values in con.execute(f"SELECT idx, {name} FROM dd_s WHERE len({name}) > 0").fetchall():
            target[int(idx)] = frozenset(values)
    # every sighting of an edition repeats its links: each distinct link is canonicalised once
    canonical: dict[str, str | None] = {}
    for idx, values in con.execute("SELECT idx, edition_links FROM dd_s WHERE len(edition_links) > 0").fetchall():
        for v in values:
            if v not in canonical:
                canonical[v] = canonical_url(v)
        canon = tuple(sorted({c for c in (canonical[v] for v in values) if c}))
        if canon:
            feats.links[int(idx)] = canon
    return feats


def signals_sql() -> str:
    """DuckDB query: (idx, sig) for every sighting's signals, normalised, stopwords dropped.

    dd_s keeps the signals as extracted (the regex's empty matches included); they are
    normalised here once per distinct value, which is one name or acronym repeated across
    thousands of sightings.
    """
    stop = sql_string_list(ALL_STOPWORDS)
    return f"""
        WITH raw AS (SELECT idx, unnest(signals) AS raw FROM dd_s),
        distinct_raw AS (SELECT DISTINCT raw FROM raw WHERE raw <> ''),
        normed AS (SELECT raw, {_norm("raw")} AS sig FROM distinct_raw),
        kept AS (SELECT raw, sig FROM normed WHERE sig <> '' AND NOT list_contains({stop}, sig))
        SELECT r.idx, k.sig FROM raw AS r JOIN kept AS k USING (raw)
    """


def sighting_ids(con: duckdb.DuckDBPyConnection, idxs: np.ndarray | list[int]) -> list[str]:
    """Sighting ids of these indices, in the same order (read from dd_s, not kept in Python)."""
    wanted = np.asarray(idxs, dtype=np.int32)
    con.register("dd_wanted_ids", pa.table({"k": np.arange(len(wanted), dtype=np.int32), "idx": wanted}))
    try:
        rows = con.execute(
            "SELECT s.sighting_id FROM dd_wanted_ids AS w JOIN dd_s AS s USING (idx) ORDER BY w.k"
        ).fetchall()
    finally:
        con.unregister("dd_wanted_ids")
    return [r[0] for r in rows]


def index_of(con: duckdb.DuckDBPyConnection, sighting_id: str) -> int | None:
    """The idx of one sighting id (None when it is not a publication sighting)."""
    rows = con.execute("SELECT idx FROM dd_s WHERE sighting_id = ?", [sighting_id]).fetchall()
    return int(rows[0][0]) if rows else None


def stopword_table() -> pa.Table:
    words = [(w, lang) for lang in LANGUAGES for w in sorted(STOPWORDS[lang])]
    return pa.table({"w": [w for w, _ in words], "lang": [lang for _, lang in words]})


def _detect_languages(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table dd_lang(idx, lang): detect_language() over the opening and the title, in SQL.

    Counts distinct function words of each language among the first LANGUAGE_WINDOW words; the
    best language needs MIN_LANGUAGE_HITS of them and LANGUAGE_LEAD times the runner-up.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dd_lang AS
        WITH w AS (
            SELECT idx, unnest(list_concat(string_split(head, ' ')[1:{LANGUAGE_WINDOW}],
                                           string_split(coalesce(norm_title, ''), ' '))) AS w
            FROM dd_s
        ),
        c AS (SELECT idx, lang, count(DISTINCT w) AS n FROM w JOIN dd_stop USING (w) GROUP BY idx, lang),
        r AS (SELECT idx, lang, n, row_number() OVER (PARTITION BY idx ORDER BY n DESC, lang DESC) AS rk FROM c)
        SELECT a.idx, a.lang
        FROM r AS a LEFT JOIN r AS b ON b.idx = a.idx AND b.rk = 2
        WHERE a.rk = 1 AND a.n >= {MIN_LANGUAGE_HITS} AND a.n >= {LANGUAGE_LEAD} * coalesce(b.n, 0)
        """
    )


#: page formats that are listings (cards in the site's sort order)
LISTING_FORMATS = ("text-listing", "html-listing")


#: words in more than this share of openings (and more than LSH_MIN_CUT) are left out of the
#: MinHash sets: frequent words ("migrants", "protection") make unrelated abstracts collide in
#: LSH buckets and multiply candidate pairs without helping to find any duplicate
LSH_MAX_DF_SHARE = 0.005
LSH_MIN_CUT = 20


def token_arrays(con: duckdb.DuckDBPyConnection, n_docs: int) -> tuple[np.ndarray, np.ndarray]:
    """(idx, token hash) of the distinctive content words of every opening, sorted by idx."""
    cut = max(LSH_MIN_CUT, int(LSH_MAX_DF_SHARE * n_docs))
    arrays = con.execute(
        f"""
        WITH df AS (SELECT h, count(*) AS df FROM dd_tok GROUP BY h)
        SELECT t.idx, t.h FROM dd_tok AS t JOIN df USING (h) WHERE df.df <= {cut} ORDER BY t.idx, t.h
        """
    ).fetchnumpy()
    return np.asarray(arrays["idx"], dtype=np.int32), np.asarray(arrays["h"], dtype=np.uint32)
