"""Baseline for `python -m bench reparse`: re-parse an archive the plain way, BeautifulSoup + INSERTs.

What a new user would write against this archive layout without the project's code: read the
manifest line by line, gunzip each object, parse it with BeautifulSoup (lxml), pick each card's
fields with CSS selectors and INSERT the rows page by page (executemany) into a DuckDB table.
It extracts what the project's listing parser keeps of a card: title, link, teaser (and whether
Drupal trimmed it), year, type, organisation, kind.

    python bench/peers/bs4_reparse.py RAW_DIR OUT.duckdb    # prints one JSON line: counts, seconds

The seconds spent in the INSERTs are printed apart: DuckDB runs an executemany row by row, and
the benchmark shows the rate without them too, so the comparison does not rest on that alone.
"""

import gzip
import json
import re
import sys
import time
from pathlib import Path
from urllib.parse import urljoin

import duckdb
from bs4 import BeautifulSoup

YEAR = re.compile(r"\b(19[4-9]\d|20\d\d)\b")


def text(node):
    return " ".join(node.get_text(" ").split()) if node is not None else None


def cards(soup, page_url):
    for n, card in enumerate(soup.select(".views-row"), 1):
        link = card.select_one(".node__title a[href], .views-field-title a[href], h3 a[href], h2 a[href]")
        body = card.select_one(".field--name-body, .views-field-body")
        teaser = text(body)
        more = body.select_one("a.views-more-link") if body is not None else None
        if teaser and more is not None:
            teaser = teaser[: -len(text(more))].rstrip()
        truncated = bool(teaser) and teaser.endswith("...")
        if truncated:
            teaser = teaser[:-3].rstrip(" ,;:")
        kind_node = card.select_one(
            ".field--name-field-resource-type, .views-field-field-publication-type .field-content"
        )
        year_node = card.select_one(".field--name-field-year, .views-field-field-year-of-publication .field-content")
        org = card.select_one(".field--name-field-organization")
        year = YEAR.search(text(year_node) or "")
        article = card.select_one("article")
        is_news = article is not None and "node--type-article" in article.get("class", [])
        yield (
            page_url,
            n,
            "news" if is_news else "publication",
            text(link),
            urljoin(page_url, link["href"]) if link is not None else None,
            teaser,
            truncated,
            int(year.group(1)) if year else None,
            ", ".join(text(v) for v in kind_node.select(".field__item")) or text(kind_node) if kind_node else None,
            text(org),
        )


def main(raw, out):
    con = duckdb.connect(out)
    con.execute(
        "CREATE TABLE cards (page_url VARCHAR, position INTEGER, kind VARCHAR, title VARCHAR, url VARCHAR, "
        "teaser VARCHAR, truncated BOOLEAN, year INTEGER, type VARCHAR, organisation VARCHAR)"
    )
    started = time.perf_counter()
    inserting = 0.0
    pages = rows = 0
    with open(Path(raw) / "manifest.jsonl", encoding="utf-8") as manifest:
        for line in manifest:
            entry = json.loads(line)
            if entry["format"] != "html-listing":
                continue
            sha = entry["sha256"]
            body = gzip.decompress((Path(raw) / "objects" / sha[:2] / f"{sha}.gz").read_bytes())
            soup = BeautifulSoup(body, "lxml")
            found = list(cards(soup, entry["url"]))
            before = time.perf_counter()
            con.executemany("INSERT INTO cards VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", found)
            inserting += time.perf_counter() - before
            pages += 1
            rows += len(found)
    seconds = time.perf_counter() - started
    con.close()
    print(json.dumps({"pages": pages, "records": rows, "seconds": seconds, "insert_seconds": inserting}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
