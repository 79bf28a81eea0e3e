"""One parse pool for the crawl and the load (issue 20): both kinds of work share its workers.

The crawl hands the pool one page at a time while the load of the same process may be mapping
batches through it; neither may wait on the other's time limit, and each gets what an
in-process parse gives.
"""

from __future__ import annotations

import threading
from pathlib import Path

from pipeline.archive import Archive
from pipeline.parse import parse_entry
from pipeline.parse_pool import PagePool

BASE = "https://example.org/en/resources"

LISTING = (
    b"<html><body><main><div class='view-content'>"
    b'<div class="views-row"><h3><a href="/en/resources/return-guide">Return guide</a></h3>'
    b'<div class="views-field-body">A guide to assisted voluntary return ...</div></div>'
    b"</div></main></body></html>"
)


def test_a_crawl_page_and_the_loads_batches_share_one_pool(seed_archive: Path) -> None:
    archive = Archive(seed_archive)
    entries = archive.entries()
    crawled: list[str | None] = []
    with PagePool(timeout_s=60, workers=2, root=seed_archive) as pool:

        def crawl() -> None:
            crawled.extend(record["title"] for record in pool.parse("html-listing", LISTING, BASE).records)

        crawler = threading.Thread(target=crawl)
        crawler.start()
        loaded = [result for batch in pool.map([entries[:2], entries[2:]]) for result in batch]
        crawler.join(120)
    assert crawled == ["Return guide"]
    assert [r.entry for r in loaded] == entries
    for result, entry in zip(loaded, entries, strict=True):
        own = parse_entry(archive, entry).as_rows()
        assert (result.rows, result.rejects, result.error) == (own.rows, own.rejects, own.error)
