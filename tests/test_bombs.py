"""Bombs and endless reads: compressed bodies, archive objects and files handed in that expand or
never end, and servers that drip. Time and memory stay bounded; each is refused with its reason.

Every HTTP case talks to a real server on 127.0.0.1 (`BombServer`) through the crawler's own
client (`http.make_client`) and `Fetcher`; every archive case damages a real archive on disk and
runs the real command. Memory is measured, not timed: `tracemalloc`'s peak while one URL is
fetched, or the peak RSS of a child process, must stay far below what the bomb expands to.
"""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import json
import os
import socket
import stat
import subprocess
import sys
import threading
import time
import tracemalloc
import urllib.request
import zlib
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from pipeline import http
from pipeline.archive import MAX_OBJECT_BYTES_ENV, Archive
from pipeline.fetch import Fetcher, FetchOutcome, HostGate
from pipeline.sources import CrawlerConfig, Source
from tests.conftest import REPO_ROOT
from tests.fault_table import fault_case
from tests.replica import Replica
from tests.test_archive_faults import SEED_SIGHTINGS, last_run, query, seed_object
from tests.test_crawl import crawl_ingest

MiB = 1024 * 1024
#: what the crawler may hold of one body in these tests
LIMIT = 1 * MiB
#: what the bombs expand to: 256 times the limit
BOMB_BYTES = 256 * MiB


def _compressed(make: Callable[[], zlib._Compress], size: int, block: bytes = b"\0" * MiB) -> bytes:
    """`size` zero bytes compressed without ever holding them in memory."""
    packer = make()
    parts = [packer.compress(block) for _ in range(size // len(block))]
    return b"".join(parts) + packer.flush()


def gzip_of_zeros(size: int) -> bytes:
    return _compressed(lambda: zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS), size)


def deflate_of_zeros(size: int) -> bytes:
    return _compressed(lambda: zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS), size)


@pytest.fixture(scope="module")
def bombs() -> dict[str, bytes]:
    inner = gzip_of_zeros(BOMB_BYTES)
    return {
        "gzip-gzip": gzip.compress(inner, mtime=0),  # 1.8 KB on the wire, as in the issue
        "deflate": deflate_of_zeros(BOMB_BYTES),
    }


# -- a server that sends what the test says ---------------------------------------------------------


class BombServer:
    """A threaded HTTP server on 127.0.0.1: `routes[path] = (headers, body)`, or a callable that
    writes the answer itself (a drip); every request is counted by path, with its headers."""

    def __init__(self) -> None:
        self.routes: dict[str, tuple[dict[str, str], bytes] | Callable[[BaseHTTPRequestHandler], None]] = {}
        self.seen: list[tuple[str, dict[str, str]]] = []
        #: what answers a path with no route (None: 404)
        self.fallback: Callable[[BaseHTTPRequestHandler], None] | None = None
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = urlsplit(self.path).path
                with server._lock:
                    server.seen.append((path, {k.lower(): v for k, v in self.headers.items()}))
                route = server.routes.get(path, server.fallback)
                if route is None:
                    self.send_error(404)
                    return
                if callable(route):
                    route(self)
                    return
                headers, body = route
                self.send_response(200)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                for name, value in headers.items():
                    self.send_header(name, value)
                self.end_headers()
                with contextlib.suppress(OSError):  # the client gave up reading: that is the point
                    self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self._server.server_address[1]}"
        #: the crawler's `http_transport` that `fetch` uses against this server
        self.transport = "aiohttp"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> BombServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def count(self, path: str) -> int:
        with self._lock:
            return sum(1 for p, _ in self.seen if p == path)


@pytest.fixture(params=["aiohttp", "httpx"])
def server(request: pytest.FixtureRequest) -> Iterator[BombServer]:
    """A server per test, fetched through each transport the crawler can use (`http_transport`)."""
    with BombServer() as srv:
        srv.transport = request.param
        yield srv


