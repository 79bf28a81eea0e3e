"""A listing site that drifts night by night, rendered as HTML listing pages, with its own truth.

Test support for `tests/test_drift_property.py`: a Drupal-like site of two listing sections
shown newest first, `PAGE_SIZE` cards a page, 0-based `?page=N` pager. Most cards carry only a
teaser (no link, no title), as the text renderings of the real sites do; a card may gain a
title link later. Every item knows who it is (`Item.key`), so a test can say which sightings
are one edition without asking the code under test.

Texts are written from a fixed vocabulary of made-up content words between real English or
French function words (so the language detector reads them), each item drawing its own words,
so two items share no opening. Twin items (volumes of one publication) share one text exactly,
as the three Spanish Etimos teasers do.

Drift operations (`Op`): insert (one item, or a group of twins, on top of a section), delete,
move (to another place in the same section, usually across pager pages), reorder (one page's
cards among themselves), edit (one word's case, punctuation, or one word replaced), retrim (a
new truncation point), language (a new item in French: another edition) and title (a card
gains a title link where it had none).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from html import escape

from pipeline.archive import Archive

SOURCE = "returnandreintegration.iom.int"
BASE = f"https://{SOURCE}/en/resources"
SECTIONS = ("guideline", "manual")
PAGE_SIZE = 5
OPS = ("insert", "twins", "delete", "move", "reorder", "edit", "retrim", "language", "title")

_FUNCTION = {
    "en": ["the", "of", "and", "to", "in", "for", "with", "on", "by", "this", "that", "from", "their", "which"],
    "fr": ["le", "la", "les", "des", "et", "pour", "dans", "avec", "sur", "par", "une", "est", "du", "aux"],
}
_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"


def _vocabulary(size: int = 4000, seed: int = 11) -> list[str]:
    rng = random.Random(seed)
    words: set[str] = set()
    while len(words) < size:
        syllables = rng.randint(2, 4)
        words.add("".join(rng.choice(_CONSONANTS) + rng.choice(_VOWELS) for _ in range(syllables)))
    return sorted(words)


VOCABULARY = _vocabulary()


@dataclass
class Item:
    key: str  # the truth: one publication in one language
    text: str
    lang: str
    cut: int  # characters shown before the "..." of a truncated teaser
    twins: str | None = None  # items of one group share one text
    title: str | None = None
    url: str | None = None

    def teaser(self) -> str:
        if len(self.text) <= self.cut:
            return self.text
        shown = self.text[: self.cut].rsplit(" ", 1)[0]
        return shown.rstrip(" ,;") + "..."


@dataclass
class Site:
    """The site's state on one night, and the archive it is written to."""

    rng: random.Random
    sections: dict[str, list[Item]] = field(default_factory=dict)
    counter: int = 0
    night: int = 0
    #: URL -> body of the version last archived (a crawler's 304)
    served: dict[str, bytes] = field(default_factory=dict)
    #: the truth: sighting id (<page_id>:<position>) -> key of the item that card shows
    truth: dict[str, str] = field(default_factory=dict)
    #: item key -> its twin group, for items that ever shared a text
    groups: dict[str, str] = field(default_factory=dict)

    @classmethod
    def start(cls, seed: int, items_per_section: int = 9) -> Site:
        site = cls(random.Random(seed))
        for name in SECTIONS:
            site.sections[name] = []
            for _ in range(items_per_section):
                site.sections[name].append(site.new_item())
        # one group of three twins in the first section, across a page boundary
        group = site.new_twins(3)
        site.sections[SECTIONS[0]][3:3] = group
        return site

    def new_text(self, lang: str) -> str:
        """About 60 words: distinct content words of this item between function words."""
        fn = _FUNCTION[lang]
        words = []
        for k in range(60):
            words.append(self.rng.choice(VOCABULARY) if k % 2 == 0 else self.rng.choice(fn))
        words[0] = words[0].capitalize()
        return " ".join(words) + "."

    def new_item(self, lang: str = "en") -> Item:
        self.counter += 1
        return Item(f"it{self.counter}", self.new_text(lang), lang, self.rng.randint(230, 290))

    def new_twins(self, n: int) -> list[Item]:
        text = self.new_text("en")
        cut = self.rng.randint(230, 290)
        group = f"g{self.counter + 1}"
        out = []
        for _ in range(n):
            self.counter += 1
            out.append(Item(f"it{self.counter}", text, "en", cut, twins=group))
        return out

    def items(self) -> list[Item]:
        return [item for cards in self.sections.values() for item in cards]

    # -- drift ---------------------------------------------------------------------------------

    def apply(self, op: str, a: int, b: int) -> str:
        """Apply one drift operation; `a` and `b` pick what it touches. Returns what it did."""
        name = SECTIONS[a % len(SECTIONS)]
        cards = self.sections[name]
        if op == "insert":
            cards.insert(0, self.new_item())
            return f"insert on top of {name}"
        if op == "twins":
            cards[0:0] = self.new_twins(2 + b % 2)
            return f"insert {2 + b % 2} twins on top of {name}"
        if op == "language":
            cards.insert(0, self.new_item("fr"))
            return f"insert a French edition on top of {name}"
        if not cards:
            return "nothing"
        item = cards[b % len(cards)]
        if op == "delete":
            cards.remove(item)
            return f"delete {item.key}"
        if op == "move":
            cards.remove(item)
            cards.insert(a % (len(cards) + 1), item)
            return f"move {item.key} in {name}"
        if op == "reorder":
            page = (b % len(cards)) // PAGE_SIZE
            chunk = cards[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
            self.rng.shuffle(chunk)
            cards[page * PAGE_SIZE : (page + 1) * PAGE_SIZE] = chunk
            return f"reorder page {page} of {name}"
        if op == "edit":
            words = item.text.split(" ")
            k = 2 * (a % 25) + 2  # a content word, not the first
            kind = b % 3
            if kind == 0:
                words[k] = words[k].upper() if words[k].islower() else words[k].lower()
            elif kind == 1:
                words[k] = words[k] + ","
            else:
                words[k] = self.rng.choice(VOCABULARY)
            item.text = " ".join(words)
            item.twins = None  # an edited twin no longer shows its group's text
            return f"edit {item.key} ({('case', 'punctuation', 'word')[kind]})"
        if op == "retrim":
            item.cut = 200 + (a * 7 + b) % 120
            return f"retrim {item.key} at {item.cut}"
        if op == "title" and item.title is None:
            item.title = f"Handbook {item.key.upper()}"
            item.url = f"https://{SOURCE}/en/resources/guideline/handbook-{item.key}"
            return f"title {item.key}"
        return "nothing"

    # -- pages ---------------------------------------------------------------------------------

    def pages(self) -> dict[str, bytes]:
        out = {}
        for url, (body, _) in self._rendered().items():
            out[url] = body
        return out

    def _rendered(self) -> dict[str, tuple[bytes, list[Item]]]:
        out = {}
        for name, cards in self.sections.items():
            for page in range(max(1, -(-len(cards) // PAGE_SIZE))):
                chunk = cards[page * PAGE_SIZE : (page + 1) * PAGE_SIZE]
                url = f"{BASE}/{name}" + (f"?page={page}" if page else "")
                more = (page + 1) * PAGE_SIZE < len(cards)
                out[url] = (render(name, chunk, page, more), chunk)
        return out

    def archive_night(self, archive: Archive) -> int:
        """Archive this night's pages whose body changed (a crawler re-fetching them); returns how many."""
        when = datetime(2027, 1, 1, 2, 0, tzinfo=UTC) + timedelta(days=self.night)
        written = 0
        for k, (url, (body, chunk)) in enumerate(sorted(self._rendered().items(), key=lambda kv: _page_order(kv[0]))):
            if self.served.get(url) == body:
                continue
            entry = archive.put(
                body, source=SOURCE, url=url, format="html-listing", retrieved_at=when + timedelta(seconds=k)
            )
            for position, item in enumerate(chunk, start=1):
                self.truth[f"{entry.page_id}:{position}"] = item.key
                if item.twins:
                    self.groups[item.key] = item.twins
            self.served[url] = body
            written += 1
        self.night += 1
        return written


def _page_order(url: str) -> tuple[str, int]:
    section, _, page = url.partition("?page=")
    return section, int(page or 0)


def render(section: str, cards: list[Item], page: int, more: bool) -> bytes:
    rows = []
    for item in cards:
        title = f'<h3><a href="{escape(item.url or "")}">{escape(item.title)}</a></h3>' if item.title else ""
        rows.append(
            f'<div class="views-row">{title}<div class="field--name-body"><p>{escape(item.teaser())}</p></div></div>'
        )
    pager = f'<nav class="pager"><a rel="next" href="?page={page + 1}">Next</a></nav>' if more else ""
    html = (
        f"<!DOCTYPE html><html lang='en'><head><title>{section}</title></head><body>"
        f"<a href='#main'>Skip to main content</a><main id='main'><h1>{section.capitalize()}</h1>"
        f"<div class='view-content'>{''.join(rows)}</div>{pager}</main></body></html>"
    )
    return html.encode("utf-8")
