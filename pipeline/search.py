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

import json
import math
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import duckdb

from pipeline.errors import ConfigError, WarehouseError
from pipeline.settings import default

if TYPE_CHECKING:
    import numpy as np

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
#: the index of editions in no language the stemmers know (or none detected)
OTHER = "xx"
#: titles a build embeds at most (the rest wait for the next build): the dedup's own budget
DEFAULT_BUDGET: int = default("embed_budget")
#: reciprocal rank fusion's constant (Cormack et al. 2009): damps the head of each list
RRF_K = 60
#: candidates each ranker gives to the fusion
CANDIDATES = 100
#: below this cosine a vector match is not counted as one "by meaning" (unrelated texts of these
#: sites score 0.1-0.3 against a query; `python -m bench search` prints the fused figures)
MEANING_MIN = 0.30
LEVELS = ("work", "edition")
_YEARS = re.compile(r"^\s*(\d{4})\s*(?:-\s*(\d{4})\s*)?$")


def table_of(language: str | None) -> str:
    """The full-text table of a language's editions (`docs_en`, ..., `docs_xx`)."""
    return f"docs_{language if language in STEMMERS else OTHER}"


# -- building ------------------------------------------------------------------------------------


def warehouse_state(con: duckdb.DuckDBPyConnection) -> str:
    """What the index reflects: the last dedup pass and the withdrawals; a new value means rebuild."""
    passes = con.execute("SELECT max(dedup_run_id) FROM dedup_runs").fetchone()
    withdrawn = con.execute("SELECT count(*), max(withdrawn_run_id), max(dedup_run_id) FROM edition_withdrawals")
    return json.dumps(
        {"version": INDEX_VERSION, "pass": passes[0] if passes else None, "withdrawn": withdrawn.fetchone()}
    )