def drip(delay: float) -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer whose headers come at once and whose body comes one byte every `delay` seconds,
    for ever: no read ever times out, only a total deadline ends it."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(200)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(100_000))
        handler.end_headers()
        try:
            for _ in range(100_000):
                handler.wfile.write(b"<")
                handler.wfile.flush()
                time.sleep(delay)
        except OSError:
            pass

    return answer


def crawler_config(**overrides: object) -> CrawlerConfig:
    settings: dict[str, object] = {
        "max_body_bytes": LIMIT,
        "max_retries": 3,
        "backoff_base": 0.01,
        "backoff_max": 0.05,
        "connect_timeout": 2.0,
        "read_timeout": 10.0,
        "request_deadline": 30.0,
        "probe_timeout": 10.0,
    }
    return CrawlerConfig(**{**settings, **overrides})


def fetch(server: BombServer, path: str, *, probe: bool = False, **overrides: object) -> FetchOutcome:
    """One URL fetched by the crawler's own client and Fetcher, retries and all, over the server's transport."""
    config = crawler_config(http_transport=server.transport, **overrides)
    base = server.base
    source = Source(name="bombs.test", base_url=base, start_urls=["/"], robots=False, sitemap=None)

    async def run() -> FetchOutcome:
        async with http.make_client(config) as client:
            fetcher = Fetcher(client, config, source, HostGate(rate_per_second=100, concurrency=2))
            get = fetcher.probe if probe else fetcher.get
            return await get(base + path, "detail")

    return asyncio.run(run())


def fetch_measured(server: BombServer, path: str, **overrides: object) -> tuple[FetchOutcome, int]:
    """The outcome and the most memory Python held at once while fetching (tracemalloc's peak)."""
    tracemalloc.start()
    try:
        outcome = fetch(server, path, **overrides)
        return outcome, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


# -- HTTP bodies ----------------------------------------------------------------------------------

#: the most memory one refused bomb may cost: the body limit and the decoder's steps, with room for
#: the client library; the bombs expand to 256 MiB
BOUNDED = 16 * MiB


@pytest.mark.fault(
    fault="a 1.8 KB body sent `Content-Encoding: gzip, gzip` that expands to 256 MiB",
    does="decoding stops at `max_body_bytes` in the layer that passes it; the URL is refused with its reason, "
    "not retried; memory stays near the limit",
    status="refused",
    exit="1 request",
    recorded="`fetches` outcome and reason",
)
def test_a_layered_gzip_bomb_is_refused_at_the_limit_without_expanding(server, bombs, request) -> None:
    server.routes["/bomb"] = ({"Content-Encoding": "gzip, gzip"}, bombs["gzip-gzip"])
    assert len(bombs["gzip-gzip"]) < 4096
    outcome, peak = fetch_measured(server, "/bomb")
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert f"decodes to more than the {LIMIT}-byte limit" in outcome.reason
    assert "gzip layer 1 of 2" in outcome.reason  # the inner layer is the one that explodes
    assert f"{server.count('/bomb')} request" == case["exit"]  # a bomb comes back the same: not retried
    assert outcome.body is None
    assert peak < BOUNDED, f"{peak} bytes held while refusing a {BOMB_BYTES}-byte bomb"


@pytest.mark.fault(
    fault="a deflate bomb (`Content-Encoding: deflate`, 256 KB expanding to 256 MiB)",
    does="refused at `max_body_bytes` with its reason, not retried; memory stays near the limit",
    status="refused",
    exit="1 request",
    recorded="`fetches` outcome and reason",
)
def test_a_deflate_bomb_is_refused_at_the_limit(server, bombs, request) -> None:
    server.routes["/deflate"] = ({"Content-Encoding": "deflate"}, bombs["deflate"])
    outcome, peak = fetch_measured(server, "/deflate")
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert f"deflate body decodes to more than the {LIMIT}-byte limit" in outcome.reason
    assert f"{server.count('/deflate')} request" == case["exit"]
    assert peak < BOUNDED, f"{peak} bytes held while refusing a {BOMB_BYTES}-byte bomb"


