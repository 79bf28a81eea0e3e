"""`serve-oai` under load and against hostile clients, as a real server process on 127.0.0.1.

Issue 18: 1,000 parallel requests to the endpoint gave connection resets and HTTP 500s (DuckDB out
of memory); a POST body that stops short and slow-header connections were held for ever; a
resumption token of nested brackets was a 500. What each test expects comes from HTTP (RFC 9110:
408, 413, 414, 503 with Retry-After; RFC 6585: 431) and OAI-PMH 2.0 (badResumptionToken, HTTP 200),
and from the limits the test gives the server, never from the server's own answers.

The clients are asyncio on raw sockets (bench/oai_load.py, which also prints the figures), so a
thousand connections are really open at once and a reset is seen as one.
"""

from __future__ import annotations

import asyncio
import base64
import re
import resource
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from lxml import etree

from bench.oai_load import Outcome, hammer, harvest_mix, one, request_bytes, serve, slow_clients, wait_until
from pipeline import oai, oai_cli
from tests.conftest import copy_seed_archive, ingest_archive
from tests.fault_table import fault_case

#: generous bounds for a slow, shared machine: they stop a test that would hang, they time nothing
GIVE_UP = 90.0
OAI = "{http://www.openarchives.org/OAI/2.0/}"
SCHEMA = etree.XMLSchema(etree.parse(str(Path(__file__).parent / "schemas" / "OAI-PMH.xsd")))


def parse(body: bytes) -> etree._Element:
    """Strictly parsed and valid against the OAI-PMH schema (as tests/test_oai.py checks every answer)."""
    root = etree.fromstring(body, etree.XMLParser(resolve_entities=False, no_network=True))
    SCHEMA.assertValid(root)
    return root


@pytest.fixture(scope="module")
def warehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real warehouse file: one offline ingest of the seed archive (100 editions)."""
    base = tmp_path_factory.mktemp("oai-load")
    db = base / "warehouse.duckdb"
    assert ingest_archive(copy_seed_archive(base / "raw"), db).status == "ok"
    return db


@pytest.fixture(scope="module")
def tight(warehouse: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int, Path]]:
    """A server with one worker, no queue and one-second deadlines: (host, port, its log)."""
    workdir = tmp_path_factory.mktemp("tight")
    options = ("--workers", "1", "--queue", "0", "--header-timeout", "1", "--body-timeout", "1", "--page-size", "100")
    with serve(warehouse, workdir, *options) as (endpoint, _):
        url = urlsplit(endpoint)
        yield url.hostname or "127.0.0.1", url.port or 80, workdir / "serve-oai.log"


def run(coro: object) -> object:
    return asyncio.run(coro)  # type: ignore[arg-type]


def codes(request: pytest.FixtureRequest) -> set[int]:
    """The HTTP statuses the test's fault marker promises."""
    return {int(c) for c in re.findall(r"\b[1-5]\d\d\b", fault_case(request)["status"])}


def is_oai_answer(outcome: Outcome) -> bool:
    root = parse(outcome.body)
    return root.tag == f"{OAI}OAI-PMH" and root.find(f"{OAI}error") is None


def retry_after(outcome: Outcome) -> int:
    value = (outcome.headers or {}).get("retry-after", "")
    return int(value) if value.isdigit() else 0


def no_server_errors(log: Path) -> None:
    text = log.read_text()
    assert "Traceback" not in text and "ERROR" not in text, text[-3000:]


def test_cli_defaults_are_the_librarys() -> None:
    limits = oai.ServerLimits()
    assert (limits.workers, limits.queue) == (oai_cli.WORKERS, oai_cli.QUEUE)
    assert (limits.header_timeout, limits.body_timeout) == (oai_cli.HEADER_TIMEOUT, oai_cli.BODY_TIMEOUT)
    assert oai_cli.MEMORY_LIMIT == oai.READER_MEMORY_LIMIT
    assert oai_cli.QUERY_TIMEOUT == oai.QUERY_TIMEOUT


