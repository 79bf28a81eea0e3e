"""Create the HTTP client: the one place that knows which client library the crawler uses.

The crawler speaks httpx's client API (httpx's last release is 0.28.1, December 2024); under it
runs one of two transports, `CrawlerConfig.http_transport`:
- "aiohttp" (the default): httpx-aiohttp's transport over aiohttp's connection pool and C HTTP
  parser. Measured by `python -m bench crawl` (both transports, same run): 1.65x the pages/s of
  httpx's own pool in a sequential GET loop (httpx's pool probes every idle connection on each
  request), 1.3-2.0x in the crawl phase;
- "httpx": httpx's own transport (httpcore + h11), the reference.
Should either need replacing, this module is the only import to change.

Bodies are decoded here, not by httpx: httpx hands each raw chunk to zlib in one call, so 1.8 KB
sent as `Content-Encoding: gzip, gzip` became gigabytes in memory before any size check saw a
byte. `BodyDecoder` undoes each layer in steps no larger than what is left of the body limit,
and the client asks only for the codings it can undo (`ACCEPT_ENCODING`).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
import zlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING

import httpx

from pipeline.sources import CrawlerConfig

if TYPE_CHECKING:
    import aiohttp

#: the exception types callers may need; re-exported so nothing else imports httpx
TimeoutException = httpx.TimeoutException
TransportError = httpx.TransportError
ConnectError = httpx.ConnectError
HTTPError = httpx.HTTPError
AsyncClient = httpx.AsyncClient
Response = httpx.Response

#: the content codings the crawler asks for and undoes itself (no brotli or zstd library here)
CONTENT_CODINGS = ("gzip", "deflate")
ACCEPT_ENCODING = ", ".join(CONTENT_CODINGS)
_ALIASES = {"x-gzip": "gzip", "identity": ""}
#: the longest header line the aiohttp transport reads: httpx's own limit for a whole header block
HEADER_BYTES = 100 * 1024
#: most bytes one zlib call may produce
_STEP = 64 * 1024


class BodyTooLarge(Exception):
    """A body, or one of its content-coding layers, decodes to more than the limit."""

    def __init__(self, limit: int, layer: str) -> None:
        self.limit, self.layer = limit, layer
        super().__init__(f"{layer} decodes to more than {limit} bytes")


class UndecodableBody(Exception):
    """A body that is not what its Content-Encoding says, or an encoding the crawler never asked for."""


#: layers of Content-Encoding decoded at most: no server compresses a page three times on purpose,
#: and a header of a thousand `gzip` would cost a thousand inflations of up to the body limit each
MAX_CODINGS = 3


def content_codings(header: str | None) -> list[str]:
    """The codings of a `Content-Encoding` value in the order they were applied; UndecodableBody
    for one the crawler did not ask for (a server may not send those, RFC 9110 section 12.5.3)."""
    codings = [_ALIASES.get(c, c) for c in (part.strip().lower() for part in (header or "").split(","))]
    unknown = [c for c in codings if c and c not in CONTENT_CODINGS]
    if unknown:
        raise UndecodableBody(
            f"Content-Encoding {', '.join(unknown[:3])!s} was not asked for (Accept-Encoding: {ACCEPT_ENCODING})"
        )
    codings = [c for c in codings if c]
    if len(codings) > MAX_CODINGS:  # each layer may inflate to the limit: N layers cost N times the work
        raise UndecodableBody(f"{len(codings)} content codings stacked; at most {MAX_CODINGS} are decoded")
    return codings


class _Layer:
    """One content coding undone as a stream, never producing more than `limit` bytes in all."""

    def __init__(self, coding: str, limit: int, name: str) -> None:
        self.coding, self.limit, self.name = coding, limit, name
        self.produced = 0
        self._raw_deflate = False  # "deflate" is zlib-wrapped by the RFC; some servers send it raw
        self._fresh = True
        self._inflater = self._new()
        self._trailer = False

    def _new(self) -> zlib._Decompress:
        if self.coding == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zlib.decompressobj(-zlib.MAX_WBITS if self._raw_deflate else zlib.MAX_WBITS)

    def _inflate(self, data: bytes) -> bytes:
        want = min(_STEP, self.limit - self.produced + 1)
        try:
            piece = self._inflater.decompress(data, want)
        except zlib.error as exc:
            if self.coding == "deflate" and self._fresh and not self._raw_deflate:
                self._raw_deflate = True
                self._inflater = self._new()
                return self._inflate(data)
            raise UndecodableBody(f"{self.name} is not valid {self.coding}: {exc}") from exc
        self._fresh = False
        self.produced += len(piece)
        if self.produced > self.limit:
            raise BodyTooLarge(self.limit, self.name)
        return piece

    def feed(self, data: bytes) -> Iterator[bytes]:
        """Decoded pieces of `data`, each at most 64 KiB, until the layer's limit is passed."""
        while data and not self._trailer:
            if self._inflater.eof:  # gzip allows members one after another; zeros or junk after are ignored
                if self.coding != "gzip" or not data.startswith(b"\x1f"):
                    self._trailer = True
                    return
                self._inflater = self._new()
            want = min(_STEP, self.limit - self.produced + 1)
            piece = self._inflate(data)
            if piece:
                yield piece
            data = self._inflater.unconsumed_tail
            while not data and not self._inflater.eof and len(piece) == want:  # input used, output pending
                want = min(_STEP, self.limit - self.produced + 1)
                piece = self._inflate(b"")
                if piece:
                    yield piece
            if self._inflater.eof:
                data = self._inflater.unused_data

    def finish(self) -> None:
        """UndecodableBody if the body ended before this layer's compressed stream did."""
        if not self._fresh and not self._inflater.eof:
            raise UndecodableBody(f"{self.name} ends before its {self.coding} stream does (truncated)")


