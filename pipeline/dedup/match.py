"""Decide which candidate pairs are the same edition, by named rules with scores.

Edition rules (a sighting joins an edition when one holds):
- `same_url` (forced, 1.0): one canonical URL (pipeline.urls: scheme, host case, query order,
  tracking parameters, trailing slash and the /en|/es|/fr interface prefix normalised with
  w3lib). A URL is one Drupal node, so nothing but a forbid keeps two sightings of it apart.
- `same_text` (1.0; 0.98 for two truncated teasers): the normalised texts are equal
  (accents, case, punctuation and whitespace dropped).
- `prefix` (0.95): a truncated teaser is a prefix of a longer text after normalising; a teaser
  cut mid-word still matches because the comparison is by characters. An untruncated text that
  is a whole-word prefix of a longer one also counts (a listing showing the first paragraph).
  At least PREFIX_MIN_CHARS characters: a shorter shared opening is common phrasing.
- `paraphrase` (0.9 x overlap): a close paraphrase with agreeing metadata. The share of content
  words (function words removed) of the shorter opening found in the other's opening (first
  48 words) is the overlap. Text alone suffices when a teaser's overlap is PARAPHRASE_MIN or
  more, or two full texts reach it and also share FULL_JACCARD of all their content words. Two
  full texts that only share their opening (one item's page on two sites, its abstract written
  twice: the same first sentences, different endings) need PARAPHRASE_TITLED_MIN and titles that
  name the same publication (equal, one extending the other, or 80% the same words).
  Measured on the replica and the seeds: same-item openings overlap 0.74-0.97, different items
  that open alike (Return Counselling Toolkit vs its "Overview and Operational Tools", two
  Nigeria training guides) 0.62-0.69. "Agreeing metadata" is enforced for every rule by the
  cluster summaries below (same language, titles compatible, years within one, page counts
  close, ISBNs not disjoint).

Cannot-link (checked on whole clusters before every union; see cluster.py):
- same page: a page never shows one node twice (a listing lists a node once, a catalogue has
  an entry once), so two sightings of one page are two items, however identical their text:
  the seed's three identical Spanish toolkit teasers on R&R guideline?page=4 are three nodes
  (three volumes of the toolkit, SOURCES.md 3.2). Only one canonical URL overrides this (a node
  shown twice, e.g. in a "featured" block).
- text language differs: an edition is one language.
- titles conflict: both titled and the titles disagree (different words, or different numbers:
  "Volume I" vs "Volume II", a "Module" one title names and the other lacks).
- URL slugs carry different numbers (`knowledge-bite-1-...` vs `knowledge-bite-2-...`).
- years more than one apart; page counts more than PAGES_TOLERANCE apart; print ISBNs (or
  E-ISBNs) both present and disjoint.
- a forbid from overrides.toml.

Identical text on different pages with nothing telling the items apart is one edition; when the
same text is on one page several times, the cards are distinct editions of one work
(match_works.py, `same_teaser`). A card without a link takes the edition of its slot (the k-th
card with its text in its section's order, cards.py, rule `same_card`); any other sighting of
that text (a detail page, a catalogue entry) cannot tell which of them it is, and stays alone
(cluster.py: ambiguity).

Evidence, not boilerplate: equal texts and prefixes count only when the text has
MIN_EVIDENCE_TOKENS content words and is not found in BOILERPLATE_PAGES sections or more. Chrome
lines (an organisation's name, "Introduction", a download label, a disclaimer) recur across
unrelated pages and sites; they say nothing about which item a sighting is.

Thresholds come from the distributions on the seeds, the replica and the synthetic corpus
(bench/synthetic.py), never from one record: rules are stated as kinds of evidence, and the
labelled seed set is only one of three sets they are measured on.
"""

from __future__ import annotations

from dataclasses import dataclass

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup.cards import Shown
from pipeline.dedup.cluster import Edges
from pipeline.dedup.features import HEAD_CHARS, Features
from pipeline.dedup.normalise import ALL_STOPWORDS, NORMALISE_SQL, titles_conflict, titles_same, urls_conflict

