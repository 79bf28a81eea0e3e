"""`--strict` sees every loss: a detail page given up, a pager cut short, a listing lost mid-walk.

Each case is a real `ingest` (subprocess, as cron runs it) against the replica with an injected
fault or against a purpose-built site on 127.0.0.1, run twice on one warehouse: without and then
with --strict (the second run asks again for what the first gave up, and loses it again). The
expected status and exit codes come from the fault marker (README's fault table): a page the
crawler asked for and gave up on is a loss (partial, 3 under --strict), as a lost listing always
was; a detail page the site answers 404/410 is gone, not lost (its card is still loaded); one
robots.txt disallows is left alone on purpose; a pager cut at `max_pages` is an alert.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import duckdb
import pytest

from tests.fault_table import fault_case
from tests.replica import Fault, Replica
from tests.test_crawl import a_detail_path, cli

RRP = "returnandreintegration.iom.int"


# -- running ingest and reading what it recorded -----------------------------------------------


@dataclass
class Night:
    """One `ingest` run as cron sees it (exit code, stderr) and as the warehouse records it."""

    exit: int
    stderr: str
    status: str
    exit_code: int | None
    message: str
    crawl: dict[str, Any]
    layout_alerts: list[str]
    last_run: dict[str, Any]

    def source(self, name: str) -> dict[str, Any]:
        return self.crawl[name]


def ingest(workdir: Path, sources: Path, *, strict: bool) -> Night:
    db = workdir / "w.duckdb"
    args = ["ingest", "--sources", str(sources), "--db", str(db), "--raw", str(workdir / "raw"), "--no-dedup"]
    done = cli(*args, *(["--strict"] if strict else []), timeout=300)
    con = duckdb.connect(str(db), read_only=True)
    try:
        status, exit_code, message, crawl, alerts = con.execute(
            "SELECT status, exit_code, message, crawl, layout_alerts FROM runs ORDER BY run_id DESC LIMIT 1"
        ).fetchone()
    finally:
        con.close()
    last_run = json.loads((workdir / "w.duckdb.last-run.json").read_text(encoding="utf-8"))
    return Night(done.returncode, done.stderr, status, exit_code, message, json.loads(crawl), alerts or [], last_run)


def expected_exits(case: dict[str, Any]) -> tuple[int, int]:
    """(exit without --strict, exit with it) from a marker's `exit`: 0, 3 or "0 (3 with --strict)"."""
    value = case["exit"]
    if isinstance(value, int):
        return value, value
    plain, _, strict = value.partition(" (")
    return int(plain), int(strict.split()[0]) if strict else int(plain)


def both_nights(workdir: Path, sources: Path, request: pytest.FixtureRequest) -> tuple[Night, Night]:
    """Run without, then with --strict; check both against the marker's status and exit codes."""
    case = fault_case(request)
    plain_exit, strict_exit = expected_exits(case)
    nights = ingest(workdir, sources, strict=False), ingest(workdir, sources, strict=True)
    for night, want in zip(nights, (plain_exit, strict_exit), strict=True):
        assert (night.status, night.exit, night.exit_code) == (case["status"], want, want), night.stderr[-3000:]
        assert (night.last_run["status"], night.last_run["exit_code"]) == (case["status"], want)
    return nights


def assert_detail_given_up(night: Night, source: str, url: str, reason: str) -> None:
    """The page is named with its reason in runs.crawl, stderr, the failures and last-run.json."""
    crawl = night.source(source)
    lost = [line for line in crawl["lost_details"] if line.startswith(url + ":")]
    assert crawl["details_lost"] == len(crawl["lost_details"]) == 1 and lost, crawl["lost_details"]
    assert reason in lost[0], lost
    errors = [line for line in night.stderr.splitlines() if line.startswith("error: detail page given up")]
    assert len(errors) == 1 and url in errors[0] and reason in errors[0], night.stderr[-3000:]
    assert any(url in f for f in night.last_run["failures"]), night.last_run["failures"]
    assert url in night.message


# -- detail pages given up on the replica --------------------------------------------------------


def _replica_detail_case(
    tmp_path: Path, request: pytest.FixtureRequest, fault: Callable[[Replica, str], Fault], reason: str, **crawler: Any
) -> None:
    with Replica(page_size=10) as rep:
        path = a_detail_path(rep)
        rep.add_fault(fault(rep, path))
        sources = rep.write_sources(tmp_path / "s.toml", **crawler)
        nights = both_nights(tmp_path, sources, request)
    url = rep.sites[RRP] + path
    for night in nights:
        assert_detail_given_up(night, RRP, url, reason)
        assert night.source(RRP)["lost_listings"] == [] and night.layout_alerts == []


