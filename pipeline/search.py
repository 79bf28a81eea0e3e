"""Find publications by their words and by their meaning, in every language (`pipeline search`).

An analyst asks in one language; the works that answer may have editions only in others. Two
rankers, fused:

- **words**: BM25 over each edition's title and abstract, from DuckDB's `fts` extension. One
  full-text index per language, each with that language's Snowball stemmer (an English stemmer
  leaves "réintégration" alone; the French one makes it match "réintégrations"); editions whose
  language is unknown are indexed without a stemmer. The lists are merged by score, not by rank:
  an English query that happens to share one word with a French title should not put it beside
  the best English answer.
- **meaning**: the cosine between the query's multilingual sentence vector (the dedup's encoder,
  `pipeline/dedup/xling.py`) and each edition's vector, read from `text_vectors` where the dedup
  pass stored it: no edition is embedded again here. A query and its translation land close, so
  an English query reaches the French and Spanish editions whose words it does not share.

The two lists are fused by reciprocal rank (RRF, k = 60: a rank's weight, not its raw score, so
BM25's unbounded scores and cosines mix without calibration). A work ranks by its best edition
and lists all its editions, in every language, saying which matched and why.

Where it lives: a DuckDB file of its own beside the warehouse (`backend.search_index_of`), built
by `ingest` after its dedup pass from the warehouse's `publications` and `works`, written aside
and renamed into place, so a reader sees the last index whole. Readers never write it. It holds
copies of what a result shows (titles, years, sites, URLs), so a search needs no second file,
and the SQL macros `search_editions` and `search_works` for analysts in their own client (words
only: the vector of a query needs the encoder, which SQL cannot run).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.backend import MEMORY_LIMIT, SAFE_CONFIG
from pipeline.errors import ConfigError, WarehouseError
from pipeline.settings import default

if TYPE_CHECKING:
    import numpy as np

    from pipeline.backend import Location
    from pipeline.dedup.xling import Encoder

#: bump when the index's tables change: an index of another version is rebuilt by the next ingest
INDEX_VERSION = 1
#: ISO 639-1 -> the fts extension's Snowball stemmer; any other language is indexed unstemmed
STEMMERS = {
    "ar": "arabic", "ca": "catalan", "da": "danish", "de": "german", "el": "greek", "en": "english",
    "es": "spanish", "eu": "basque", "fi": "finnish", "fr": "french", "ga": "irish", "hi": "hindi",
    "hu": "hungarian", "id": "indonesian", "it": "italian", "lt": "lithuanian", "ne": "nepali",
    "nl": "dutch", "no": "norwegian", "pt": "portuguese", "ro": "romanian", "ru": "russian",
    "sr": "serbian", "sv": "swedish", "ta": "tamil", "tr": "turkish",
}  # fmt: skip
#: what separates words, for the index and for the query alike: anything but a letter, so a
#: typographic apostrophe splits "l’Organisation" as the ASCII one does (the extension's default
#: pattern is ASCII punctuation only: "l’organis" was one term no query could reach)
NOT_A_LETTER = r"[^\p{L}]+"
#: one-letter words are elisions and particles in these languages (l', d', a, à, y, o): never
#: indexed, never required of an edition
SINGLE_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyz")
#: below this cosine an edition is not found "by meaning": on the labelled queries (bench search)
#: every relevant work found by vectors scored 0.253 or more, while queries on nothing the sites
#: publish ("banana smoothie recipe", "xyzzy qwerty") top out at 0.09-0.22; some off-topic queries
#: still pass ("football world cup results": 0.31), so a result always says why it matched
MEANING_FLOOR = 0.22
#: vectors read from the index at a time when a searcher loads them (2 MB a batch)
VECTOR_BATCH = 1024
#: words of a query that count (a pasted paragraph is not a query: each word costs a scan)
MAX_QUERY_WORDS = 32
#: characters of a query given to the encoder (an abstract's whole text is compared at 2,000)
MAX_QUERY_CHARS = 2000
#: the index of editions in no language the stemmers know (or none detected)
OTHER = "xx"
#: titles a build embeds at most (the rest wait for the next build): the dedup's own budget
DEFAULT_BUDGET: int = default("embed_budget")
#: reciprocal rank fusion's constant (Cormack et al. 2009): damps the head of each list
RRF_K = 60
#: candidates each ranker gives to the fusion
CANDIDATES = 100
_YEARS = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def table_of(language: str | None) -> str:
    """The full-text table of a language's editions (`docs_en`, ..., `docs_xx`)."""
    return f"docs_{language if language in STEMMERS else OTHER}"


# -- building ------------------------------------------------------------------------------------


def warehouse_state(con: duckdb.DuckDBPyConnection) -> str:
    """What the index reflects: the last dedup pass and the withdrawals; a new value means rebuild.

    Sequence values suffice: an index is installed only once the warehouse it was built from is
    published (`BuiltIndex.install`), so a state an index carries was never discarded.
    """
    passes = con.execute("SELECT max(dedup_run_id) FROM dedup_runs").fetchone()
    withdrawn = con.execute("SELECT count(*), max(withdrawn_run_id), max(dedup_run_id) FROM edition_withdrawals")
    return json.dumps(
        {"version": INDEX_VERSION, "pass": passes[0] if passes else None, "withdrawn": withdrawn.fetchone()}
    )


