"""The `search` command: ranked works (or editions) for a query in any language.

Only this module prints; pipeline/search.py raises. Exit codes as pipeline/cli.py's: 2 a bad
option (an empty query, a year that is not one), 5 no search index or no readable warehouse.
"""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from pipeline.cli_options import settings_from, warehouse_options
from pipeline.errors import ConfigError, PipelineError

if TYPE_CHECKING:
    import duckdb

    from pipeline.search import Hit, WorkHit

#: kept here, not imported from pipeline.search, so `--help` does not load DuckDB
LEVELS = ("work", "edition")
FORMATS = ("table", "json", "csv")
EXIT_CONFIG = 5


@click.command("search")
@click.argument("query")
@click.option(
    "--lang",
    "language",
    default=None,
    metavar="CODE",
    help="Only editions in this language (ISO 639-1: en, fr, es...).",
)
@click.option(
    "--level",
    type=click.Choice(LEVELS),
    default="work",
    show_default=True,
    help="Rank works (with all their editions) or single editions.",
)
@click.option(
    "--site", default=None, metavar="HOST", help="Only editions seen on this site (e.g. publications.iom.int)."
)
@click.option(
    "--year", "years", default=None, metavar="YYYY[-YYYY]", help="Only editions of this year or range of years."
)
@click.option("--limit", type=click.IntRange(min=1, max=1000), default=10, show_default=True, help="Results to show.")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(FORMATS),
    default="table",
    show_default=True,
    help="table for a terminal; json or csv for programs.",
)
@click.option(
    "--method",
    type=click.Choice(("hybrid", "words", "meaning")),
    default="hybrid",
    show_default=True,
    help="Rank by words (BM25) and meaning (multilingual vectors) fused, or by one alone.",
)
@warehouse_options(read_only=True)
def search(
    query: str,
    language: str | None,
    level: str,
    site: str | None,
    years: str | None,
    limit: int,
    fmt: str,
    method: str,
    db: str | None,
    data_path: Path | None,
) -> None:
    """Find publications in every language: ranked works, each with its editions, and why they matched.

    Words are matched per language with its stemmer (BM25); meaning by the query's multilingual
    sentence vector against each edition's title and text, so an English query finds French and
    Spanish editions that share none of its words. Reads the index `ingest` builds after its
    dedup pass beside the warehouse; never writes.
    """
    from pipeline.search import Filters, Searcher, parse_years
    from pipeline.warehouse import connect, search_index

    try:
        settings = settings_from(db, data_path)
        filters = Filters(language=language.lower() if language else None, site=site, years=parse_years(years))
        con = connect(settings.db_path, read_only=True)  # where its index is, and what it should reflect
        try:
            path = search_index(con, settings.db_path)
            expected = _state(con)
        finally:
            con.close()
        with Searcher(path) as searcher:
            if expected is not None and searcher.state != expected:
                click.echo(
                    "note: the search index predates the warehouse's last dedup pass or withdrawals; "
                    "the next ingest or dedup rebuilds it",
                    err=True,
                )
            if level == "work":
                works = searcher.works(query, filters, limit, method)
                _print_works(works, fmt, query)
            else:
                hits = searcher.editions(query, filters, limit, method)
                _print_editions(hits, fmt, query)
    except ConfigError as exc:
        raise click.UsageError(str(exc)) from exc
    except PipelineError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(EXIT_CONFIG)


def _state(con: duckdb.DuckDBPyConnection) -> str | None:
    """The warehouse's state as an index records it, or None when it cannot say (no schema yet).

    Compared with the state the searcher reads from the index it opens anyway: the index file is
    opened once per search."""
    import duckdb

    from pipeline.search import warehouse_state

    try:
        return warehouse_state(con)
    except duckdb.Error:
        return None


def _print_json(query: str, level: str, results: list[dict[str, Any]]) -> None:
    click.echo(json.dumps({"query": query, "level": level, "results": results}, ensure_ascii=False, indent=1))


def _print_works(works: list[WorkHit], fmt: str, query: str) -> None:
    if fmt == "json":
        _print_json(query, "work", [w.as_dict() for w in works])
        return
    if fmt == "csv":
        rows = [
            {
                "rank": rank,
                "work_id": w.work_id,
                "work_title": w.title,
                "score": round(w.score, 6),
                "work_why": w.why,
                **_edition_cells(e),
            }
            for rank, w in enumerate(works, 1)
            for e in w.as_dict()["editions"]
        ]
        _write_csv(rows, ["rank", "work_id", "work_title", "score", "work_why", *_EDITION_CELLS])
        return
    if not works:
        click.echo(f"no publication matches {query!r}")
        return
    for rank, w in enumerate(works, 1):
        year = f" ({w.year})" if w.year else ""
        click.echo(f"{rank:>2}. {w.title or '(no title)'}{year}  [{w.why}]  {w.work_id}")
        click.echo(f"    sites: {', '.join(w.sources) or '-'}")
        for e in w.as_dict()["editions"]:
            mark = "*" if e["matched"] else " "
            why = f" [{e['why']}]" if e["why"] else ""
            click.echo(
                f"   {mark} {e['language'] or '??'}  {(e['title'] or '')[:90]}{why}  {e['url'] or e['edition_id']}"
            )
    click.echo("* matched the query; the other editions belong to the same work")


def _print_editions(hits: list[Hit], fmt: str, query: str) -> None:
    if fmt == "json":
        _print_json(query, "edition", [h.as_dict() for h in hits])
        return
    if fmt == "csv":
        _write_csv([{"rank": r, **_flat(h.as_dict())} for r, h in enumerate(hits, 1)], ["rank", *_HIT_CELLS])
        return
    if not hits:
        click.echo(f"no publication matches {query!r}")
        return
    for rank, h in enumerate(hits, 1):
        year = f" ({h.year})" if h.year else ""
        click.echo(f"{rank:>2}. {h.language or '??'}  {(h.title or '(no title)')[:90]}{year}  [{h.why}]")
        click.echo(f"    {h.edition_id} of {h.work_id}; {', '.join(h.sources)}; {h.url or ''}")


_EDITION_CELLS = ["edition_id", "language", "title", "year", "sites", "url", "matched", "why"]
_HIT_CELLS = ["edition_id", "work_id", "language", "title", "year", "sites", "url", "score", "why", "bm25", "cosine"]


def _edition_cells(edition: dict[str, Any]) -> dict[str, Any]:
    return {name: ";".join(edition[name]) if name == "sites" else edition[name] for name in _EDITION_CELLS}


def _flat(row: dict[str, Any]) -> dict[str, Any]:
    return {k: ";".join(v) if isinstance(v, list) else v for k, v in row.items()}


def _write_csv(rows: list[dict[str, Any]], columns: list[str]) -> None:
    writer = csv.DictWriter(sys.stdout, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
