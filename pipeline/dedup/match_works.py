"""Decide which editions are one work in several languages, by named rules with scores.

Work rules (editions join a work when one holds):
- `edition_link` (1.0, strict): a detail page links to another language edition ("Also
  available in", hreflang alternates) and the link's canonical URL is a URL of that edition.
  The site itself says so; only a forbid refuses it.
- `shared_isbn` (0.9): two editions in different languages print the same ISBN or E-ISBN, AND
  their language-independent signals corroborate it (a shared weighted signal and a weighted
  overlap of ISBN_SIGNALS_MIN). An ISBN alone is not trusted: seed 004 prints
  one ISBN on an English guide to the 2030 Agenda and on a Spanish psychosocial guide
  for Mesoamerica, which share no name, acronym or number.
- `shared_signals` (overlap + metadata bonus): editions in different languages whose
  language-independent signals agree: acronyms (MHPSS, ECOWAS), numbers of two or more digits
  (2030, 69/149), proper names (capitalised words that do not open a sentence, e.g. a foundation's name,
  Mesoamérica, Associazione), plus equal years and close page counts. Signals are weighted by
  inverse document frequency over editions (ln(1 + N/df)), and a signal found in more than
  COMMON_SHARE of editions (and more than RARE_MAX_DF) weighs nothing, so the organisation
  every abstract names (IOM/OIM, UNHCR) cannot link anything. The pair must share a rare
  combination of two signals (found in at most RARE_MAX_DF editions; one shared name is a
  coincidence), MIN_SHARED_SIGNALS weighted signals and a weighted overlap of SIGNALS_MIN,
  and must be each other's unique best match in the other's language among the candidates it
  could form a work with (mutual best within a margin): three Spanish volumes that share every
  signal with three French volumes pair by volume number, or not at all.

- `same_teaser` (0.95): distinct editions that show the same text (identical teasers of
  distinct nodes: volumes, country editions, the three Spanish and three French cards of one
  toolkit) are editions of one work, unless their titles say they are different works (less
  than half of their title words shared, numbers aside). The text must be evidence (match.py:
  long enough, not boilerplate) and shared by at most TEASER_GROUP_CAP editions.

- `similar_text` (0.85 x cosine): editions in different languages whose text openings are
  translations of each other by a multilingual sentence encoder (cosine of at least
  xling.SIM_MIN), do not print different years or numbers, and are each other's unique best match
  in the other's language (xling.py). For translations whose pages share no name or number.
  `embed_budget` caps the texts embedded per pass; 0 uses stored vectors only, below 0 turns
  the rule off.

- `teaser_of_work` (0.9): a sighting whose text matched several editions equally (left ambiguous
  at edition level: an untitled teaser shared by three volumes), when all of them are editions of
  one work by `same_teaser`: it is a sighting of that work, though of no one edition.

- `shared_file_name` (0.9): editions in different languages whose PDF files or page slugs carry
  one name once language markers are removed (`toolkit-return-counselling_fr.pdf` and `..._en.pdf`),
  a name of at least NAME_MIN_CHARS found in at most RARE_MAX_DF editions. The work-level
  cannot-link tests still apply (years, page counts, title numbers).

Cannot-link for works (soft rules; explicit links and pins are refused only by a forbid):
two editions in the same language with different texts (a work may hold several editions in one
language, but only ones its own pages tie together: identical teasers, or an explicit link),
title numbers that differ (Volume 1 vs Volume 2, 2022 vs 2023; for works already holding several
volumes, numbers with nothing in common) unless the editions share their text, years more than
YEAR_SPAN apart, page counts more than PAGES_RATIO apart, and forbids.

Mutual best is taken over text groups (editions tied by `same_teaser`): three identical Spanish
teasers and three identical French ones are one candidate on each side, not a three-way tie.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

import duckdb
import numpy as np
import pyarrow as pa

from pipeline.dedup import xling
from pipeline.dedup.cluster import TIE_MARGIN, Edges
from pipeline.dedup.features import Features, signals_sql
from pipeline.dedup.match import min_known

#: signals in at most this many editions are "rare": they propose candidate pairs and count as
#: identifying. A work has one edition per language and a series a few volumes, so a name found
#: in more editions than a dozen is shared by different works.
RARE_MAX_DF = 12
#: a signal in more editions than this share of all editions (and than RARE_MAX_DF) weighs nothing
COMMON_SHARE = 0.05
MIN_SHARED_SIGNALS = 2
#: an edition's rarest signals paired into blocking keys
BLOCK_SIGNALS = 6
SIGNALS_MIN = 0.5
ISBN_SIGNALS_MIN = 0.2
YEAR_BONUS = 0.1
PAGES_BONUS = 0.1
YEAR_SPAN = 2
PAGES_RATIO = 1.5
ISBN_GROUP_CAP = 12

RULE_RANK = {
    "pin": 0,
    "edition_link": 1,
    "same_teaser": 2,
    "teaser_of_work": 3,
    "shared_isbn": 3,
    "shared_file_name": 3,
    "shared_signals": 4,
    "similar_text": 5,
}
#: a text shown by more editions than this is not one work's teaser
TEASER_GROUP_CAP = 12
#: titles sharing less than this share of their words (numbers aside) name different works
TITLE_WORDS_MIN = 0.5
STRICT_RULES = frozenset({"pin", "edition_link"})

log = logging.getLogger(__name__)


@dataclass
class EditionTable:
    """Per-edition attributes, indexed by edition node (0..E-1)."""

    lang: np.ndarray
    year_min: np.ndarray
    year_max: np.ndarray
    pc_min: np.ndarray
    pc_max: np.ndarray
    nums: list[frozenset[frozenset[int]]]
    isbns: dict[int, frozenset[str]]
    titles: list[frozenset[int]] = field(default_factory=list)  # title ids of each edition
    group: np.ndarray | None = None  # text group of each edition (same_teaser components)
    teaser_pairs: list[tuple[int, int, str]] = field(default_factory=list)
    #: sightings whose text may be evidence (evidence_texts), read once per pass
    usable: np.ndarray | None = None
    #: (edition, edition of a work's text group) for sightings that match every edition of one work
    teaser_of_work: list[tuple[int, int, str]] = field(default_factory=list)

    @property
    def n(self) -> int:
        return len(self.lang)


def edition_table(feats: Features, edition_of: np.ndarray, n_editions: int) -> EditionTable:
    lang = np.full(n_editions, -1, dtype=np.int8)
    known = feats.lang >= 0
    lang[edition_of[known]] = feats.lang[known]
    big = np.iinfo(np.int32).max
    year_min = np.full(n_editions, big, dtype=np.int32)
    year_max = np.full(n_editions, -1, dtype=np.int32)
    has_year = feats.year >= 0
    np.minimum.at(year_min, edition_of[has_year], feats.year[has_year])
    np.maximum.at(year_max, edition_of[has_year], feats.year[has_year])
    year_min[year_min == big] = -1
    pc_min = np.full(n_editions, big, dtype=np.int32)
    pc_max = np.full(n_editions, -1, dtype=np.int32)
    has_pages = feats.pages > 0
    np.minimum.at(pc_min, edition_of[has_pages], feats.pages[has_pages])
    np.maximum.at(pc_max, edition_of[has_pages], feats.pages[has_pages])
    pc_min[pc_min == big] = -1
    nums: list[set[frozenset[int]]] = [set() for _ in range(n_editions)]
    for idx in np.flatnonzero(feats.title_id >= 0).tolist():
        numbers = feats.title_nums[int(feats.title_id[idx])]
        if numbers:
            nums[int(edition_of[idx])].add(numbers)
    isbns: dict[int, set[str]] = defaultdict(set)
    for source in (feats.isbn, feats.eisbn):
        for idx, values in source.items():
            isbns[int(edition_of[idx])].update(values)
    titles: list[set[int]] = [set() for _ in range(n_editions)]
    for idx in np.flatnonzero(feats.title_id >= 0).tolist():
        titles[int(edition_of[idx])].add(int(feats.title_id[idx]))
    return EditionTable(
        titles=[frozenset(t) for t in titles],
        lang=lang,
        year_min=year_min,
        year_max=year_max,
        pc_min=pc_min,
        pc_max=pc_max,
        nums=[frozenset(s) for s in nums],
        isbns={k: frozenset(v) for k, v in isbns.items()},
    )


def link_edges(feats: Features, edition_of: np.ndarray) -> list[tuple[int, int, int, int, str]]:
    """Edition links as (edition a, edition b, sighting with the link, sighting of b at the url, url)."""
    by_url: dict[str, dict[int, int]] = defaultdict(dict)
    if not feats.links:
        return []
    # only sightings at a URL some page links to can be a target
    linked = {url for links in feats.links.values() for url in links}
    ids = [k for k, url in enumerate(feats.urls) if url in linked]
    for idx in np.flatnonzero(np.isin(feats.url_id, np.asarray(ids, dtype=np.int32))).tolist():
        ed = int(edition_of[idx])
        targets = by_url[feats.urls[int(feats.url_id[idx])]]
        targets[ed] = min(targets.get(ed, idx), idx)
    edges: list[tuple[int, int, int, int, str]] = []
    for idx, links in sorted(feats.links.items()):
        source = int(edition_of[idx])
        for url in links:
            for target, sighting in sorted(by_url.get(url, {}).items()):
                if target != source:
                    edges.append((source, target, idx, sighting, url))
    return edges


def same_teaser_pairs(
    con: duckdb.DuckDBPyConnection, feats: Features, edition_of: np.ndarray, eds: EditionTable
) -> list[tuple[int, int, str]]:
    """Edition pairs that show one identical text and whose titles do not say they differ.

    Also sets `eds.group`, the text group of every edition (components of these pairs), and
    `eds.teaser_pairs`; call it before any work summary is made.
    """
    hashes, usable = evidence_texts(con, feats)
    eds.usable = usable
    by_hash: dict[int, set[int]] = defaultdict(set)
    for i in np.flatnonzero(usable).tolist():
        by_hash[int(hashes[i])].add(int(edition_of[i]))
    parent = list(range(eds.n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    pairs: list[tuple[int, int, str]] = []
    for group in by_hash.values():
        if len(group) < 2 or len(group) > TEASER_GROUP_CAP:
            continue
        members = sorted(group)
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                why = _titles_differ(feats, eds, a, b)
                if why is None:
                    pairs.append((a, b, f"{len(members)} editions show this text"))
                    parent[find(a)] = find(b)
    eds.group = np.array([find(x) for x in range(eds.n)], dtype=np.int64)
    eds.teaser_pairs = pairs
    return pairs


def evidence_texts(con: duckdb.DuckDBPyConnection, feats: Features) -> tuple[np.ndarray, np.ndarray]:
    """Text hash of every sighting (by idx) and whether its text may be evidence at all.

    Short texts and boilerplate (match.build_boilerplate) are never evidence: a heading or a
    disclaimer shown by unrelated pages says nothing about which work a page is.
    """
    from pipeline.dedup.match import MIN_EVIDENCE_TOKENS

    cols = con.execute(
        "SELECT idx, text_hash, text_hash IN (SELECT text_hash FROM dd_boilerplate) AS boiler FROM dd_s ORDER BY idx"
    ).fetchnumpy()
    idx = np.asarray(cols["idx"], dtype=np.int64)
    hashes = np.zeros(feats.n, dtype=np.uint64)
    hashes[idx] = np.asarray(cols["text_hash"], dtype=np.uint64)
    usable = np.zeros(feats.n, dtype=bool)
    usable[idx] = (feats.ntok[idx] >= MIN_EVIDENCE_TOKENS) & ~np.asarray(cols["boiler"], dtype=bool)
    return hashes, usable


#: language markers a file or page is often named with ("toolkit_fr.pdf", "guide-es"): a name
#: that differs only by them is one name
LANGUAGE_MARKERS = frozenset(
    [
        "en",
        "eng",
        "english",
        "fr",
        "fra",
        "fre",
        "french",
        "francais",
        "es",
        "esp",
        "spa",
        "spanish",
        "espanol",
        "ar",
        "ara",
        "arabic",
        "ru",
        "rus",
        "pt",
        "por",
    ]
)
#: a name shorter than this (language markers removed) is too generic to identify a work
NAME_MIN_CHARS = 12
_NAME_SPLIT = re.compile(r"[^a-z0-9]+")


def file_name(url: str) -> str | None:
    """The language-independent name of a PDF file or a page slug, or None when too generic.

    `Return-Counselling-Toolkit_FR.pdf` and `return_counselling_toolkit-en.pdf` are one name:
    publishers name the files of a work's language editions after one stem. "report.pdf",
    "document-1.pdf" or a node number name nothing.
    """
    last = unquote(urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1]).lower()
    last = unicodedata.normalize("NFKD", last).encode("ascii", "ignore").decode()
    if last.endswith(".pdf"):
        last = last[:-4]
    words = [w for w in _NAME_SPLIT.split(last) if w and w not in LANGUAGE_MARKERS]
    name = "-".join(words)
    if len(words) < 2 or len(name) < NAME_MIN_CHARS or sum(c.isalpha() for c in name) < NAME_MIN_CHARS // 2:
        return None
    return name


def file_name_pairs(
    con: duckdb.DuckDBPyConnection, edition_of: np.ndarray, eds: EditionTable
) -> list[tuple[int, int, str]]:
    """Edition pairs in different languages whose PDF files (or page slugs) carry one name.

    A name found in more than RARE_MAX_DF editions is a series' or a site's, not a work's.
    """
    rows = con.execute(
        """
        SELECT d.idx, s.pdf_urls, d.url
        FROM dd_s AS d JOIN sightings AS s USING (sighting_id)
        WHERE len(s.pdf_urls) > 0 OR d.url IS NOT NULL
        """
    ).fetchall()
    by_name: dict[str, set[int]] = defaultdict(set)
    # a page URL is shared by its cards and copies: each distinct link is parsed once
    names: dict[str, str | None] = {}
    for idx, pdfs, url in rows:
        ed = int(edition_of[idx])
        for link in [*(pdfs or []), *([url] if url else [])]:
            name = names.get(link, "")
            if name == "":
                name = names[link] = file_name(link)
            if name:
                by_name[name].add(ed)
    pairs: dict[tuple[int, int], str] = {}
    for name, group in sorted(by_name.items()):
        if len(group) < 2 or len(group) > RARE_MAX_DF:
            continue
        members = sorted(group)
        for x in range(len(members)):
            for y in range(x + 1, len(members)):
                a, b = members[x], members[y]
                if eds.lang[a] >= 0 and eds.lang[b] >= 0 and eds.lang[a] != eds.lang[b]:
                    pairs.setdefault((a, b), f"file or page name {name!r}")
    return [(a, b, why) for (a, b), why in sorted(pairs.items())]


def teaser_of_work_pairs(
    ambiguous: list[tuple[int, int]], edition_of: np.ndarray, eds: EditionTable
) -> list[tuple[int, int, str]]:
    """Editions whose text matched several editions equally, all of them one work's editions.

    `ambiguous` holds the sighting pairs the edition level left ambiguous. An untitled teaser
    that shows the text of three volumes cannot say which volume it is, so it stays its own
    edition; but when every candidate is in one text group (same_teaser: one work), it is a
    sighting of that work. Candidates in different groups prove nothing and add nothing.
    Call after same_teaser_pairs.
    """
    if eds.group is None or not ambiguous:
        return []
    candidates: dict[int, set[int]] = defaultdict(set)
    for a, b in ambiguous:
        ea, eb = int(edition_of[a]), int(edition_of[b])
        if ea != eb:
            candidates[ea].add(eb)
            candidates[eb].add(ea)
    pairs: list[tuple[int, int, str]] = []
    for ed, found in sorted(candidates.items()):
        own = int(eds.group[ed])
        others = {x for x in found if int(eds.group[x]) != own}  # its own twins are no candidates
        groups = {int(eds.group[x]) for x in others}
        if len(others) >= 2 and len(groups) == 1:
            pairs.append((ed, min(others), f"matches all {len(others)} editions of one work equally"))
            # it shows that work's text: one text group with it (for the same-language test)
            eds.group[eds.group == own] = groups.pop()
    eds.teaser_of_work = pairs
    return pairs


def _titles_differ(feats: Features, eds: EditionTable, a: int, b: int) -> str | None:
    for ta in eds.titles[a]:
        for tb in eds.titles[b]:
            wa = {w for w in feats.titles[ta].split() if not w.isdigit()}
            wb = {w for w in feats.titles[tb].split() if not w.isdigit()}
            if wa and wb and len(wa & wb) / min(len(wa), len(wb)) < TITLE_WORDS_MIN:
                return "titles name different works"
    return None


def prepare_signals(con: duckdb.DuckDBPyConnection, edition_of: np.ndarray, eds: EditionTable) -> None:
    """Temp table dd_sigw(ed, sig, df, langs, w): each edition's signals with their IDF weight.

    w = ln(1 + N/df), and 0 for a signal in more than COMMON_SHARE of the editions (and more
    than RARE_MAX_DF): names every abstract carries weigh nothing. `langs` counts the text
    languages the signal is found in: a capitalised word seen in one language only (Fondation,
    Organización) is that language's vocabulary, not a name that crosses languages.
    """
    n_editions = eds.n
    common_cut = max(RARE_MAX_DF, int(COMMON_SHARE * n_editions))
    con.register(
        "dd_ed", pa.table({"idx": np.arange(len(edition_of), dtype=np.int32), "ed": edition_of.astype(np.int32)})
    )
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE dd_sig AS
            SELECT DISTINCT e.ed, s.sig
            FROM ({signals_sql()}) AS s JOIN dd_ed AS e USING (idx)
            """
        )
    finally:
        con.unregister("dd_ed")
    con.register("dd_edlang", pa.table({"ed": np.arange(eds.n, dtype=np.int32), "lang": eds.lang.astype(np.int16)}))
    try:
        con.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE dd_sigw AS
            WITH df AS (
                SELECT s.sig, count(*)::INTEGER AS df,
                       count(DISTINCT l.lang) FILTER (WHERE l.lang >= 0)::INTEGER AS langs
                FROM dd_sig AS s JOIN dd_edlang AS l USING (ed)
                GROUP BY s.sig
            )
            SELECT s.ed, s.sig, df.df, df.langs,
                   CASE WHEN df.df <= {common_cut} THEN ln(1 + {n_editions}::DOUBLE / df.df) ELSE 0 END AS w
            FROM dd_sig AS s JOIN df USING (sig)
            """
        )
    finally:
        con.unregister("dd_edlang")


def signal_candidates(con: duckdb.DuckDBPyConnection, eds: EditionTable) -> np.ndarray:
    """Edition pairs in different languages that share a rare combination of two signals.

    Blocking key: a pair of signals among an edition's BLOCK_SIGNALS rarest ones that are found in
    more than one language in the corpus. One name or
    number is shared by many works in a large corpus; two of them together rarely are, so keys
    found in at most RARE_MAX_DF editions propose candidates, and the number of candidates
    grows with the corpus, not with its square.
    """
    common_cut = max(RARE_MAX_DF, int(COMMON_SHARE * eds.n))
    con.register("dd_edlang", pa.table({"ed": np.arange(eds.n, dtype=np.int32), "lang": eds.lang.astype(np.int16)}))
    try:
        rows = con.execute(
            f"""
            WITH top AS (
                SELECT ed, sig FROM (
                    SELECT ed, sig, row_number() OVER (PARTITION BY ed ORDER BY df, sig) AS rk
                    FROM dd_sigw WHERE df BETWEEN 2 AND {common_cut} AND langs >= 2
                ) WHERE rk <= {BLOCK_SIGNALS}
            ),
            keys AS (
                SELECT a.ed, hash(a.sig || chr(31) || b.sig) AS key
                FROM top AS a JOIN top AS b ON a.ed = b.ed AND a.sig < b.sig
            ),
            rare AS (
                SELECT key FROM keys GROUP BY key HAVING count(*) BETWEEN 2 AND {RARE_MAX_DF}
            ),
            hits AS (SELECT k.ed, k.key FROM keys AS k SEMI JOIN rare USING (key))
            SELECT DISTINCT a.ed AS ea, b.ed AS eb
            FROM hits AS a JOIN hits AS b ON a.key = b.key AND a.ed < b.ed
            JOIN dd_edlang AS la ON la.ed = a.ed
            JOIN dd_edlang AS lb ON lb.ed = b.ed
            WHERE la.lang >= 0 AND lb.lang >= 0 AND la.lang <> lb.lang
            ORDER BY ea, eb
            """
        ).fetchnumpy()
    finally:
        con.unregister("dd_edlang")
    return np.stack([np.asarray(rows["ea"], dtype=np.int64), np.asarray(rows["eb"], dtype=np.int64)], axis=1)


def signal_overlap(con: duckdb.DuckDBPyConnection, pairs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted overlap (shared weight / the smaller total) and shared count for edition pairs."""
    if not len(pairs):
        return np.empty(0), np.empty(0, dtype=np.int64)
    con.register("dd_edpairs", pa.table({"ea": pairs[:, 0].astype(np.int32), "eb": pairs[:, 1].astype(np.int32)}))
    try:
        cols = con.execute(
            """
            WITH total AS (SELECT ed, sum(w) AS total FROM dd_sigw GROUP BY ed),
            shared AS (
                SELECT p.ea, p.eb, sum(a.w) AS sw, count(*) FILTER (WHERE a.w > 0)::INTEGER AS n_shared
                FROM dd_edpairs AS p
                JOIN dd_sigw AS a ON a.ed = p.ea
                JOIN dd_sigw AS b ON b.ed = p.eb AND b.sig = a.sig
                GROUP BY p.ea, p.eb
            )
            SELECT p.ea, p.eb,
                   coalesce(s.sw / nullif(least(ta.total, tb.total), 0), 0) AS overlap,
                   coalesce(s.n_shared, 0) AS n_shared
            FROM dd_edpairs AS p
            LEFT JOIN shared AS s ON s.ea = p.ea AND s.eb = p.eb
            LEFT JOIN total AS ta ON ta.ed = p.ea
            LEFT JOIN total AS tb ON tb.ed = p.eb
            ORDER BY p.ea, p.eb
            """
        ).fetchnumpy()
    finally:
        con.unregister("dd_edpairs")
    return np.asarray(cols["overlap"], dtype=np.float64), np.asarray(cols["n_shared"], dtype=np.int64)