def _open_index(path: Path, read_only: bool) -> duckdb.DuckDBPyConnection:
    """The index file under the project's DuckDB settings (no autoinstall or autoload, its memory limit)."""
    return duckdb.connect(str(path), read_only=read_only, config={**SAFE_CONFIG, "memory_limit": MEMORY_LIMIT})


#: the new index file's block size: it holds some thirty small tables (a full-text index is five
#: per language), each taking at least a block; at DuckDB's default 256 KB the seeds' index was
#: 7 MB, beside a 6 MB warehouse
INDEX_BLOCK_SIZE = 16384


def new_index_file(path: Path) -> duckdb.DuckDBPyConnection:
    """A connection whose current database is a new index file at `path` (small blocks, see above)."""
    con = duckdb.connect(config={**SAFE_CONFIG, "memory_limit": MEMORY_LIMIT})
    quoted = str(path).replace("'", "''")
    con.execute(f"ATTACH '{quoted}' AS search_index (BLOCK_SIZE {INDEX_BLOCK_SIZE})")
    con.execute("USE search_index")
    return con


def index_state(path: Path) -> tuple[str, int] | None:
    """(the warehouse state an index file was built from, titles it left without a vector), or None
    when it is missing or unreadable."""
    if not path.exists():
        return None
    try:
        con = _open_index(path, read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT state, titles_pending FROM index_info").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return (str(row[0]), int(row[1] or 0)) if row else None


@dataclass(frozen=True)
class BuiltIndex:
    """An index written aside, to be installed once the warehouse it reflects is published."""

    aside: Path
    path: Path
    editions: int
    with_vectors: int
    languages: list[str]

    def describe(self) -> str:
        return (
            f"search index: {self.editions} editions in {len(self.languages)} languages, "
            f"{self.with_vectors} with a vector"
        )

    def install(self) -> None:
        """Rename the new index over the old one; a reader sees one whole index or the other.

        The old index's WAL goes first: DuckDB would replay it onto the new file. Called after the
        warehouse's publish, so the index never shows a pass a failed publish threw away.
        """
        self.path.with_name(self.path.name + ".wal").unlink(missing_ok=True)
        os.replace(self.aside, self.path)

    def discard(self) -> None:
        for leftover in (self.aside, self.aside.with_name(self.aside.name + ".wal")):
            leftover.unlink(missing_ok=True)


def refresh(
    con: duckdb.DuckDBPyConnection,
    where: Location,
    embed_budget: int = DEFAULT_BUDGET,
    vector_cache: Path | None = None,
) -> tuple[BuiltIndex | None, str | None]:
    """Build the search index of the warehouse at `where` aside, unless it is current; returns the
    build to install after the publish (or None) and a line for the run's notes (or None).

    Called by the writers that end with a dedup pass (`ingest`, `dedup`, so a lake's workers too),
    never by a reader. An index that cannot be built (a full disk, no memory) costs the search its
    freshness, not the run: the warehouse is loaded and deduplicated, the line says so, and the
    next run builds it again.
    """
    from pipeline.warehouse import search_index

    try:
        path = search_index(con, where)
        state = warehouse_state(con)
        known = index_state(path)
        # an index that left titles without vectors is built again while the budget embeds some
        if known is not None and known[0] == state and not (known[1] and embed_budget > 0):
            return None, None
        from pipeline.dedup.xling import vector_cache as cached_vectors

        with cached_vectors(vector_cache):  # titles too are looked up in (and added to) the shared cache
            built = build_index(con, path, state, embed_budget)
    except Exception as exc:  # any failure here must leave the run's work standing
        return None, f"search index not rebuilt ({type(exc).__name__}: {exc}); the next run tries again"
    return built, built.describe()


def build_index(
    con: duckdb.DuckDBPyConnection, path: Path, state: str | None = None, embed_budget: int = DEFAULT_BUDGET
) -> BuiltIndex:
    """Write the index of the warehouse's live editions beside `path` (see `BuiltIndex.install`).

    Titles are embedded here (a query is most often a title's words in another language: "toolkit
    for migrant entrepreneurs" is close to "Caja de herramientas para emprendedores migrantes",
    not to the abstract's opening, which says who wrote it) and kept in `text_vectors` like the
    dedup's texts, so each title is embedded once ever; at most `embed_budget` a build, a budget
    of its own beside the dedup pass's. Vectors travel as Arrow arrays and numpy matrices, never
    as Python floats (100k editions' vectors as lists took 2.6 GB).
    """
    import numpy as np
    import pyarrow as pa

    from pipeline.dedup.xling import DIMS, MODEL, Stats, span, text_key, vectors

    state = state or warehouse_state(con)
    editions = con.execute(
        """
        SELECT p.edition_id, p.work_id, p.language, p.title, p.display_title, p.abstract, p.year,
               p.sources, p.url
        FROM publications AS p ORDER BY p.edition_id
        """
    ).to_arrow_table()
    works = con.execute(
        "SELECT work_id, display_title, languages, sources FROM works ORDER BY work_id"
    ).to_arrow_table()
    abstracts = editions.column("abstract").to_pylist()
    titles = [" ".join(t.split()) if t and t.strip() else None for t in editions.column("title").to_pylist()]
    # the keys the dedup pass stored each edition's vector under: its opening, else its whole text
    keys = pa.table(
        {
            "row": pa.array(range(len(abstracts)), pa.int64()),
            "opening": [text_key(span(a)) if a else None for a in abstracts],
            "whole": [text_key(" ".join(a.split())[:2000]) if a else None for a in abstracts],
            "title": [text_key(t) if t else None for t in titles],
        }
    )
    del abstracts
    con.register("search_keys", keys)
    try:
        stored = con.execute(
            """
            WITH v AS (SELECT text_key, vector FROM text_vectors WHERE model = $model)
            SELECT o.vector AS opening, w.vector AS whole, t.vector AS title
            FROM search_keys AS k
            LEFT JOIN v AS o ON o.text_key = k.opening
            LEFT JOIN v AS w ON w.text_key = k.whole
            LEFT JOIN v AS t ON t.text_key = k.title
            ORDER BY k.row
            """,
            {"model": MODEL},
        ).to_arrow_table()
    finally:
        con.unregister("search_keys")
    text = _matrix(stored.column("opening").combine_chunks(), DIMS)
    has_text = ~np.asarray(stored.column("opening").is_null().to_numpy(zero_copy_only=False), dtype=bool)
    whole = _matrix(stored.column("whole").combine_chunks(), DIMS)
    has_whole = ~np.asarray(stored.column("whole").is_null().to_numpy(zero_copy_only=False), dtype=bool)
    text[~has_text & has_whole] = whole[~has_text & has_whole]
    has_text |= has_whole
    del whole, has_whole
    title = _matrix(stored.column("title").combine_chunks(), DIMS)
    has_title = ~np.asarray(stored.column("title").is_null().to_numpy(zero_copy_only=False), dtype=bool)
    del stored
    missing = {i: t for i, t in enumerate(titles) if t and not has_title[i]}
    stats = Stats()
    for i, vector in vectors(con, missing, embed_budget, stats).items():
        title[i], has_title[i] = vector, True

    def column(matrix: np.ndarray, has: np.ndarray) -> Any:
        return pa.FixedSizeListArray.from_arrays(pa.array(matrix.reshape(-1)), DIMS, mask=pa.array(~has))

    editions = editions.append_column("vector", column(text, has_text))
    editions = editions.append_column("title_vector", column(title, has_title))
    with_vectors = int((has_text | has_title).sum())
    del text, title

    path.parent.mkdir(parents=True, exist_ok=True)
    _forget_old_asides(path)
    # a name of its own per build: two writers finishing together (a lake's) never share a file
    aside = path.with_name(f".{path.name}.{os.getpid()}-{uuid.uuid4().hex[:8]}.building")
    out = new_index_file(aside)
    built = BuiltIndex(aside, path, editions.num_rows, with_vectors, [])
    try:
        _load_fts(out)
        out.register("new_editions", editions)
        out.register("new_works", works)
        out.execute(
            f"""
            CREATE TABLE editions AS
            SELECT edition_id, work_id, language, title, display_title, abstract, year, sources, url,
                   vector::FLOAT[{DIMS}] AS vector, title_vector::FLOAT[{DIMS}] AS title_vector
            FROM new_editions
            """
        )
        out.execute("CREATE TABLE works AS SELECT * FROM new_works")
        out.unregister("new_editions")
        out.unregister("new_works")
        languages, tables = index_languages(out)
        out.execute(
            "CREATE TABLE index_info AS SELECT ? AS state, now() AS built_at, ? AS model, ? AS fts_tables, "
            "? AS titles_pending",
            [state, MODEL, tables, stats.pending],
        )
        _comment(out)
        out.execute("CHECKPOINT search_index")
        out.close()
        with open(aside, "rb") as fh:
            os.fsync(fh.fileno())
    except BaseException:
        out.close()
        built.discard()
        raise
    return BuiltIndex(aside, path, editions.num_rows, with_vectors, [lang or "?" for lang in languages])


#: an aside this old is a dead build's (a killed run): removed by the next build
STALE_ASIDE_S = 24 * 3600


def _forget_old_asides(path: Path) -> None:
    now = time.time()
    for leftover in path.parent.glob(f".{path.name}.*.building*"):
        with contextlib.suppress(OSError):
            if now - leftover.stat().st_mtime > STALE_ASIDE_S:
                leftover.unlink()


def index_languages(con: duckdb.DuckDBPyConnection) -> tuple[list[str | None], list[str]]:
    """The full-text tables of an index's `editions`, one per language, each with its stemmer and
    stop words, and the analysts' macros over them; returns (languages, tables).

    Stop words matter twice: BM25 would score "de" and "para", and a hybrid query requires every
    remaining word (see `Searcher.by_words`). Each of English, French, Spanish, Portuguese,
    Italian and German has the function words the dedup detects languages by (a table of the
    index, so the query is stripped of the same words); other languages have none.
    """
    from pipeline.dedup.normalise import STOPWORDS

    languages = [lang for (lang,) in con.execute("SELECT DISTINCT language FROM editions ORDER BY ALL").fetchall()]
    tables = sorted({table_of(language) for language in languages})
    for table in tables:
        language = table.removeprefix("docs_")
        params: dict[str, Any] = {"known": sorted(STEMMERS)} if language == OTHER else {"lang": language}
        where = "language IS NULL OR NOT list_contains($known, language)" if language == OTHER else "language = $lang"
        con.execute(f"CREATE TABLE {table} AS SELECT edition_id, title, abstract FROM editions WHERE {where}", params)
        stopwords = f"stopwords_{language}"
        con.execute(f"CREATE TABLE {stopwords} (sw VARCHAR)")
        words = sorted(STOPWORDS.get(language, frozenset()) | SINGLE_LETTERS)
        con.executemany(f"INSERT INTO {stopwords} VALUES (?)", [[w] for w in words])
        con.execute(
            f"PRAGMA create_fts_index('{table}', 'edition_id', 'title', 'abstract', "
            f"stemmer='{STEMMERS.get(language, 'none')}', stopwords='{stopwords}', ignore='{NOT_A_LETTER}', "
            "strip_accents=1, lower=1, overwrite=1)"
        )
        # postings in term order: a query reads the row groups of its few terms, not all of them
        # (zone maps); p95 of a hybrid's words 204 -> 58 ms at 100k editions (bench search)
        schema = f"fts_main_{table}"
        con.execute(f"CREATE TABLE {schema}.terms_by_term AS SELECT * FROM {schema}.terms ORDER BY termid, docid")
        con.execute(f"DROP TABLE {schema}.terms")
        con.execute(f"ALTER TABLE {schema}.terms_by_term RENAME TO terms")
    _create_macros(con, tables)
    return languages, tables


def _load_fts(con: duckdb.DuckDBPyConnection) -> None:
    from pipeline.backend import load_extension

    load_extension(con, "fts")


def _bm25_union(tables: Sequence[str], query: str) -> str:
    """SQL of every edition's BM25 score for `query` (an SQL expression), over every language's index
    (no row when the index has no edition at all)."""
    if not tables:
        return "SELECT NULL::VARCHAR AS edition_id, NULL::DOUBLE AS score WHERE false"
    return " UNION ALL ".join(
        f"SELECT edition_id, fts_main_{t}.match_bm25(edition_id, {query}) AS score FROM {t}" for t in tables
    )


def _create_macros(con: duckdb.DuckDBPyConnection, tables: Sequence[str]) -> None:
    """The analysts' macros: ranked by words (BM25 over every language's index), in plain SQL."""
    con.execute(
        f"""
        CREATE MACRO search_editions(q, n := 10) AS TABLE
        SELECT e.edition_id, e.work_id, e.language, e.display_title, e.year, e.sources, e.url,
               h.score AS bm25
        FROM ({_bm25_union(tables, "q")}) AS h JOIN editions AS e USING (edition_id)
        WHERE h.score IS NOT NULL
        ORDER BY h.score DESC, e.edition_id
        LIMIT n
        """
    )
    con.execute(
        f"""
        CREATE MACRO search_works(q, n := 10) AS TABLE
        WITH hits AS (
            SELECT edition_id, score FROM ({_bm25_union(tables, "q")}) WHERE score IS NOT NULL
        ),
        ranked AS (
            SELECT e.work_id, max(h.score) AS bm25, list(e.edition_id ORDER BY h.score DESC) AS matched
            FROM hits AS h JOIN editions AS e USING (edition_id)
            GROUP BY e.work_id
        )
        SELECT r.work_id, w.display_title, r.bm25, w.languages, w.sources, r.matched AS matched_editions,
               (SELECT list({{'edition_id': e.edition_id, 'language': e.language, 'title': e.display_title,
                             'year': e.year, 'url': e.url}} ORDER BY e.language, e.edition_id)
                FROM editions AS e WHERE e.work_id = r.work_id) AS editions
        FROM ranked AS r JOIN works AS w USING (work_id)
        ORDER BY r.bm25 DESC, r.work_id
        LIMIT n
        """
    )


# -- searching -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Filters:
    """What narrows the editions a query may match."""

    language: str | None = None
    site: str | None = None
    years: tuple[int, int] | None = None

    def sql(self) -> tuple[str, dict[str, Any]]:
        """A WHERE clause over `editions AS e`, with its named parameters."""
        clauses: list[str] = ["TRUE"]
        params: dict[str, Any] = {}
        if self.language:
            clauses.append("e.language = $lang")
            params["lang"] = self.language
        if self.site:
            clauses.append("list_contains(e.sources, $site)")
            params["site"] = self.site
        if self.years:
            clauses.append("e.year BETWEEN $first AND $last")
            params["first"], params["last"] = self.years
        return " AND ".join(clauses), params


def parse_years(text: str | None) -> tuple[int, int] | None:
    """`2019` or `2018-2020` as an inclusive range; ConfigError for anything else."""
    if text is None:
        return None
    match = _YEARS.match(text)
    if not match:
        raise ConfigError(f"--year {text!r}: give a year (2019) or a range (2018-2020)")
    first = int(match.group(1))
    last = int(match.group(2) or first)
    if last < first:
        raise ConfigError(f"--year {text!r}: the range ends before it starts")
    return first, last


@dataclass
class Hit:
    """One edition that matched, with what each ranker said of it."""

    edition_id: str
    work_id: str
    language: str | None
    title: str | None
    year: int | None
    sources: list[str]
    url: str | None
    score: float = 0.0
    bm25: float | None = None
    bm25_rank: int | None = None
    cosine: float | None = None
    vector_rank: int | None = None

    @property
    def why(self) -> str:
        reasons = [r for r, ok in (("words", self.bm25_rank is not None), ("meaning", self.by_meaning)) if ok]
        return " and ".join(reasons)

    @property
    def by_meaning(self) -> bool:
        return self.vector_rank is not None

    def as_dict(self) -> dict[str, Any]:
        return {
            "edition_id": self.edition_id,
            "work_id": self.work_id,
            "language": self.language,
            "title": self.title,
            "year": self.year,
            "sites": self.sources,
            "url": self.url,
            "score": round(self.score, 6),
            "why": self.why,
            "bm25": None if self.bm25 is None else round(self.bm25, 4),
            "cosine": None if self.cosine is None else round(self.cosine, 4),
        }


@dataclass
class WorkHit:
    """A work that matched: ranked by its best edition, with every edition of it listed."""

    work_id: str
    title: str | None
    score: float
    matched: list[Hit]
    editions: list[dict[str, Any]] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)

    @property
    def why(self) -> str:
        words = any(h.bm25_rank is not None for h in self.matched)
        meaning = any(h.by_meaning for h in self.matched)
        return " and ".join(r for r, ok in (("words", words), ("meaning", meaning)) if ok)

    @property
    def year(self) -> int | None:
        years = [e["year"] for e in self.editions if e["year"] is not None]
        return min(years) if years else None

    def as_dict(self) -> dict[str, Any]:
        matched = {h.edition_id: h for h in self.matched}
        return {
            "work_id": self.work_id,
            "title": self.title,
            "year": self.year,
            "sites": self.sources,
            "score": round(self.score, 6),
            "why": self.why,
            "editions": [
                {
                    **e,
                    "matched": e["edition_id"] in matched,
                    "why": matched[e["edition_id"]].why if e["edition_id"] in matched else None,
                }
                for e in self.editions
            ],
        }


