"""Crawl the declared sources into raw/: robots.txt, sitemap, listings, then details.

Never loads the warehouse: every body goes to the archive and every request's outcome to the
fetch log; the parse stage reads them later. Listing and detail bodies are parsed here only to
discover links (cards, pager, language editions), with the same pure parsers the parse stage
uses.

Incremental by default: a listing section is walked newest first and stops paging at the first
page whose cards are all known, once the section has been walked to its end at least once;
known detail pages are not fetched again. `full=True` walks everything and re-validates every
page with conditional requests.

A page counts as known only while its archived body is intact: a detail page whose object is
missing or corrupt is fetched again (without validators, so the site sends the body and not a
304 that would point back at the damaged copy), and the fresh body repairs the object.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import re
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

from defusedxml import ElementTree
from protego import Protego

from parsers import PARSERS, ParsedPage, ParseError
from pipeline import http
from pipeline.archive import Archive, FetchLog, FetchState
from pipeline.errors import ArchiveError
from pipeline.fetch import Fetcher, FetchOutcome, HostGate
from pipeline.parse_pool import PagePool
from pipeline.sources import Source, SourcesFile
from pipeline.urls import canonical_url

log = logging.getLogger(__name__)

#: progress callback: (source, stage, done, total)
CrawlProgress = Callable[[str, str, int, int], None]
MAX_SITEMAPS = 20
_LANG_PREFIX = re.compile(r"^/([a-z]{2})(?:/|$)")


@dataclass(frozen=True)
class CrawlOptions:
    full: bool = False
    run_id: int | None = None
    #: per-page parse time limit in seconds (link discovery parses in worker processes)
    parse_timeout_s: float = 20.0


@dataclass
class SourceReport:
    name: str
    status: str = "ok"  # ok | unreachable | blocked | stopped (run budget) | failed
    reason: str | None = None
    requests: int = 0
    conditional_requests: int = 0
    outcomes: dict[str, int] = field(default_factory=dict)
    listing_pages: int = 0
    detail_pages: int = 0
    sitemap_only: int = 0
    layout_alerts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: listing pages that could not be fetched or parsed: their cards are lost to this run
    lost_listings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    finished: bool = False

    def count(self, outcome: FetchOutcome) -> None:
        self.requests += outcome.attempts if outcome.outcome != "unreachable" else 0
        self.conditional_requests += int(outcome.conditional)
        self.outcomes[outcome.outcome] = self.outcomes.get(outcome.outcome, 0) + 1


@dataclass
class CrawlReport:
    sources: list[SourceReport]

    @property
    def offline(self) -> bool:
        # not one source crawled (unreachable, or skipped: robots.txt unavailable, Crawl-delay over the cap)
        return bool(self.sources) and all(s.status in ("unreachable", "blocked") for s in self.sources)

    @property
    def unreachable(self) -> list[SourceReport]:
        return [s for s in self.sources if s.status != "ok"]

    @property
    def layout_alerts(self) -> list[str]:
        return [f"{s.name}: {a}" for s in self.sources for a in s.layout_alerts]

    @property
    def lost_listings(self) -> list[str]:
        return [f"{s.name}: {a}" for s in self.sources for a in s.lost_listings]

    def as_dict(self) -> dict[str, object]:
        return {
            s.name: {
                "status": s.status,
                "reason": s.reason,
                "requests": s.requests,
                "conditional_requests": s.conditional_requests,
                "outcomes": s.outcomes,
                "listing_pages": s.listing_pages,
                "detail_pages": s.detail_pages,
                "sitemap_only": s.sitemap_only,
                "layout_alerts": s.layout_alerts,
                "lost_listings": s.lost_listings[:50],
                "problems": s.problems[:20],
                "elapsed_s": round(s.elapsed_s, 3),
            }
            for s in self.sources
        }


async def crawl(
    sources: SourcesFile,
    archive: Archive,
    fetch_log: FetchLog,
    options: CrawlOptions,
    progress: CrawlProgress | None = None,
) -> CrawlReport:
    """Crawl every source concurrently (each behind its own host gate)."""
    state = fetch_log.state()
    budget = sources.crawler.run_budget
    with PagePool(options.parse_timeout_s) as pool:
        async with http.make_client(sources.crawler) as client:
            crawlers = [
                SourceCrawler(client, sources, source, archive, fetch_log, state, options, progress, pool)
                for source in sources.sources
            ]
            try:
                async with asyncio.timeout(budget):
                    results = await asyncio.gather(*(c.run() for c in crawlers), return_exceptions=True)
            except TimeoutError:
                # pages archived so far are kept and loaded; unfinished sections stay incomplete in
                # the fetch log, so the next run walks them again
                results = []
                for c in crawlers:
                    if not c.report.finished and c.report.status == "ok":
                        c.report.status = "stopped"
                        c.report.reason = f"the crawl's time budget of {budget:g}s ran out; what was fetched is loaded"
                    results.append(c.report)
    reports = []
    for crawler, result in zip(crawlers, results, strict=True):
        if isinstance(result, BaseException):
            if not isinstance(result, Exception):
                raise result
            log.error("crawl of %s stopped: %s: %s", crawler.source.name, type(result).__name__, result)
            crawler.report.status = "failed"
            crawler.report.reason = f"crawl stopped: {type(result).__name__}: {result}"
            result = crawler.report
        reports.append(result)
    return CrawlReport(reports)


class SourceCrawler:
    def __init__(
        self,
        client: http.AsyncClient,
        sources: SourcesFile,
        source: Source,
        archive: Archive,
        fetch_log: FetchLog,
        state: FetchState,
        options: CrawlOptions,
        progress: CrawlProgress | None,
        pool: PagePool,
    ) -> None:
        self.client = client
        self.config = sources.crawler
        self.source = source
        self.archive = archive
        self.fetch_log = fetch_log
        self.state = state
        self.options = options
        self.progress = progress
        self.pool = pool
        self.report = SourceReport(source.name)
        self.fetcher = Fetcher(client, self.config, source, HostGate(source.rate_per_second, source.concurrency))
        # canonical URL of every detail page archived by an earlier run or this one
        self.known: set[str] = set()
        self.queued: set[str] = set()
        self.detail_queue: list[str] = []
        #: sha256 -> archived body intact, checked once a run (reading a body costs a hash)
        self._intact: dict[str, bool] = {}
        #: known detail pages whose archived body is damaged: fetched again whatever the walk finds
        self.refetch: list[str] = []
        #: (section, walked to its end, cards per page, card URLs) of this run's walks
        self._walks: list[tuple[str, bool, list[int], list[str]]] = []

    async def run(self) -> SourceReport:
        started = time.monotonic()
        try:
            if await self._robots():
                self._load_known()
                sitemap_urls = await self._sitemap()
                # sections are independent; the host gate keeps the pace polite however many walk
                await asyncio.gather(*(self._walk_section(section) for section in self.source.start_urls))
                if self.source.follow_details:
                    for url in sitemap_urls:
                        if self._enqueue(url):
                            self.report.sitemap_only += 1
                    for url in self.refetch:
                        self._enqueue(url)
                    await self._fetch_details()
                self._log_sections()
            self.report.finished = True
        finally:
            self.report.elapsed_s = time.monotonic() - started
        return self.report

    # -- robots.txt and sitemap -----------------------------------------------------------
    async def _robots(self) -> bool:
        url = urljoin(self.source.base_url + "/", "/robots.txt")
        outcome = await self.fetcher.probe(url, "robots", self._validators(url))
        if outcome.outcome == "unreachable":
            # recorded on the run (runs.sources_unreachable), not as a fetch: an offline re-run
            # of an unchanged archive adds a runs row and nothing else
            self.report.count(outcome)
            self.report.status, self.report.reason = "unreachable", outcome.reason
            return False
        self._record(outcome, "robots-txt")
        if not self.source.robots:
            return True
        body = self._body(outcome)
        if body is not None:
            robots = Protego.parse(body.decode("utf-8", "replace"))
            self.fetcher.robots = robots
            delay = robots.crawl_delay(self.config.user_agent)
            if delay and float(delay) > self.config.crawl_delay_cap:
                self.report.status = "blocked"
                cap = self.config.crawl_delay_cap
                self.report.reason = (
                    f"robots.txt asks for a Crawl-delay of {float(delay):g}s, above the {cap:g}s cap: "
                    "not crawled (the archive is used)"
                )
                return False
            if delay:
                self.fetcher.gate = HostGate(self.source.rate_per_second, self.source.concurrency, float(delay))
            return True
        if outcome.status is not None and 400 <= outcome.status < 500:
            return True  # no robots.txt: everything allowed (RFC 9309 2.3.1.3)
        self.report.status = "blocked"
        self.report.reason = f"robots.txt unavailable ({outcome.reason}); not crawling (RFC 9309 2.3.1.4)"
        return False

    async def _sitemap(self) -> list[str]:
        if not self.source.sitemap:
            return []
        todo = [urljoin(self.source.base_url + "/", self.source.sitemap)]
        found: list[str] = []
        seen: set[str] = set()
        while todo and len(seen) < MAX_SITEMAPS:
            url = todo.pop(0)
            seen.add(url)
            outcome = await self.fetcher.get(url, "sitemap", self._validators(url))
            self._record(outcome, "sitemap-xml")
            body = self._body(outcome)
            if body is None:
                continue
            try:
                root = ElementTree.fromstring(body, forbid_dtd=True)
            except Exception as exc:  # defusedxml raises its own and ElementTree's errors
                self.report.problems.append(f"sitemap {url} unreadable: {type(exc).__name__}: {exc}")
                continue
            locs = [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]
            if root.tag.endswith("sitemapindex"):
                todo.extend(u for u in locs if self.source.allows(u) and u not in seen)
            else:
                found.extend(u for u in locs if self.source.allows(u))
        return found

    # -- listings -------------------------------------------------------------------------
    async def _walk_section(self, section: str) -> None:
        pager = self.source.pager
        counts: list[int] = []
        url: str | None = section
        page = pager.first
        complete = False
        section_cards: list[str] = []
        while url and page < pager.first + pager.max_pages:
            outcome = await self.fetcher.get(url, "listing", self._validators(url))
            self._record(outcome, self.source.listing_format)
            body = self._body(outcome)
            if body is None:
                self.report.problems.append(f"listing {url}: {outcome.reason}")
                self.report.lost_listings.append(f"{url}: {outcome.reason}")
                break
            self.report.listing_pages += 1
            parsed = await self._parse(self.source.listing_format, body, url)
            if parsed is None:
                self.report.lost_listings.append(f"{url}: could not be parsed")
                break
            cards = [r["url"] for r in parsed.records if r.get("url")]
            if outcome.outcome == "fetched":
                self._check_layout(url, parsed, counts, self.state.section_cards.get(section))
            counts.append(len(parsed.records))
            new = [c for c in cards if canonical_url(c) not in self.known]
            section_cards.extend(c for c in cards if self.source.allows(c))
            for card in cards:
                self._enqueue(card)
            if self.progress:
                self.progress(self.source.name, "listings", self.report.listing_pages, 0)
            pager_info = parsed.page_info.get("pager")
            if pager_info is None:  # a format without pager links: count pages ourselves
                next_url = page_url(section, pager.param, page + 1, pager.first) if parsed.records else None
            else:
                next_url = pager_info.get("next")
            if not next_url:
                complete = True
                break
            if not self.options.full and not new and section in self.state.complete_sections:
                complete = True  # incremental: everything from here on was seen by an earlier walk
                break
            url = next_url if self.source.allows(next_url) else None
            page += 1
        self._walks.append((section, complete, counts, section_cards))

    def _log_sections(self) -> None:
        """Record each section's walk once its details are in.

        A section counts as complete (allowing later runs to stop paging early) only when it
        was walked to its end *and* every card it showed has its detail page archived: a run
        killed before the details, or a detail that failed, leaves the section incomplete, so
        the next run walks it again and picks up what is missing.
        """
        for section, walked, counts, cards in self._walks:
            details_in = not self.source.follow_details or all((canonical_url(c) or c) in self.known for c in cards)
            self.fetch_log.append(
                {"kind": "section", "url": section, "complete": walked and details_in, "pages": len(counts),
                 "cards_median": statistics.median(counts) if counts else 0, "run_id": self.options.run_id}
            )  # fmt: skip

    def _check_layout(self, url: str, parsed: ParsedPage, counts: list[int], usual: float | None) -> None:
        """Flag a page that yields no cards, or far fewer than the section usually shows.

        "Usually" is the median of this walk's earlier pages, else of the last complete walk.
        The last page of a section is exempt from the drop rule: it is often short.
        """
        info = parsed.page_info
        has_next = bool((info.get("pager") or {}).get("next"))
        n = len(parsed.records)
        if info.get("layout") == "fallback-text":
            self.report.layout_alerts.append(f"{url}: markup changed, cards read from the page text")
        if n == 0:
            self.report.layout_alerts.append(f"{url}: listing page yields no cards")
        elif has_next and (counts or usual):
            usual = statistics.median(counts) if counts else usual
            if n < usual * self.config.layout_drop_ratio:
                self.report.layout_alerts.append(f"{url}: {n} cards where the section usually has {usual:g}")

    # -- details --------------------------------------------------------------------------
    def _enqueue(self, url: str) -> bool:
        if not self.source.allows(url):
            return False
        key = canonical_url(url) or url
        if key in self.queued:
            return False
        self.queued.add(key)
        if key in self.known and not self.options.full:
            return False
        self.detail_queue.append(url)
        return True

    async def _fetch_details(self) -> None:
        done = 0
        while self.detail_queue:
            batch, self.detail_queue = self.detail_queue, []
            results = await asyncio.gather(*(self._fetch_detail(u) for u in batch))
            for links in results:
                for link in links:
                    self._enqueue(link)
            done += len(batch)
            if self.progress:
                self.progress(self.source.name, "details", done, done + len(self.detail_queue))

    async def _fetch_detail(self, url: str) -> list[str]:
        outcome = await self.fetcher.get(url, "detail", self._validators(url))
        self._record(outcome, self.source.detail_format)
        body = self._body(outcome)
        if outcome.outcome in ("fetched", "not_modified"):
            self.report.detail_pages += 1
            self.known.add(canonical_url(outcome.final_url or url) or url)
        if body is None:
            if outcome.outcome not in ("fetched", "not_modified"):
                self.report.problems.append(f"detail {url}: {outcome.reason}")
            return []
        parsed = await self._parse(self.source.detail_format, body, url)
        if parsed is None:
            return []
        return [link for r in parsed.records for link in r.get("edition_links", []) if self._follows_edition(link)]

    def _follows_edition(self, url: str) -> bool:
        """Language editions are followed for the languages the source declares.

        An edition whose path starts with a language prefix (`/ar/...`) outside `languages` is
        left alone; one with no prefix (publications.iom.int gives editions their own slugs) is
        followed.
        """
        match = _LANG_PREFIX.match(urlsplit(url).path)
        return match is None or match.group(1) in self.source.languages

    # -- helpers --------------------------------------------------------------------------
    def _load_known(self) -> None:
        for url, known in self.state.validators.items():
            if not self.source.allows(url):
                continue
            if not self._archived(known["sha256"]):
                if self.state.kinds.get(url) == "detail":
                    self.refetch.append(url)
                continue
            self.known.add(canonical_url(url) or url)
        # listing URLs are not details: drop them from the known detail set
        for section in self.source.start_urls:
            self.known.discard(canonical_url(section) or section)

    def _validators(self, url: str) -> dict[str, str] | None:
        found = self.state.validators.get(url)
        if not found or not (found.get("etag") or found.get("last-modified")):
            return None
        if not self._archived(found["sha256"]):
            return None  # a 304 would leave nothing to read: ask for the body
        return found

    def _archived(self, sha256: str) -> bool:
        """Whether the body archived under `sha256` is there and matches its hash."""
        if sha256 not in self._intact:
            problem = self.archive.object_problem(sha256)
            self._intact[sha256] = problem is None
            if problem:
                self.report.problems.append(f"{problem}; fetching the page again")
        return self._intact[sha256]

    def _body(self, outcome: FetchOutcome) -> bytes | None:
        """The body of a fetched page, or the archived one after a 304."""
        if outcome.outcome == "fetched":
            return outcome.body
        if outcome.outcome == "not_modified":
            known = self.state.validators.get(outcome.url)
            if known:
                try:
                    return self.archive.read(known["sha256"])
                except ArchiveError as exc:
                    self.report.problems.append(str(exc))
        return None

    async def _parse(self, fmt: str, body: bytes, url: str) -> ParsedPage | None:
        """Parse off the event loop, in a worker process under the time limit: a slow page
        costs that page, never the other sources' crawls."""
        if fmt not in PARSERS:
            self.report.problems.append(f"no parser for format {fmt!r} ({url})")
            return None
        try:
            return await asyncio.to_thread(self.pool.parse, fmt, body, url)
        except ParseError as exc:
            self.report.problems.append(f"{url}: {exc}")
        except Exception as exc:  # a parser bug must cost one page, not the crawl
            log.exception("parser %s crashed on %s", fmt, url)
            self.report.problems.append(f"{url}: parser crashed: {type(exc).__name__}: {exc}")
        return None

    def _record(self, outcome: FetchOutcome, fmt: str) -> None:
        """Archive the body (if any) and log the outcome; the log line is written last."""
        self.report.count(outcome)
        sha = None
        if outcome.outcome == "fetched" and outcome.body is not None:
            entry = self.archive.put(
                outcome.body,
                source=self.source.name,
                url=outcome.final_url or outcome.url,
                format=fmt,
                status=outcome.status,
                headers=outcome.headers,
            )
            sha = entry.sha256
            self._intact[sha] = True  # put() replaced a damaged copy of this body, if there was one
            validators = {
                "etag": outcome.headers.get("etag", ""),
                "last-modified": outcome.headers.get("last-modified", ""),
                "sha256": sha,
            }
            self.state.validators[outcome.url] = validators
        record = {
            "kind": outcome.kind,
            "source": self.source.name,
            "url": outcome.url,
            "final_url": outcome.final_url,
            "status": outcome.status,
            "outcome": outcome.outcome,
            "reason": outcome.reason,
            "etag": outcome.headers.get("etag"),
            "last_modified": outcome.headers.get("last-modified"),
            "content_type": outcome.headers.get("content-type"),
            "sha256": sha,
            "format": fmt,
            "fetched_at": outcome.fetched_at,
            "attempts": outcome.attempts,
            "elapsed_ms": outcome.elapsed_ms,
            "conditional": outcome.conditional,
            "run_id": self.options.run_id,
        }
        record["fetch_id"] = hashlib.sha256(repr(sorted(record.items())).encode()).hexdigest()[:16]
        self.fetch_log.append(record)


def page_url(section: str, param: str, page: int, first: int) -> str:
    """URL of page `page` of a section: the bare URL for the first page (Drupal's 0-based pager)."""
    parts = urlsplit(section)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k != param]
    if page != first:
        query.append((param, str(page)))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))