PREFIX_MIN_CHARS = 80
#: an untruncated text counts as a prefix only when this long (and ending on a word)
PREFIX_MIN_CHARS_FULL = 150
PARAPHRASE_MIN = 0.8
#: opening overlap enough when both sightings carry titles naming the same publication
PARAPHRASE_TITLED_MIN = 0.7
#: both texts need this many content words in their opening for the paraphrase rule
PARAPHRASE_MIN_TOKENS = 10
FULL_JACCARD = 0.6
FULL_LENGTH_RATIO = 0.6
YEAR_TOLERANCE = 1
PAGES_TOLERANCE = 0.1
PAGES_SLACK = 4

RULE_RANK = {"pin": 0, "same_url": 1, "same_card": 2, "same_text": 3, "prefix": 4, "paraphrase": 5}
FORCED_RULES = frozenset({"pin", "same_url"})
#: strength classes for the ambiguity test (cluster.py): the same words (equal text, a prefix),
#: then a paraphrase (graded by its overlap)
EVIDENCE_CLASS = {"same_text": 1, "prefix": 1, "paraphrase": 2}
#: a text with fewer content words than this identifies nothing ("Executive Summary", an
#: organisation's name, "Download 1.55 MB"): equal or prefix texts need at least this many
MIN_EVIDENCE_TOKENS = 5
#: a text found in this many sections or more is boilerplate (a disclaimer, a site-wide notice);
#: one publication's teaser is shown in a few listing sections, not in dozens
BOILERPLATE_PAGES = 10
#: a publisher's legal disclaimer (en/es/fr, normalised text: no accents, lower case) is printed in
#: every report: boilerplate wherever it shows, however few pages the warehouse holds yet
DISCLAIMER_SQL = r"^(the )?opinions expressed in|^(las )?opiniones expresadas en|^(les )?opinions exprimees dans"


def build_boilerplate(con: duckdb.DuckDBPyConnection) -> None:
    """Temp table dd_boilerplate(text_hash): texts that recur in BOILERPLATE_PAGES sections or more.

    Sections, not pages (cards.build_pages): a listing's pager pages and every nightly version of
    them show one card again and again, and a teaser seen on thirty versions of one listing is
    still one publication's teaser, not chrome.
    """
    con.execute(
        f"""
        CREATE OR REPLACE TEMP TABLE dd_boilerplate AS
        SELECT s.text_hash FROM dd_s AS s JOIN dd_page AS p USING (page_idx) WHERE s.norm_len > 0
        GROUP BY s.text_hash
        HAVING count(DISTINCT p.section) >= {BOILERPLATE_PAGES} OR bool_or(regexp_matches(s.head, '{DISCLAIMER_SQL}'))
        """
    )


