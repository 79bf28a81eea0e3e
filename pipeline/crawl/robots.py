"""A site's robots.txt (RFC 9309) and sitemap, read before any page of the site is fetched."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import urljoin

from defusedxml import ElementTree
from protego import Protego

from pipeline.fetch import HostGate
from pipeline.settings import env_names
from pipeline.sources import is_loopback, placeholder_identity

if TYPE_CHECKING:
    from pipeline.crawl.context import SiteContext

MAX_SITEMAPS = 20


async def read_robots(site: SiteContext) -> bool:
    """Fetch robots.txt and arm the fetcher with it; False when the site must not be crawled.

    Not crawled: a crawler identity that is still the placeholder address (a real site only), an
    unreachable host (the archive is used for it), a robots.txt that cannot be read (RFC 9309
    2.3.1.4: assume everything disallowed), or a Crawl-delay above the cap.
    """
    source, report = site.source, site.report
    placeholder = placeholder_identity(site.config)
    if placeholder is not None and not is_loopback(source.base_url):  # before any request reaches the site
        report.status = "blocked"
        variable = env_names("contact")[0]
        report.reason = (
            f"the crawler's contact is the placeholder {placeholder!r}: set a real address in ${variable} "
            "or `contact` in settings.toml (a sources file's [crawler] `contact` and `user_agent`, when set, win "
            "for its sites); not crawled (the archive is used)"
        )
        return False
    url = urljoin(source.base_url + "/", "/robots.txt")
    outcome = await site.fetcher.probe(url, "robots", site.recorder.validators(url))
    if outcome.outcome == "unreachable":
        # recorded on the run (runs.sources_unreachable), not as a fetch: an offline re-run
        # of an unchanged archive adds a runs row and nothing else
        report.count(outcome)
        report.status, report.reason = "unreachable", outcome.reason
        return False
    site.recorder.record(outcome, "robots-txt")
    if not source.robots:
        return True
    body = site.recorder.body(outcome)
    if body is not None:
        robots = Protego.parse(body.decode("utf-8", "replace"))
        site.fetcher.robots = robots
        delay = robots.crawl_delay(site.config.user_agent)
        if delay and float(delay) > site.config.crawl_delay_cap:
            report.status = "blocked"
            cap = site.config.crawl_delay_cap
            report.reason = (
                f"robots.txt asks for a Crawl-delay of {float(delay):g}s, above the {cap:g}s cap: "
                "not crawled (the archive is used)"
            )
            return False
        if delay:
            site.fetcher.gate = HostGate(source.rate_per_second, source.concurrency, float(delay))
        return True
    if outcome.status is not None and 400 <= outcome.status < 500:
        return True  # no robots.txt: everything allowed (RFC 9309 2.3.1.3)
    report.status = "blocked"
    report.reason = f"robots.txt unavailable ({outcome.reason}); not crawling (RFC 9309 2.3.1.4)"
    return False


async def read_sitemaps(site: SiteContext) -> list[str]:
    """Page URLs the sitemap (and the sitemap indexes it names, at most MAX_SITEMAPS) lists."""
    source = site.source
    if not source.sitemap:
        return []
    todo = [urljoin(source.base_url + "/", source.sitemap)]
    found: list[str] = []
    seen: set[str] = set()
    while todo and len(seen) < MAX_SITEMAPS:
        url = todo.pop(0)
        seen.add(url)
        outcome = await site.fetcher.get(url, "sitemap", site.recorder.validators(url))
        site.recorder.record(outcome, "sitemap-xml")
        body = site.recorder.body(outcome)
        if body is None:
            continue
        try:
            root = ElementTree.fromstring(body, forbid_dtd=True)
        except Exception as exc:  # defusedxml raises its own and ElementTree's errors
            site.report.problems.append(f"sitemap {url} unreadable: {type(exc).__name__}: {exc}")
            continue
        locs = [el.text.strip() for el in root.iter() if el.tag.endswith("loc") and el.text]
        if root.tag.endswith("sitemapindex"):
            todo.extend(u for u in locs if source.allows(u) and u not in seen)
        else:
            found.extend(u for u in locs if source.allows(u))
    return found
