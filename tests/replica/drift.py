"""Evolve the replica's items night by night from a seed, so that nightly crawls meet changing sites.

The product runs every night for years over sites that publish, correct, unpublish, translate,
recategorise and rename; a replica that never changes cannot test that. `state_at(items, night,
seed)` replays nights 1..night over the dataset, each night drawing 1-4 events from its own
`random.Random` seeded by (seed, night), and returns the items as they stand that night together
with every event applied so far. Pure: the same items, night and seed give the same state, and the
state of night k is computed from scratch, so a server can jump to any night.

Event kinds (`Event.kind`):

- `insert`: a new publication (from the hand-written pool in `data/drift_pool.json`) on top of a
  listing section; its `created` is later than every other item's, so every card of every pager
  page of that section moves down one place. Fresh `edition_key` and `work_key`.
- `remove`: an item is unpublished: gone from every listing, its detail pages and the sitemap.
- `teaser_fix`: a small correction of the abstract (one word's case, punctuation, or one word
  replaced) near its start, so listings show it too. Same item, same edition.
- `title_fix`: a small correction of the title (case, spelling, punctuation). Same edition.
- `translation`: a French or Spanish edition of an English publications.iom.int item (a real
  translation from the pool): new item, `edition_key` `<work>:<lang>`, the same `work_key`; the
  bookstore links editions of a work both ways (hreflang alternates, "Also available in").
- `move`: an MP or R&R item leaves one resource section for another on the same site.
- `rename`: once, on a night chosen by the seed, one section gets a new path and heading; the old
  path answers 301 to the new one (Drupal's Redirect module). See `section_renames`.

Removals stop while the publications number less than 90% of the starting count, and inserts and
translations stop when their pools run out (44 publications, 8 translations), so the sites keep
most of their items however many nights pass.
"""

from __future__ import annotations

import copy
import functools
import json
import random
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.replica.dataset import MP, PUB, RR, SITES, TYPE_SLUGS, check_items, new_publication, slugify

POOL_PATH = Path(__file__).resolve().parent / "data" / "drift_pool.json"

#: the seed `Replica(night=...)` uses unless told otherwise; every kind occurs within 30 nights
DEFAULT_SEED = 2024

KINDS = ("insert", "remove", "teaser_fix", "title_fix", "translation", "move", "rename")
#: how often each drawn kind is chosen (rename is not drawn: it happens once, on `rename_night`)
WEIGHTS = {"insert": 30, "remove": 10, "teaser_fix": 16, "title_fix": 14, "translation": 10, "move": 12}
#: events per night, drawn uniformly from this tuple: mostly one or two, sometimes three or four
EVENTS_PER_NIGHT = (1, 1, 2, 2, 3, 4)
#: removals pause while fewer publications than this share of the starting count remain
KEEP_SHARE = 0.9

RESOURCE_PREFIX = "/en/resources/"
GLOBAL = "/en/regional-designations/global"
SEARCH_BOOKS = "/search-books"
#: where a new publication of a given type may appear: (site, listing section key)
PLACES: dict[str, tuple[tuple[str, str], ...]] = {
    "Guideline": ((MP, "/en/resources/guideline"), (RR, "/en/resources/guideline"), (PUB, SEARCH_BOOKS)),
    "Manual": ((MP, "/en/resources/manual"), (RR, "/en/resources/manual"), (PUB, SEARCH_BOOKS)),
    "Report": ((MP, "/en/resources/report"), (MP, GLOBAL), (RR, "/en/resources/report"), (PUB, SEARCH_BOOKS)),
    "Study": ((MP, "/en/resources/study"), (MP, GLOBAL), (PUB, SEARCH_BOOKS)),
    "Leaflet/Booklet": ((MP, "/en/resources/leafletbooklet"), (PUB, SEARCH_BOOKS)),
}
#: the bookstore's type terms for the resource types above (it has its own vocabulary)
BOOKSTORE_TYPES = {"Guideline": ["Handbooks and Manuals"], "Manual": ["Handbooks and Manuals"]}
METADATA_CHOICES = (["jsonld", "og"], ["dc"], ["og"], ["citation", "og"], [])
LANGUAGE_LABELS = {"en": ("English", "ENGLISH"), "fr": ("French", "FRANÇAIS"), "es": ("Spanish", "ESPAÑOL")}
IOM = "International Organization for Migration (IOM)"

