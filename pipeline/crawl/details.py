"""Detail pages: which URLs to fetch (once each), and the language editions they link to."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from pipeline.urls import canonical_url

if TYPE_CHECKING:
    from pipeline.crawl.context import SiteContext
    from pipeline.fetch import FetchOutcome

_LANG_PREFIX = re.compile(r"^/([a-z]{2})(?:/|$)")
#: a detail page answering these is gone from the site: its card is all there is to have
GONE_STATUSES = frozenset({404, 410})


class DetailQueue:
    """Decides which detail URLs become jobs: allowed, not yet queued, not archived before.

    `known_before` is what earlier runs archived intact (fixed for the run: the listing walk's
    incremental rule compares with it); `known` grows with this run's fetches.

    A known page is fetched again only when its card changed (`refetch`): sites correct titles
    and abstracts in place, and the card is the one part of the site every run reads.
    """

    def __init__(self, site: SiteContext, known: set[str]) -> None:
        self.site = site
        self.known_before = frozenset(known)
        self.known = set(known)
        self.queued: set[str] = set()
        #: canonical URLs with a fetch job in this run
        self.scheduled: set[str] = set()
        #: canonical URLs (as requested and as redirected to) fetched this run, 200 or 304
        self.fetched: set[str] = set()
        #: known pages whose card changed: until `fetched` has them, their new fingerprint is
        #: not remembered, so a failed refetch is tried again by the next run
        self.stale: set[str] = set()
        self.done = 0
        self.total = 0

    def enqueue(self, url: str) -> bool:
        """Schedule a detail page; False if it is not allowed, already queued or already archived."""
        site = self.site
        if not site.source.follow_details or not site.source.allows(url):
            return False
        key = canonical_url(url) or url
        if key in self.queued:
            return False
        self.queued.add(key)
        if key in self.known and not site.options.full:
            return False
        self._schedule(key, url)
        return True

    def refetch(self, url: str) -> bool:
        """Fetch an archived detail page again because its card changed; False if not scheduled.

        The request is conditional (the stored validators): a page that did not change after
        all costs a 304. A page this run fetches anyway is not asked for twice.
        """
        site = self.site
        if not site.source.follow_details or not site.source.allows(url):
            return False
        key = canonical_url(url) or url
        if key not in self.known_before:
            return False  # a new page: the card's ordinary enqueue fetches it
        self.stale.add(key)
        self.queued.add(key)
        if key in self.scheduled:
            return False
        site.report.changed_cards += 1
        self._schedule(key, url)
        return True

    def _schedule(self, key: str, url: str) -> None:
        self.scheduled.add(key)
        self.total += 1
        self.site.schedule_detail(url)

    async def fetch(self, url: str) -> None:
        """Fetch one detail page and queue the language editions it links to."""
        site = self.site
        outcome = await site.fetcher.get(url, "detail", site.recorder.validators(url))
        entry = site.recorder.record(outcome, site.source.detail_format)
        body = site.recorder.body(outcome)
        if outcome.outcome in ("fetched", "not_modified"):
            site.report.detail_pages += 1
            self.known.add(canonical_url(outcome.final_url or url) or url)
            self.fetched.update({canonical_url(outcome.final_url or url) or url, canonical_url(url) or url})
        self.done += 1
        if site.progress:
            site.progress(site.source.name, "details", self.done, self.total)
        if body is None:
            if outcome.outcome not in ("fetched", "not_modified"):
                site.report.problems.append(f"detail {url}: {outcome.reason}")
                report = site.report
                kept = {
                    "lost": report.lost_details,
                    "gone": report.gone_details,
                    "disallowed": report.disallowed_details,
                }
                kept[given_up(outcome)].append(f"{url}: {outcome.reason}")
            return
        parsed = await site.parse(site.source.detail_format, body, url, entry)
        if parsed is None:
            return
        for record in parsed.records:
            for link in record.get("edition_links", []):
                if follows_edition(site.source.languages, link):
                    self.enqueue(link)


def follows_edition(languages: tuple[str, ...] | list[str], url: str) -> bool:
    """Language editions are followed for the languages the source declares.

    An edition whose path starts with a language prefix (`/ar/...`) outside `languages` is left
    alone; one with no prefix (publications.iom.int gives editions their own slugs) is followed.
    """
    match = _LANG_PREFIX.match(urlsplit(url).path)
    return match is None or match.group(1) in languages


def given_up(outcome: FetchOutcome) -> str:
    """Why a detail page that was not fetched is missing: `lost`, `gone` or `disallowed`.

    `gone` (404, 410): the site removed the item; no crawler could have it, so it is no loss of
    the run's making (its card is still loaded). `disallowed`: robots.txt forbids it, a policy
    the run obeys on purpose. Everything else the crawler asked for and gave up on (redirected
    off the allowed hosts or to another scheme, a redirect loop, 5xx for ever, a body refused
    as too large or undecodable, a deadline) is `lost`: the run is partial, as for a listing.
    """
    if outcome.outcome == "disallowed":
        return "disallowed"
    if outcome.outcome == "failed" and outcome.status in GONE_STATUSES:
        return "gone"
    return "lost"