@pytest.mark.fault(
    fault="a detail page answering 503 for ever",
    does="given up after `max_retries`; the page is a loss, the rest loads, the next run asks again",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_details, `runs.message` failures, `last-run.json`, `fetches`",
)
def test_a_detail_page_503_for_ever_is_a_loss(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _replica_detail_case(
        tmp_path, request, lambda rep, path: Fault.server_error(path + "$", times=None, site=RRP), "HTTP 503",
        max_retries=1,
    )  # fmt: skip


@pytest.mark.fault(
    fault="a detail page redirecting off the allowed hosts",
    does="the redirect is not followed; the page is a loss",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_details, `runs.message` failures, `last-run.json`, `fetches`",
)
def test_a_detail_page_redirected_off_site_is_a_loss(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _replica_detail_case(
        tmp_path, request, lambda rep, path: Fault.redirect_offsite(path + "$", times=None, site=RRP),
        "leaves the allowed hosts",
    )  # fmt: skip


@pytest.mark.fault(
    fault="a detail page redirecting to `file:///etc/passwd`",
    does="the redirect is not followed (http/https only); the page is a loss",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_details, `runs.message` failures, `last-run.json`, `fetches`",
)
def test_a_detail_page_redirected_to_a_file_url_is_a_loss(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _replica_detail_case(
        tmp_path, request,
        lambda rep, path: Fault.redirect_offsite(path + "$", location="file:///etc/passwd", times=None, site=RRP),
        "redirect to file:///etc/passwd",
    )  # fmt: skip


@pytest.mark.fault(
    fault="a detail page redirecting to itself",
    does="stopped after `max_redirects` hops; the page is a loss",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_details, `runs.message` failures, `last-run.json`, `fetches`",
)
def test_a_detail_redirect_loop_is_a_loss(tmp_path: Path, request: pytest.FixtureRequest) -> None:
    _replica_detail_case(
        tmp_path, request,
        lambda rep, path: Fault.redirect_offsite(path + "$", location=rep.sites[RRP] + path, times=None, site=RRP),
        "more than 3 redirects", max_redirects=3,
    )  # fmt: skip


# -- a listing lost in the middle of its walk ----------------------------------------------------


@pytest.mark.fault(
    fault="a section's second listing page answering 503 for ever",
    does="the walk stops there: that page and the pages after it are lost to this run (named in the failure)",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_listings, `runs.message` failures, `last-run.json`",
)
def test_a_listing_page_lost_mid_walk_stops_the_pager_and_counts(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    section = "/en/resources/guideline"
    with Replica(page_size=5) as rep:
        assert rep.expected_listing_urls(RRP) >= {rep.sites[RRP] + section + "?page=2"}, "needs three pages"
        rep.add_fault(Fault.server_error(section + r"\?page=1$", times=None, site=RRP))
        sources = rep.write_sources(tmp_path / "s.toml", max_retries=1)
        nights = both_nights(tmp_path, sources, request)
        later = [r for r in rep.requests_for(RRP) if r.path == section and r.query not in ("", "page=1")]
    assert later == [], "pages after the lost one were requested although no pager link led there"
    for night in nights:
        (lost,) = night.source(RRP)["lost_listings"]
        assert lost.startswith(f"{rep.sites[RRP]}{section}?page=1: HTTP 503") and "later pages not walked" in lost
        assert any(line.startswith("error: listing lost:") and "?page=1" in line for line in night.stderr.splitlines())


# -- a purpose-built site: bombs, endless pagers, gone and disallowed pages -------------------------


def _listing(page: int, cards: list[str], following: int | None) -> bytes:
    """A listing page of `cards` whose pager marks `page` as the current one and links `following`."""
    teaser = "about return and reintegration of migrants in the region, the programme and its partners..."
    rows = "".join(
        f'<div class="views-row"><article><h3 class="node__title"><a href="{href}">Publication {href.rsplit("/")[-1]}'
        f'</a></h3><div class="field--name-body"><p>Teaser of {href} {teaser}</p></div></article></div>'
        for href in cards
    )
    pager = ""
    if following is not None:
        pager = (
            '<nav class="pager"><ul class="pager__items">'
            f'<li class="pager__item is-active"><a href="?page={page}" aria-current="page">{page + 1}</a></li>'
            f'<li class="pager__item pager__item--next"><a href="?page={following}" rel="next">Next</a></li></ul></nav>'
        )
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Resources</title></head><body>'
        f'<main><h1 class="page-title">Resources</h1><div class="view-content">{rows}</div>{pager}</main></body></html>'
    ).encode()


def _detail(path: str) -> bytes:
    name = path.rsplit("/", 1)[-1]
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Publication {name}</title></head><body>'
        f'<main><h1 class="page-title">Publication {name}</h1><div class="field--name-body"><p>The full abstract of '
        f"publication {name}, on return and reintegration.</p></div></main></body></html>"
    ).encode()


def gzip_bomb(expanded: int) -> bytes:
    """`expanded` zero bytes, gzip'ed twice: a body of a few hundred bytes (`Content-Encoding: gzip, gzip`)."""
    return gzip.compress(gzip.compress(b"\0" * expanded, compresslevel=9), compresslevel=9)


@dataclass
class HostileSite:
    """A small Drupal-like site on 127.0.0.1 whose pages misbehave as a test says.

    `/list` is the one section: page N shows `cards(N)` and links page `following(N)` (None: the
    last page). Detail pages are served whole unless `details` maps their path to a misdeed:
    ("status", 404), ("bomb", bytes expanded) or ("redirect", location). robots.txt disallows
    `/private/`.
    """

    cards: Callable[[int], list[str]]
    following: Callable[[int], int | None]
    details: dict[str, tuple[str, Any]] = field(default_factory=dict)
    #: the page number a listing page says it is (its pager's current item): a pager may lie
    claims: Callable[[int], int] = lambda page: page
    requests: list[str] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def base(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HostileSite:
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                site.requests.append(self.path)
                status, headers, body = site.respond(self.path)
                self.send_response(status)
                for key, value in {"Content-Length": str(len(body)), **headers}.items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

    def respond(self, target: str) -> tuple[int, dict[str, str], bytes]:
        html = {"Content-Type": "text/html; charset=utf-8"}
        parts = urlsplit(target)
        if parts.path == "/robots.txt":
            return 200, {"Content-Type": "text/plain"}, b"User-agent: *\nDisallow: /private/\n"
        if parts.path == "/list":
            page = int(parse_qs(parts.query).get("page", ["0"])[0])
            return 200, html, _listing(self.claims(page), self.cards(page), self.following(page))
        misdeed, value = self.details.get(parts.path, ("", None))
        if misdeed == "status":
            return value, html, b"<html><body><h1>Page not found</h1></body></html>"
        if misdeed == "redirect":
            return 302, {**html, "Location": value}, b""
        if misdeed == "bomb":
            return 200, {**html, "Content-Encoding": "gzip, gzip"}, gzip_bomb(value)
        return 200, html, _detail(parts.path)

    def write_sources(self, path: Path, *, max_pages: int = 50, **crawler: Any) -> Path:
        settings = {"connect_timeout": 2.0, "read_timeout": 5.0, "max_retries": 1, "backoff_base": 0.05,
                    "backoff_max": 0.2, "probe_timeout": 2.0, **crawler}  # fmt: skip
        lines = ["[crawler]", *(f"{k} = {json.dumps(v)}" for k, v in settings.items()), "", "[[sources]]"]
        lines += [
            'name = "hostile"', f'base_url = "{self.base}"', 'start_urls = ["/list"]', "rate_per_second = 50.0",
            "concurrency = 2", 'sitemap = ""', f'pager = {{ param = "page", first = 0, max_pages = {max_pages} }}',
        ]  # fmt: skip
        path.write_text("\n".join(lines) + "\n", encoding="utf-8")
        return path


def _six(page: int) -> list[str]:
    return [f"/publications/p{page}-{n}" for n in range(6)]


@pytest.fixture
def site_of() -> Iterator[Callable[..., HostileSite]]:
    started: list[HostileSite] = []

    def start(**kwargs: Any) -> HostileSite:
        site = HostileSite(**kwargs).__enter__()
        started.append(site)
        return site

    yield start
    for site in started:
        site.__exit__()


@pytest.mark.fault(
    fault="a detail page that is a gzip bomb (`Content-Encoding: gzip, gzip`, a few hundred bytes expanding to 64 MB)",
    does="refused at `max_body_bytes` of decoded body; the page is a loss",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="stderr error, `runs.crawl` lost_details, `runs.message` failures, `last-run.json`, `fetches`",
)
def test_a_gzip_bomb_detail_page_is_a_loss(tmp_path: Path, site_of, request: pytest.FixtureRequest) -> None:
    bomb = "/publications/p0-3"
    site = site_of(cards=_six, following=lambda page: None, details={bomb: ("bomb", 64_000_000)})
    assert len(gzip_bomb(64_000_000)) < 5_000
    nights = both_nights(tmp_path, site.write_sources(tmp_path / "s.toml", max_body_bytes=1_000_000), request)
    assert nights[0].source("hostile")["detail_pages"] == 5  # the other five are in
    for night in nights:
        (lost,) = night.source("hostile")["lost_details"]
        assert lost.startswith(site.base + bomb + ":"), lost
        assert any(
            line.startswith("error: detail page given up") and bomb in line for line in night.stderr.splitlines()
        )


@pytest.mark.fault(
    fault="a pager that never ends (every `?page=N` links a new page N+1)",
    does="the walk stops at `pager.max_pages`; a layout alert names the section",
    status="ok",
    exit="0 (3 with --strict)",
    recorded="stderr warning, `runs.layout_alerts`, `last-run.json` layout_alerts",
)
def test_a_pager_that_never_ends_is_an_alert_at_max_pages(
    tmp_path: Path, site_of, request: pytest.FixtureRequest
) -> None:
    site = site_of(cards=_six, following=lambda page: page + 1)
    nights = both_nights(tmp_path, site.write_sources(tmp_path / "s.toml", max_pages=4), request)
    pages = {t for t in site.requests if t.startswith("/list")}
    assert pages == {"/list", "/list?page=1", "/list?page=2", "/list?page=3"}, sorted(pages)
    for night in nights:
        (alert,) = night.layout_alerts
        assert alert.startswith(f"hostile: section {site.base}/list:") and "max_pages = 4" in alert, alert
        assert night.last_run["layout_alerts"] == [alert]
        assert any(line.startswith("warning:") and "max_pages = 4" in line for line in night.stderr.splitlines())


@pytest.mark.fault(
    fault="a pager whose next link points back to a page already walked",
    does="the walk stops at once (not at `max_pages`); a layout alert names the section",
    status="ok",
    exit="0 (3 with --strict)",
    recorded="stderr warning, `runs.layout_alerts`, `last-run.json` layout_alerts",
)
def test_a_pager_pointing_back_is_an_alert(tmp_path: Path, site_of, request: pytest.FixtureRequest) -> None:
    # every page says it is the first, so the link from page 2 back to page 1 reads as "next"
    site = site_of(cards=_six, following=lambda page: 1 if page == 2 else page + 1, claims=lambda page: 0)
    nights = both_nights(tmp_path, site.write_sources(tmp_path / "s.toml", max_pages=50), request)
    first_night = site.requests[: site.requests.index("/robots.txt", 1)]
    assert sorted(t for t in first_night if t.startswith("/list")) == ["/list", "/list?page=1", "/list?page=2"]
    for night in nights:
        (alert,) = night.layout_alerts
        assert "points back" in alert and f"{site.base}/list?page=1" in alert, alert


@pytest.mark.fault(
    fault="a detail page answering 404 or 410",
    does="the item is gone from the site, not lost by the crawler: its card is loaded, the run is ok (a note)",
    status="ok",
    exit=0,
    recorded="`runs.crawl` gone_details, `runs.message` note, `fetches`",
)
@pytest.mark.parametrize("status", [404, 410])
def test_a_detail_page_gone_is_no_loss(tmp_path: Path, site_of, status: int, request: pytest.FixtureRequest) -> None:
    gone = "/publications/p0-2"
    site = site_of(cards=_six, following=lambda page: None, details={gone: ("status", status)})
    nights = both_nights(tmp_path, site.write_sources(tmp_path / "s.toml"), request)
    assert site.requests.count(gone) == 2  # asked once per run, not retried (a 4xx)
    for night in nights:
        crawl = night.source("hostile")
        assert crawl["lost_details"] == [] and crawl["details_gone"] == 1, crawl
        assert crawl["gone_details"][0].startswith(f"{site.base}{gone}: HTTP {status}")
        assert "1 detail pages gone from the site" in night.message
        assert not any(line.startswith("error:") for line in night.stderr.splitlines()), night.stderr
    con = duckdb.connect(str(tmp_path / "w.duckdb"), read_only=True)
    try:
        (cards,) = con.execute("SELECT count(*) FROM sightings WHERE url = ?", [site.base + gone]).fetchone()
    finally:
        con.close()
    assert cards == 1  # the card the listing shows is in the warehouse, once


@pytest.mark.fault(
    fault="a card linking a detail page robots.txt disallows",
    does="never requested (policy, not a loss): its card is loaded, the run is ok (a note)",
    status="ok",
    exit=0,
    recorded="`runs.crawl` disallowed_details, `runs.message` note",
)
def test_a_detail_page_disallowed_by_robots_is_policy_not_a_loss(
    tmp_path: Path, site_of, request: pytest.FixtureRequest
) -> None:
    def cards(page: int) -> list[str]:
        return [*_six(page)[:5], "/private/p0-5"]

    site = site_of(cards=cards, following=lambda page: None)
    nights = both_nights(tmp_path, site.write_sources(tmp_path / "s.toml"), request)
    assert not any(t.startswith("/private/") for t in site.requests)
    for night in nights:
        crawl = night.source("hostile")
        assert crawl["lost_details"] == [] and crawl["details_disallowed"] == 1, crawl
        assert "disallowed by robots.txt" in crawl["disallowed_details"][0]
        assert "1 detail pages disallowed by robots.txt" in night.message