@pytest.mark.timeout(120)
def test_the_server_runs_in_a_thread_and_stops_on_shutdown(warehouse: Path) -> None:
    """The standard library servers' use (tests/test_withdrawals.py serves this way): bind, serve in a
    thread, shutdown() from another, server_close()."""
    server = oai.OaiServer(oai.OaiConfig(warehouse, "admin@example.org"), limits=oai.ServerLimits(workers=1))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/oai?verb=Identify"
        with urllib.request.build_opener(urllib.request.ProxyHandler({})).open(url, timeout=GIVE_UP) as response:
            assert response.status == 200
            assert parse(response.read()).find(f"{OAI}Identify/{OAI}baseURL").text == url.split("?")[0]
    finally:
        server.shutdown()
        server.server_close()
    thread.join(GIVE_UP)
    assert not thread.is_alive()
    with pytest.raises(OSError):  # nobody listens any more
        socket.create_connection(("127.0.0.1", server.server_address[1]), timeout=GIVE_UP).close()


@pytest.mark.timeout(240)
@pytest.mark.fault(
    fault="1,000 parallel harvest requests while 1,000 slow-header connections (slowloris) are held",
    does="each request is answered: 200, or 503 with Retry-After once the workers and the queue are full; "
    "no reset, no 500; the slow connections are dropped after `--header-timeout` (408)",
    status="HTTP 200 or 503",
    exit="- (keeps serving)",
    recorded="serve-oai log (a warning per 503)",
)
def test_a_thousand_parallel_requests_get_200_or_503_while_a_thousand_slow_clients_are_held(
    warehouse: Path, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    async def scenario(host: str, port: int, endpoint: str) -> tuple[int, int, list[Outcome], list]:
        async with slow_clients(host, port, 1000, every=1.0) as slow:
            await wait_until(lambda: all(c.opened or c.error for c in slow), GIVE_UP)
            held_before = sum(c.opened and not c.dropped for c in slow)
            outcomes = await hammer(host, port, harvest_mix(endpoint, 1000), timeout=GIVE_UP * 2)
            held_during = sum(c.opened and not c.dropped for c in slow)
            await wait_until(lambda: all(c.dropped or c.error for c in slow), GIVE_UP)
            return held_before, held_during, outcomes, list(slow)

    # this process holds 2,000 connections at once (the server raises its own limit)
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < 4096:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(4096, hard), hard))
    # the header deadline is long enough for the slow clients to be held through the whole burst
    with serve(warehouse, tmp_path, "--header-timeout", "20") as (endpoint, _):
        url = urlsplit(endpoint)
        held_before, held_during, outcomes, slow = run(scenario(url.hostname, url.port, endpoint))  # type: ignore[misc]
    assert held_before == 1000, f"only {held_before} slow connections were open when the burst began"
    statuses = {o.status for o in outcomes}
    assert statuses <= codes(request), [(o.status, o.error) for o in outcomes if o.status not in codes(request)][:10]
    assert 200 in statuses  # the server did serve, not only refuse
    assert all(is_oai_answer(o) for o in outcomes if o.status == 200)
    assert all(retry_after(o) > 0 for o in outcomes if o.status == 503)
    # then the header deadline dropped every slow client (held_during: how many it still held at the end)
    assert all(c.dropped for c in slow), (held_during, sum(not c.dropped for c in slow))
    assert {c.answer.split(b" ", 2)[1] for c in slow if c.answer} <= {b"408"}
    no_server_errors(tmp_path / "serve-oai.log")


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="requests arrive faster than the workers answer (worker pool and queue full)",
    does="the excess is answered at once with 503 and `Retry-After`, never queued without bound, reset or 500",
    status="HTTP 200 or 503",
    exit="- (keeps serving)",
    recorded="serve-oai log (a warning per 503)",
)
def test_a_full_queue_answers_503_with_retry_after(
    tight: tuple[str, int, Path], request: pytest.FixtureRequest
) -> None:
    host, port, log = tight
    mix = [request_bytes("/oai", [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])] * 30
    outcomes: list[Outcome] = run(hammer(host, port, mix, timeout=GIVE_UP))  # type: ignore[assignment]
    statuses = {o.status for o in outcomes}
    # one worker and no queue: 30 requests at once cannot all be taken, and none is lost
    assert statuses == codes(request), [(o.status, o.error) for o in outcomes]
    assert all(retry_after(o) > 0 for o in outcomes if o.status == 503)
    assert all(is_oai_answer(o) for o in outcomes if o.status == 200)
    no_server_errors(log)


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="a request waits in the queue longer than the queue timeout",
    does="answered 503 with `Retry-After` when a worker takes it, not served late",
    status="HTTP 200 or 503",
    exit="- (keeps serving)",
    recorded="serve-oai log (warning: waited)",
)
def test_a_request_that_waited_too_long_for_a_worker_is_a_503(warehouse: Path, request: pytest.FixtureRequest) -> None:
    # one worker, a long queue and a 50 ms wait allowed: 30 ListRecords at once cannot all be taken in time
    limits = oai.ServerLimits(workers=1, queue=100, queue_timeout=0.05)
    server = oai.OaiServer(oai.OaiConfig(warehouse, "admin@example.org"), limits=limits)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        raw = request_bytes("/oai", [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])
        outcomes: list[Outcome] = run(hammer("127.0.0.1", server.server_address[1], [raw] * 30, GIVE_UP))  # type: ignore[assignment]
    finally:
        server.shutdown()
        server.server_close()
    assert {o.status for o in outcomes} == codes(request), [(o.status, o.error) for o in outcomes]
    refused = [o for o in outcomes if o.status == 503]
    assert all(retry_after(o) > 0 and b"waited" in o.body for o in refused)


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="a POST that declares Content-Length 50 and sends 13 bytes",
    does="dropped after `--body-timeout` with 408; other requests are answered meanwhile",
    status="HTTP 408",
    exit="- (keeps serving)",
    recorded="serve-oai log",
)
def test_a_post_body_that_stops_short_is_dropped(tight: tuple[str, int, Path], request: pytest.FixtureRequest) -> None:
    host, port, log = tight

    async def scenario() -> tuple[list, Outcome]:
        async with slow_clients(host, port, 20, body=True, every=0.2) as slow:
            await wait_until(lambda: all(c.opened or c.error for c in slow), GIVE_UP)
            meanwhile = await one(host, port, request_bytes("/oai", [("verb", "Identify")]), GIVE_UP)
            await wait_until(lambda: all(c.dropped or c.error for c in slow), GIVE_UP)
            return list(slow), meanwhile

    slow, meanwhile = run(scenario())  # type: ignore[misc]
    assert meanwhile.status == 200 and is_oai_answer(meanwhile)
    assert all(c.opened and c.dropped for c in slow), [(c.opened, c.dropped, c.error) for c in slow]
    # 408 (RFC 9110 15.5.9), or closed if the client is reset before reading it; never an answer to the request
    answered = {int(c.answer.split(b" ", 2)[1]) for c in slow if c.answer}
    assert answered and answered <= codes(request)  # told why, not only hung up on
    no_server_errors(log)


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="slow-header clients (slowloris): a header line every 0.2 s, never the end of the head",
    does="dropped after `--header-timeout` (a total for the head, not per read) with 408",
    status="HTTP 408",
    exit="- (keeps serving)",
    recorded="serve-oai log",
)
def test_slow_headers_are_dropped_at_the_header_deadline(
    tight: tuple[str, int, Path], request: pytest.FixtureRequest
) -> None:
    host, port, log = tight

    async def scenario() -> list:
        async with slow_clients(host, port, 50, every=0.2) as slow:
            await wait_until(lambda: all(c.dropped or c.error for c in slow), GIVE_UP)
            return list(slow)

    slow = run(scenario())
    # every read got bytes well within the deadline: only a total deadline for the head ends them
    assert all(c.opened and c.dropped for c in slow), [(c.opened, c.dropped, c.error) for c in slow]
    assert {int(c.answer.split(b" ", 2)[1]) for c in slow if c.answer} <= codes(request)
    assert any(c.answer for c in slow)
    no_server_errors(log)


