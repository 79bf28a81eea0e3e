"""Load on `serve-oai`: a thousand parallel harvest requests, with and without a thousand slow clients.

Issue 18 measured the endpoint on the standard library's threading server: 1,000 parallel requests
gave 680 connection resets and 753 HTTP 500s (DuckDB out of memory), p50 107 s, and 1,000 slowloris
connections were never dropped. The goal: every request answered 200 or 503 (with Retry-After),
no reset, no 500, also while 1,000 slow connections are held open; and the slow ones dropped after
the header deadline. Printed: the status counts, throughput (answers per second, 503s included, and
200s per second), p50/p95 latency of the 200s and of all answers, and the server's peak RSS
(VmHWM of the process, read from /proc).

The server is a real `python -m pipeline serve-oai` process on 127.0.0.1 (only loopback is ever a
target), on a warehouse of the bundled seed archive (or `--db FILE`). The client is asyncio on raw
sockets, so a thousand connections are really open at once and a reset is seen as a reset.

    python -m bench.oai_load [--requests 1000] [--slow 1000] [--db FILE] [serve-oai options after --]

The helpers (`hammer`, `slow_clients`, `Outcome`) are also what tests/test_oai_load.py drives.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode, urlsplit

from tests.oai_serving import serve  # a real server process, started as the tests start it

REPO = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Outcome:
    """What one connection got: an HTTP status, or why there was none (a reset, an early close)."""

    status: int | None
    seconds: float
    error: str | None = None
    headers: dict[str, str] | None = None
    body: bytes = b""


def request_bytes(path: str, params: Sequence[tuple[str, str]] = (), *, post: bool = False) -> bytes:
    """A whole HTTP/1.1 request, as a harvester sends it."""
    query = urlencode(list(params))
    if post:
        return (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            f"Content-Length: {len(query)}\r\nConnection: close\r\n\r\n{query}"
        ).encode()
    target = f"{path}?{query}" if query else path
    return f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode()


def parse_response(data: bytes) -> tuple[int | None, dict[str, str], bytes]:
    """Status, headers (lower-case names) and body of one response; None when it is not HTTP."""
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    found = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    if not found:
        return None, {}, data
    headers = {}
    for line in lines[1:]:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    return int(found.group(1)), headers, body


async def one(host: str, port: int, raw: bytes, timeout: float) -> Outcome:
    """Send one request on its own connection and read until the server closes it."""
    started = time.perf_counter()
    try:
        async with asyncio.timeout(timeout):
            reader, writer = await asyncio.open_connection(host, port)
            try:
                writer.write(raw)
                await writer.drain()
                data = await reader.read()
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except (OSError, TimeoutError) as exc:
        return Outcome(None, time.perf_counter() - started, type(exc).__name__)
    status, headers, body = parse_response(data)
    error = None if status is not None else ("closed without an answer" if not data else "not HTTP")
    return Outcome(status, time.perf_counter() - started, error, headers, body)


async def hammer(host: str, port: int, requests: Sequence[bytes], timeout: float = 300.0) -> list[Outcome]:
    """All the requests at once, each on its own connection."""
    return list(await asyncio.gather(*(one(host, port, raw, timeout) for raw in requests)))


@dataclass
class SlowClient:
    """A client that sends a request head a line at a time, for ever (slowloris) or a body that
    stops short; `dropped` once the server answered or closed, with what it sent."""

    opened: bool = False
    dropped: bool = False
    answer: bytes = b""
    error: str | None = None


async def _slow(host: str, port: int, client: SlowClient, head: bytes, drip: bytes | None, every: float) -> None:
    try:
        reader, writer = await asyncio.open_connection(host, port)
    except OSError as exc:
        client.error = type(exc).__name__
        return
    try:
        writer.write(head)
        await writer.drain()
        client.opened = True
        while True:
            try:
                data = await asyncio.wait_for(reader.read(4096), every)
            except TimeoutError:
                if drip is not None:
                    writer.write(drip)
                    await writer.drain()
                continue
            client.answer += data
            if not data:
                client.dropped = True
                return
    except OSError as exc:  # a reset while dripping: the server let go of it too
        client.dropped, client.error = True, type(exc).__name__
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


@contextlib.asynccontextmanager
async def slow_clients(
    host: str, port: int, count: int, *, body: bool = False, every: float = 1.0
) -> AsyncIterator[list[SlowClient]]:
    """`count` slow connections held open (until the server drops them or the block ends).

    Headers (default): a request line and one header, then one more header line every `every`
    seconds, so the connection is never idle. Body: a complete POST head declaring 50 bytes, then
    13 of them and nothing more.
    """
    if body:
        head = (
            b"POST /oai HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/x-www-form-urlencoded\r\n"
            b"Content-Length: 50\r\n\r\nverb=Identify"
        )
        drip = None
    else:
        head, drip = b"GET /oai?verb=Identify HTTP/1.1\r\nHost: 127.0.0.1\r\n", b"X-Slow: 1\r\n"
    clients = [SlowClient() for _ in range(count)]
    tasks = [asyncio.create_task(_slow(host, port, c, head, drip, every)) for c in clients]
    try:
        yield clients
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def wait_until(predicate: object, seconds: float, step: float = 0.1) -> bool:
    """Poll `predicate()` until true or `seconds` pass (a bound for a test, not a measurement)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return True
        await asyncio.sleep(step)
    return bool(predicate())  # type: ignore[operator]


