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

from dataclasses import dataclass, field

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.cluster import Edges

#: Drupal's pager query parameter (0-based; the bare URL is page 0)
PAGER_PARAM = "page"

#: pages of one section retrieved within this long after a page belong to the same walk of it
WALK_WINDOW_MINUTES = 60


@dataclass(frozen=True)
class Shown:
    """Which pages a section showed at once, for the cannot-link "a section lists a node once".

    `with_page[idx]`: the pages (page_idx) shown at once with sighting idx's page: the versions
    of the earlier pager pages of its section as they stood when it was retrieved, the later
    ones as the same walk fetched them, and its own page; of those, only pages that show a twin
    text are kept, since the set is only ever intersected with `twin_pages`. `twin_pages[idx]`: idx's page, when
    idx shows a text that some page shows more than once. A card cannot be an item whose twin
    card a page shown beside it shows: when one of three identical cards is corrected or cut
    elsewhere, it is the item no other page of the walk shows, not one of the two beside it.
    Limited to identical texts: for any other card its text decides, and a page archived
    without its neighbours (a supplied dump) must not keep a card that moved apart from itself.
    Only sections where identical cards occur are mapped, so the cost stays with them.
    """

    with_page: dict[int, frozenset[int]] = field(default_factory=dict)
    twin_pages: dict[int, frozenset[int]] = field(default_factory=dict)


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
               CASE WHEN p.url IS NULL THEN 'page:' || i.page_id ELSE listing_section(p.url, '{PAGER_PARAM}') END
                   AS section,
               CASE WHEN p.url IS NULL THEN 0 ELSE listing_page(p.url, '{PAGER_PARAM}') END AS page_no,
               p.retrieved_at
        FROM ids AS i JOIN raw_pages AS p USING (page_id)
        """
    )


#: text rules that say a card's text is another's, corrected or cut elsewhere (match.py)
FAMILY_RULES = frozenset({"same_text", "prefix", "paraphrase"})


def build_families(con: duckdb.DuckDBPyConnection, edges: Edges) -> None:
    """Temp tables dd_twin(page_idx, text_hash), the pages showing a text more than once, and dd_family(text_hash, fam).

    dd_family: a corrected or re-cut copy of a repeated text counts as it.

    When one of three identical cards is corrected, the other two must keep their places in
    the order of identical cards, or every card after the corrected one moves up a slot and
    takes its neighbour's edition. So the order counts a family: a text shown twice on a page
    (the twin text) and the texts the text rules find to be that text (a prefix, a paraphrase).
    A text close to two different twin texts belongs to neither, and two twin texts are never
    one family: each is shown several times at once, so each is its own set of items.
    """
    con.execute(
        "CREATE OR REPLACE TEMP TABLE dd_twin AS SELECT page_idx, text_hash FROM dd_s WHERE norm_len > 0 "
        "GROUP BY page_idx, text_hash HAVING count(*) > 1"
    )
    twins = {int(h) for (h,) in con.execute("SELECT DISTINCT text_hash FROM dd_twin").fetchall()}
    if not twins:
        con.execute("CREATE OR REPLACE TEMP TABLE dd_family (text_hash UBIGINT, fam UBIGINT)")
        return
    text = con.execute("SELECT idx, text_hash FROM dd_s ORDER BY idx").fetchnumpy()
    hashes = np.asarray(text["text_hash"], dtype=np.uint64)
    near: dict[int, set[int]] = {}
    for i, j, rule in zip(edges.i.tolist(), edges.j.tolist(), edges.rule, strict=True):
        if rule not in FAMILY_RULES:
            continue
        hi, hj = int(hashes[i]), int(hashes[j])
        if (hi in twins) == (hj in twins):
            continue
        other, twin = (hj, hi) if hi in twins else (hi, hj)
        near.setdefault(other, set()).add(twin)
    pairs = [(h, next(iter(found))) for h, found in near.items() if len(found) == 1]
    table = pa.table(
        {
            "text_hash": pa.array([h for h, _ in pairs], pa.uint64()),
            "fam": pa.array([f for _, f in pairs], pa.uint64()),
        }
    )
    con.register("dd_family_rows", table)
    try:
        con.execute("CREATE OR REPLACE TEMP TABLE dd_family AS SELECT * FROM dd_family_rows")
    finally:
        con.unregister("dd_family_rows")


def slot_edges(con: duckdb.DuckDBPyConnection, min_tokens: int) -> tuple[Edges, Shown]:
    """`same_card` edges (each URL-less sighting to the first sighting of its slot), and who was shown with whom.

    Needs dd_s (features.build), dd_page (build_pages), dd_boilerplate (match.build_boilerplate)
    and dd_twin, dd_family (build_families).
    A star per slot rather than a chain: a refused union (a title conflict) then costs one
    member, not every member after it.

    The second value says which pages were shown at once (see `Shown`).
    """
    rows = con.execute(
        f"""
        WITH u AS (
            -- every card counts in the order of identical texts (one of three volumes may gain a
            -- link and stay first); only cards with no link get slots: their text is all they have
            SELECT d.idx, d.url IS NULL AS linkless, coalesce(f.fam, d.text_hash) AS text_hash, d.page_idx,
                   s.position, g.section, g.page_no, g.retrieved_at, g.page_id,
                   (coalesce(t.ntok, 0) >= {int(min_tokens)}
                    AND d.text_hash NOT IN (SELECT text_hash FROM dd_boilerplate)) AS evidence
            FROM dd_s AS d
            JOIN sightings AS s USING (sighting_id)
            JOIN dd_page AS g ON g.page_idx = d.page_idx
            LEFT JOIN dd_family AS f ON f.text_hash = d.text_hash
            LEFT JOIN (SELECT idx, count(*) AS ntok FROM dd_tok GROUP BY idx) AS t ON t.idx = d.idx
            WHERE d.norm_len > 0
        ),
        per_page AS (SELECT page_id, section, page_no, retrieved_at, text_hash, count(*) AS n FROM u GROUP BY ALL),
        -- a family's head is a twin text itself (build_families), so dd_twin names every repeated family
        twin AS (SELECT text_hash FROM dd_twin),
        tw_pages AS (
            SELECT DISTINCT page_id, section, page_no, retrieved_at
            FROM per_page WHERE text_hash IN (SELECT text_hash FROM twin) AND page_no > 0
        ),
        versions AS (
            -- every version, cards or none: a later version without the text replaces one with it
            SELECT * FROM (
                SELECT page_id, listing_section(url, '{PAGER_PARAM}') AS section,
                       listing_page(url, '{PAGER_PARAM}') AS page_no, retrieved_at
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
    sections = """
        twin_sections AS (SELECT DISTINCT g.section FROM dd_twin JOIN dd_page AS g USING (page_idx)),
        pages AS (SELECT * FROM dd_page WHERE section IN (SELECT section FROM twin_sections))
    """
    seen_rows = con.execute(
        f"""
        WITH {sections}
        SELECT d.idx, d.page_idx, d.text_hash IN (SELECT text_hash FROM dd_twin) AS twin_text
        FROM dd_s AS d JOIN pages AS g USING (page_idx)
        WHERE d.norm_len > 0
        """
    ).fetchall()
    # One set per page, shared by its cards, of only the pages that show a twin text: a set is only
    # ever intersected with twin_pages (match.EditionSummary._placement_conflict), so no other
    # page can matter. A set per card of every page shown at once held a section's pages once per
    # card: 4.5 GB at 50,000 sightings in sections of hundreds of pages.
    page_sets = {
        int(p): frozenset([int(p), *map(int, shown or [])])
        for p, shown in con.execute(
            f"""
            WITH {sections},
            together AS (
                -- earlier pager pages as they stood when the page was retrieved; later ones as the
                -- same walk fetched them (within WALK_WINDOW after it), else as they stood
                SELECT p.page_idx AS pidx, q.page_no,
                       arg_max(q.page_idx, struct_pack(t := q.retrieved_at, i := q.page_idx)) AS qidx
                FROM pages AS p
                JOIN pages AS q ON q.section = p.section AND q.page_no <> p.page_no
                     AND q.retrieved_at <= CASE WHEN q.page_no < p.page_no THEN p.retrieved_at
                                                ELSE p.retrieved_at + INTERVAL {WALK_WINDOW_MINUTES} MINUTE END
                GROUP BY p.page_idx, q.page_no
            ),
            twin_shown AS (
                SELECT DISTINCT page_idx FROM dd_s WHERE norm_len > 0 AND text_hash IN (SELECT text_hash FROM dd_twin)
            )
            SELECT p.page_idx, list(t.qidx) FILTER (WHERE t.qidx IN (SELECT page_idx FROM twin_shown))
            FROM pages AS p LEFT JOIN together AS t ON t.pidx = p.page_idx
            GROUP BY p.page_idx
            """
        ).fetchall()
    }
    own_page = {p: frozenset([p]) for p in page_sets}
    shown_with = {int(i): page_sets[int(p)] for i, p, _ in seen_rows}
    twin_pages = {int(i): own_page[int(p)] for i, p, twin_text in seen_rows if twin_text}
    idx = np.asarray(rows["idx"], dtype=np.int64)
    head = np.asarray(rows["head"], dtype=np.int64)
    keep = idx != head
    a, b = head[keep], idx[keep]
    order = np.lexsort((b, a))
    a, b = a[order], b[order]
    return Edges(a, b, ["same_card"] * len(a), np.ones(len(a)), [None] * len(a)), Shown(shown_with, twin_pages)