# --- small corrections ------------------------------------------------------------------------

#: one word replaced by another in an abstract (a copy editor's choice of word)
SYNONYMS = {
    "provides": "offers",
    "aims": "seeks",
    "various": "several",
    "important": "essential",
    "help": "assist",
    "key": "main",
    "challenges": "difficulties",
    "practical": "hands-on",
    "ensure": "guarantee",
    "including": "notably",
    "describes": "outlines",
    "presents": "sets out",
    "often": "frequently",
    "main": "principal",
}
#: terms an editor capitalises as terms of art
TERMS = ("migration", "reintegration", "return", "protection", "trafficking", "returnees", "counselling")
#: British and American spellings: a title "typo" fixed to the house spelling, either way
SPELLINGS = {
    "organization": "organisation",
    "organisation": "organization",
    "programme": "program",
    "labour": "labor",
    "centre": "center",
    "counselling": "counseling",
    "harmonization": "harmonisation",
}
SMALL_WORDS = ("For", "And", "Of", "The", "In", "On", "To", "With", "A", "An", "From", "By")
TEASER_SPAN = 240  # corrections fall within what a listing's teaser shows


@dataclass(frozen=True)
class Event:
    """One change applied on one night; the fields a kind does not use are None.

    - `item_id`: the item concerned (the new item for insert and translation); None for rename.
    - `site`: the site of an insert, move, translation or rename; None: every site carrying the item.
    - `section`: listing path an inserted or translated item appears on, a moved item's new
      listing, a renamed section's new path (paths as they stand that night).
    - `before` / `after`: title_fix: old / new title; teaser_fix: old / new fragment of the
      abstract; move: old / new listing path; rename: old path / new heading; translation:
      `after` is the new edition's language.
    - `source_id`: translation: the English item translated.
    """

    night: int
    kind: str
    item_id: str | None = None
    site: str | None = None
    section: str | None = None
    before: str | None = None
    after: str | None = None
    source_id: str | None = None


@dataclass(frozen=True)
class Rename:
    """A listing section renamed: `path` now answers 301 to `new_path`, headed `heading`."""

    site: str
    path: str
    new_path: str
    heading: str


@dataclass
class _World:
    """The evolving state between nights: items plus what the pools have already given out."""

    items: list[dict[str, Any]]
    pool: dict[str, Any]
    base_publications: int
    epoch: datetime
    next_nid: int
    used_publications: set[str] = field(default_factory=set)
    used_translations: set[int] = field(default_factory=set)
    renames: list[Rename] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)

    def public_path(self, site: str, key: str) -> str:
        """A section key (its original path) as the site shows it tonight."""
        return next((r.new_path for r in self.renames if r.site == site and r.path == key), key)


def load_pool(path: Path = POOL_PATH) -> dict[str, Any]:
    """The hand-written material: `publications`, `translations`, `renames`."""
    return json.loads(Path(path).read_text(encoding="utf-8"))


def rename_night(seed: int) -> int:
    """The night the one section rename happens for `seed`: early enough for a 30-night run."""
    return random.Random(f"drift-rename:{seed}").randint(3, 20)


def state_at(
    items: list[dict[str, Any]], night: int, seed: int = DEFAULT_SEED, pool: dict[str, Any] | None = None
) -> tuple[list[dict[str, Any]], list[Event]]:
    """The items as they stand on `night` (0: unchanged) and the events of nights 1..night.

    `items` is not modified; the result is a fresh copy. Events are in the order applied.
    """
    if night < 0:
        raise ValueError("night must be >= 0")
    world = _World(
        items=copy.deepcopy(items),
        pool=pool if pool is not None else load_pool(),
        base_publications=sum(1 for i in items if i["kind"] == "publication"),
        epoch=_epoch(items),
        next_nid=max((i["nid"] for i in items), default=0) + 1,
    )
    for n in range(1, night + 1):
        _run_night(world, n, seed)
    if night:
        check_items(world.items)
    return world.items, world.events


def section_renames(events: list[Event]) -> list[Rename]:
    """The section renames among `events`, for the server to serve new paths and redirects."""
    return [
        Rename(e.site, e.before, e.section, e.after)
        for e in events
        if e.kind == "rename" and e.site and e.before and e.section and e.after
    ]


