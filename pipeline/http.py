"""Create the HTTP client: the one place that knows which client library the crawler uses.

httpx's last release is 0.28.1 (December 2024). Should it need replacing by a maintained fork
with the same API, this module is the only import to change.
"""

from __future__ import annotations

import functools
import ssl

import httpx

from pipeline.sources import CrawlerConfig

#: the exception types callers may need; re-exported so nothing else imports httpx
TimeoutException = httpx.TimeoutException
TransportError = httpx.TransportError
ConnectError = httpx.ConnectError
HTTPError = httpx.HTTPError
AsyncClient = httpx.AsyncClient


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
        headers={"User-Agent": config.user_agent, "From": config.contact, "Accept-Encoding": "gzip, deflate"},
        timeout=timeout,
        follow_redirects=False,
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        trust_env=False,
        verify=_tls_context(),
    )