PARAGRAPHS = b"".join(b"<p>paragraph %d about migration</p>" % i for i in range(300_000))
PAGE = b"<html><body>" + PARAGRAPHS + b"</body></html>"


@pytest.mark.fault(
    fault="an honest 10 MB page sent gzip-compressed, `max_body_bytes` 1 MiB",
    does="refused once decoding passes the limit (the compressed size is under it), not retried",
    status="refused",
    exit="1 request",
    recorded="`fetches` outcome and reason",
)
def test_a_compressed_page_over_the_limit_is_refused_by_its_decoded_size(server, request) -> None:
    assert len(PAGE) > 10_000_000
    packed = gzip.compress(PAGE)
    assert len(packed) < LIMIT  # only the decoded size tells
    server.routes["/big"] = ({"Content-Encoding": "gzip"}, packed)
    outcome = fetch(server, "/big")
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert f"gzip body decodes to more than the {LIMIT}-byte limit" in outcome.reason
    assert f"{server.count('/big')} request" == case["exit"]
    # the same page is taken under a limit it fits
    fits = fetch(server, "/big", max_body_bytes=len(PAGE))
    assert (fits.outcome, fits.body) == ("fetched", PAGE)


def test_every_coding_the_client_asks_for_is_decoded_and_layers_come_off_in_order(server) -> None:
    """Accept-Encoding is honest: each coding it names (and layers of them) decodes to the page."""
    page = PAGE[:200_000]
    raw = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    encoded = {
        "gzip": gzip.compress(page),
        "x-gzip": gzip.compress(page),
        "deflate": zlib.compress(page),
        "deflate-raw": raw.compress(page) + raw.flush(),  # what some servers send as "deflate"
        "gzip, deflate": zlib.compress(gzip.compress(page)),
        "deflate, gzip, gzip": gzip.compress(gzip.compress(zlib.compress(page))),
        "identity": page,
    }
    for n, (name, body) in enumerate(encoded.items()):
        server.routes[f"/{n}"] = ({"Content-Encoding": name.replace("deflate-raw", "deflate")}, body)
    for n, name in enumerate(encoded):
        outcome = fetch(server, f"/{n}")
        assert (outcome.outcome, outcome.reason) == ("fetched", None), name
        assert outcome.body == page, name
    asked = {h["accept-encoding"] for _, h in server.seen}
    assert len(asked) == 1
    codings = {c.strip() for c in asked.pop().split(",")}
    assert codings and codings <= {"gzip", "deflate"}  # nothing the decoder cannot undo (no br, no zstd)


@pytest.mark.fault(
    fault="a body in a Content-Encoding the crawler never asked for (`br`, `zstd`, `compress`)",
    does="refused with its reason, not retried",
    status="refused",
    exit="1 request",
    recorded="`fetches` outcome and reason",
)
@pytest.mark.parametrize("coding", ["br", "zstd", "compress", "gzip, br"])
def test_an_encoding_never_asked_for_is_refused(server, coding, request) -> None:
    server.routes["/odd"] = ({"Content-Encoding": coding}, b"\x8b\x00\x80hello")
    outcome = fetch(server, "/odd")
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert f"Content-Encoding {coding.split(', ')[-1]} was not asked for" in outcome.reason
    assert f"{server.count('/odd')} request" == case["exit"]


@pytest.mark.fault(
    fault="a thousand content codings stacked (`Content-Encoding: gzip, gzip, ...`)",
    does="refused with its reason before any decoding (at most 3 layers are undone), not retried; "
    "never a crash of the site's crawl",
    status="refused",
    exit="1 request",
    recorded="`fetches` outcome and reason",
)
def test_a_thousand_stacked_codings_are_refused_not_decoded(server, request) -> None:
    body = b"hello"
    for _ in range(1000):
        body = gzip.compress(body)
    server.routes["/stack"] = ({"Content-Encoding": ", ".join(["gzip"] * 1000)}, body)
    outcome = fetch(server, "/stack")
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert "1000 content codings stacked" in outcome.reason
    assert f"{server.count('/stack')} request" == case["exit"]
    # three layers are still a page: a server may compress twice, and the crawler undoes it
    thrice = gzip.compress(gzip.compress(gzip.compress(PAGE[:5000])))
    server.routes["/three"] = ({"Content-Encoding": "gzip, gzip, gzip"}, thrice)
    assert fetch(server, "/three").body == PAGE[:5000]


