"""Write a raw archive of N realistic listing pages for the re-parse benchmark; never parses.

Pages are rendered by the replica's own renderer (tests/replica/render.py), so they carry the
markup of the three sites (Drupal 8 cards on MP and R&R, Drupal 7 rows on publications.iom.int,
a pager on every page). Each page shows ten cards drawn from the replica dataset's items of that
listing section; each card is a variant of its item (its own node id, path, title suffix and
abstract order), so no two pages have the same body and the archive stores every one of them.

The writer is a bulk one for the benchmark only: objects are written without an fsync each and
the manifest in one pass, in the archive's own layout and line format, because `Archive.put`
(one durable append per page) would take longer than the measurement itself at 100k pages.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import random
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline.archive import ArchiveEntry
from tests.replica.dataset import SITES, Section, load_items
from tests.replica.render import SiteView, render_listing

#: bump when the pages change, so cached archives are written again
GENERATOR_VERSION = 1
CARDS_PER_PAGE = 10
#: pages a listing section pretends to have, so page numbers and pagers look like the sites'
SECTION_PAGES = 400
_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


class _Window(Sequence[dict[str, Any]]):
    """A section's item list as long as SECTION_PAGES pages, that holds only the page shown."""

    def __init__(self, shown: list[dict[str, Any]], offset: int, length: int) -> None:
        self.shown, self.offset, self.length = shown, offset, length

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice) and index.start == self.offset:
            return self.shown
        raise IndexError("only the page being rendered is held")


@dataclass
class _PageView(SiteView):
    """A site view whose section shows the cards of one benchmark page at page number `page`."""

    shown: list[dict[str, Any]] = field(default_factory=list)
    page: int = 0

    def section_items(self, section: Section) -> list[dict[str, Any]]:
        return _Window(self.shown, self.page * self.page_size, SECTION_PAGES * self.page_size)  # type: ignore[return-value]


def _sections() -> list[tuple[str, Section, list[dict[str, Any]]]]:
    """(site, section, its dataset items) for every section with enough items to vary its cards."""
    items = load_items()
    found = []
    for site, spec in SITES.items():
        for section in spec.sections:
            if section.shows:
                continue
            pool = [i for i in items if section.key in i["sites"].get(site, {}).get("sections", [])]
            if len(pool) >= 3:
                found.append((site, section, pool))
    return found


def _variant(item: dict[str, Any], site: str, serial: int, rng: random.Random) -> dict[str, Any]:
    """The item as another node: own nid and path, a numbered title, its paragraphs reordered."""
    paragraphs = item["abstract"].split("\n\n")
    rng.shuffle(paragraphs)
    placement = dict(item["sites"][site])
    placement["path"] = f"{placement['path']}-{serial}"
    return {
        **item,
        "nid": 100_000 + serial,
        "title": f"{item['title']} ({serial})",
        "abstract": "\n\n".join(paragraphs),
        "teaser": None,
        "sites": {site: placement},
    }


def pages(count: int, seed: int = 1, per_section: bool = False) -> Iterator[tuple[str, str, str]]:
    """(source, url, html) of `count` listing pages, sections taken in turn.

    `per_section` names the source `<site>#<section>` (as `Replica.write_sources(per_section=True)`
    does), so that several ingest workers can split the archive by source.
    """
    rng = random.Random(seed)
    sections = _sections()
    serial = 0
    for n in range(count):
        site, section, pool = sections[n % len(sections)]
        spec = SITES[site]
        number = (n // len(sections)) % SECTION_PAGES
        shown = []
        for item in rng.choices(pool, k=CARDS_PER_PAGE):
            serial += 1
            shown.append(_variant(item, site, serial, rng))
        view = _PageView(spec, f"https://{site}", CARDS_PER_PAGE, 0.0, shown=shown, page=number)
        url = f"https://{site}{section.path}" + (f"?page={number}" if number else "")
        source = f"{site}#{section.path.rstrip('/').rsplit('/', 1)[-1]}" if per_section else site
        yield source, url, render_listing(view, section, number)


def write_archive(root: Path, count: int, seed: int = 1, per_section: bool = False) -> int:
    """Write `count` pages into a new archive at `root`; returns the pages written."""
    objects = root / "objects"
    objects.mkdir(parents=True, exist_ok=True)
    written = 0
    with open(root / "manifest.jsonl", "w", encoding="utf-8") as manifest:
        for n, (source, url, html) in enumerate(pages(count, seed, per_section)):
            body = html.encode("utf-8")
            sha = hashlib.sha256(body).hexdigest()
            folder = objects / sha[:2]
            folder.mkdir(exist_ok=True)
            path = folder / f"{sha}.gz"
            if not path.exists():
                path.write_bytes(gzip.compress(body, compresslevel=6, mtime=0))
            when = _EPOCH + timedelta(seconds=n)
            # a URL seen again (page numbers repeat) is a later retrieval with other cards: a new page
            entry = ArchiveEntry(
                source=source,
                url=url,
                format="html-listing",
                sha256=sha,
                size=len(body),
                retrieved_at=when.isoformat(timespec="seconds"),
                status=200,
                headers={"content-type": "text/html; charset=utf-8"},
            )
            manifest.write(json.dumps(asdict(entry), ensure_ascii=False, sort_keys=True) + "\n")
            written += 1
        manifest.flush()
        os.fsync(manifest.fileno())
    return written