class Searcher:
    """An open index answering queries: the file read-only, the vectors and encoder loaded on first use."""

    def __init__(self, path: Path, encoder: Encoder | None = None) -> None:
        if not path.exists():
            raise WarehouseError(
                f"no search index at {path}: `pipeline ingest` builds it after its dedup pass "
                "(run it once on this warehouse)"
            )
        try:
            self.con = _open_index(path, read_only=True)
        except duckdb.Error as exc:
            raise WarehouseError(f"{path} is not a readable search index ({exc}): the next ingest rebuilds it") from exc
        try:
            _load_fts(self.con)
            info = self.con.execute("SELECT state, fts_tables FROM index_info").fetchone()
            version = json.loads(info[0]).get("version") if info else None
        except (duckdb.Error, ValueError, AttributeError) as exc:
            self.con.close()
            raise WarehouseError(f"{path} is not a readable search index ({exc}): the next ingest rebuilds it") from exc
        if info is None or version != INDEX_VERSION:
            self.con.close()
            raise WarehouseError(f"{path} is a search index of another version: the next ingest rebuilds it")
        #: the warehouse state the index reflects (`warehouse_state`), for a reader to compare
        self.state = str(info[0])
        self.tables: list[str] = list(info[1])
        self.stopwords: dict[str, frozenset[str]] = {}
        for table in self.tables:
            name = f"stopwords_{table.removeprefix('docs_')}"
            if self.con.execute("SELECT count(*) FROM duckdb_tables() WHERE table_name = ?", [name]).fetchone() != (0,):
                self.stopwords[table] = frozenset(w for (w,) in self.con.execute(f"SELECT sw FROM {name}").fetchall())
        self.path = path
        self._encoder = encoder
        self._ids: list[str] | None = None
        self._matrix: np.ndarray | None = None
        self._works: dict[str, str] | None = None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the two rankers ---------------------------------------------------------------------------

    def by_words(
        self, query: str, filters: Filters = Filters(), limit: int = CANDIDATES, *, every_word: bool = False
    ) -> list[tuple[str, float]]:
        """(edition_id, BM25) best first, merged over the languages' indexes by score; `every_word`:
        only editions that hold every word of the query that is not a stop word of their language.

        Each language's index gets the query without its own stop words (the extension counts
        them as words a conjunctive match must find, and never indexes them), and is skipped
        when its dictionary lacks a word (every-word) or all of them (any word): a French
        query costs the English index one dictionary lookup, not a scan of its postings.
        """
        tables = self.tables
        if filters.language:
            tables = [t for t in tables if t == table_of(filters.language)]
        tokens = self.words(query)
        asked: dict[str, str] = {}
        for table in tables:
            words = [t for t in tokens if t not in self.stopwords.get(table, frozenset())]
            if words and self._in_dictionary(table, words, every_word):
                asked[table] = " ".join(words)
        if not asked:
            return []
        where, params = filters.sql()
        union = " UNION ALL ".join(
            f"SELECT edition_id, fts_main_{t}.match_bm25(edition_id, $q{i}"
            f"{', conjunctive := 1' if every_word else ''}) AS score FROM {t}"
            for i, t in enumerate(asked)
        )
        sql = (
            f"SELECT h.edition_id, h.score FROM ({union}) AS h JOIN editions AS e USING (edition_id) "
            f"WHERE h.score IS NOT NULL AND {where} ORDER BY h.score DESC, h.edition_id LIMIT $limit"
        )
        named = {**params, "limit": limit, **{f"q{i}": text for i, text in enumerate(asked.values())}}
        rows = self.con.execute(sql, named).fetchall()
        return [(edition, float(score)) for edition, score in rows]

    def words(self, query: str) -> list[str]:
        """The query's words as the index cuts its texts (its own `tokenize`), each once, at most
        MAX_QUERY_WORDS; stop words are each language's to remove."""
        if not self.tables:
            return []
        (cut,) = self.con.execute(f"SELECT fts_main_{self.tables[0]}.tokenize($q)", {"q": query}).fetchone() or ([],)
        return list(dict.fromkeys(w for w in cut or [] if w))[:MAX_QUERY_WORDS]

    def _in_dictionary(self, table: str, words: list[str], every: bool) -> bool:
        """Whether the index holds every (or any) of the words, stemmed as it stems them."""
        stemmer = STEMMERS.get(table.removeprefix("docs_"), "none")
        row = self.con.execute(
            f"WITH w AS (SELECT DISTINCT stem(unnest($words), '{stemmer}') AS term) "
            f"SELECT count(*), count(d.term) FROM w LEFT JOIN fts_main_{table}.dict AS d USING (term)",
            {"words": words},
        ).fetchone()
        asked, found = row if row else (0, 0)
        return found == asked if every else found > 0

    def by_meaning(self, query: str, filters: Filters = Filters(), limit: int = CANDIDATES) -> list[tuple[str, float]]:
        """(edition_id, cosine) best first, over the editions that have a vector."""
        import numpy as np

        ids, matrix = self._vectors()
        if not ids:
            return []
        vector = self._encode(query)
        # an edition is as close to the query as the closer of its title and its text
        sims = np.maximum(matrix[0] @ vector, matrix[1] @ vector)
        if filters != Filters():
            allowed = self._allowed(filters)
            mask = np.fromiter((i in allowed for i in ids), dtype=bool, count=len(ids))
            sims = np.where(mask, sims, -np.inf)
        k = min(limit, len(ids))
        top = np.argpartition(-sims, k - 1)[:k]
        order = top[np.lexsort((top, -sims[top]))]
        return [(ids[i], float(sims[i])) for i in order if sims[i] >= MEANING_FLOOR]

    def _allowed(self, filters: Filters) -> set[str]:
        where, params = filters.sql()
        rows = self.con.execute(f"SELECT edition_id FROM editions AS e WHERE {where}", params).fetchall()
        return {edition for (edition,) in rows}

    def _encode(self, query: str) -> np.ndarray:
        from pipeline.dedup.xling import default_encoder

        encoder = self._encoder or default_encoder()
        return encoder.encode([" ".join(query.split())[:MAX_QUERY_CHARS]])[0]

    def _vectors(self) -> tuple[list[str], np.ndarray]:
        import numpy as np

        if self._ids is None or self._matrix is None:
            from pipeline.dedup.xling import DIMS

            where = "WHERE vector IS NOT NULL OR title_vector IS NOT NULL"
            (count,) = self.con.execute(f"SELECT count(*) FROM editions {where}").fetchone() or (0,)
            # one matrix, filled batch by batch as the rows stream in (insertion order, kept by
            # DuckDB): at 100k editions each side is 200 MB, held once, never a second copy in Arrow
            matrix = np.zeros((2, count, DIMS), dtype=np.float32)
            ids: list[str] = []
            reader = self.con.execute(f"SELECT edition_id, vector, title_vector FROM editions {where}").to_arrow_reader(
                VECTOR_BATCH
            )
            for batch in reader:
                start = len(ids)
                ids += batch.column(0).to_pylist()
                for side in (0, 1):
                    _matrix(batch.column(side + 1), DIMS, out=matrix[side, start : len(ids)])
            self._ids = ids
            # one missing is the other: the closer of the two is then that one
            text, title = matrix
            text_missing, title_missing = ~text.any(axis=1), ~title.any(axis=1)
            text[text_missing] = title[text_missing]
            title[title_missing] = text[title_missing]
            self._matrix = matrix
        return self._ids, self._matrix

    # fused -------------------------------------------------------------------------------------

    def _fused(self, query: str, filters: Filters, method: str, limit: int) -> dict[str, dict[str, Any]]:
        """Every candidate edition with its fused score and what each ranker said of it."""
        if not query.strip():
            raise ConfigError("the query is empty: give some words, in any language")
        if method not in ("hybrid", "words", "meaning"):
            raise ConfigError(f"unknown search method {method!r} (known: hybrid, words, meaning)")
        # in the hybrid, words are evidence only when the edition holds all of them: one shared
        # word ("migrants", "manual") matches half the catalogue and, fused by rank, pushed those
        # editions above the ones the vectors found (hand-labelled queries, `python -m bench
        # search`: hybrid nDCG@10 0.56 with any word, 0.80 with every word)
        depth = max(CANDIDATES, limit)
        words = self.by_words(query, filters, depth, every_word=method == "hybrid") if method != "meaning" else []
        meaning = self.by_meaning(query, filters, depth) if method != "words" else []
        found: dict[str, dict[str, Any]] = {}
        for rank, (edition, score) in enumerate(words, 1):
            found.setdefault(edition, {"score": 0.0})["bm25"] = (rank, score)
            found[edition]["score"] += 1.0 / (RRF_K + rank)
        for rank, (edition, cosine) in enumerate(meaning, 1):
            found.setdefault(edition, {"score": 0.0})["vector"] = (rank, cosine)
            found[edition]["score"] += 1.0 / (RRF_K + rank)
        return found

    @staticmethod
    def _best(found: dict[str, dict[str, Any]]) -> list[str]:
        return sorted(found, key=lambda e: (-found[e]["score"], e))

    def editions(self, query: str, filters: Filters = Filters(), limit: int = 10, method: str = "hybrid") -> list[Hit]:
        """Editions best first: `method` hybrid (reciprocal rank fusion of both), words or meaning alone."""
        found = self._fused(query, filters, method, limit)
        best = self._best(found)[:limit]
        rows = self._rows(best)
        return [self._hit(rows[edition], found[edition]) for edition in best]

    @staticmethod
    def _hit(row: dict[str, Any], said: dict[str, Any]) -> Hit:
        hit = Hit(**row, score=said["score"])
        if "bm25" in said:
            hit.bm25_rank, hit.bm25 = said["bm25"]
        if "vector" in said:
            hit.vector_rank, hit.cosine = said["vector"]
        return hit

    def works(self, query: str, filters: Filters = Filters(), limit: int = 10, method: str = "hybrid") -> list[WorkHit]:
        """Works best first, each ranked by its best matching edition and listing all its editions."""
        found = self._fused(query, filters, method, limit)
        work_of = self._work_of()
        order: list[str] = []
        for best in self._best(found):
            if work_of[best] not in order:
                order.append(work_of[best])
                if len(order) == limit:
                    break
        if not order:
            return []
        info = {
            w: (title, list(sources or []))
            for w, title, sources in self.con.execute(
                "SELECT work_id, display_title, sources FROM works WHERE work_id IN (SELECT unnest($ids))",
                {"ids": order},
            ).fetchall()
        }
        members: dict[str, list[dict[str, Any]]] = {}
        matched: dict[str, list[Hit]] = {}
        for row in self.con.execute(
            "SELECT edition_id, work_id, language, display_title, year, sources, url FROM editions "
            "WHERE work_id IN (SELECT unnest($ids)) ORDER BY work_id, language NULLS LAST, edition_id",
            {"ids": order},
        ).fetchall():
            member = _edition_row(row)
            members.setdefault(member["work_id"], []).append(
                {k: member[k] for k in ("edition_id", "language", "title", "year", "url")}
                | {"sites": member["sources"]}
            )
            if member["edition_id"] in found:
                matched.setdefault(member["work_id"], []).append(self._hit(member, found[member["edition_id"]]))
        out = []
        for w in order:
            hits = sorted(matched.get(w, []), key=lambda h: (-h.score, h.edition_id))
            title, sources = info.get(w, (None, []))
            out.append(WorkHit(w, title, hits[0].score if hits else 0.0, hits, members.get(w, []), sources))
        return out

    def _work_of(self) -> dict[str, str]:
        """Each edition's work, read once per searcher: grouping candidates by work costs no query."""
        if self._works is None:
            self._works = dict(self.con.execute("SELECT edition_id, work_id FROM editions").fetchall())
        return self._works

    def _rows(self, editions: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not editions:
            return {}
        rows = self.con.execute(
            "SELECT edition_id, work_id, language, display_title, year, sources, url FROM editions "
            "WHERE edition_id IN (SELECT unnest($ids))",
            {"ids": list(editions)},
        ).fetchall()
        return {row[0]: _edition_row(row) for row in rows}


def _edition_row(row: Sequence[Any]) -> dict[str, Any]:
    """An `editions` row (edition_id, work_id, language, display_title, year, sources, url) as Hit's fields."""
    keys = ("edition_id", "work_id", "language", "title", "year", "sources", "url")
    out = dict(zip(keys, row, strict=True))
    out["sources"] = list(out["sources"] or [])
    return out


def _matrix(column: Any, dims: int, out: np.ndarray | None = None) -> np.ndarray:
    """A nullable FixedSizeList column as a float32 matrix (into `out` when given), a null row as zeros.

    Only the valid rows' values are read (`list_flatten`): a null row may have no slots at all in
    the child array (a lake's Parquet-backed result of all-null vectors had none).
    """
    import numpy as np
    import pyarrow.compute as pc

    if out is None:
        out = np.zeros((len(column), dims), dtype=np.float32)
    valid = ~np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    values = np.asarray(pc.list_flatten(column).to_numpy(zero_copy_only=False), dtype=np.float32)
    out[~valid] = 0.0
    out[valid] = values.reshape(-1, dims)
    return out


# -- what the index holds, for readers ---------------------------------------------------------------

#: the index file's tables: (what the table is, {column: (type, meaning)}); COMMENTs in the file,
#: and the last section of docs/warehouse.md (`pipeline schema --markdown`)
INDEX_TABLES: dict[str, tuple[str, dict[str, tuple[str, str]]]] = {
    "editions": (
        "One row per live edition (the warehouse's publications view when the index was built), "
        "with what a result shows and its two vectors.",
        {
            "edition_id": ("VARCHAR", "Stable edition id (publications.edition_id)."),
            "work_id": ("VARCHAR", "Its work (works.work_id): the same publication in other languages."),
            "language": ("VARCHAR", "Language of the edition (ISO 639-1); its full-text table is docs_<language>."),
            "title": ("VARCHAR", "Best title (publications.title); NULL when no page shows one."),
            "display_title": ("VARCHAR", "Title to show (publications.display_title)."),
            "abstract": ("VARCHAR", "Abstract, full when known (publications.abstract): indexed with the title."),
            "year": ("INTEGER", "Year of publication."),
            "sources": ("VARCHAR[]", "Sites the edition was seen on."),
            "url": ("VARCHAR", "Canonical URL of the edition's page."),
            "vector": ("FLOAT[512]", "Unit multilingual sentence vector of the abstract's opening "
                       "(text_vectors; NULL when not embedded yet)."),
            "title_vector": ("FLOAT[512]", "Unit vector of the title (NULL without a title or not embedded yet)."),
        },
    ),
    "works": (
        "One row per work with a live edition (the warehouse's works view), for a result's title and sites.",
        {
            "work_id": ("VARCHAR", "Stable work id."),
            "display_title": ("VARCHAR", "Title to show for the work."),
            "languages": ("VARCHAR[]", "Languages of its editions."),
            "sources": ("VARCHAR[]", "Sites any of its editions was seen on."),
        },
    ),
    "index_info": (
        "One row: what the index was built from and when.",
        {
            "state": ("VARCHAR", "JSON: index version, the dedup pass and withdrawals it reflects; a new "
                      "value makes the next ingest or dedup rebuild it."),
            "built_at": ("TIMESTAMP WITH TIME ZONE", "When the index was built."),
            "model": ("VARCHAR", "Model of the vectors (text_vectors.model)."),
            "fts_tables": ("VARCHAR[]", "The full-text tables, one per language: docs_en, docs_fr, ..., docs_xx "
                           "for editions in a language without a stemmer or with none detected."),
            "titles_pending": ("INTEGER", "Titles left without a vector by the embed budget: the next run "
                               "embeds more and builds the index again."),
        },
    ),
}  # fmt: skip
#: the analysts' macros
INDEX_MACROS = {
    "search_editions(q, n := 10)": "Editions ranked by BM25 over every language's index, best first: "
    "edition_id, work_id, language, display_title, year, sources, url, bm25. The same order as "
    "`pipeline search Q --method words --level edition` (which looks at most 100 deep unless --limit is larger).",
    "search_works(q, n := 10)": "Works ranked by their best edition's BM25: work_id, display_title, bm25, "
    "languages, sources, matched_editions, and editions (every edition of the work, in every language).",
}


def _comment(con: duckdb.DuckDBPyConnection) -> None:
    for table, (about, columns) in INDEX_TABLES.items():
        con.execute(f"COMMENT ON TABLE {table} IS {_literal(about)}")
        for column, (_type, meaning) in columns.items():
            con.execute(f"COMMENT ON COLUMN {table}.{column} IS {_literal(meaning)}")


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def index_markdown() -> str:
    """The index's section of docs/warehouse.md."""
    lines = [
        "# The search index (`<warehouse>.search.duckdb`; a lake's in its data folder)\n",
        "A DuckDB file of its own that `ingest` writes after its dedup pass and `pipeline search` reads "
        "(pipeline/search.py). For words alone in your own client: `.venv/bin/duckdb -readonly "
        "warehouse/iom.search.duckdb`, then `LOAD '<path printed by python -c \"from pipeline.backend import "
        "extension_file; print(extension_file('fts'))\">';` and `SELECT * FROM search_works('return counselling');`. "
        "Ranking by meaning needs the query's vector, which only `pipeline search` computes.\n",
    ]
    for table, (about, columns) in INDEX_TABLES.items():
        lines += [f"## {table} (search index table)\n", about + "\n", "| column | type | meaning |", "|---|---|---|"]
        lines += [f"| `{name}` | {kind} | {meaning} |" for name, (kind, meaning) in columns.items()]
        lines.append("")
    lines += ["## macros (search index)\n", "| macro | what it returns |", "|---|---|"]
    lines += [f"| `{name}` | {what} |" for name, what in INDEX_MACROS.items()]
    lines.append("")
    return "\n".join(lines)