def score_pairs(con: duckdb.DuckDBPyConnection, pairs: np.ndarray, feats: Features) -> Edges:
    """Apply the text rules to candidate pairs; pairs matching no rule are dropped."""
    if not len(pairs):
        return Edges.empty()
    dd_pairs = pa.table({"i": pairs[:, 0].astype(np.int32), "j": pairs[:, 1].astype(np.int32)})
    con.register("dd_pairs", dd_pairs)
    try:
        cols = con.execute(
            f"""
            WITH shared AS (
                SELECT p.i, p.j, count(*)::INTEGER AS shared
                FROM dd_pairs AS p
                JOIN dd_tok AS ta ON ta.idx = p.i
                JOIN dd_tok AS tb ON tb.idx = p.j AND tb.h = ta.h
                GROUP BY p.i, p.j
            )
            SELECT p.i, p.j,
                   (a.text_hash = b.text_hash AND a.norm_len = b.norm_len AND a.norm_len > 0) AS same_text,
                   (a.norm_len <= {HEAD_CHARS} AND b.norm_len >= a.norm_len AND starts_with(b.head, a.head))
                       AS a_in_b,
                   (b.norm_len <= {HEAD_CHARS} AND a.norm_len >= b.norm_len AND starts_with(a.head, b.head))
                       AS b_in_a,
                   starts_with(b.head || ' ', a.head || ' ') AS a_in_b_word,
                   starts_with(a.head || ' ', b.head || ' ') AS b_in_a_word,
                   coalesce(s.shared, 0) AS shared,
                   (a.text_hash IN (SELECT text_hash FROM dd_boilerplate)
                    OR b.text_hash IN (SELECT text_hash FROM dd_boilerplate)) AS boilerplate
            FROM dd_pairs AS p
            JOIN dd_s AS a ON a.idx = p.i
            JOIN dd_s AS b ON b.idx = p.j
            LEFT JOIN shared AS s ON s.i = p.i AND s.j = p.j
            ORDER BY p.i, p.j
            """
        ).fetchnumpy()
    finally:
        con.unregister("dd_pairs")
    i = np.asarray(cols["i"], dtype=np.int64)
    j = np.asarray(cols["j"], dtype=np.int64)
    trunc_i, trunc_j = feats.truncated[i], feats.truncated[j]
    # text that is too short to identify anything, or recurs on many pages, is chrome: never evidence
    evidence = (np.minimum(feats.ntok[i], feats.ntok[j]) >= MIN_EVIDENCE_TOKENS) & ~np.asarray(
        cols["boilerplate"], dtype=bool
    )
    same_text = np.asarray(cols["same_text"], dtype=bool) & evidence
    len_i, len_j = feats.norm_len[i], feats.norm_len[j]
    a_in_b = np.asarray(cols["a_in_b"], dtype=bool) & (
        (trunc_i & (len_i >= PREFIX_MIN_CHARS))
        | (np.asarray(cols["a_in_b_word"], dtype=bool) & (len_i >= PREFIX_MIN_CHARS_FULL))
    )
    b_in_a = np.asarray(cols["b_in_a"], dtype=bool) & (
        (trunc_j & (len_j >= PREFIX_MIN_CHARS))
        | (np.asarray(cols["b_in_a_word"], dtype=bool) & (len_j >= PREFIX_MIN_CHARS_FULL))
    )
    prefix = (a_in_b | b_in_a) & ~same_text & evidence
    shared = np.asarray(cols["shared"], dtype=np.float64)
    ntok_i, ntok_j = feats.ntok[i].astype(np.float64), feats.ntok[j].astype(np.float64)
    # a teaser is compared with the other's opening: the share of the teaser's words found there
    denominator = np.where(trunc_i & ~trunc_j, ntok_i, np.where(trunc_j & ~trunc_i, ntok_j, np.minimum(ntok_i, ntok_j)))
    overlap = np.divide(shared, denominator, out=np.zeros_like(shared), where=denominator > 0)
    enough = np.minimum(ntok_i, ntok_j) >= PARAPHRASE_MIN_TOKENS
    candidate = ~same_text & ~prefix & enough
    # text alone: a teaser found in the other's opening, or two full texts close throughout
    by_text = candidate & (overlap >= PARAPHRASE_MIN)
    both_full = by_text & ~trunc_i & ~trunc_j
    if both_full.any():
        by_text &= ~both_full | _full_texts_close(con, i, j, both_full)
    # text and metadata: the same opening and titles naming the same publication (two pages of
    # one item written separately: the same first sentences, different endings)
    titled = candidate & ~by_text & (overlap >= PARAPHRASE_TITLED_MIN)
    titled &= (feats.title_id[i] >= 0) & (feats.title_id[j] >= 0)
    if titled.any():
        titled &= _titles_same(feats, i, j, titled)
    paraphrase = by_text | titled

    keep = same_text | prefix | paraphrase
    rule = np.where(same_text, "same_text", np.where(prefix, "prefix", "paraphrase"))
    score = np.where(
        same_text,
        np.where(trunc_i & trunc_j, 0.98, 1.0),
        np.where(prefix, 0.95, 0.9 * np.minimum(overlap, 1.0)),
    )
    detail = [
        (f"opening overlap {o:.2f}" + (", same title" if t else "")) if r == "paraphrase" else None
        for r, o, t in zip(rule[keep], overlap[keep], titled[keep], strict=True)
    ]
    return Edges(i[keep], j[keep], rule[keep].tolist(), score[keep].round(4), detail)


def _titles_same(feats: Features, i: np.ndarray, j: np.ndarray, mask: np.ndarray) -> np.ndarray:
    result = np.zeros(len(i), dtype=bool)
    for k in np.flatnonzero(mask).tolist():
        ta, tb = int(feats.title_id[i[k]]), int(feats.title_id[j[k]])
        result[k] = ta == tb or titles_same(feats.titles[ta], feats.titles[tb])
    return result