class BodyDecoder:
    """A body's content codings undone layer by layer as its raw bytes arrive, each under `limit`.

    Every layer's output is passed on in pieces of at most 64 KiB, so memory holds the decoded
    body (at most `limit`) and a piece per layer, whatever the compressed bytes expand to.
    """

    def __init__(self, codings: list[str], limit: int) -> None:
        self.limit = limit
        count = len(codings)
        # applied in header order, so undone from the last
        self._layers = [
            _Layer(c, limit, f"{c} layer {count - i} of {count}" if count > 1 else f"{c} body")
            for i, c in enumerate(reversed(codings))
        ]
        self.raw_bytes = 0

    def feed(self, raw: bytes) -> Iterator[bytes]:
        """The decoded pieces of one raw chunk; BodyTooLarge when any layer passes the limit."""
        self.raw_bytes += len(raw)
        if self.raw_bytes > self.limit:
            raise BodyTooLarge(self.limit, "the body as sent" if self._layers else "the body")
        pieces = [raw]
        for layer in self._layers:  # layer by layer; at most MAX_CODINGS of them
            pieces = [out for piece in pieces for out in layer.feed(piece)]
        yield from pieces

    def finish(self) -> None:
        """UndecodableBody when a layer's stream was cut short."""
        for layer in self._layers:
            layer.finish()


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """One TLS context (certifi's CA bundle) for every client of the process.

    httpx builds and loads a new one per client by default, 40-170 ms each; the crawler makes one
    client per site. An SSLContext may be shared by clients and threads.
    """
    return httpx.create_ssl_context()


def make_client(
    config: CrawlerConfig, *, connect_timeout: float | None = None, connections: int = 32
) -> httpx.AsyncClient:
    """An async client with the crawler's identity, timeouts and no automatic redirects.

    Redirects are followed by the fetcher itself, hop by hop, so that each hop is checked
    against the source's allowed hosts and robots.txt before any request is sent.

    The crawler makes one client per site with `connections` set to the site's concurrency: every
    connection stays open for the next request (a smaller keep-alive pool than the slots closes and
    reopens connections all crawl long), and the pool scanned on each request is the site's alone.
    """
    timeout = httpx.Timeout(
        connect=connect_timeout or config.connect_timeout,
        read=config.read_timeout,
        write=config.read_timeout,
        pool=config.read_timeout * 4,
    )
    return httpx.AsyncClient(
        headers={"User-Agent": config.user_agent, "From": config.contact, "Accept-Encoding": ACCEPT_ENCODING},
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
        verify=_tls_context(),
        transport=_aiohttp_transport(connections) if config.http_transport == "aiohttp" else None,
    )