# --- one night ----------------------------------------------------------------------------------


def _epoch(items: list[dict[str, Any]]) -> datetime:
    """Night 1 is the day after the newest item, at 02:00, so new items sort on top."""
    newest = max((i["created"] for i in items), default="2024-01-01T00:00:00Z")
    day = datetime.strptime(newest[:10], "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    return day.replace(hour=2)


def _run_night(world: _World, night: int, seed: int) -> None:
    rng = random.Random(f"drift:{seed}:{night}")
    count = rng.choice(EVENTS_PER_NIGHT)
    touched: set[str] = set()
    if night == rename_night(seed):
        _rename(world, night, seed)
        count -= 1
    for n in range(count):
        moment = world.epoch + timedelta(days=night - 1, minutes=7 * n)
        stamp = moment.strftime("%Y-%m-%dT%H:%M:%SZ")
        options = _options(world, touched)
        kinds = [k for k in WEIGHTS if options[k]]
        if not kinds:
            return
        kind = rng.choices(kinds, weights=[WEIGHTS[k] for k in kinds])[0]
        event = _APPLY[kind](world, rng, options[kind], night, stamp)
        if event.item_id:
            touched.add(event.item_id)
            if event.source_id:
                touched.add(event.source_id)
        world.events.append(event)


def _options(world: _World, touched: set[str]) -> dict[str, list[Any]]:
    """For each kind, what it could act on tonight (empty: the kind cannot happen)."""
    pubs = [i for i in world.items if i["kind"] == "publication" and i["id"] not in touched]
    present = {i["id"]: i for i in world.items}
    editions = {i["edition_key"] for i in world.items}
    translations = [
        n
        for n, t in enumerate(world.pool["translations"])
        if n not in world.used_translations
        and t["source"] in present
        and t["source"] not in touched
        and PUB in present[t["source"]]["sites"]
        and f"{present[t['source']]['work_key']}:{t['lang']}" not in editions
    ]
    pending_sources = {world.pool["translations"][n]["source"] for n in translations}
    removable = []
    if len([i for i in world.items if i["kind"] == "publication"]) - 1 >= KEEP_SHARE * world.base_publications:
        removable = [
            i for i in pubs if i["id"] not in pending_sources and any(p.get("sections") for p in i["sites"].values())
        ]
    return {
        "insert": [p for p in world.pool["publications"] if p["key"] not in world.used_publications],
        "remove": removable,
        "teaser_fix": [i for i in pubs if _abstract_fixes(i["abstract"])],
        "title_fix": [i for i in pubs if _title_fixes(i["title"], i["text_language"] == "en")],
        "translation": translations,
        "move": [i for i in pubs if _moves(i)],
    }


def _insert(world: _World, rng: random.Random, entries: list[dict[str, Any]], night: int, stamp: str) -> Event:
    entry = rng.choice(entries)
    world.used_publications.add(entry["key"])
    site, key = rng.choice(PLACES[entry["type"]])
    slug = slugify(entry["title"])
    if site == PUB:
        path = f"/{entry['lang']}/books/{slug}" if entry["lang"] == "es" else f"/books/{slug}"
        types = BOOKSTORE_TYPES.get(entry["type"], [])
    else:
        type_path = f"{RESOURCE_PREFIX}{TYPE_SLUGS[entry['type']]}/"
        path = type_path + slugify(entry["title"], prefix=type_path)
        types = [entry["type"]]
    name, label = LANGUAGE_LABELS[entry["lang"]]
    item = _new_item(
        world,
        item_id=f"drift-{entry['key']}",
        title=entry["title"],
        abstract=entry["abstract"],
        lang=entry["lang"],
        stamp=stamp,
        sites={site: {"path": path, "sections": [key]}},
        work=slug,
        types=types,
        languages=[name],
        pdf_label=label if site != PUB else "Download PDF",
        metadata=list(rng.choice(METADATA_CHOICES)),
    )
    return Event(night, "insert", item["id"], site=site, section=world.public_path(site, key))


def _remove(world: _World, rng: random.Random, candidates: list[dict[str, Any]], night: int, stamp: str) -> Event:
    item = rng.choice(candidates)
    world.items = [i for i in world.items if i["id"] != item["id"]]
    return Event(night, "remove", item["id"])


def _teaser_fix(world: _World, rng: random.Random, candidates: list[dict[str, Any]], night: int, stamp: str) -> Event:
    item = rng.choice(candidates)
    old, new = rng.choice(_abstract_fixes(item["abstract"]))
    item["abstract"] = item["abstract"].replace(old, new, 1)
    if item.get("teaser") and old in item["teaser"]:
        item["teaser"] = item["teaser"].replace(old, new, 1)
    _saved(item, stamp)
    return Event(night, "teaser_fix", item["id"], before=old, after=new)


def _title_fix(world: _World, rng: random.Random, candidates: list[dict[str, Any]], night: int, stamp: str) -> Event:
    item = rng.choice(candidates)
    old = item["title"]
    item["title"] = rng.choice(_title_fixes(old, item["text_language"] == "en"))
    _saved(item, stamp)
    return Event(night, "title_fix", item["id"], before=old, after=item["title"])


def _translation(world: _World, rng: random.Random, candidates: list[int], night: int, stamp: str) -> Event:
    index = rng.choice(candidates)
    world.used_translations.add(index)
    entry = world.pool["translations"][index]
    source = next(i for i in world.items if i["id"] == entry["source"])
    lang = entry["lang"]
    slug = slugify(entry["title"])
    path = f"/es/books/{slug}" if lang == "es" else f"/books/{slug}"  # as the bookstore's editions are
    item = _new_item(
        world,
        item_id=f"drift-{source['id']}-{lang}",
        title=entry["title"],
        abstract=entry["abstract"],
        lang=lang,
        stamp=stamp,
        sites={PUB: {"path": path, "sections": [SEARCH_BOOKS]}},
        work=source["work_key"],
        types=list(source["types"]),
        languages=[LANGUAGE_LABELS[lang][0]],
        pdf_label="Download PDF",
        metadata=list(source.get("metadata", [])),
    )
    for key in ("year", "page_count", "series", "issn"):
        item[key] = source.get(key)
    section = world.public_path(PUB, SEARCH_BOOKS)
    return Event(night, "translation", item["id"], site=PUB, section=section, after=lang, source_id=source["id"])


def _move(world: _World, rng: random.Random, candidates: list[dict[str, Any]], night: int, stamp: str) -> Event:
    item = rng.choice(candidates)
    site, old, new = rng.choice(_moves(item))
    placement = item["sites"][site]
    placement["sections"] = [new if s == old else s for s in placement["sections"]]
    old_heading = _heading(site, old)
    if old_heading in item["types"]:  # recategorised: the type term follows the section
        item["types"] = [_heading(site, new) if t == old_heading else t for t in item["types"]]
    _saved(item, stamp)
    before, after = world.public_path(site, old), world.public_path(site, new)
    return Event(night, "move", item["id"], site=site, section=after, before=before, after=after)


def _rename(world: _World, night: int, seed: int) -> None:
    rng = random.Random(f"drift-rename-which:{seed}")
    done = {(r.site, r.path) for r in world.renames}
    choices = [r for r in world.pool["renames"] if (r["site"], r["path"]) not in done]
    if not choices:
        return
    chosen = rng.choice(choices)
    rename = Rename(chosen["site"], chosen["path"], chosen["new_path"], chosen["heading"])
    world.renames.append(rename)
    event = Event(night, "rename", None, rename.site, section=rename.new_path, before=rename.path, after=rename.heading)
    world.events.append(event)


_APPLY = {
    "insert": _insert,
    "remove": _remove,
    "teaser_fix": _teaser_fix,
    "title_fix": _title_fix,
    "translation": _translation,
    "move": _move,
}


# --- helpers ----------------------------------------------------------------------------------


def _new_item(
    world: _World,
    *,
    item_id: str,
    title: str,
    abstract: str,
    lang: str,
    stamp: str,
    sites: dict[str, dict[str, Any]],
    work: str,
    types: list[str],
    languages: list[str],
    pdf_label: str,
    metadata: list[str],
) -> dict[str, Any]:
    nid = world.next_nid
    world.next_nid += 1
    slug = slugify(title)[:80].rstrip("-") or f"node-{nid}"
    item = new_publication(
        id=item_id,
        nid=nid,
        title=title,
        abstract=abstract,
        text_language=lang,
        year=int(stamp[:4]),
        types=types,
        organisations=[IOM],
        languages=languages,
        pdfs=[{"label": pdf_label, "file": f"{slug}.pdf", "size": f"{1 + nid % 7}.{nid % 10} MB"}],
        created=stamp,
        upload=stamp[:10],
        sites=sites,
        metadata=metadata,
        edition_key=f"{work}:{lang}",
        work_key=work,
    )
    world.items.append(item)
    return item


def _saved(item: dict[str, Any], stamp: str) -> None:
    """An editor saved the node: a new revision, dated by the night (never by the wall clock)."""
    item["revision"] = item.get("revision", 0) + 1
    item["changed"] = stamp


def _heading(site: str, key: str) -> str:
    return next(s.heading for s in SITES[site].sections if s.key == key)


def _moves(item: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(site, from, to) for every resource section the item could move to on MP and R&R."""
    out = []
    for site in (MP, RR):
        placement = item["sites"].get(site)
        if not placement:
            continue
        mine = placement.get("sections", [])
        resources = [s.key for s in SITES[site].sections if s.lang == "en" and s.key.startswith(RESOURCE_PREFIX)]
        for old in mine:
            if old.startswith(RESOURCE_PREFIX):
                out += [(site, old, new) for new in resources if new not in mine]
    return out


_WORD = re.compile(r"[A-Za-z][A-Za-z-]*")


@functools.lru_cache(maxsize=4096)  # asked of every item every event; most texts never change
def _abstract_fixes(abstract: str) -> tuple[tuple[str, str], ...]:
    """(old fragment, new fragment) pairs, each one small correction near the abstract's start.

    Fragments carry a few words of context so that replacing the first occurrence edits the
    intended place, in the abstract and in a seed teaser that shows the same words.
    """
    head = abstract.split("\n\n")[0][:TEASER_SPAN]
    fixes = []
    for match in _WORD.finditer(head):
        word = match.group()
        start, end = match.span()
        replacement = None
        if word in SYNONYMS:
            replacement = SYNONYMS[word]
        elif word in TERMS and start > 0:
            replacement = word[0].upper() + word[1:]
        elif head[end : end + 5] == ", and":
            replacement = word  # drop the serial comma below
            end += 1
        if replacement is None:
            continue
        context = max(0, head.rfind(" ", 0, max(0, start - 12)))
        old = head[context:end]
        new = head[context:start] + replacement
        if old != new and "\n" not in old:
            fixes.append((old, new))
    if "’" in head:
        at = head.index("’")
        context = max(0, head.rfind(" ", 0, max(0, at - 8)))
        fixes.append((head[context : at + 1], head[context:at] + "'"))
    return tuple(fixes)


@functools.lru_cache(maxsize=4096)
def _title_fixes(title: str, english: bool) -> tuple[str, ...]:
    """Corrected titles: one word's case, one spelling, or one dash or colon, changed."""
    out = []
    for match in _WORD.finditer(title):
        word = match.group()
        start, end = match.span()
        if start == 0 or title[start - 2 : start] in (": ", "– ", "- "):
            continue
        if word in SMALL_WORDS:
            out.append(title[:start] + word.lower() + title[end:])
        elif english and word.islower() and len(word) >= 4:
            out.append(title[:start] + word[0].upper() + word[1:] + title[end:])
        lowered = word.lower()
        if english and lowered in SPELLINGS:
            fixed = SPELLINGS[lowered]
            fixed = fixed[0].upper() + fixed[1:] if word[0].isupper() else fixed
            out.append(title[:start] + fixed + title[end:])
    for old, new in (("- ", " – "), (" – ", ": ")):
        at = title.find(old)
        if at > 0 and not (new == ": " and ":" in title):
            if old == "- " and title[at - 1] == " ":
                out.append(title[: at - 1] + " – " + title[at + 2 :])
            else:
                out.append(title[:at] + new + title[at + len(old) :])
    return tuple(t for t in out if t != title)


__all__ = [
    "DEFAULT_SEED",
    "KINDS",
    "Event",
    "Rename",
    "load_pool",
    "rename_night",
    "section_renames",
    "state_at",
]