def _full_texts_close(con: duckdb.DuckDBPyConnection, i: np.ndarray, j: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Whole-text check for two untruncated texts whose openings agree.

    Two volumes of a series may share an opening paragraph and differ after it; comparing only
    the openings would merge them.
    """
    wanted = np.unique(np.concatenate([i[mask], j[mask]]))
    con.register("dd_wanted", pa.table({"idx": wanted.astype(np.int32)}))
    try:
        rows = con.execute(
            f"""
            SELECT d.idx, {NORMALISE_SQL.format(x="coalesce(nullif(s.full_abstract, ''), s.abstract)")}
            FROM dd_s AS d JOIN sightings AS s USING (sighting_id)
            WHERE d.idx IN (SELECT idx FROM dd_wanted)
            """
        ).fetchall()
    finally:
        con.unregister("dd_wanted")
    words = {idx: [w for w in norm.split() if w not in ALL_STOPWORDS and len(w) > 1] for idx, norm in rows}
    result = np.zeros(len(i), dtype=bool)
    for k in np.flatnonzero(mask).tolist():
        wa, wb = words[int(i[k])], words[int(j[k])]
        if not wa or not wb:
            continue
        ratio = min(len(wa), len(wb)) / max(len(wa), len(wb))
        sa, sb = set(wa), set(wb)
        result[k] = ratio >= FULL_LENGTH_RATIO and len(sa & sb) / len(sa | sb) >= FULL_JACCARD
    return result


# ---------------------------------------------------------------------------------------------
# Cluster summaries: what must agree for two clusters to be one edition


_EMPTY: frozenset = frozenset()


@dataclass(eq=False, slots=True)
class EditionSummary:
    """What a cluster of sightings says about its item; mutable, owned by the cluster's root."""

    pages: set[int]
    lang: int
    titles: set[int] | frozenset[int]
    urls: set[int] | frozenset[int]
    year_min: int
    year_max: int
    pc_min: int
    pc_max: int
    isbn: set[str] | frozenset[str]  # mostly empty: the shared empty frozenset until merged
    eisbn: set[str] | frozenset[str]
    forbid: set[tuple[int, int]] | frozenset[tuple[int, int]]
    context: EditionContext
    #: pages shown at once with the cluster's cards, and pages of its identical-text cards (cards.Shown)
    shown_with: set[int] | frozenset[int] = _EMPTY
    twin_pages: set[int] | frozenset[int] = _EMPTY

    def compatible(self, other: EditionSummary, strict: bool) -> str | None:
        """Why the two clusters cannot be one edition, or None; the cheapest and surest test first.

        A person's forbid holds even for strict (pinned or same-URL) merges; the rest only for
        merges the matcher proposed.
        """
        forbidden = self._forbidden_with(other)
        if forbidden or strict:
            return forbidden
        return self._placement_conflict(other) or self._name_conflict(other) or self._value_conflict(other)

    def _forbidden_with(self, other: EditionSummary) -> str | None:
        """overrides.toml forbids these two: one holds side 0 of a forbid, the other side 1."""
        for key, side in self.forbid:
            if (key, 1 - side) in other.forbid:
                return f"forbidden by overrides.toml (forbid #{key + 1})"
        return None

    def _placement_conflict(self, other: EditionSummary) -> str | None:
        """Where the sightings were seen proves them distinct: one page, one section, two languages."""
        if self.pages & other.pages:
            return "same page: a page shows a node once, so these are distinct items"
        if (self.shown_with and self.shown_with & other.twin_pages) or (
            other.shown_with and other.shown_with & self.twin_pages
        ):
            return "shown at once in one section: a section lists a node once, so these are distinct items"
        if self.lang >= 0 and other.lang >= 0 and self.lang != other.lang:
            return "different text languages"
        return None

    def _name_conflict(self, other: EditionSummary) -> str | None:
        """A title or URL of one contradicts one of the other (e.g. another volume's number)."""
        ctx = self.context
        for ta in self.titles:
            for tb in other.titles:
                if ta != tb:
                    why = ctx.title_conflict(ta, tb)
                    if why:
                        return why
        for ua in self.urls:
            for ub in other.urls:
                if ua != ub:
                    why = ctx.url_conflict(ua, ub)
                    if why:
                        return why
        return None

    def _value_conflict(self, other: EditionSummary) -> str | None:
        """Years, page counts or ISBNs too far apart for one edition (each only where both know it)."""
        if self.year_min >= 0 and other.year_min >= 0:
            span = max(self.year_max, other.year_max) - min(self.year_min, other.year_min)
            if span > YEAR_TOLERANCE:
                return f"years differ by {span}"
        if self.pc_min > 0 and other.pc_min > 0:
            low, high = min(self.pc_min, other.pc_min), max(self.pc_max, other.pc_max)
            if high - low > PAGES_SLACK and high > low * (1 + PAGES_TOLERANCE):
                return f"page counts differ ({low} vs {high})"
        if self.isbn and other.isbn and not self.isbn & other.isbn:
            return "different ISBNs"
        if self.eisbn and other.eisbn and not self.eisbn & other.eisbn:
            return "different E-ISBNs"
        return None

    def merged(self, other: EditionSummary) -> EditionSummary:
        """The union; the larger summary's sets are extended in place (the smaller is dropped).

        Copying both sets on every union would make a cluster grown one sighting at a time cost
        the square of its size.
        """
        big, small = (self, other) if len(self.pages) >= len(other.pages) else (other, self)
        big.pages |= small.pages
        # a frozenset `|=` builds a new set and leaves the shared one alone; a set grows in place
        if small.titles:
            big.titles |= small.titles
        if small.urls:
            big.urls |= small.urls
        if small.isbn:
            big.isbn |= small.isbn
        if small.eisbn:
            big.eisbn |= small.eisbn
        if small.forbid:
            big.forbid |= small.forbid
        if small.shown_with:
            big.shown_with = big.shown_with | small.shown_with
        if small.twin_pages:
            big.twin_pages = big.twin_pages | small.twin_pages
        if big.lang < 0:
            big.lang = small.lang
        big.year_min = min_known(big.year_min, small.year_min)
        big.year_max = max(big.year_max, small.year_max)
        big.pc_min = min_known(big.pc_min, small.pc_min)
        big.pc_max = max(big.pc_max, small.pc_max)
        return big


def min_known(a: int, b: int) -> int:
    """The smaller of two values where -1 means unknown (so an unknown never wins)."""
    if a < 0:
        return b
    if b < 0:
        return a
    return min(a, b)


class EditionContext:
    """Shared lookups for summaries: interned titles and URLs with memoised comparisons."""

    def __init__(
        self,
        feats: Features,
        forbid_tags: dict[int, frozenset[tuple[int, int]]],
        shown: Shown | None = None,
    ) -> None:
        self.feats = feats
        self.forbid_tags = forbid_tags
        self.shown = shown or Shown()
        self._titles: dict[tuple[int, int], str | None] = {}
        self._urls: dict[tuple[int, int], str | None] = {}

    def title_conflict(self, a: int, b: int) -> str | None:
        key = (a, b) if a < b else (b, a)
        if key not in self._titles:
            self._titles[key] = titles_conflict(self.feats.titles[key[0]], self.feats.titles[key[1]])
        return self._titles[key]

    def url_conflict(self, a: int, b: int) -> str | None:
        key = (a, b) if a < b else (b, a)
        if key not in self._urls:
            self._urls[key] = urls_conflict(self.feats.urls[key[0]], self.feats.urls[key[1]])
        return self._urls[key]

    def summary(self, idx: int) -> EditionSummary:
        f = self.feats
        title, url = int(f.title_id[idx]), int(f.url_id[idx])
        year, pages = int(f.year[idx]), int(f.pages[idx])
        return EditionSummary(
            pages={int(f.page_idx[idx])},
            lang=int(f.lang[idx]),
            titles={title} if title >= 0 else _EMPTY,
            urls={url} if url >= 0 else _EMPTY,
            year_min=year,
            year_max=year,
            pc_min=pages,
            pc_max=pages,
            isbn=f.isbn.get(idx, _EMPTY),
            eisbn=f.eisbn.get(idx, _EMPTY),
            forbid=self.forbid_tags.get(idx, _EMPTY),
            context=self,
            shown_with=self.shown.with_page.get(idx, _EMPTY),
            twin_pages=self.shown.twin_pages.get(idx, _EMPTY),
        )