def _aiohttp_transport(connections: int) -> httpx.AsyncBaseTransport:
    """httpx-aiohttp's transport on a session made here: aiohttp keeps no cookies of its own (httpx's
    client does, and sends them with each request) and decompresses nothing (BodyDecoder does)."""
    import aiohttp
    from httpx_aiohttp import AiohttpTransport
    from httpx_aiohttp.transport import AiohttpResponseStream

    def session() -> aiohttp.ClientSession:  # called inside the event loop, on the first request
        connector = aiohttp.TCPConnector(limit=connections, keepalive_timeout=5.0, ssl=_tls_context())
        made = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),
            trust_env=False,
            auto_decompress=False,
            # httpx's own transport (h11 under httpcore) takes header blocks up to 100 KiB and any
            # number of headers; aiohttp's defaults (8 KiB a line, 128 headers) would refuse pages
            # with a long Content-Security-Policy or many Set-Cookie lines that httpx loads
            max_line_size=HEADER_BYTES,
            max_field_size=HEADER_BYTES,
            max_headers=HEADER_BYTES // 4,
        )
        # aiohttp silently sends a GET again when a kept-alive connection hangs up; the fetcher's
        # retry policy (max_retries, backoff, Retry-After) must be the only one (aiohttp's own
        # test client turns this off the same way). A private attribute: fail loudly if it goes.
        if not hasattr(made, "_retry_connection"):
            raise RuntimeError("aiohttp no longer has ClientSession._retry_connection: see pipeline/http.py")
        made._retry_connection = False
        return made

    class Transport(AiohttpTransport):
        """The request sent and its answer handed to httpx here, every failure as an httpx error.

        httpx-aiohttp's own version encodes the status line's reason as UTF-8, which a server
        sending a Latin-1 reason turns into a UnicodeEncodeError (an error no fetcher catches, with
        the answer never released: each such answer would hold a pooled connection); its mapping
        calls any closed connection a ConnectTimeout and lets the rest through as aiohttp types.
        The session, its lifetime and the body stream are still the library's.
        """

        async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
            if not isinstance(self.client, aiohttp.ClientSession):
                self.client = self.get_client()
            timeout = request.extensions.get("timeout", {})
            try:
                answer = await self.client.request(
                    request.method,
                    str(request.url),
                    headers=request.headers,
                    data=request.content or None,
                    allow_redirects=False,
                    auto_decompress=False,
                    compress=False,
                    timeout=aiohttp.ClientTimeout(
                        sock_connect=timeout.get("connect"), sock_read=timeout.get("read"), connect=timeout.get("pool")
                    ),
                ).__aenter__()
            except Exception as exc:
                raise _httpx_error(exc, request) from exc
            try:
                return httpx.Response(
                    status_code=answer.status,
                    headers=answer.raw_headers,
                    stream=_Body(AiohttpResponseStream(answer), request),
                    request=request,
                    # aiohttp decodes the reason with surrogateescape: these are the bytes as sent
                    extensions={
                        "http_version": b"HTTP/1.1",
                        "reason_phrase": (answer.reason or "").encode("utf-8", "surrogateescape"),
                    },
                )
            except Exception as exc:
                answer.release()
                raise _httpx_error(exc, request) from exc

    return Transport(client=session, trust_env=False, verify=_tls_context())  # not a new TLS context per client


class _Body(httpx.AsyncByteStream):
    def __init__(self, stream: httpx.AsyncByteStream, request: httpx.Request) -> None:
        self._stream, self._request = stream, request

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._stream:
                yield chunk
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc

    async def aclose(self) -> None:
        try:
            await self._stream.aclose()
        except Exception as exc:
            raise _httpx_error(exc, self._request) from exc


def _httpx_error(exc: Exception, request: httpx.Request) -> Exception:
    """The nearest httpx exception for an aiohttp failure (unwrapping httpx-aiohttp's own mapping).

    Known differences with httpx's own transport, all retryable or harmless to the fetcher: a
    wait for a pooled connection is a ConnectTimeout (httpx: PoolTimeout), a reset mid-read a
    TransportError (httpx: ReadError), and a bad header or body framing httpx tolerates may be a
    RemoteProtocolError. A cancellation (a BaseException) never comes here.
    """
    import aiohttp
    from aiohttp.http_exceptions import HttpProcessingError

    cause = exc.__cause__ if isinstance(exc, httpx.HTTPError) and exc.__cause__ is not None else exc
    message = str(cause) or type(cause).__name__
    kinds: list[tuple[type[BaseException] | tuple[type[BaseException], ...], type[httpx.RequestError]]] = [
        (aiohttp.ConnectionTimeoutError, httpx.ConnectTimeout),
        ((aiohttp.ServerTimeoutError, asyncio.TimeoutError), httpx.ReadTimeout),
        (aiohttp.ClientConnectorError, httpx.ConnectError),
        (  # httpx's names: a body cut short is a protocol error there too
            (aiohttp.ClientPayloadError, aiohttp.ServerDisconnectedError, aiohttp.ClientResponseError),
            httpx.RemoteProtocolError,
        ),
        (HttpProcessingError, httpx.RemoteProtocolError),
        ((aiohttp.InvalidURL, aiohttp.NonHttpUrlClientError), httpx.UnsupportedProtocol),
        ((aiohttp.ClientError, ConnectionError), httpx.TransportError),
    ]
    if isinstance(exc, httpx.HTTPError) and cause is exc:
        return exc
    for aio, ours in kinds:
        if isinstance(cause, aio):
            return ours(message, request=request)
    if isinstance(cause, (UnicodeError, ValueError)):  # an answer the parser could not take apart
        return httpx.RemoteProtocolError(f"{type(cause).__name__}: {message}", request=request)
    return exc
