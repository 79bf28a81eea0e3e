"""Walking a listing section page by page: cards to the detail queue, layout alerts, the walk's log.

One `SectionWalk` per start URL. Each page is one job of the site's scheduler (`site.py`); the
next page is known only once this one is parsed (its pager link), so a section's pages go one
after the other while its cards' detail pages are fetched beside them.

Every section is walked to its end on every run, by default: listing pages are cheap (conditional
requests answer 304), and only a walk that saw every page of its section can tell that an item is
no longer listed (pipeline/changes.py withdraws editions by absence from such walks). With
`CrawlOptions.stop_early` a section stops paging at the first page whose cards were all archived
by earlier runs, once it has been walked to its end at least once; such a walk withdraws nothing.

A card whose title or teaser differs from what the section's earlier walks showed for its URL
(`card_fingerprint`, remembered in the walk's fetch-log line) sends its archived detail page to
be fetched again: the site corrected the item, and without this the warehouse would keep the
detail page's old text, which outranks the card's.
"""

from __future__ import annotations

import hashlib
import re
import statistics
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from parsers import ParsedPage
from pipeline.urls import canonical_url

if TYPE_CHECKING:
    from pipeline.archive import ArchiveEntry
    from pipeline.crawl.context import SiteContext


@dataclass
class SectionWalk:
    section: str
    page: int
    url: str | None
    #: cards per page seen so far (the layout check's "usual")
    counts: list[int] = field(default_factory=list)
    #: every card URL the walk showed (the section is complete only once all their details are in)
    cards: list[str] = field(default_factory=list)
    #: walked to its end (or to where an earlier complete walk takes over)
    complete: bool = False
    #: every pager page fetched (200 or 304) and parsed, up to the pager's end, with no layout
    #: alert: only such a walk may say that an item is no longer listed
    walked_to_end: bool = False
    #: (URL as archived, sha256) of the body of every page the walk read, in order
    seen: list[tuple[str, str]] = field(default_factory=list)
    started_at: str | None = None
    #: a page of this walk raised a layout alert (no cards, far fewer than usual, text fallback)
    alerted: bool = False
    #: canonical card URL -> fingerprint of the card's title and teaser, as this walk saw it
    fingerprints: dict[str, str] = field(default_factory=dict)
    #: canonical URLs of the pages this walk requested (a pager pointing back is not followed)
    visited: set[str] = field(default_factory=set)

    async def step(self, site: SiteContext) -> bool:
        """Fetch and read the walk's current page; True when there is a next page to walk."""
        url, source = self.url, site.source
        assert url is not None
        if self.started_at is None:
            self.started_at = _now()
        outcome = await site.fetcher.get(url, "listing", site.recorder.validators(url))
        entry = site.recorder.record(outcome, source.listing_format)
        body = site.recorder.body(outcome)
        self.visited.add(canonical_url(url) or url)
        if body is None:
            site.report.problems.append(f"listing {url}: {outcome.reason}")
            site.report.lost_listings.append(f"{url}: {outcome.reason}{self._stopped_here()}")
            return False
        site.report.listing_pages += 1
        parsed = await site.parse(source.listing_format, body, url, entry)
        if parsed is None:
            site.report.lost_listings.append(f"{url}: could not be parsed{self._stopped_here()}")
            return False
        cards = [r["url"] for r in parsed.records if r.get("url")]
        # a 304 confirms a body whose alerts (if any) were raised when it was fetched: not raised
        # again, but such a page still keeps the walk from proving an absence
        alerts = layout_alerts(site, url, parsed, self.counts, site.state.section_cards.get(self.section))
        if outcome.outcome == "fetched":
            site.report.layout_alerts.extend(alerts)
        self.alerted = self.alerted or bool(alerts)
        self.counts.append(len(parsed.records))
        self._saw(site, outcome.outcome, url, entry)
        # "new" is against earlier runs only: details fetched by this run beside the walk do not count
        new = [c for c in cards if canonical_url(c) not in site.details.known_before]
        self.cards.extend(c for c in cards if source.allows(c))
        if parsed.page_info.get("layout") != "fallback-text":
            # cards read from the page text rather than its markup may be cut differently:
            # comparing them would tell the reading changed, not the site
            self._compare_cards(site, parsed)
        for card in cards:
            site.details.enqueue(card)
        if site.progress:
            site.progress(source.name, "listings", site.report.listing_pages, 0)
        pager = parsed.page_info.get("pager")
        if pager is None:  # a format without pager links: count pages ourselves
            following = page_url(self.section, source.pager.param, self.page + 1, source.pager.first)
            next_url = following if parsed.records else None
        else:
            next_url = pager.get("next")
        if not next_url:
            self.complete = True
            self.walked_to_end = not self.alerted and len(self.seen) == len(self.counts)
            return False
        if (
            site.options.stop_early
            and not site.options.full
            and not new
            and self.section in site.state.complete_sections
        ):
            self.complete = True  # incremental: everything from here on was seen by an earlier walk
            return False
        cut = self._pager_cut(site, next_url)
        if cut:
            # the cards past this page are not seen: said as an alert (exit 3 under --strict),
            # never a silent stop, and the walk cannot prove an absence
            self.alerted = True
            site.report.layout_alerts.append(f"section {self.section}: {cut}")
            return False
        self.url, self.page = next_url, self.page + 1
        return True

    def _pager_cut(self, site: SiteContext, next_url: str) -> str | None:
        """Why the walk must stop although the page links a next one, or None to go on."""
        pager = site.source.pager
        if not site.source.allows(next_url):
            return f"the pager's next link {next_url} leaves the allowed hosts; the walk stopped at page {self.page}"
        if (canonical_url(next_url) or next_url) in self.visited:
            return f"the pager's next link {next_url} points back to a page already walked; the walk stopped there"
        if self.page + 1 >= pager.first + pager.max_pages:
            return (
                f"the pager still has pages after max_pages = {pager.max_pages} (next: {next_url}); "
                "the walk stopped there and the cards past it were not seen"
            )
        return None

    def _stopped_here(self) -> str:
        """What a lost page costs its walk: the first page loses the section, a later one its tail."""
        if len(self.visited) <= 1:
            return "; the section was not walked"
        return f"; the walk of {self.section} stopped there, later pages not walked"

    def log_record(self, site: SiteContext) -> dict[str, object]:
        """The walk's fetch-log line, written once its details are in.

        A section counts as complete (allowing later runs to stop paging early) only when it was
        walked to its end *and* every card it showed has its detail page archived: a run killed
        before the details, or a detail that failed, leaves the section incomplete, so the next
        run walks it again and picks up what is missing.
        """
        follow = site.source.follow_details
        details_in = not follow or all((canonical_url(c) or c) in site.details.known for c in self.cards)
        return {
            "kind": "section", "url": self.section, "complete": self.complete and details_in,
            "pages": len(self.counts), "cards_median": statistics.median(self.counts) if self.counts else 0,
            "run_id": site.options.run_id, "source": site.source.name, "pager_param": site.source.pager.param,
            "walked_to_end": self.walked_to_end,
            "walked_pages": [{"url": u, "sha256": sha} for u, sha in self.seen],
            "card_fingerprints": self._fingerprints_to_log(site),
            "started_at": self.started_at, "finished_at": _now(),
        }  # fmt: skip

    def _compare_cards(self, site: SiteContext, parsed: ParsedPage) -> None:
        """Note each card's fingerprint; a known page whose card changed is fetched again."""
        for record in parsed.records:
            url = record.get("url")
            if not url:
                continue
            key = canonical_url(url) or url
            fingerprint = card_fingerprint(record)
            self.fingerprints[key] = fingerprint
            if site.state.card_changed(key, fingerprint):
                site.details.refetch(url)

    def _fingerprints_to_log(self, site: SiteContext) -> dict[str, str]:
        """The cards that look different from the section's memory, to remember for the next run.

        Only the differences: every night's walk repeating every card would grow the fetch log by
        the whole site each night. A changed card whose detail page was not fetched again (the
        fetch failed) keeps its old fingerprint, so the next run still sees the change and retries.
        """
        remembered = site.state.card_fingerprints.get(self.section, {})
        details = site.details
        return {
            key: fingerprint
            for key, fingerprint in sorted(self.fingerprints.items())
            if remembered.get(key) != fingerprint and (key not in details.stale or key in details.fetched)
        }

    def _saw(self, site: SiteContext, outcome: str, url: str, entry: ArchiveEntry | None) -> None:
        """Note the body this page showed: its archived URL and hash name the page in the warehouse."""
        if outcome == "fetched" and entry is not None:
            self.seen.append((entry.url or url, entry.sha256))
            return
        known = site.state.validators.get(url) if outcome == "not_modified" else None
        if known and known.get("sha256"):
            self.seen.append((known.get("url") or url, known["sha256"]))