OVERSIZED = [
    # (case, request, status the RFCs give it)
    ("request line of 70,000 bytes", f"GET /oai?verb=Identify&x={'a' * 70_000} HTTP/1.1\r\n\r\n".encode(), 414),
    ("200 header fields", b"GET /oai?verb=Identify HTTP/1.1\r\n" + b"X-A: b\r\n" * 200 + b"\r\n", 431),
    ("one header of 70,000 bytes", b"GET /oai?verb=Identify HTTP/1.1\r\nX-A: " + b"b" * 70_000 + b"\r\n\r\n", 431),
    (
        "POST body of 100,000 bytes",
        b"POST /oai HTTP/1.1\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100000\r\n\r\n"
        + b"verb=Identify&x="
        + b"a" * 99_984,
        413,
    ),
]


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="an oversized request: request line, header fields or POST body past the caps",
    does="refused before it is read whole: 414 (request line), 431 (headers), 413 (body), then the connection closes",
    status="HTTP 413, 414 or 431",
    exit="- (keeps serving)",
    recorded="serve-oai log",
)
def test_oversized_requests_are_refused(tight: tuple[str, int, Path], request: pytest.FixtureRequest) -> None:
    host, port, log = tight
    for case, raw, expected in OVERSIZED:
        outcome: Outcome = run(one(host, port, raw, GIVE_UP))  # type: ignore[assignment]
        assert expected in codes(request)
        assert outcome.status == expected, (case, outcome.status, outcome.error)
    assert run(one(host, port, request_bytes("/oai", [("verb", "Identify")]), GIVE_UP)).status == 200  # type: ignore[attr-defined]
    no_server_errors(log)


