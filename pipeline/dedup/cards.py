"""Card identity over time: which card of a listing's next version is the same item as before.

Every version of a listing page is kept (a new body is a new `raw_pages` row), so the nightly
warehouse holds the cards of every version and must join each card with its earlier sightings.
For a card with a link, its canonical URL decides (`same_url`). A card without one (the text
renderings of listings, `archive add` dumps) has only its text, and identical texts on one page
are distinct items (a page lists a node once): the three identical Spanish teasers of a
three-volume toolkit are three editions. Position on a page cannot tell them apart, since every
insertion at the top of a section shifts every card of every pager page.

What can: the order of identical cards within their section. Drupal lists a section in one
sort order across its pager, so the k-th card showing text T in the section (counting the T
cards on the earlier pager pages as they stood when the page was retrieved, then those above it
on the page) is the same item on every night, whatever was inserted, removed or moved around
it. A card's *slot* is (T, k); sightings with one slot are one edition (rule `same_card`). The
number of editions showing T is therefore the largest number of T cards a section ever showed
at once, never one per page version.

Slots are global for a text that is evidence (enough content words, not boilerplate: see
match.py), so the same teaser in two sections or on two sites is one slot 1, as `same_text`
would join it. A text that is no evidence (a heading, "Executive Summary") identifies nothing
across sections, but it does identify a card within its own section from one version to the
next, so its slot also carries the section.

The section of a page is its URL without Drupal's pager parameter `page` (0-based, absent on the
first page); a page without URL (a supplied dump) is its own section.
"""

from __future__ import annotations

import duckdb
import numpy as np

from pipeline.dedup.cluster import Edges

#: Drupal's pager query parameter (0-based; the bare URL is page 0)
PAGER_PARAM = "page"

#: SQL expressions for a page URL's section and pager page number (x: the URL column)
SECTION_SQL = "regexp_replace(regexp_replace({x}, '([?&])" + PAGER_PARAM + r"=\d*&?', '\1'), '[?&]$', '')"
PAGE_NO_SQL = "coalesce(try_cast(regexp_extract({x}, '[?&]" + PAGER_PARAM + r"=(\d+)', 1) AS INTEGER), 0)"