def index_state(path: Path) -> str | None:
    """The warehouse state an index file was built from, or None (missing, unreadable, another version)."""
    if not path.exists():
        return None
    try:
        con = duckdb.connect(str(path), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT state FROM index_info").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


@dataclass(frozen=True)
class Built:
    """What an index build did, for the run's notes."""

    editions: int
    with_vectors: int
    languages: list[str]
    skipped: bool = False

    def describe(self) -> str:
        if self.skipped:
            return "search index current"
        return (
            f"search index: {self.editions} editions in {len(self.languages)} languages, "
            f"{self.with_vectors} with a vector"
        )


def ensure_index(con: duckdb.DuckDBPyConnection, path: Path, embed_budget: int = DEFAULT_BUDGET) -> Built:
    """Build the index at `path` unless it already reflects the warehouse's last pass and withdrawals.

    An index built while titles waited for their vectors (the embed budget) is built again by the
    next run, which embeds the next ones: like the dedup pass, it catches up night after night.
    """
    state = warehouse_state(con)
    if index_state(path) == state:
        return Built(0, 0, [], skipped=True)
    return build_index(con, path, state, embed_budget)


def build_index(
    con: duckdb.DuckDBPyConnection, path: Path, state: str | None = None, embed_budget: int = DEFAULT_BUDGET
) -> Built:
    """Write the index of the warehouse's live editions to `path`, aside first, then renamed over it.

    Titles are embedded here (a query is most often a title's words in another language: "toolkit
    for migrant entrepreneurs" is close to "Caja de herramientas para emprendedores migrantes",
    not to the abstract's opening, which says who wrote it) and kept in `text_vectors` like the
    dedup's texts, so each title is embedded once ever; at most `embed_budget` a build.
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
    ).fetch_arrow_table()
    works = con.execute(
        "SELECT work_id, display_title, languages, sources FROM works ORDER BY work_id"
    ).fetch_arrow_table()
    abstracts = editions.column("abstract").to_pylist()
    # the keys the dedup pass stored each edition's vector under: its opening, else its whole text
    opening = [text_key(span(a)) if a else None for a in abstracts]
    whole = [text_key(" ".join(a.split())[:2000]) if a else None for a in abstracts]
    wanted = sorted({k for k in opening + whole if k})
    found: dict[str, Any] = {}
    if wanted:
        con.register("search_wanted", pa.table({"text_key": wanted}))
        try:
            rows = con.execute(
                "SELECT text_key, vector FROM text_vectors SEMI JOIN search_wanted USING (text_key) WHERE model = ?",
                [MODEL],
            ).fetchall()
        finally:
            con.unregister("search_wanted")
        found = {key: vector for key, vector in rows}
    chosen = [found.get(o or "", found.get(w or "")) for o, w in zip(opening, whole, strict=True)]
    titles = {i: " ".join(t.split()) for i, t in enumerate(editions.column("title").to_pylist()) if t and t.strip()}
    stats = Stats()
    title_vectors = vectors(con, titles, embed_budget, stats)
    pending = stats.pending
    if pending:
        state = json.dumps({**json.loads(state), "titles_pending": pending})

    def column(values: Sequence[Any]) -> tuple[Any, Any]:
        flat = np.zeros((len(values), DIMS), dtype=np.float32)
        for i, vector in enumerate(values):
            if vector is not None:
                flat[i] = vector
        has = np.array([v is not None for v in values], dtype=bool)
        return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1)), DIMS, mask=pa.array(~has)), has

    text_column, has_text = column(chosen)
    title_column, has_title = column([title_vectors.get(i) for i in range(editions.num_rows)])
    editions = editions.append_column("vector", text_column).append_column("title_vector", title_column)
    has = has_text | has_title

    path.parent.mkdir(parents=True, exist_ok=True)
    aside = path.with_name(f".{path.name}.building")
    for stale in (aside, aside.with_name(aside.name + ".wal")):
        stale.unlink(missing_ok=True)
    out = duckdb.connect(str(aside))
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
        languages = [lang for (lang,) in out.execute("SELECT DISTINCT language FROM editions ORDER BY ALL").fetchall()]
        tables: dict[str, str] = {}
        for language in languages:
            tables.setdefault(table_of(language), STEMMERS.get(language or "", "none"))
        known = set(STEMMERS)
        for table, stemmer in sorted(tables.items()):
            language = table.removeprefix("docs_")
            where = "language NOT IN (SELECT unnest(?)) OR language IS NULL" if language == OTHER else "language = ?"
            params = [sorted(known)] if language == OTHER else [language]
            out.execute(
                f"CREATE TABLE {table} AS SELECT edition_id, title, abstract FROM editions WHERE {where}", params
            )
            stopwords = "english" if stemmer == "english" else "none"
            out.execute(
                f"PRAGMA create_fts_index('{table}', 'edition_id', 'title', 'abstract', "
                f"stemmer='{stemmer}', stopwords='{stopwords}', strip_accents=1, lower=1, overwrite=1)"
            )
        _create_macros(out, sorted(tables))
        out.execute(
            "CREATE TABLE index_info AS SELECT ? AS state, now() AS built_at, ? AS model, ? AS fts_tables",
            [state, MODEL, sorted(tables)],
        )
        out.execute("CHECKPOINT")
    except BaseException:
        out.close()
        aside.unlink(missing_ok=True)
        raise
    out.close()
    with open(aside, "rb") as fh:
        os.fsync(fh.fileno())
    os.replace(aside, path)
    return Built(editions.num_rows, int(has.sum()), [lang or "?" for lang in languages])


def _load_fts(con: duckdb.DuckDBPyConnection) -> None:
    from pipeline.lake import load_extension

    load_extension(con, "fts")


def _bm25_union(tables: Sequence[str], query: str) -> str:
    """SQL of every edition's BM25 score for `query` (an SQL expression), over every language's index."""
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
        return self.vector_rank is not None and (self.cosine or 0.0) >= MEANING_MIN

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
            self.con = duckdb.connect(str(path), read_only=True)
            _load_fts(self.con)
            info = self.con.execute("SELECT state, fts_tables FROM index_info").fetchone()
        except duckdb.Error as exc:
            raise WarehouseError(f"{path} is not a readable search index ({exc}): the next ingest rebuilds it") from exc
        if info is None or json.loads(info[0]).get("version") != INDEX_VERSION:
            raise WarehouseError(f"{path} is a search index of another version: the next ingest rebuilds it")
        self.tables: list[str] = list(info[1])
        self.path = path
        self._encoder = encoder
        self._ids: list[str] | None = None
        self._matrix: np.ndarray | None = None

    def close(self) -> None:
        self.con.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # the two rankers ---------------------------------------------------------------------------

    def by_words(self, query: str, filters: Filters = Filters(), limit: int = CANDIDATES) -> list[tuple[str, float]]:
        """(edition_id, BM25) best first, merged over the languages' indexes by score."""
        tables = self.tables
        if filters.language:
            tables = [t for t in tables if t == table_of(filters.language)]
        if not tables:
            return []
        where, params = filters.sql()
        sql = (
            f"SELECT h.edition_id, h.score FROM ({_bm25_union(tables, '$query')}) AS h "
            f"JOIN editions AS e USING (edition_id) "
            f"WHERE h.score IS NOT NULL AND {where} ORDER BY h.score DESC, h.edition_id LIMIT $limit"
        )
        rows = self.con.execute(sql, {**params, "query": query, "limit": limit}).fetchall()
        return [(edition, float(score)) for edition, score in rows]

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
        return [(ids[i], float(sims[i])) for i in order if np.isfinite(sims[i])]

    def _allowed(self, filters: Filters) -> set[str]:
        where, params = filters.sql()
        rows = self.con.execute(f"SELECT edition_id FROM editions AS e WHERE {where}", params).fetchall()
        return {edition for (edition,) in rows}

    def _encode(self, query: str) -> np.ndarray:
        from pipeline.dedup.xling import default_encoder

        encoder = self._encoder or default_encoder()
        return encoder.encode([" ".join(query.split())])[0]

    def _vectors(self) -> tuple[list[str], np.ndarray]:
        import numpy as np

        if self._ids is None or self._matrix is None:
            from pipeline.dedup.xling import DIMS

            table = self.con.execute(
                "SELECT edition_id, vector, title_vector FROM editions "
                "WHERE vector IS NOT NULL OR title_vector IS NOT NULL ORDER BY edition_id"
            ).fetch_arrow_table()
            self._ids = table.column("edition_id").to_pylist()
            text, title = (_matrix(table.column(name).combine_chunks(), DIMS) for name in ("vector", "title_vector"))
            # one missing is the other: the closer of the two is then that one
            text_missing, title_missing = ~text.any(axis=1), ~title.any(axis=1)
            text[text_missing] = title[text_missing]
            title[title_missing] = text[title_missing]
            self._matrix = np.stack([text, title])
        return self._ids, self._matrix

    # fused -------------------------------------------------------------------------------------

    def editions(self, query: str, filters: Filters = Filters(), limit: int = 10, method: str = "hybrid") -> list[Hit]:
        """Editions best first: `method` hybrid (RRF of both), words or meaning alone."""
        if not query.strip():
            raise ConfigError("the query is empty: give some words, in any language")
        words = self.by_words(query, filters) if method in ("hybrid", "words") else []
        meaning = self.by_meaning(query, filters) if method in ("hybrid", "meaning") else []
        scores: dict[str, dict[str, Any]] = {}
        for rank, (edition, score) in enumerate(words, 1):
            scores.setdefault(edition, {})["bm25"] = (rank, score)
        for rank, (edition, cosine) in enumerate(meaning, 1):
            scores.setdefault(edition, {})["vector"] = (rank, cosine)
        fused = {e: sum(1.0 / (RRF_K + rank) for rank, _ in s.values()) for e, s in scores.items()}
        best = (
            sorted(fused, key=lambda e: (-fused[e], e))[:limit]
            if limit
            else sorted(fused, key=lambda e: (-fused[e], e))
        )
        rows = self._rows(best)
        hits = []
        for edition in best:
            row = rows[edition]
            s = scores[edition]
            hit = Hit(**row, score=fused[edition])
            if "bm25" in s:
                hit.bm25_rank, hit.bm25 = s["bm25"]
            if "vector" in s:
                hit.vector_rank, hit.cosine = s["vector"]
            hits.append(hit)
        return hits

    def works(self, query: str, filters: Filters = Filters(), limit: int = 10, method: str = "hybrid") -> list[WorkHit]:
        """Works best first, each ranked by its best matching edition and listing all its editions."""
        hits = self.editions(query, filters, limit=0, method=method)
        grouped: dict[str, list[Hit]] = {}
        for hit in hits:
            grouped.setdefault(hit.work_id, []).append(hit)
        order = sorted(grouped, key=lambda w: (-grouped[w][0].score, w))[:limit]
        if not order:
            return []
        info = {
            w: (title, list(sources or []))
            for w, title, sources in self.con.execute(
                "SELECT work_id, display_title, sources FROM works WHERE list_contains($ids, work_id)", {"ids": order}
            ).fetchall()
        }
        members: dict[str, list[dict[str, Any]]] = {}
        for row in self.con.execute(
            "SELECT work_id, edition_id, language, display_title, year, sources, url FROM editions "
            "WHERE list_contains($ids, work_id) ORDER BY work_id, language NULLS LAST, edition_id",
            {"ids": order},
        ).fetchall():
            members.setdefault(row[0], []).append(
                {
                    "edition_id": row[1],
                    "language": row[2],
                    "title": row[3],
                    "year": row[4],
                    "sites": list(row[5] or []),
                    "url": row[6],
                }
            )
        return [
            WorkHit(
                w,
                info.get(w, (None, []))[0],
                grouped[w][0].score,
                grouped[w],
                members.get(w, []),
                info.get(w, (None, []))[1],
            )
            for w in order
        ]

    def _rows(self, editions: Sequence[str]) -> dict[str, dict[str, Any]]:
        if not editions:
            return {}
        rows = self.con.execute(
            "SELECT edition_id, work_id, language, display_title, year, sources, url FROM editions "
            "WHERE list_contains($ids, edition_id)",
            {"ids": list(editions)},
        ).fetchall()
        return {
            r[0]: {
                "edition_id": r[0],
                "work_id": r[1],
                "language": r[2],
                "title": r[3],
                "year": r[4],
                "sources": list(r[5] or []),
                "url": r[6],
            }
            for r in rows
        }


def _matrix(column: Any, dims: int) -> np.ndarray:
    """A nullable FixedSizeList column as a float32 matrix, a null row as zeros."""
    import numpy as np

    values = np.asarray(column.values.to_numpy(zero_copy_only=False), dtype=np.float32)
    start = column.offset * dims
    out = values[start : start + len(column) * dims].reshape(-1, dims).copy()
    out[np.asarray(column.is_null().to_numpy(zero_copy_only=False), dtype=bool)] = 0.0
    return out


def ndcg(ranked: Sequence[bool], relevant_total: int, k: int = 10) -> float:
    """nDCG@k of a ranked list of relevance judgements (binary gains)."""
    dcg = sum(1.0 / math.log2(i + 2) for i, rel in enumerate(ranked[:k]) if rel)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(relevant_total, k)))
    return dcg / ideal if ideal else 0.0