@pytest.mark.parametrize(
    "length", ["\u00b2", "9" * 5_000, "-1", "0x10"], ids=["superscript", "5000-digits", "neg", "hex"]
)
def test_a_content_length_that_is_no_number_is_a_400(tight: tuple[str, int, Path], length: str) -> None:
    host, port, log = tight
    head = (
        f"POST /oai HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        f"Content-Length: {length}\r\n\r\nverb=Identify"
    )
    outcome: Outcome = run(one(host, port, head.encode("utf-8"), GIVE_UP))  # type: ignore[assignment]
    assert outcome.status == 400, (outcome.status, outcome.error)
    no_server_errors(log)


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


HOSTILE_TOKENS = {
    "40,000 nested brackets": _b64(b"[" * 40_000),
    "900 nested brackets (under the length cap)": _b64(b"[" * 900),
    "2,000 nested objects": _b64(b'{"a":' * 2_000),
    "60,000 characters": "A" * 60_000,
    "garbage bytes": _b64(bytes(range(256))),
    "not base64": "%%%***",
}


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="a hostile resumption token: 40,000 nested brackets, huge, garbage",
    does="OAI error `badResumptionToken` (length capped, nesting refused), never a 500",
    status="HTTP 200",
    exit="- (keeps serving)",
    recorded="the OAI-PMH answer",
)
@pytest.mark.parametrize("post", [False, True], ids=["GET", "POST"])
def test_hostile_resumption_tokens_are_bad_resumption_tokens(
    tight: tuple[str, int, Path], request: pytest.FixtureRequest, post: bool
) -> None:
    host, port, log = tight
    for case, token in HOSTILE_TOKENS.items():
        raw = request_bytes("/oai", [("verb", "ListRecords"), ("resumptionToken", token)], post=post)
        outcome: Outcome = run(one(host, port, raw, GIVE_UP))  # type: ignore[assignment]
        assert outcome.status in codes(request), (case, outcome.status, outcome.body[:200])
        errors = parse(outcome.body).findall(f"{OAI}error")
        assert [e.get("code") for e in errors] == ["badResumptionToken"], case
    no_server_errors(log)


def test_a_token_nested_past_the_recursion_limit_is_refused_without_a_server() -> None:
    """The decoder alone, for a token under the length cap whose JSON nests deeper than Python recurses."""
    # well-formed JSON too: nesting alone must not get past the decoder
    for token in (_b64(b"[" * 2_400), _b64(b"[" * 1_500 + b"1" + b"]" * 1_500)):
        assert len(token) <= oai.MAX_TOKEN
        with pytest.raises(oai.OaiError) as caught:
            oai.decode_token(token, "ListRecords")
        assert caught.value.code == "badResumptionToken"


@pytest.mark.timeout(120)
@pytest.mark.fault(
    fault="DuckDB runs out of the server's memory limit during a request",
    does="503 with `Retry-After` for that request (not 500); the server keeps serving",
    status="HTTP 503",
    exit="- (keeps serving)",
    recorded="serve-oai log (warning: out of memory)",
)
def test_duckdb_out_of_memory_is_a_503(warehouse: Path, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    # the seed warehouse's queries need more than 1 MB of DuckDB memory (measured: 16 MB is not enough)
    with serve(warehouse, tmp_path, "--memory-limit", "1MB") as (endpoint, _):
        url = urlsplit(endpoint)
        raw = request_bytes("/oai", [("verb", "ListRecords"), ("metadataPrefix", "oai_dc")])
        outcomes: list[Outcome] = run(hammer(url.hostname or "", url.port or 80, [raw] * 3, GIVE_UP))  # type: ignore[assignment]
        assert run(one(url.hostname or "", url.port or 80, raw, GIVE_UP)).status in codes(request)  # type: ignore[attr-defined]
    assert {o.status for o in outcomes} == codes(request)
    assert all(retry_after(o) > 0 for o in outcomes)
    assert "out of memory" in (tmp_path / "serve-oai.log").read_text()
    no_server_errors(tmp_path / "serve-oai.log")
