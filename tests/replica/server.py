"""Serve the replica: one HTTP listener per site on 127.0.0.1, each its own host:port.

The server logs every request (for politeness checks), answers conditional requests with 304,
injects the faults it is given, and can change its content while running (for incremental-crawl
tests). Ground truth for the crawler's tests comes from the same indexes that serve the pages.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import email.utils
import hashlib
import re
import socket
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.replica.dataset import (
    SITES,
    TYPE_SLUGS,
    Section,
    load_items,
    new_publication,
    scaled_items,
    slugify,
    strip_prefix,
)
from tests.replica.drift import DEFAULT_SEED, Event, Rename, section_renames, state_at
from tests.replica.faults import Fault
from tests.replica.render import (
    DISALLOWED,
    SiteView,
    http_date,
    render_detail,
    render_listing,
    render_pdf,
    render_plain,
    render_robots,
    render_sitemap,
)

#: Last-Modified of pages that no item dates (robots.txt, empty listings)
SITE_EPOCH = datetime(2024, 6, 30, 8, 0, tzinfo=UTC)
_NODE_PATH = re.compile(r"^/node/(\d+)/?$")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the replica saw it; `status` None means no response was sent (timeout)."""

    site: str
    method: str
    path: str
    query: str
    status: int | None
    if_none_match: str | None
    if_modified_since: str | None
    user_agent: str | None
    time: float  # time.monotonic() on arrival
    fault: str | None = None

    @property
    def target(self) -> str:
        return self.path + (f"?{self.query}" if self.query else "")

    @property
    def conditional(self) -> bool:
        return bool(self.if_none_match or self.if_modified_since)


@dataclass
class _Response:
    status: int
    body: bytes = b""
    content_type: str = "text/html; charset=utf-8"
    headers: dict[str, str] = field(default_factory=dict)
    modified: datetime | None = None  # set: the page carries ETag/Last-Modified validators


class _Site:
    """One site's runtime state: its listener, its view of the items, and lookup indexes."""

    def __init__(self, spec_name: str, page_size: int, crawl_delay: float, interface_listings: bool) -> None:
        self.spec = SITES[spec_name]
        self.interface_listings = interface_listings
        self.sections = tuple(s for s in self.spec.sections if interface_listings or s.lang == "en")
        self.view = SiteView(self.spec, "", page_size, crawl_delay)
        #: old section path -> new one, for sections renamed by the drift (answered with a 301)
        self.redirects: dict[str, str] = {}
        self.by_alias: dict[str, dict[str, Any]] = {}
        self.by_nid: dict[int, dict[str, Any]] = {}
        self.files: dict[str, tuple[dict[str, Any], dict[str, str]]] = {}
        self.server: _Server | None = None
        self.thread: threading.Thread | None = None

    def reindex(self, items: list[dict[str, Any]]) -> None:
        mine = [i for i in items if self.spec.name in i["sites"]]
        mine.sort(key=lambda i: i["created"], reverse=True)
        self.view.items = mine
        self.by_alias = {strip_prefix(i["sites"][self.spec.name]["path"])[0]: i for i in mine}
        self.by_nid = {i["nid"]: i for i in mine}
        self.files = {self.spec.files_dir + p["file"]: (i, p) for i in mine for p in i["pdfs"]}

    def section(self, path: str) -> Section | None:
        path = path.rstrip("/") or "/"
        return next((s for s in self.spec.sections if s.path == path), None)

    def rename_sections(self, renames: list[Rename]) -> None:
        """Serve renamed sections under their new paths and headings; the key stays the old path.

        Items name their sections by key, so a rename touches no item, as renaming a Drupal view's
        path touches no node; the old path is kept as a redirect.
        """
        spec = SITES[self.spec.name]
        mine = {r.path: r for r in renames if r.site == spec.name}
        sections = tuple(
            Section(mine[s.path].new_path, mine[s.path].heading, s.lang, s.key) if s.path in mine else s
            for s in spec.sections
        )
        self.spec = dataclasses.replace(spec, sections=sections)
        self.view.spec = self.spec
        self.sections = tuple(s for s in sections if self.interface_listings or s.lang == "en")
        self.redirects = {r.path: r.new_path for r in mine.values()}


