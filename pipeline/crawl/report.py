"""What a crawl tells the run: per-source outcome counts, pages, problems and alerts."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from pipeline.errors import ArchiveWriteError
from pipeline.fetch import FetchOutcome
from pipeline.settings import default

#: progress callback: (source, stage, done, total)
CrawlProgress = Callable[[str, str, int, int], None]


@dataclass(frozen=True)
class CrawlOptions:
    full: bool = False
    run_id: int | None = None
    #: per-page parse time limit in seconds (link discovery parses in worker processes)
    parse_timeout_s: float = default("parse_timeout_s")
    #: stop paging a section at the first page whose cards are all known (once it was walked to
    #: its end): cheaper, but such a walk cannot withdraw anything (Settings.walk_to_end)
    stop_early: bool = False


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
    #: archived detail pages fetched again because their card's title or teaser changed
    changed_cards: int = 0
    layout_alerts: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    #: listing pages that could not be fetched or parsed: their cards are lost to this run
    lost_listings: list[str] = field(default_factory=list)
    #: detail pages given up (refused, failed for good, redirected away): lost like a listing
    lost_details: list[str] = field(default_factory=list)
    #: detail pages the site answers 404 or 410: the item is gone, the crawler lost nothing
    gone_details: list[str] = field(default_factory=list)
    #: detail pages robots.txt disallows: left alone by policy, not lost
    disallowed_details: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
    finished: bool = False

    def count(self, outcome: FetchOutcome) -> None:
        self.requests += outcome.attempts if outcome.outcome != "unreachable" else 0
        self.conditional_requests += int(outcome.conditional)
        self.outcomes[outcome.outcome] = self.outcomes.get(outcome.outcome, 0) + 1


@dataclass
class CrawlReport:
    sources: list[SourceReport]
    #: raw/ refused a write (disk full, permission, read-only...): the crawl stopped for the machine,
    #: not for a site; the command line maps it to its exit code by type and errno
    archive_write_error: ArchiveWriteError | None = None

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

    @property
    def lost_details(self) -> list[str]:
        return [f"{s.name}: {a}" for s in self.sources for a in s.lost_details]

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
                "changed_cards": s.changed_cards,
                "layout_alerts": s.layout_alerts,
                "lost_listings": s.lost_listings[:50],
                "details_lost": len(s.lost_details),
                "lost_details": s.lost_details[:50],
                "details_gone": len(s.gone_details),
                "gone_details": s.gone_details[:20],
                "details_disallowed": len(s.disallowed_details),
                "disallowed_details": s.disallowed_details[:20],
                "problems": s.problems[:20],
                "elapsed_s": round(s.elapsed_s, 3),
            }
            for s in self.sources
        }
