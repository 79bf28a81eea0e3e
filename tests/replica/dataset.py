"""The replica's world as data: the three sites, their listing sections, and the item dataset.

Items are plain dicts loaded from `dataset.json` (schema in `README.md`); everything a page shows
is derived from them here, so the HTML renderer and the ground-truth helpers cannot disagree about
which item lives at which URL.
"""

from __future__ import annotations

import json
import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DATASET_PATH = Path(__file__).resolve().parent / "data" / "dataset.json"

MP = "migrantprotection.iom.int"
RR = "returnandreintegration.iom.int"
PUB = "publications.iom.int"

#: interface prefixes that re-render the same node (SOURCES.md section 5)
INTERFACE_LANGS = ("en", "es", "fr")
_PREFIX = re.compile(r"^/(en|es|fr)(?=/|$)")

#: language names shown on pages, by interface language
LANGUAGE_NAMES = {"en": "English", "fr": "French", "es": "Spanish", "ar": "Arabic", "de": "German", "it": "Italian"}
AUTONYMS = {"en": "English", "fr": "Français", "es": "Español", "ar": "العربية", "de": "Deutsch", "it": "Italiano"}


@dataclass(frozen=True)
class Section:
    """One listing: its path, heading, interface language and which items it shows.

    `shows` names the section whose items are listed (an interface alias such as
    `/es/resources/directrices` lists the items of `/en/resources/guideline`).
    """

    path: str
    heading: str
    lang: str = "en"
    shows: str | None = None

    @property
    def key(self) -> str:
        return self.shows or self.path


@dataclass(frozen=True)
class SiteSpec:
    name: str
    title: str
    theme: str  # "acsf" (MP, R&R) or "bookstore" (publications.iom.int)
    labelled: bool  # detail fields printed with their labels
    files_dir: str
    sections: tuple[Section, ...]
    prefixed: bool  # every alias carries an interface prefix (/en/...)


SITES: dict[str, SiteSpec] = {
    MP: SiteSpec(
        name=MP,
        title="Migrant Protection Platform",
        theme="acsf",
        labelled=False,
        files_dir="/sites/g/files/tmzbdl341/files/documents/",
        prefixed=True,
        sections=(
            Section("/en/resources/guideline", "Guideline"),
            Section("/en/resources/manual", "Manual"),
            Section("/en/resources/report", "Report"),
            Section("/en/resources/study", "Study"),
            Section("/en/resources/leafletbooklet", "Leaflet/Booklet"),
            Section("/en/regional-designations/global", "Global"),
            Section("/en/spotlight/articles", "Spotlight"),
            Section("/es/resources/directrices", "Directrices", lang="es", shows="/en/resources/guideline"),
        ),
    ),
    RR: SiteSpec(
        name=RR,
        title="Return and Reintegration Platform",
        theme="acsf",
        labelled=True,
        # R&R's Site Factory directory number was never seen (SOURCES.md section 8): invented
        files_dir="/sites/g/files/tmzbdl2031/files/documents/",
        prefixed=True,
        sections=(
            Section("/en/resources/guideline", "Guideline"),
            Section("/en/resources/manual", "Manual"),
            Section("/en/resources/report", "Report"),
            Section("/en/spotlight/articles", "Spotlight"),
        ),
    ),
    PUB: SiteSpec(
        name=PUB,
        title="IOM Publications Platform",
        theme="bookstore",
        labelled=True,
        files_dir="/system/files/pdf/",
        prefixed=False,
        sections=(Section("/search-books", "Search books"),),
    ),
}

#: resource type term -> its slug in MP/R&R paths and listing URLs
TYPE_SLUGS = {
    "Guideline": "guideline",
    "Manual": "manual",
    "Report": "report",
    "Study": "study",
    "Leaflet/Booklet": "leafletbooklet",
    "Position paper": "position-paper",
    "Toolkit": "toolkit",
    "Legal instrument": "legal-instrument",
    "KMH Knowledge Bite Series": "kmh-knowledge-bite-series",
}

#: Pathauto's default ignore list (English short words); "and" is kept, as seen on the sites
IGNORE_WORDS = frozenset(
    [
        "a",
        "an",
        "as",
        "at",
        "before",
        "but",
        "by",
        "for",
        "from",
        "is",
        "in",
        "into",
        "like",
        "of",
        "off",
        "on",
        "onto",
        "per",
        "since",
        "than",
        "the",
        "this",
        "that",
        "to",
        "up",
        "via",
        "with",
    ]
)
ALIAS_MAX = 100