def test_a_gzip_body_cut_short_is_retried_like_a_truncated_one(server) -> None:
    packed = gzip.compress(PAGE[:100_000])
    server.routes["/cut"] = ({"Content-Encoding": "gzip"}, packed[: len(packed) // 2])
    outcome = fetch(server, "/cut", max_retries=2)
    assert outcome.outcome == "failed"
    assert "truncated" in outcome.reason
    assert server.count("/cut") == 3


# -- a bomb in a real crawl ------------------------------------------------------------------------


class BombingProxy:
    """The replica's sites behind one proxy each on 127.0.0.1, links rewritten to the proxies;
    `bomb` paths answer a bomb instead of the page. The replica has no bomb fault of its own."""

    def __init__(self, replica: Replica, bomb_path: str, bomb: tuple[dict[str, str], bytes]) -> None:
        self.replica, self.bomb_path, self.bomb = replica, bomb_path, bomb
        self.servers: dict[str, BombServer] = {name: BombServer() for name in replica.sites}
        self.rewrite = {base.encode(): self.servers[name].base.encode() for name, base in replica.sites.items()}
        for name, server in self.servers.items():
            server.fallback = self._forwarder(replica.sites[name])
            server.routes[bomb_path] = bomb

    def _forwarder(self, upstream: str) -> Callable[[BaseHTTPRequestHandler], None]:
        def forward(handler: BaseHTTPRequestHandler) -> None:
            keep = ("user-agent", "if-none-match", "if-modified-since", "accept")
            headers = {k: v for k, v in handler.headers.items() if k.lower() in keep}
            with urllib.request.urlopen(urllib.request.Request(upstream + handler.path, headers=headers)) as up:
                status, body, got = up.status, up.read(), up.headers
            handler.send_response(status)
            for name, value in got.items():
                if name.lower() not in ("content-length", "transfer-encoding", "connection", "date", "server"):
                    handler.send_header(name, value)
            for old, new in self.rewrite.items():
                body = body.replace(old, new)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            handler.wfile.write(body)

        return forward

    def write_sources(self, path: Path, **crawler: object) -> Path:
        self.replica.write_sources(path, **crawler)
        text = path.read_text(encoding="utf-8")
        for name, base in self.replica.sites.items():
            text = text.replace(urlsplit(base).netloc, urlsplit(self.servers[name].base).netloc)
        path.write_text(text, encoding="utf-8")
        return path

    def __enter__(self) -> BombingProxy:
        for server in self.servers.values():
            server.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self.servers.values():
            server.__exit__()

    def count(self, path: str) -> dict[str, int]:
        return {name: server.count(path) for name, server in self.servers.items() if server.count(path)}


GUIDELINE = "/en/resources/guideline"


@pytest.mark.fault(
    fault="a listing page sent as a gzip, gzip bomb (1.8 KB expanding to 256 MiB) in a crawl",
    does="the page is refused with its reason (not retried), its cards are lost to this run; the rest loads",
    status="partial",
    exit="0 (3 with --strict)",
    recorded="`runs.message` failures, `fetches` outcome and reason",
)
def test_a_bomb_in_a_crawl_is_a_refused_page_with_its_reason(tmp_path, bombs, request) -> None:
    bomb = ({"Content-Encoding": "gzip, gzip"}, bombs["gzip-gzip"])
    with Replica(page_size=10) as rep, BombingProxy(rep, GUIDELINE, bomb) as proxy:
        sources = proxy.write_sources(tmp_path / "s.toml", max_body_bytes=LIMIT, max_retries=3)
        summary = crawl_ingest(tmp_path, sources)
        asked = proxy.count(GUIDELINE)
    assert asked and set(asked.values()) == {1}, asked  # refused, never retried
    assert summary.status == fault_case(request)["status"], summary.message
    lost = [f for f in summary.failures if GUIDELINE in f]
    assert lost and all(f"decodes to more than the {LIMIT}-byte limit" in f for f in lost), summary.failures
    fetched = query(tmp_path / "w.duckdb", "SELECT outcome, reason FROM fetches WHERE url LIKE ?", [f"%{GUIDELINE}"])
    assert fetched and {o for o, _ in fetched} == {"refused"}, fetched
    assert query(tmp_path / "w.duckdb", "SELECT count(*) FROM sightings")[0][0] > 0  # the other sections loaded


# -- a server that drips -------------------------------------------------------------------------


@pytest.mark.fault(
    fault="a server dripping one byte at a time, `max_retries` 4",
    does="the request deadline is spent at most twice per URL (retried once, not `max_retries` times)",
    status="failed",
    exit="2 requests",
    recorded="`fetches` attempts and reason",
)
@pytest.mark.parametrize("first", ["get", "probe"])
def test_a_dripping_server_is_asked_twice_not_max_retries_times(server, first, request) -> None:
    server.routes["/drip"] = drip(0.1)
    outcome = fetch(server, "/drip", probe=first == "probe", max_retries=4, request_deadline=1.0,
                    probe_timeout=1.0, read_timeout=5.0)  # fmt: skip
    case = fault_case(request)
    assert outcome.outcome == case["status"], outcome.reason
    assert "request deadline" in outcome.reason
    assert f"{server.count('/drip')} requests" == case["exit"]


def test_other_retryable_failures_still_get_every_retry(server) -> None:
    """Only the deadline is capped: a 503 burst is retried `max_retries` times as before."""

    def unavailable(handler: BaseHTTPRequestHandler) -> None:
        handler.send_response(503)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    server.routes["/busy"] = unavailable
    outcome = fetch(server, "/busy", max_retries=4)
    assert outcome.outcome == "failed" and "HTTP 503" in outcome.reason
    assert server.count("/busy") == 5


# -- broken answers, on either transport ----------------------------------------------------------


def raw_answer(data: bytes) -> Callable[[BaseHTTPRequestHandler], None]:
    """An answer of exactly these bytes, then the connection closed: whatever HTTP says."""

    def answer(handler: BaseHTTPRequestHandler) -> None:
        handler.close_connection = True
        with contextlib.suppress(OSError):
            handler.wfile.write(data)
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)

    return answer


@pytest.mark.parametrize(
    ("sent", "named"),
    [
        (b"", "RemoteProtocolError"),  # hung up without a word
        (b"SPAM 200 whatever\r\n\r\n", "RemoteProtocolError"),  # not an HTTP status line
        (b"HTTP/1.1 200 OK\r\nX-Long: " + b"a" * 300_000 + b"\r\n\r\n", "RemoteProtocolError"),  # a header for ever
        (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 5000\r\n\r\n<html>", "RemoteProtocolError"),
    ],
    ids=["hang-up", "not-http", "huge-header", "cut-body"],
)
def test_a_broken_answer_is_retried_and_named_for_what_it_is_on_each_transport(server, sent, named) -> None:
    """What a user reads in `fetches.reason` is the same on both transports, and never a timeout
    for a server that answered at once (httpx-aiohttp alone calls a closed connection ConnectTimeout)."""
    server.routes["/broken"] = raw_answer(sent)
    outcome = fetch(server, "/broken", max_retries=2)
    assert outcome.outcome == "failed", outcome
    assert named in outcome.reason and "timeout" not in outcome.reason.lower(), outcome.reason
    assert server.count("/broken") == 3  # retried like any transport failure


def test_a_long_security_policy_header_is_read_on_each_transport(server) -> None:
    """Real sites send Content-Security-Policy headers of several KB; 20 KB is past aiohttp's default."""
    policy = "default-src 'self'; " + " ".join(f"https://cdn{n}.example.org" for n in range(800))
    assert len(policy) > 20_000
    server.routes["/csp"] = ({"Content-Security-Policy": policy}, PAGE[:2000])
    outcome = fetch(server, "/csp")
    assert outcome.outcome == "fetched" and outcome.body == PAGE[:2000], outcome.reason


def test_many_headers_are_read_on_each_transport(server) -> None:
    """A page with 200 headers (cookies, tracking, policies): httpx reads it, so must aiohttp (default: 128)."""
    server.routes["/many"] = ({f"X-Header-{n}": str(n) for n in range(200)}, PAGE[:2000])
    outcome = fetch(server, "/many")
    assert outcome.outcome == "fetched" and outcome.body == PAGE[:2000], outcome.reason


def test_a_latin1_reason_phrase_is_read_on_each_transport(server) -> None:
    """Older localized servers send their reason in Latin-1 ("200 \xd6K"); the page is the page."""
    body = PAGE[:2000]
    server.routes["/latin"] = raw_answer(
        b"HTTP/1.1 200 \xd6K\r\nContent-Type: text/html\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
        + body
    )
    outcome = fetch(server, "/latin", max_retries=0)
    assert outcome.outcome == "fetched" and outcome.body == body, outcome.reason


def test_a_host_that_refuses_connections_is_unreachable_on_each_transport(server) -> None:
    with socket.socket() as sock:  # a port just freed: nothing listens there
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    closed = BombServer.__new__(BombServer)
    closed.base, closed.transport = f"http://127.0.0.1:{port}", server.transport
    outcome = fetch(closed, "/", probe=True)
    assert outcome.outcome == "unreachable", outcome
    assert "ConnectError" in outcome.reason, outcome.reason


# -- archive objects ------------------------------------------------------------------------------

#: the archive's cap lowered for these tests: a bomb object need not expand to gigabytes here
OBJECT_CAP = 4 * MiB


def plant_bomb(path: Path, size: int = 64 * MiB) -> None:
    """Replace an object by a gzip stream that expands to `size` bytes (far past OBJECT_CAP)."""
    path.write_bytes(gzip_of_zeros(size))


def test_a_body_limit_above_the_archive_read_cap_is_refused_as_a_setting(tmp_path, run_cli) -> None:
    # a page kept under such a limit would read back as a bomb: damaged, and fetched again every night
    sources = tmp_path / "big.toml"
    sources.write_text(
        '[crawler]\nmax_body_bytes = 100000000\n\n[[sources]]\nname = "publications.iom.int"\n'
        'base_url = "http://127.0.0.1:9"\nstart_urls = ["/listing"]\n',
        encoding="utf-8",
    )
    done = run_cli("ingest", "--sources", str(sources))
    assert done.returncode == 5, done.stderr
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("error: ") and "max_body_bytes" in line and "read cap of 67108864" in line, line
    # the cap raised with it: the setting is accepted (the site is unreachable: the archive is used)
    raised = run_cli("ingest", "--sources", str(sources), env={"IOM_ARCHIVE_MAX_OBJECT_BYTES": "200000000"})
    assert raised.returncode == 0, raised.stderr
    assert "unreachable" in raised.stderr


def test_an_object_over_the_cap_is_damage_and_under_it_reads(tmp_path, seed_archive) -> None:
    _, sha, path = seed_object(seed_archive)
    body = Archive(seed_archive).read(sha)
    assert Archive(seed_archive, max_object_bytes=len(body)).read(sha) == body  # exactly the cap: read
    reason = Archive(seed_archive, max_object_bytes=len(body) - 1).object_problem(sha)
    assert reason and f"expands past {len(body) - 1} bytes" in reason and sha in reason
    plant_bomb(path)
    tracemalloc.start()
    try:
        reason = Archive(seed_archive, max_object_bytes=OBJECT_CAP).object_problem(sha)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert reason and f"expands past {OBJECT_CAP} bytes" in reason
    assert peak < 3 * OBJECT_CAP, peak


@pytest.mark.fault(
    fault="archive object replaced by a gzip bomb (`archive verify`)",
    does="one `problem:` line naming the object, no traceback",
    status="",
    exit=5,
    recorded="stdout of `archive verify`",
)
def test_verify_reports_a_bomb_object_as_one_problem(seed_archive, run_cli, request) -> None:
    _, sha, path = seed_object(seed_archive)
    plant_bomb(path)
    result = run_cli("archive", "verify", env={MAX_OBJECT_BYTES_ENV: str(OBJECT_CAP)})
    assert result.returncode == fault_case(request)["exit"], result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "MemoryError" not in result.stderr
    problems = [line for line in result.stdout.splitlines() if line.startswith("problem:")]
    assert len(problems) == 1 and sha[:12] in problems[0], result.stdout
    assert f"expands past {OBJECT_CAP} bytes" in problems[0]
    assert result.stdout.splitlines()[-1].startswith("1 problems:")


@pytest.mark.fault(
    fault="archive object replaced by a gzip bomb (ingest, `--reparse`, `--offline`)",
    does="damage like a truncated object: the page keeps the rows an earlier run gave it; no MemoryError",
    status="partial",
    exit=5,
    recorded="`rejects` (stage archive), `error:` line, last-run JSON",
)
def test_a_bomb_object_fails_the_run_as_partial_and_keeps_its_rows(tmp_path, seed_archive, run_cli, request) -> None:
    case = fault_case(request)
    db = tmp_path / "warehouse.duckdb"
    env = {MAX_OBJECT_BYTES_ENV: str(OBJECT_CAP)}
    assert run_cli("ingest", "--offline", env=env).returncode == 0
    page_id, sha, path = seed_object(seed_archive)
    kept = query(db, "SELECT count(*) FROM sightings WHERE page_id = ?", [page_id])[0][0]
    assert kept > 0
    plant_bomb(path)

    for args in (["ingest", "--offline"], ["ingest", "--offline", "--reparse"]):
        result = run_cli(*args, env=env)
        assert result.returncode == case["exit"], result.stdout + result.stderr
        assert "MemoryError" not in result.stderr and "Traceback" not in result.stderr
        assert [line for line in result.stderr.splitlines() if line.startswith("error:") and sha in line]
        assert last_run(db) == (case["status"], case["exit"])
        assert query(db, "SELECT count(*) FROM sightings")[0][0] == SEED_SIGHTINGS
        assert query(db, "SELECT count(*) FROM sightings WHERE page_id = ?", [page_id])[0][0] == kept
        assert query(db, "SELECT parse_status FROM raw_pages WHERE page_id = ?", [page_id]) == [("parsed",)]
    rejects = query(db, "SELECT run_id, stage, reason FROM rejects WHERE page_id = ? ORDER BY run_id", [page_id])
    assert [(run, stage) for run, stage, _ in rejects] == [(2, "archive"), (3, "archive")]
    assert all(f"expands past {OBJECT_CAP} bytes" in reason for _, _, reason in rejects)
    last = json.loads((tmp_path / "warehouse.duckdb.last-run.json").read_text())
    assert (last["status"], last["exit_code"]) == (case["status"], case["exit"])


PEAK_RSS = """
import resource, sys
from pathlib import Path
from pipeline.archive import Archive
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
reason = Archive(Path(sys.argv[1])).object_problem(sys.argv[2])
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print((after - before) * 1024, reason)
"""


def test_reading_a_bomb_object_at_the_default_cap_stays_in_bounds(seed_archive) -> None:
    """At the default cap (64 MiB) a 1 GiB bomb costs a child process at most the cap, not the gigabyte."""
    _, sha, path = seed_object(seed_archive)
    plant_bomb(path, size=1024 * MiB)
    env = {k: v for k, v in os.environ.items() if k != MAX_OBJECT_BYTES_ENV}
    env["PYTHONPATH"] = str(REPO_ROOT)
    done = subprocess.run([sys.executable, "-c", PEAK_RSS, str(seed_archive), sha], capture_output=True, text=True,
                          env=env, timeout=300, check=True)  # fmt: skip
    grew, reason = done.stdout.split(" ", 1)
    assert "expands past 67108864 bytes" in reason
    assert int(grew) < 256 * MiB, f"peak RSS grew by {int(grew) // MiB} MiB for a 1024 MiB bomb"


# -- files handed to `archive add` ------------------------------------------------------------------


def _add(run_cli, path: Path) -> subprocess.CompletedProcess[str]:
    return run_cli("archive", "add", str(path), "--source", "publications.iom.int", "--format", "text-listing",
                   timeout=60)  # fmt: skip


@pytest.mark.fault(
    fault="`archive add` of a FIFO, `/dev/zero`, `/dev/urandom`, a directory or a socket",
    does="refused before anything is read (the kind checked, opened without blocking), nothing written",
    status="",
    exit=2,
    recorded="one `error:` line",
)
@pytest.mark.parametrize("kind", ["fifo", "dev-zero", "dev-urandom", "directory", "socket"])
def test_archive_add_refuses_what_is_not_a_regular_file(tmp_path, empty_archive, run_cli, kind, request) -> None:
    expected = {
        "fifo": "a FIFO (named pipe)",
        "dev-zero": "a character device",
        "dev-urandom": "a character device",
        "directory": "a directory",
        "socket": "a socket",
    }[kind]
    holder: socket.socket | None = None
    if kind == "fifo":
        target = tmp_path / "pipe.txt"
        os.mkfifo(target)  # nobody writes to it: a reader that opens it blocks for ever
    elif kind == "dev-zero":
        target = Path("/dev/zero")
    elif kind == "dev-urandom":
        target = Path("/dev/urandom")
    elif kind == "directory":
        target = tmp_path / "folder"
        target.mkdir()
    else:
        target = tmp_path / "s.sock"
        holder = socket.socket(socket.AF_UNIX)
        holder.bind(str(target))
    try:
        result = _add(run_cli, target)
    finally:
        if holder is not None:
            holder.close()
    assert result.returncode == fault_case(request)["exit"], result.stdout + result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"error: {target.name}: not archived: {expected}, not a regular file"), line
    assert list(empty_archive.iterdir()) == []


def test_archive_add_reads_at_most_the_limit_whatever_the_size_said(tmp_path, empty_archive, run_cli) -> None:
    """A regular file whose size says 0 but which holds more (procfs, or one still growing) is read
    up to the limit + 1 bytes and refused; a symlink is judged by what it points to."""
    from pipeline.admit import read_page_file
    from pipeline.errors import PageRefused

    status = Path("/proc/self/status")
    assert stat.S_ISREG(status.stat().st_mode) and status.stat().st_size == 0
    with pytest.raises(PageRefused, match="more than 100 bytes is over the 100-byte limit"):
        read_page_file(status, 100, tmp_path / "s.toml")
    page = tmp_path / "page.txt"
    page.write_bytes(b"Skip to main content\nA teaser\n" * 10)
    assert read_page_file(page, 300, tmp_path / "s.toml") == page.read_bytes()
    with pytest.raises(PageRefused, match="over the 299-byte limit"):
        read_page_file(page, 299, tmp_path / "s.toml")
    # a symlink to a regular file is a regular file; to a device, a device
    link = tmp_path / "link.txt"
    link.symlink_to(page)
    assert read_page_file(link, 1000, tmp_path / "s.toml") == page.read_bytes()
    (tmp_path / "zero").symlink_to("/dev/zero")
    with pytest.raises(PageRefused, match="a character device"):
        read_page_file(tmp_path / "zero", 1000, tmp_path / "s.toml")
    missing = _add(run_cli, tmp_path / "nowhere.txt")
    assert missing.returncode == 2
    assert missing.stderr.strip() == "error: nowhere.txt: not archived: no such file"
    assert stat.S_ISDIR(empty_archive.stat().st_mode) and list(empty_archive.iterdir()) == []