class _Server(ThreadingHTTPServer):
    """Keeps track of open connections so that stop() can close idle keep-alive ones at once."""

    daemon_threads = False
    block_on_close = True

    def __init__(self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler]) -> None:
        self.open_sockets: set[socket.socket] = set()
        self.sockets_lock = threading.Lock()
        self.errors: list[str] = []
        super().__init__(address, handler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.add(request)
        super().process_request(request, client_address)

    def close_request(self, request: Any) -> None:
        with self.sockets_lock:
            self.open_sockets.discard(request)
        super().close_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # a client that hangs up mid-response is normal here (timeouts, size limits): no traceback
        import sys

        self.errors.append(repr(sys.exc_info()[1]))

    def close_open_sockets(self) -> None:
        with self.sockets_lock:
            sockets = list(self.open_sockets)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


class Replica:
    """The three sites, served from the dataset on 127.0.0.1 until `stop()`.

    `port`: None or 0 for ephemeral ports, or the first site's port (the others take the next ones).
    `interface_listings`: also declare the Spanish-interface listing `/es/resources/directrices`
    (same items as `/en/resources/guideline`, cards linking `/es/` re-renders of the same nodes).
    `scale`: serve the items that many times over (distinct ids, titles and aliases; see
    `dataset.scaled_items`), for benchmarks at several times the real sites' size.
    `night`, `drift_seed`: serve the sites as they stand on that night of the seeded evolution in
    `drift.py` (night 0: the dataset as it is); `set_night` moves a running replica on.
    """

    def __init__(
        self,
        page_size: int = 10,
        faults: Iterable[Fault] = (),
        *,
        port: int | None = None,
        host: str = "127.0.0.1",
        rate_per_second: float = 50.0,
        crawl_delay: float = 0.02,
        concurrency: int = 4,
        interface_listings: bool = False,
        items: list[dict[str, Any]] | None = None,
        scale: int = 1,
        night: int = 0,
        drift_seed: int = DEFAULT_SEED,
    ) -> None:
        if page_size < 1:
            raise ValueError("page_size must be >= 1")
        self.page_size = page_size
        self.host = host
        self.port = port
        self.rate_per_second = rate_per_second
        self.crawl_delay = crawl_delay
        self.concurrency = concurrency
        self._lock = threading.RLock()
        self._stopping = threading.Event()
        self._faults: list[Fault] = list(faults)
        self._log: list[LoggedRequest] = []
        #: requests being served now, and the most served at once since the log was cleared, per site
        self._in_flight: dict[str, int] = {}
        self._max_in_flight: dict[str, int] = {}
        self._validators: dict[tuple[str, str], tuple[str, datetime]] = {}
        #: night 0's items: every night's state is computed afresh from these
        self._base_items = scaled_items(copy.deepcopy(items) if items is not None else load_items(), scale)
        self._items = self._base_items
        self.drift_seed = drift_seed
        self._night = 0
        self._events: list[Event] = []
        self._sites: dict[str, _Site] = {}
        for name in SITES:
            self._sites[name] = _Site(name, page_size, crawl_delay, interface_listings)
        self._started = False
        self.set_night(night)

    # --- life cycle -------------------------------------------------------------------------

    def start(self) -> Replica:
        if self._started:
            return self
        self._stopping.clear()
        try:
            for n, (name, site) in enumerate(self._sites.items()):
                port = self.port + n if self.port else 0
                site.server = _Server((self.host, port), self._handler_for(name))
                site.view.base_url = f"http://{self.host}:{site.server.server_address[1]}"
                site.thread = threading.Thread(
                    target=site.server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"replica-{name}"
                )
                site.thread.start()
        except OSError:
            self.stop()
            raise
        self._started = True
        return self

    def stop(self) -> None:
        """Stop every listener, wake hanging fault handlers and close open connections."""
        self._stopping.set()
        for site in self._sites.values():
            if site.server is None:
                continue
            if site.thread is not None:
                site.server.shutdown()
                site.thread.join()
            site.server.close_open_sockets()
            site.server.server_close()
            site.server = None
            site.thread = None
        self._started = False

    def __enter__(self) -> Replica:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- addresses and ground truth ---------------------------------------------------------

    @property
    def sites(self) -> dict[str, str]:
        """{source name: base URL}, e.g. {'publications.iom.int': 'http://127.0.0.1:40123'}."""
        return {name: site.view.base_url for name, site in self._sites.items()}

    @property
    def sections(self) -> dict[str, list[str]]:
        """{source name: listing section paths}: what the written sources file starts from."""
        return {name: [s.path for s in site.sections] for name, site in self._sites.items()}

    @property
    def items(self) -> list[dict[str, Any]]:
        with self._lock:
            return copy.deepcopy(self._items)

    def item(self, item_id: str) -> dict[str, Any]:
        with self._lock:
            return copy.deepcopy(self._find(item_id))

    def item_url(self, item_id: str, site: str | None = None) -> str:
        """An item's detail URL on `site` (default: the first site that carries it)."""
        with self._lock:
            item = self._find(item_id)
            name = site or next(iter(item["sites"]))
            view = self._sites[name].view
            return view.absolute(view.href(item))

    def expected_cards(self, site: str | None = None) -> list[dict[str, Any]]:
        """Every card every declared listing page shows: site, listing_url, position, item_id, url."""
        cards = []
        with self._lock:
            for name, s in self._selected(site):
                for section in s.sections:
                    items = s.view.section_items(section)
                    for n, item in enumerate(items):
                        page, position = divmod(n, self.page_size)
                        lang = section.lang if section.lang != "en" else None
                        cards.append(
                            {
                                "site": name,
                                "listing_url": s.view.absolute(section.path + (f"?page={page}" if page else "")),
                                "position": position + 1,
                                "item_id": item["id"],
                                "url": s.view.absolute(s.view.href(item, lang)),
                            }
                        )
        return cards

    def expected_listing_urls(self, site: str | None = None) -> set[str]:
        """Every page of every declared listing section; page 0 is the bare URL, as Drupal links it."""
        urls = set()
        with self._lock:
            for _name, s in self._selected(site):
                for section in s.sections:
                    for page in range(s.view.last_page(section) + 1):
                        urls.add(s.view.absolute(section.path + (f"?page={page}" if page else "")))
        return urls

    def sitemap_urls(self, site: str | None = None) -> set[str]:
        with self._lock:
            return {s.view.absolute(s.view.href(i)) for _n, s in self._selected(site) for i in s.view.items}

    def expected_detail_urls(self, site: str | None = None) -> set[str]:
        """Detail pages a complete crawl fetches: every card's link plus every sitemap entry."""
        return {c["url"] for c in self.expected_cards(site)} | self.sitemap_urls(site)

    def sitemap_only_urls(self, site: str | None = None) -> set[str]:
        return self.sitemap_urls(site) - {c["url"] for c in self.expected_cards(site)}

    # --- request log ------------------------------------------------------------------------

    @property
    def requests(self) -> list[LoggedRequest]:
        with self._lock:
            return list(self._log)

    def requests_for(self, site: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.site == site]

    def clear_requests(self) -> None:
        with self._lock:
            self._log.clear()
            self._max_in_flight.clear()

    def max_in_flight(self, site: str) -> int:
        """The most requests `site` was serving at the same moment (a client's concurrency as seen)."""
        with self._lock:
            return self._max_in_flight.get(site, 0)

    def max_requests_per_second(self, site: str, window: float = 1.0) -> int:
        """The most requests `site` received within any `window` seconds."""
        times = sorted(r.time for r in self.requests_for(site))
        best, start = 0, 0
        for end, moment in enumerate(times):
            while moment - times[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    def disallowed_hits(self, site: str | None = None) -> list[LoggedRequest]:
        """Requests for paths robots.txt disallows."""
        return [r for r in self.requests if (site is None or r.site == site) and r.path.startswith(DISALLOWED)]

    # --- faults -----------------------------------------------------------------------------

    @property
    def faults(self) -> list[Fault]:
        with self._lock:
            return list(self._faults)

    def add_fault(self, fault: Fault) -> Fault:
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear_faults(self) -> None:
        with self._lock:
            self._faults.clear()

    # --- drift: the sites night by night ------------------------------------------------------

    @property
    def night(self) -> int:
        return self._night

    def set_night(self, night: int) -> None:
        """Serve the sites as they stand on `night` (same ports, running or not).

        The state is computed from night 0 and the seed, so any night can follow any other;
        items added or touched by hand since the last call are dropped. Validators persist, so a
        page whose body changed gets a later Last-Modified and a page that did not still answers 304.
        """
        items, events = state_at(self._base_items, night, self.drift_seed)
        with self._lock:
            self._items = items
            self._events = events
            self._night = night
            renames = section_renames(events)
            for site in self._sites.values():
                site.rename_sections(renames)
            self._reindex()

    def night_events(self) -> dict[int, list[Event]]:
        """{night: events applied that night} for nights 1..`night`, in the order applied."""
        with self._lock:
            return {n: [e for e in self._events if e.night == n] for n in range(1, self._night + 1)}

    def truth(self) -> list[dict[str, Any]]:
        """Tonight's publications, each once: what a complete crawl should find and how it groups.

        Every item a site carries is in its sitemap, so these are all the publications served:
        `item_id`, `edition_key`, `work_key`, `title`, `text_language`, `urls` {site: detail URL}
        and `listings` {site: listing paths showing it (empty: sitemap only)}. An item keeps its
        keys for as long as it is served; a removed item is absent from the night it goes.
        """
        out = []
        with self._lock:
            for item in self._items:
                if item["kind"] != "publication":
                    continue
                urls, listings = {}, {}
                for name, site in self._sites.items():
                    if name not in item["sites"]:
                        continue
                    urls[name] = site.view.absolute(site.view.href(item))
                    keys = item["sites"][name].get("sections", [])
                    listings[name] = [s.path for s in site.sections if s.key in keys]
                out.append(
                    {
                        "item_id": item["id"],
                        "edition_key": item["edition_key"],
                        "work_key": item["work_key"],
                        "title": item["title"],
                        "text_language": item["text_language"],
                        "urls": urls,
                        "listings": listings,
                    }
                )
        return out

    # --- mutations for incremental crawls ---------------------------------------------------

    def add_item(self, site: str, section: str, title: str, abstract: str, **fields: Any) -> dict[str, Any]:
        """Publish a new item on top of `section` (newest first) and in the sitemap; returns it."""
        spec = self._sites[site].spec
        section = next((s.key for s in spec.sections if s.path == section), section)
        if section not in {s.key for s in spec.sections}:
            raise ValueError(f"{site} has no listing section {section!r}")
        with self._lock:
            nid = max(i["nid"] for i in self._items) + 1
            types = fields.pop("types", None) or [s.heading for s in spec.sections if s.key == section][:1]
            if spec.theme == "bookstore":
                path = f"/books/{slugify(title, prefix='/books/')}"
            else:
                type_path = "-".join(TYPE_SLUGS.get(t, slugify(t)) for t in types) or "resource"
                path = f"/en/resources/{type_path}/{slugify(title, prefix=f'/en/resources/{type_path}/')}"
            work = fields.pop("work_key", None) or slugify(title)
            lang = fields.pop("text_language", "en")
            item = new_publication(
                id=fields.pop("id", f"new-{nid}"),
                nid=nid,
                title=title,
                abstract=abstract,
                text_language=lang,
                year=datetime.now(UTC).year,
                types=types,
                pdfs=[{"label": "ENGLISH", "file": f"new-{nid}.pdf", "size": "1.00 MB"}],
                created=_now_iso(),
                sites={site: {"path": path, "sections": [section]}},
                edition_key=f"{work}:{lang}",
                work_key=work,
            )
            item.update(fields)
            self._items.append(item)
            self._reindex()
            return copy.deepcopy(item)

    def touch_item(self, item_id: str, **changes: Any) -> dict[str, Any]:
        """Edit an item: `changes` replace fields (title, abstract...); its page gets a new ETag.

        With no changes, the item is re-saved: its detail page shows a new "last updated" date.
        """
        with self._lock:
            item = self._find(item_id)
            item.update(changes)
            item["revision"] = item.get("revision", 0) + 1
            item["changed"] = _now_iso()
            self._reindex()
            return copy.deepcopy(item)

    # --- sources file -----------------------------------------------------------------------

    def write_sources(self, path: str | Path, *, per_section: bool = False, **crawler_overrides: Any) -> Path:
        """Write a sources file for pipeline.sources.load_sources that points at this replica.

        Timeouts and backoff are short so that a crawl of the replica, faults included, takes
        seconds; `crawler_overrides` replace any [crawler] key. `per_section` declares one
        source per listing section (`<site>#<section>`, the site's first section also reading the
        sitemap): ten sources instead of three, for splitting a crawl between more workers.
        """
        from pipeline.sources import load_sources

        if not self._started:
            raise RuntimeError("start the replica before writing a sources file (its ports are not known yet)")
        crawler: dict[str, Any] = {
            "user_agent": "iom-pubwarehouse/0.1 (+mailto:data-team@example.org)",
            "contact": "data-team@example.org",
            "connect_timeout": 2.0,
            "read_timeout": 5.0,
            "max_retries": 3,
            "backoff_base": 0.05,
            "backoff_max": 1.0,
            "retry_after_cap": 5.0,
            "probe_timeout": 2.0,
        }
        crawler.update(crawler_overrides)
        lines = ["# Written by tests.replica for a crawl of the local replica.", "", "[crawler]"]
        lines += [f"{key} = {_toml(value)}" for key, value in crawler.items()]
        for name, site in self._sites.items():
            base = site.view.base_url
            parts = (
                [
                    (f"{name}#{s.path.rstrip('/').rsplit('/', 1)[-1]}", [s.path], i == 0)
                    for i, s in enumerate(site.sections)
                ]
                if per_section
                else [(name, [s.path for s in site.sections], True)]
            )
            for source, start_urls, sitemap in parts:
                lines += [
                    "",
                    "[[sources]]",
                    f"name = {_toml(source)}",
                    f"base_url = {_toml(base)}",
                    f"start_urls = {_toml(start_urls)}",
                    f"allowed_hosts = {_toml([urlsplit(base).netloc])}",
                    'languages = ["en", "es", "fr"]',
                    f"rate_per_second = {_toml(float(self.rate_per_second))}",
                    f"concurrency = {self.concurrency}",
                    "robots = true",
                    f"sitemap = {_toml('/sitemap.xml' if sitemap else '')}",  # empty: no sitemap
                    'pager = { param = "page", first = 0, max_pages = 100 }',
                    'listing_format = "html-listing"',
                    'detail_format = "html-detail"',
                ]
        target = Path(path)
        target.write_text("\n".join(lines) + "\n", encoding="utf-8")
        load_sources(target)  # fail here, naming the file, rather than in the crawler
        return target

    # --- internals --------------------------------------------------------------------------

    def _find(self, item_id: str) -> dict[str, Any]:
        for item in self._items:
            if item["id"] == item_id:
                return item
        raise KeyError(f"no replica item {item_id!r}")

    def _selected(self, site: str | None) -> list[tuple[str, _Site]]:
        if site is not None and site not in self._sites:
            raise KeyError(f"unknown site {site!r}; known: {', '.join(self._sites)}")
        return [(n, s) for n, s in self._sites.items() if site is None or n == site]

    def _reindex(self) -> None:
        for site in self._sites.values():
            site.reindex(self._items)

    def _handler_for(self, site_name: str) -> type[BaseHTTPRequestHandler]:
        replica = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall
            server_version = "ReplicaDrupal/1.0"
            timeout = 30  # an idle keep-alive connection is dropped after this many seconds

            def do_GET(self) -> None:
                replica._serve(self, site_name, head=False)

            def do_HEAD(self) -> None:
                replica._serve(self, site_name, head=True)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # the replica keeps its own structured log

        return Handler

    def _serve(self, handler: BaseHTTPRequestHandler, site_name: str, *, head: bool) -> None:
        with self._lock:
            now = self._in_flight[site_name] = self._in_flight.get(site_name, 0) + 1
            self._max_in_flight[site_name] = max(self._max_in_flight.get(site_name, 0), now)
        try:
            self._serve_one(handler, site_name, head=head)
        finally:
            with self._lock:
                self._in_flight[site_name] -= 1

    def _serve_one(self, handler: BaseHTTPRequestHandler, site_name: str, *, head: bool) -> None:
        """Decide the response, log it, then send it: a client that got its answer sees it logged."""
        arrival = time.monotonic()
        split = urlsplit(handler.path)
        path, query = unquote(split.path) or "/", split.query
        target = path + (f"?{query}" if query else "")
        with self._lock:
            fault = next((f for f in self._faults if f.matches(site_name, target)), None)
            if fault is not None:
                fault.fired += 1
        response = self._respond(handler, site_name, path, query, fault)
        entry = LoggedRequest(
            site=site_name,
            method=handler.command,
            path=path,
            query=query,
            status=response.status if response is not None else None,
            if_none_match=handler.headers.get("If-None-Match"),
            if_modified_since=handler.headers.get("If-Modified-Since"),
            user_agent=handler.headers.get("User-Agent"),
            time=arrival,
            fault=fault.kind if fault else None,
        )
        with self._lock:
            self._log.append(entry)
        if response is None:  # the timeout fault: hang, then hang up without a word
            assert fault is not None
            self._stopping.wait(fault.delay or 0)
            handler.close_connection = True
            return
        try:
            drip = fault.delay if fault is not None and fault.kind == "drip" else None
            self._send(handler, response, head=head, truncate=fault is not None and fault.kind == "truncate", drip=drip)
        except OSError:
            handler.close_connection = True  # the client went away mid-response

    def _respond(
        self, handler: BaseHTTPRequestHandler, site_name: str, path: str, query: str, fault: Fault | None
    ) -> _Response | None:
        kind = fault.kind if fault else None
        if fault is None or kind in ("truncate", "markup_changed"):
            pass
        elif kind == "timeout":
            return None
        elif kind == "rate_limit":
            retry = fault.retry_after if isinstance(fault.retry_after, str) else f"{fault.retry_after:g}"
            return _error_page(429, "Too Many Requests", {"Retry-After": retry})
        elif kind == "error":
            return _error_page(fault.status, "Server error")
        elif kind == "redirect":
            return _error_page(302, "Found", {"Location": fault.location or f"http://offsite.example.org{path}"})
        elif kind == "slow":
            self._stopping.wait(fault.delay or 0)
        with self._lock:
            response = self._route(self._sites[site_name], path, query, changed=kind == "markup_changed")
        if fault is not None and kind == "wrong_charset" and response.content_type.startswith("text/html"):
            declared = f'<meta charset="{fault.charset}">'.encode()
            response.body = response.body.replace(b'<meta charset="utf-8">', declared)
            response.content_type = f"text/html; charset={fault.charset}"
        if fault is not None and kind == "oversize":
            response.body = _padded(response.body, response.content_type, fault.size)
        if response.modified is not None:
            response = self._conditional(site_name, path, query, handler, response)
        return response

    def _route(self, site: _Site, path: str, query: str, *, changed: bool) -> _Response:
        view = site.view
        if path == "/robots.txt":
            return _Response(200, render_robots(view).encode(), "text/plain; charset=utf-8", modified=SITE_EPOCH)
        if path == "/sitemap.xml":
            return _Response(
                200, render_sitemap(view).encode(), "application/xml; charset=utf-8", modified=_latest(view.items)
            )
        if path in site.files:
            item, pdf = site.files[path]
            return _Response(200, render_pdf(item, pdf), "application/pdf", modified=_dated(item))
        if path.startswith(("/admin/", "/node/add/")):
            return _Response(403, render_plain(view, "en", "Access denied", "You are not authorized.").encode())
        if path.startswith("/search/"):
            return _Response(200, render_plain(view, "en", "Search", "Enter your keywords.").encode())
        if path.startswith("/user/"):
            return _Response(200, render_plain(view, "en", "Log in", "Username and password.").encode())
        moved = site.redirects.get(path.rstrip("/") or "/")
        if moved is not None:  # Drupal's Redirect module: permanent, query string passed through
            location = view.absolute(moved) + (f"?{query}" if query else "")
            return _error_page(301, "Moved Permanently", {"Location": location})
        section = site.section(path)
        if section is not None:
            page = _page_number(query)
            html = render_listing(view, section, page, changed=changed)
            shown = view.section_items(section)[page * self.page_size : (page + 1) * self.page_size]
            return _Response(200, html.encode(), modified=_latest(shown))
        alias, lang = strip_prefix(path)
        item = site.by_alias.get(alias.rstrip("/") or "/")
        canonical = path
        node = _NODE_PATH.match(alias)
        if item is None and node:
            item = site.by_nid.get(int(node.group(1)))
            if item is not None:
                own = strip_prefix(item["sites"][site.spec.name]["path"])[0]
                canonical = f"/{lang}{own}" if lang else own
        if item is not None and (lang is not None or not site.spec.prefixed):
            html = render_detail(view, item, lang or "en", canonical, changed=changed)
            return _Response(200, html.encode(), modified=_dated(item))
        return _Response(404, render_plain(view, lang or "en", "Page not found", "The page was not found.").encode())

    def _conditional(
        self, site_name: str, path: str, query: str, handler: BaseHTTPRequestHandler, response: _Response
    ) -> _Response:
        etag = '"' + hashlib.sha1(response.body).hexdigest()[:20] + '"'
        key = (site_name, path + "?" + query)
        initial = response.modified or SITE_EPOCH
        with self._lock:
            known = self._validators.get(key)
            if known is None:
                modified = initial
            elif known[0] == etag:
                modified = known[1]
            else:  # the content changed: a later Last-Modified, strictly
                modified = max(datetime.now(UTC).replace(microsecond=0), known[1] + timedelta(seconds=1))
            self._validators[key] = (etag, modified)
        response.headers["ETag"] = etag
        response.headers["Last-Modified"] = http_date(modified)
        inm = handler.headers.get("If-None-Match")
        ims = handler.headers.get("If-Modified-Since")
        if inm is not None:
            tags = {t.strip().removeprefix("W/") for t in inm.split(",")}
            not_modified = "*" in tags or etag in tags
        elif ims is not None:
            try:
                since = email.utils.parsedate_to_datetime(ims)
            except (TypeError, ValueError):
                since = None
            not_modified = since is not None and since.tzinfo is not None and modified <= since
        else:
            not_modified = False
        if not_modified:
            return _Response(304, b"", response.content_type, response.headers)
        return response

    def _send(
        self,
        handler: BaseHTTPRequestHandler,
        response: _Response,
        *,
        head: bool,
        truncate: bool,
        drip: float | None = None,
    ) -> None:
        truncate = truncate and response.status == 200
        handler.send_response(response.status)
        if response.status != 304:
            handler.send_header("Content-Type", response.content_type)
            handler.send_header("Content-Length", str(len(response.body)))
        for key, value in response.headers.items():
            handler.send_header(key, value)
        if truncate:
            handler.send_header("Connection", "close")
        handler.end_headers()
        if not head and response.status != 304:
            body = response.body[: len(response.body) // 2] if truncate else response.body
            if drip is not None:  # one byte at a time: every read gets data, the answer never ends
                for k in range(len(body)):
                    if self._stopping.wait(drip):
                        break
                    handler.wfile.write(body[k : k + 1])
                    handler.wfile.flush()
                handler.close_connection = True
                return
            handler.wfile.write(body)
        if truncate:
            handler.close_connection = True


def _error_page(status: int, title: str, headers: dict[str, str] | None = None) -> _Response:
    body = f"<!DOCTYPE html><html><head><title>{status} {title}</title></head><body><h1>{title}</h1></body></html>"
    return _Response(status, body.encode(), headers=dict(headers or {}))


def _padded(body: bytes, content_type: str, size: int) -> bytes:
    """The same document, made `size` bytes long with a comment (HTML, XML) or trailing `#` lines."""
    missing = size - len(body)
    if missing <= 0:
        return body
    if content_type.startswith("text/plain"):
        return body + b"\n" + (b"#" * 79 + b"\n") * (missing // 80 + 1)
    filler = b"<!-- " + b"x" * max(0, missing - 9) + b" -->"
    if b"</body>" in body:
        return body.replace(b"</body>", filler + b"</body>", 1)
    return body + filler


def _page_number(query: str) -> int:
    """Drupal reads `page` as a 0-based integer and treats anything else as the first page."""
    values = parse_qs(query).get("page", ["0"])
    try:
        return max(0, int(values[0]))
    except ValueError:
        return 0


def _parse_iso(value: str) -> datetime:
    return datetime.strptime(value, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


def _dated(item: dict[str, Any]) -> datetime:
    return _parse_iso(item.get("changed") or item["created"])


def _latest(items: list[dict[str, Any]]) -> datetime:
    return max((_dated(i) for i in items), default=SITE_EPOCH)


def _now_iso() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _toml(value: Any) -> str:
    """A TOML literal for the few value types a sources file holds."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to the sources file")


__all__ = ["LoggedRequest", "Replica"]