def slugify(title: str, *, prefix: str = "") -> str:
    """Pathauto-like slug: ASCII, lower case, punctuation dropped, short words dropped, cut at 100."""
    text = title.replace("°", "deg").replace("’", "").replace("'", "")
    text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii").lower()
    words = [w for w in re.split(r"[^a-z0-9]+", text) if w and w not in IGNORE_WORDS]
    slug = ""
    for word in words:
        candidate = f"{slug}-{word}" if slug else word
        if len(prefix) + len(candidate) > ALIAS_MAX:
            break
        slug = candidate
    return slug


def drupal_trim(text: str, max_length: int = 260) -> tuple[str, bool]:
    """Views' "trim to N, on a word boundary, add ellipsis"; short texts are shown whole."""
    flat = " ".join(text.split())
    if len(flat) <= max_length:
        return flat, False
    cut = flat[: max_length + 1]
    cut = cut[: cut.rfind(" ")] if " " in cut else flat[:max_length]
    return cut.rstrip(" ,;:") + "...", True


def strip_prefix(path: str) -> tuple[str, str | None]:
    """('/es/books/x') -> ('/books/x', 'es'); a path without interface prefix -> (path, None)."""
    match = _PREFIX.match(path)
    if not match:
        return path, None
    return path[match.end() :] or "/", match.group(1)


def load_items(path: Path = DATASET_PATH) -> list[dict[str, Any]]:
    """The dataset's items, checked enough that a hand edit cannot break the server silently."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    items = data["items"]
    check_items(items)
    return items


def check_items(items: list[dict[str, Any]]) -> None:
    seen_ids: set[str] = set()
    seen_paths: set[tuple[str, str]] = set()
    for item in items:
        for key in ("id", "nid", "kind", "title", "abstract", "sites", "edition_key", "work_key", "created"):
            if key not in item:
                raise ValueError(f"dataset item {item.get('id')!r} lacks {key!r}")
        if item["id"] in seen_ids:
            raise ValueError(f"duplicate dataset item id {item['id']!r}")
        seen_ids.add(item["id"])
        for site, placement in item["sites"].items():
            if site not in SITES:
                raise ValueError(f"item {item['id']}: unknown site {site!r}")
            alias, _ = strip_prefix(placement["path"])
            if (site, alias) in seen_paths:
                raise ValueError(f"item {item['id']}: path {placement['path']} used twice on {site}")
            seen_paths.add((site, alias))
            known = {s.key for s in SITES[site].sections}
            for section in placement.get("sections", []):
                if section not in known:
                    raise ValueError(f"item {item['id']}: {site} has no listing section {section!r}")


def scaled_items(items: list[dict[str, Any]], scale: int) -> list[dict[str, Any]]:
    """The dataset `scale` times over, for benchmarks at a size the real sites might reach.

    Copy k (k >= 2) of an item gets its own id, nid, title (", part k"), alias on every site
    ("-part-k"), attachment file names and edition/work keys, so every copy is a page of its own
    that links only to editions of the same copy; listings, sitemaps and ground truth grow with it.
    """
    if scale < 1:
        raise ValueError("scale must be >= 1")
    if scale == 1:
        return items
    step = 10 ** len(str(max(i["nid"] for i in items)))
    out = list(items)
    for k in range(2, scale + 1):
        for item in items:
            copy = json.loads(json.dumps(item))
            copy["id"] = f"{item['id']}-part-{k}"
            copy["nid"] = item["nid"] + (k - 1) * step
            copy["title"] = f"{item['title']}, part {k}"
            copy["edition_key"] = f"{item['edition_key']}-part-{k}"
            copy["work_key"] = f"{item['work_key']}-part-{k}"
            for placement in copy["sites"].values():
                placement["path"] = f"{placement['path'].rstrip('/')}-part-{k}"
            for pdf in copy["pdfs"]:
                pdf["file"] = f"part-{k}-{pdf['file']}"
            out.append(copy)
    check_items(out)
    return out


def new_publication(**fields: Any) -> dict[str, Any]:
    """A publication item as a site publishes it, with every field the renderers read.

    `fields` give what the item has (id, nid, title, abstract, text_language, year, types, pdfs,
    created, sites, edition_key, work_key...) and override the blanks; an added item and a drifted
    one are then built alike, and a field the renderers learn to read is added here once.
    """
    item: dict[str, Any] = {
        "kind": "publication",
        "teaser": None,
        "organisations": ["International Organization for Migration (IOM)"],
        "regions": [],
        "countries": [],
        "series": None,
        "page_count": None,
        "isbn": [],
        "eisbn": [],
        "issn": None,
        "languages": [],
        "reference_number": None,
        "toc": [],
        "subtitle": None,
        "caption": None,
        "metadata": [],
        "seed": [],
    }
    item.update(fields)
    return item