def _metadata_bonus(eds: EditionTable, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    same_year = (eds.year_min[a] >= 0) & (eds.year_min[a] == eds.year_min[b])
    pa_, pb = eds.pc_min[a].astype(float), eds.pc_min[b].astype(float)
    close_pages = (pa_ > 0) & (pb > 0) & (np.maximum(pa_, pb) <= 1.1 * np.minimum(pa_, pb))
    return YEAR_BONUS * same_year + PAGES_BONUS * close_pages


@dataclass
class _EdgeList:
    """Work edges as they are found, in the order found (the clusterer breaks ties by it)."""

    ia: list[int] = field(default_factory=list)
    ib: list[int] = field(default_factory=list)
    rules: list[str] = field(default_factory=list)
    scores: list[float] = field(default_factory=list)
    details: list[str | None] = field(default_factory=list)

    def add(self, a: int, b: int, rule: str, score: float, detail: str | None) -> None:
        self.ia.append(a)
        self.ib.append(b)
        self.rules.append(rule)
        self.scores.append(score)
        self.details.append(detail)

    def edges(self) -> Edges:
        return Edges(
            np.array(self.ia, dtype=np.int64),
            np.array(self.ib, dtype=np.int64),
            self.rules,
            np.array(self.scores),
            self.details,
        )


def work_edges(
    con: duckdb.DuckDBPyConnection,
    feats: Features,
    edition_of: np.ndarray,
    eds: EditionTable,
    summary_of: Callable[[int], WorkSummary],
    embed_budget: int = xling.DEFAULT_BUDGET,
    xstats: xling.Stats | None = None,
) -> Edges:
    """All scored work edges: links, same teasers, corroborated ISBNs, mutual-best signals and texts.

    Signal candidates that could never be one work (title numbers, years, page counts) are
    dropped before the mutual-best test: Spanish volume 1 is then compared with French volume 1
    only, not tied with volumes 2 and 3.
    """
    out = _EdgeList()
    # what the sites state: a page links to its other language edition, one teaser stands for several
    for a, b, _, _, url in link_edges(feats, edition_of):
        out.add(a, b, "edition_link", 1.0, url)
    for a, b, why in eds.teaser_pairs:
        out.add(a, b, "same_teaser", 0.95, why)
    for a, b, why in eds.teaser_of_work:
        out.add(a, b, "teaser_of_work", 0.9, why)
    text_group = eds.group if eds.group is not None else np.arange(eds.n)

    prepare_signals(con, edition_of, eds)
    # one file or page name across languages
    for a, b, why in file_name_pairs(con, edition_of, eds):
        out.add(a, b, "shared_file_name", 0.9, why)
    _isbn_edges(con, eds, out)
    _signal_edges(con, eds, summary_of, text_group, out)
    _similar_text_edges(con, feats, edition_of, eds, summary_of, text_group, embed_budget, xstats, out)
    return out.edges()


def _isbn_edges(con: duckdb.DuckDBPyConnection, eds: EditionTable, out: _EdgeList) -> None:
    """Editions of two languages that print one ISBN, if language-independent signals agree.

    An ISBN alone is not trusted: seed 004 prints one ISBN on two unrelated works (module doc).
    """
    by_isbn: dict[str, list[int]] = defaultdict(list)
    for ed, values in eds.isbns.items():
        for value in values:
            by_isbn[value].append(ed)
    isbn_pairs: dict[tuple[int, int], str] = {}
    for value, group in sorted(by_isbn.items()):
        if len(group) < 2 or len(group) > ISBN_GROUP_CAP:
            continue
        group = sorted(group)
        for x in range(len(group)):
            for y in range(x + 1, len(group)):
                la, lb = int(eds.lang[group[x]]), int(eds.lang[group[y]])
                if la >= 0 and la == lb:
                    continue  # one language: an edition question, already answered
                isbn_pairs.setdefault((group[x], group[y]), value)
    if not isbn_pairs:
        return
    keys = np.array(sorted(isbn_pairs), dtype=np.int64)
    overlap, n_shared = signal_overlap(con, keys)
    for (x, y), o, ns in zip(keys.tolist(), overlap.tolist(), n_shared.tolist(), strict=True):
        if ns >= 1 and o >= ISBN_SIGNALS_MIN:
            out.add(
                x, y, "shared_isbn", 0.9, f"ISBN {isbn_pairs[(x, y)]}; {ns} shared signals, weighted overlap {o:.2f}"
            )


def _signal_edges(
    con: duckdb.DuckDBPyConnection,
    eds: EditionTable,
    summary_of: Callable[[int], WorkSummary],
    text_group: np.ndarray,
    out: _EdgeList,
) -> None:
    """Language-independent signals (acronyms, numbers, names): only a mutual unique best per language.

    Volumes of one series share every signal, so a pair is kept only when each is the other's
    clear best in that language: volume 1 pairs with volume 1, or nothing pairs (module doc).
    """
    candidates = signal_candidates(con, eds)
    overlap, n_shared = signal_overlap(con, candidates)
    a, b = candidates[:, 0], candidates[:, 1]
    if not len(a):
        return
    total = np.minimum(overlap + _metadata_bonus(eds, a, b), 1.0)
    ok = (n_shared >= MIN_SHARED_SIGNALS) & (total >= SIGNALS_MIN)
    for k in np.flatnonzero(ok).tolist():
        if summary_of(int(a[k])).compatible(summary_of(int(b[k])), False) is not None:
            ok[k] = False
    a, b, total, n_shared = a[ok], b[ok], total[ok], n_shared[ok]
    best: dict[tuple[int, int], list[tuple[float, int]]] = defaultdict(list)
    for x, y, s in zip(a.tolist(), b.tolist(), total.tolist(), strict=True):
        best[(x, int(eds.lang[y]))].append((s, y))
        best[(y, int(eds.lang[x]))].append((s, x))

    def unique_best(node: int, lang: int) -> int | None:
        """The text group of the best candidate; candidates of one group are not a tie."""
        cands = sorted(best[(node, lang)], key=lambda t: (-t[0], t[1]))
        top = int(text_group[cands[0][1]])
        rivals = [c for c in cands[1:] if int(text_group[c[1]]) != top]
        if rivals and rivals[0][0] >= cands[0][0] - TIE_MARGIN:
            return None
        return top

    for x, y, s, ns in zip(a.tolist(), b.tolist(), total.tolist(), n_shared.tolist(), strict=True):
        if unique_best(x, int(eds.lang[y])) == text_group[y] and unique_best(y, int(eds.lang[x])) == text_group[x]:
            out.add(x, y, "shared_signals", round(s * 0.85, 4), f"{ns} shared signals, weighted overlap {s:.2f}")


def _similar_text_edges(
    con: duckdb.DuckDBPyConnection,
    feats: Features,
    edition_of: np.ndarray,
    eds: EditionTable,
    summary_of: Callable[[int], WorkSummary],
    text_group: np.ndarray,
    embed_budget: int,
    xstats: xling.Stats | None,
    out: _EdgeList,
) -> None:
    """Texts that translate each other (xling.py), mutual unique best per language.

    For translations whose pages share no name or number. Only with two text languages present;
    `embed_budget` caps the texts embedded per pass (the rest wait, counted in `xstats`), and a
    budget below 0 turns the rule off.
    """
    xstats = xstats if xstats is not None else xling.Stats()
    if embed_budget < 0 or len({int(x) for x in eds.lang if x >= 0}) < 2:
        return
    usable = (eds.usable if eds.usable is not None else evidence_texts(con, feats)[1]) & (feats.lang >= 0)
    texts = xling.edition_texts(con, edition_of, usable, feats.truncated)
    xstats.texts = len(texts.opening)
    opening = xling.vectors(con, texts.opening, embed_budget, xstats)
    whole = xling.vectors(con, texts.whole, embed_budget, xstats)
    if xstats.pending:
        log.info("cross-language matching: %d texts wait for the next pass (embed budget)", xstats.pending)

    def incompatible(x: int, y: int) -> str | None:
        return summary_of(x).compatible(summary_of(y), False)

    for x, y, s, why in xling.similar_pairs(texts, opening, whole, eds.lang, text_group, incompatible, xstats):
        out.add(x, y, "similar_text", round(s * 0.85, 4), why)


@dataclass(eq=False, slots=True)
class WorkSummary:
    """What a cluster of editions says about its work; mutable, owned by the cluster's root."""

    langs: dict[int, set[int]]  # text language -> text groups of its editions
    nums: set[frozenset[int]]
    year_min: int
    year_max: int
    pc_min: int
    pc_max: int
    forbid: set[tuple[int, int]]

    def compatible(self, other: WorkSummary, strict: bool) -> str | None:
        for key, side in self.forbid:
            if (key, 1 - side) in other.forbid:
                return f"forbidden by overrides.toml (forbid #{key + 1})"
        if strict:
            return None
        shared_text = False
        for lang, groups in self.langs.items():
            if lang in other.langs:
                if not groups & other.langs[lang]:
                    return "both have an edition in the same language, with different texts"
                shared_text = True
        # a work of several volumes carries the numbers of all of them: clusters whose title
        # numbers have nothing in common name different works (volume 1 vs volume 2, 2022 vs 2023)
        if not shared_text and self.nums and other.nums and not self.nums & other.nums:
            na, nb = min(self.nums, key=sorted), min(other.nums, key=sorted)
            return "title numbers differ (" + _fmt(na) + " vs " + _fmt(nb) + ")"
        if self.year_min >= 0 and other.year_min >= 0:
            span = max(self.year_max, other.year_max) - min(self.year_min, other.year_min)
            if span > YEAR_SPAN:
                return f"years differ by {span}"
        if self.pc_min > 0 and other.pc_min > 0:
            low, high = min(self.pc_min, other.pc_min), max(self.pc_max, other.pc_max)
            if high > PAGES_RATIO * low:
                return f"page counts differ ({low} vs {high})"
        return None

    def merged(self, other: WorkSummary) -> WorkSummary:
        """The union, built in the larger summary (see EditionSummary.merged)."""
        big, small = (
            (self, other) if len(self.nums) + len(self.langs) >= len(other.nums) + len(other.langs) else (other, self)
        )
        for lang, groups in small.langs.items():
            big.langs.setdefault(lang, set()).update(groups)
        big.nums |= small.nums
        big.forbid |= small.forbid
        big.year_min = min_known(big.year_min, small.year_min)
        big.year_max = max(big.year_max, small.year_max)
        big.pc_min = min_known(big.pc_min, small.pc_min)
        big.pc_max = max(big.pc_max, small.pc_max)
        return big


def work_summary_factory(
    eds: EditionTable, forbid_tags: dict[int, frozenset[tuple[int, int]]]
) -> Callable[[int], WorkSummary]:
    """Summary of one edition node for the work-level clusterer."""

    def summary(ed: int) -> WorkSummary:
        lang = int(eds.lang[ed])
        group = int(eds.group[ed]) if eds.group is not None else ed
        return WorkSummary(
            langs={lang: {group}} if lang >= 0 else {},
            nums=set(eds.nums[ed]),
            year_min=int(eds.year_min[ed]),
            year_max=int(eds.year_max[ed]),
            pc_min=int(eds.pc_min[ed]),
            pc_max=int(eds.pc_max[ed]),
            forbid=set(forbid_tags.get(ed, ())),
        )

    return summary


def _fmt(nums: frozenset[int]) -> str:
    return ",".join(str(n) for n in sorted(nums))
