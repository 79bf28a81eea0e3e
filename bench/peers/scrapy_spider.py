"""The peer of `python -m pipeline ingest`: the Scrapy spider a new user would write for these sites.

Independent of this project on purpose (imports nothing from pipeline/ or parsers/): it reads the
same sources file (TOML) the project crawls from, starts at the same listing URLs, follows each
listing's pager `next` link and its cards to the detail pages, reads the sitemap, and follows a
detail page's other language editions (hreflang alternates and "Also available in" links) in the
declared languages, skipping the re-renders of the same node under another interface prefix
(`/es/x` is `/x` in a Spanish interface), as anyone who looked at the sites would. It extracts
title, URL and teaser from every card and title, URL, abstract, year, PDF links and editions from
every detail page, and stores them as a JSON Lines feed: Scrapy's own exporter, the cheapest
storage its users reach for.

Settings as a user keeps them, with politeness off as on the project's side: ROBOTSTXT_OBEY on
(the generated project template's default), CONCURRENT_REQUESTS_PER_DOMAIN = the sources' per-site
concurrency (8), no download delay, no AutoThrottle, no HTTP cache. The replica serves every site
on 127.0.0.1 under its own port; Scrapy would put all three in one download slot (its slots are
per host name), so each request names its site's `host:port` as its slot: the same per-site
concurrency the three real host names would get. Log level INFO (Scrapy's default, DEBUG, writes a
line per request; INFO is the common setting and the cheaper one for Scrapy).

    python bench/peers/scrapy_spider.py --sources replica.toml --out items.jsonl
"""

from __future__ import annotations

import argparse
import re
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import scrapy
from scrapy.crawler import CrawlerProcess
from scrapy.http import Response

_PREFIX = re.compile(r"^/([a-z]{2})(?=/|$)")


def _node_path(url: str) -> str:
    """The path without an interface prefix: the node a URL shows."""
    path = urlsplit(url).path
    return (_PREFIX.sub("", path) or "/").rstrip("/") or "/"


class IomSpider(scrapy.Spider):
    name = "iom"

    def __init__(self, sources: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sources = sources
        self.allowed = {h for s in sources for h in s.get("allowed_hosts", [urlsplit(s["base_url"]).netloc])}
        self.languages = {lang for s in sources for lang in s.get("languages", [])}

    def _request(self, url: str, callback: Any, **kwargs: Any) -> scrapy.Request | None:
        netloc = urlsplit(url).netloc
        if netloc not in self.allowed:
            return None
        return scrapy.Request(url, callback=callback, meta={"download_slot": netloc}, **kwargs)

    async def start(self) -> Any:
        for source in self.sources:
            base = source["base_url"].rstrip("/") + "/"
            requests = [self._request(urljoin(base, path), self.parse_listing) for path in source["start_urls"]]
            if source.get("sitemap"):
                requests.append(self._request(urljoin(base, source["sitemap"]), self.parse_sitemap))
            for request in requests:
                if request is not None:
                    yield request

    def parse_sitemap(self, response: Response) -> Iterator[scrapy.Request]:
        response.selector.remove_namespaces()
        for loc in response.xpath("//url/loc/text()").getall():
            request = self._request(loc.strip(), self.parse_detail)
            if request is not None:
                yield request

    def parse_listing(self, response: Response) -> Iterator[Any]:
        # Drupal 8 (MP, R&R) cards, then Drupal 7 (publications.iom.int) rows
        for card in response.css("div.views-row"):
            link = card.css("h3.node__title a, .views-field-title a")
            href = link.attrib.get("href")
            if not href:
                continue
            url = response.urljoin(href)
            teaser = card.css(".field--name-body ::text, .views-field-body ::text").getall()
            yield {
                "kind": "card",
                "listing": response.url,
                "url": url,
                "title": " ".join(" ".join(link.css("::text").getall()).split()),
                "teaser": " ".join(" ".join(teaser).split()),
            }
            request = self._request(url, self.parse_detail)
            if request is not None:
                yield request
        next_href = response.css("li.pager__item--next a::attr(href), li.pager-next a::attr(href)").get()
        if next_href:
            request = self._request(response.urljoin(next_href), self.parse_listing)
            if request is not None:
                yield request

    def parse_detail(self, response: Response) -> Iterator[Any]:
        own = _node_path(response.url)
        editions: list[str] = []
        hrefs = response.css('link[rel="alternate"][hreflang]:not([hreflang="x-default"])::attr(href)').getall()
        hrefs += response.css(".field-name-field-also-available-in a::attr(href)").getall()
        for href in hrefs:
            url = response.urljoin(href)
            if _node_path(url) == own or url in editions:
                continue  # this very node under another interface prefix: not an edition
            prefix = _PREFIX.match(urlsplit(url).path)
            if prefix is None or prefix.group(1) in self.languages:
                editions.append(url)
        body = response.css(".field--name-body, .field-name-body")
        year = response.css(".field-name-field-year-of-publication .field-item::text, .field--name-field-year::text")
        yield {
            "kind": "detail",
            "url": response.url,
            "title": " ".join(" ".join(response.css("h1 ::text").getall()).split()),
            "abstract": "\n\n".join(" ".join(p.css("::text").getall()).strip() for p in body.css("p")),
            "year": year.get(default="").strip() or None,
            "pdfs": [response.urljoin(h) for h in response.css('a[href$=".pdf"]::attr(href)').getall()],
            "editions": editions,
        }
        for url in editions:
            request = self._request(url, self.parse_detail)
            if request is not None:
                yield request


def run(sources_path: Path, out: Path) -> None:
    """Crawl every source of the TOML file in one Scrapy process; the items go to `out` (JSON Lines)."""
    config = tomllib.loads(sources_path.read_text(encoding="utf-8"))
    sources = config["sources"]
    per_site = max(int(s.get("concurrency", 8)) for s in sources)
    process = CrawlerProcess(
        settings={
            "USER_AGENT": config.get("crawler", {}).get("user_agent", "Scrapy"),
            "ROBOTSTXT_OBEY": True,
            "CONCURRENT_REQUESTS": per_site * len(sources),
            "CONCURRENT_REQUESTS_PER_DOMAIN": per_site,
            "DOWNLOAD_DELAY": 0,
            "AUTOTHROTTLE_ENABLED": False,
            "HTTPCACHE_ENABLED": False,
            "LOG_LEVEL": "INFO",
            "FEEDS": {str(out): {"format": "jsonlines", "encoding": "utf-8", "overwrite": True}},
        }
    )
    process.crawl(IomSpider, sources=sources)
    process.start()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--sources", type=Path, required=True, help="sources file (TOML) to crawl")
    parser.add_argument("--out", type=Path, required=True, help="JSON Lines feed of the items")
    args = parser.parse_args(argv)
    run(args.sources, args.out)


if __name__ == "__main__":
    main()