_SPACE = re.compile(r"\s+")


def card_fingerprint(record: dict[str, object]) -> str:
    """A short hash of what a card says about its item: its title and teaser, normalised.

    Normalised for spelling only (Unicode NFC, runs of white space): re-indented markup is no
    correction, while a letter's case or an apostrophe made curly is one a site makes on purpose.
    """
    parts = []
    for name in ("title", "abstract"):
        value = record.get(name)
        text = unicodedata.normalize("NFC", value) if isinstance(value, str) else ""
        parts.append(_SPACE.sub(" ", text).strip())
    return hashlib.sha256("\n".join(parts).encode("utf-8")).hexdigest()[:16]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def layout_alerts(site: SiteContext, url: str, parsed: ParsedPage, counts: list[int], usual: float | None) -> list[str]:
    """The alerts of a page that yields no cards, or far fewer than the section usually shows.

    "Usually" is the median of this walk's earlier pages, else of the last complete walk.
    The last page of a section is exempt from the drop rule: it is often short.
    """
    alerts: list[str] = []
    info = parsed.page_info
    has_next = bool((info.get("pager") or {}).get("next"))
    n = len(parsed.records)
    if info.get("layout") == "fallback-text":
        alerts.append(f"{url}: markup changed, cards read from the page text")
    if n == 0:
        alerts.append(f"{url}: listing page yields no cards")
    elif has_next and (counts or usual):
        typical = statistics.median(counts) if counts else usual
        if typical and n < typical * site.config.layout_drop_ratio:
            alerts.append(f"{url}: {n} cards where the section usually has {typical:g}")
    return alerts


def page_url(section: str, param: str, page: int, first: int) -> str:
    """URL of page `page` of a section: the bare URL for the first page (Drupal's 0-based pager)."""
    parts = urlsplit(section)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    if page != first:
        query.append((param, str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