# ---------------------------------------------------------------------------------------------
# the server process (`serve`, shared with the tests: tests/oai_serving.py)


def peak_rss_mib(pid: int) -> float:
    """The process's peak resident set (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def harvest_mix(endpoint: str, count: int) -> list[bytes]:
    """What a crowd of harvesters asks: first pages of lists, Identify, ListSets, GetRecord, POSTs."""
    path = urlsplit(endpoint).path
    listing = [("metadataPrefix", "oai_dc")]
    mix = [
        request_bytes(path, [("verb", "ListRecords"), *listing]),
        request_bytes(path, [("verb", "ListIdentifiers"), *listing]),
        request_bytes(path, [("verb", "Identify")]),
        request_bytes(path, [("verb", "ListSets")]),
        request_bytes(path, [("verb", "ListRecords"), *listing], post=True),
    ]
    return [mix[i % len(mix)] for i in range(count)]


def build_warehouse(workdir: Path) -> Path:
    """A warehouse of the bundled seed archive (raw/), by one offline ingest."""
    raw, db = workdir / "raw", workdir / "w.duckdb"
    shutil.copytree(REPO / "raw", raw, ignore=shutil.ignore_patterns(".*.lock"))
    command = [sys.executable, "-m", "pipeline", "ingest", "--offline", "--db", str(db), "--raw", str(raw)]
    subprocess.run(command, check=True, capture_output=True, cwd=workdir)
    return db


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def report(name: str, outcomes: list[Outcome], seconds: float) -> str:
    statuses = Counter(o.status if o.status is not None else f"no answer ({o.error})" for o in outcomes)
    ok = [o.seconds for o in outcomes if o.status == 200]
    every = [o.seconds for o in outcomes if o.status is not None]
    no_retry = sum(1 for o in outcomes if o.status == 503 and not (o.headers or {}).get("retry-after"))
    return (
        f"{name}: {len(outcomes)} requests in {seconds:.1f}s; statuses {dict(sorted(statuses.items(), key=str))}"
        f"{f'; {no_retry} 503s WITHOUT Retry-After' if no_retry else ''}\n"
        f"  throughput {len(every) / seconds:.0f} answers/s ({len(ok) / seconds:.0f} x 200/s); "
        f"latency of 200s p50 {_percentile(ok, 50):.2f}s p95 {_percentile(ok, 95):.2f}s; "
        f"of all answers p50 {_percentile(every, 50):.2f}s p95 {_percentile(every, 95):.2f}s"
    )


async def _run(endpoint: str, pid: int, requests: int, slow: int) -> None:
    url = urlsplit(endpoint)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    mix = harvest_mix(endpoint, requests)
    started = time.perf_counter()
    outcomes = await hammer(host, port, mix)
    print(report(f"{requests} parallel", outcomes, time.perf_counter() - started), flush=True)
    print(f"  server peak RSS {peak_rss_mib(pid):.0f} MiB", flush=True)
    async with slow_clients(host, port, slow) as clients:
        await wait_until(lambda: sum(c.opened or c.error is not None for c in clients) == slow, 60)
        held = sum(c.opened and not c.dropped for c in clients)
        started = time.perf_counter()
        outcomes = await hammer(host, port, mix)
        elapsed = time.perf_counter() - started
        still = sum(c.opened and not c.dropped for c in clients)
        print(report(f"{requests} parallel while {held} slow-header connections are held", outcomes, elapsed))
        print(f"  slow connections still held when the last answer came: {still}", flush=True)
        began = time.perf_counter()
        await wait_until(lambda: all(c.dropped or c.error for c in clients), 600)
        dropped = Counter(
            (parse_response(c.answer)[0] or "closed") if c.dropped else "held" for c in clients if c.opened
        )
        print(f"  slow connections after {time.perf_counter() - began:.1f}s more: {dict(dropped)}")
    print(f"  server peak RSS {peak_rss_mib(pid):.0f} MiB", flush=True)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.oai_load", description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=1000)
    parser.add_argument("--db", type=Path, help="a warehouse to serve (default: one of the seed archive)")
    parser.add_argument("options", nargs="*", help="serve-oai options, after --")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="oai-load-") as tmp:
        workdir = Path(tmp)
        db = args.db or build_warehouse(workdir)
        with serve(db, workdir, *args.options) as (endpoint, proc):
            print(f"serve-oai {' '.join(args.options) or '(defaults)'} at {endpoint}, {db}", flush=True)
            asyncio.run(_run(endpoint, proc.pid, args.requests, args.slow))


if __name__ == "__main__":
    main()