def build_pages(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table dd_page(page_idx, page_id, section, page_no, retrieved_at): pages of publication sightings.

    page_idx is numbered like features.build numbers it (dense over page_id), so both agree.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dd_page AS
        WITH ids AS (
            SELECT page_id, (row_number() OVER (ORDER BY page_id) - 1)::INTEGER AS page_idx
            FROM (SELECT DISTINCT page_id FROM sightings WHERE kind = 'publication')
        )
        SELECT i.page_idx, i.page_id,
               CASE WHEN p.url IS NULL THEN 'page:' || i.page_id ELSE {SECTION_SQL.format(x="p.url")} END AS section,
               CASE WHEN p.url IS NULL THEN 0 ELSE {PAGE_NO_SQL.format(x="p.url")} END AS page_no,
               p.retrieved_at
        FROM ids AS i JOIN raw_pages AS p USING (page_id)
        """
    )


def slot_edges(con: duckdb.DuckDBPyConnection, min_tokens: int) -> tuple[Edges, dict[int, frozenset[int]]]:
    """`same_card` edges (each URL-less sighting to the first sighting of its slot), and who was shown with whom.

    Needs dd_s (features.build), dd_page (build_pages) and dd_boilerplate (match.build_boilerplate).
    A star per slot rather than a chain: a refused union (a title conflict) then costs one
    member, not every member after it.

    The second value maps a sighting to the pages (page_idx) shown at once with its own: the
    versions of the earlier pager pages of its section that were current when its page was
    retrieved, and its page. A section lists a node once, so a card cannot be an item whose
    card those pages show: when one of three identical cards is corrected on a page while
    the other two sit on the page before, the corrected card is the third item, not one of
    the two shown beside it. Only pages of sections where identical cards occur are mapped:
    elsewhere the relation decides nothing that a card's text does not, and it would cost a
    set per card.
    """
    rows = con.execute(
        f"""
        WITH u AS (
            -- every card counts in the order of identical texts (one of three volumes may gain a
            -- link and stay first); only cards with no link get slots: their text is all they have
            SELECT d.idx, d.url IS NULL AS linkless, d.text_hash, d.page_idx, s.position, g.section, g.page_no,
                   g.retrieved_at, g.page_id,
                   (coalesce(t.ntok, 0) >= {int(min_tokens)}
                    AND d.text_hash NOT IN (SELECT text_hash FROM dd_boilerplate)) AS evidence
            FROM dd_s AS d
            JOIN sightings AS s USING (sighting_id)
            JOIN dd_page AS g ON g.page_idx = d.page_idx
            LEFT JOIN (SELECT idx, count(*) AS ntok FROM dd_tok GROUP BY idx) AS t ON t.idx = d.idx
            WHERE d.norm_len > 0
        ),
        per_page AS (SELECT page_id, section, page_no, retrieved_at, text_hash, count(*) AS n FROM u GROUP BY ALL),
        twin AS (SELECT DISTINCT text_hash FROM per_page WHERE n > 1),
        tw_pages AS (
            SELECT DISTINCT page_id, section, page_no, retrieved_at
            FROM per_page WHERE text_hash IN (SELECT text_hash FROM twin) AND page_no > 0
        ),
        versions AS (
            -- every version, cards or none: a later version without the text replaces one with it
            SELECT * FROM (
                SELECT page_id, {SECTION_SQL.format(x="url")} AS section, {PAGE_NO_SQL.format(x="url")} AS page_no,
                       retrieved_at
                FROM raw_pages WHERE url IS NOT NULL
            ) WHERE section IN (SELECT section FROM tw_pages)
        ),
        current_before AS (
            -- for each page showing a twin text: the version of every earlier pager page of its
            -- section that was current when it was retrieved
            SELECT p.page_id AS pid, q.page_no,
                   arg_max(q.page_id, struct_pack(t := q.retrieved_at, id := q.page_id)) AS qid
            FROM tw_pages AS p
            JOIN versions AS q ON q.section = p.section AND q.page_no < p.page_no AND q.retrieved_at <= p.retrieved_at
            GROUP BY p.page_id, q.page_no
        ),
        above AS (
            SELECT c.pid AS page_id, n.text_hash, sum(n.n)::INTEGER AS n
            FROM current_before AS c JOIN per_page AS n ON n.page_id = c.qid
            WHERE n.text_hash IN (SELECT text_hash FROM twin)
            GROUP BY ALL
        ),
        slotted AS (
            SELECT u.idx, u.linkless, u.text_hash, u.evidence, u.section,
                   coalesce(a.n, 0)
                   + row_number() OVER (PARTITION BY u.page_id, u.text_hash ORDER BY u.position, u.idx) AS slot
            FROM u LEFT JOIN above AS a ON a.page_id = u.page_id AND a.text_hash = u.text_hash
        ),
        keyed AS (
            SELECT idx, hash(text_hash, slot, CASE WHEN evidence THEN '' ELSE section END) AS k
            FROM slotted WHERE linkless
        )
        SELECT idx, min(idx) OVER (PARTITION BY k) AS head FROM keyed
        """
    ).fetchnumpy()
    seen_rows = con.execute(
        """
        WITH u AS (
            SELECT d.idx, d.page_idx, g.page_id, g.section, g.page_no, g.retrieved_at
            FROM dd_s AS d JOIN dd_page AS g ON g.page_idx = d.page_idx
            WHERE d.url IS NULL AND d.norm_len > 0
        ),
        twin_sections AS (
            SELECT DISTINCT u.section FROM u JOIN dd_s AS d USING (idx)
            GROUP BY u.section, u.page_id, d.text_hash HAVING count(*) > 1
        ),
        pages AS (SELECT DISTINCT page_idx, page_id, section, page_no, retrieved_at FROM u
                  WHERE section IN (SELECT section FROM twin_sections)),
        versions AS (
            SELECT page_idx, section, page_no, retrieved_at FROM dd_page
            WHERE section IN (SELECT section FROM twin_sections)
        ),
        current_before AS (
            SELECT p.page_idx AS pidx, q.page_no,
                   arg_max(q.page_idx, struct_pack(t := q.retrieved_at, i := q.page_idx)) AS qidx
            FROM pages AS p
            JOIN versions AS q ON q.section = p.section AND q.page_no < p.page_no AND q.retrieved_at <= p.retrieved_at
            GROUP BY p.page_idx, q.page_no
        ),
        together AS (
            SELECT p.page_idx, list(DISTINCT c.qidx) FILTER (WHERE c.qidx IS NOT NULL) AS shown
            FROM pages AS p LEFT JOIN current_before AS c ON c.pidx = p.page_idx
            GROUP BY p.page_idx
        )
        SELECT u.idx, t.page_idx, t.shown FROM u JOIN together AS t USING (page_idx)
        """
    ).fetchall()
    seen_with = {int(i): frozenset([int(p), *map(int, shown or [])]) for i, p, shown in seen_rows}
    idx = np.asarray(rows["idx"], dtype=np.int64)
    head = np.asarray(rows["head"], dtype=np.int64)
    keep = idx != head
    a, b = head[keep], idx[keep]
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    return Edges(a, b, ["same_card"] * len(a), np.ones(len(a)), [None] * len(a)), seen_with
