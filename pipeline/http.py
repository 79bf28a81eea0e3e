"""Create the HTTP client: the one place that knows which client library the crawler uses.

httpx's last release is 0.28.1 (December 2024). Should it need replacing by a maintained fork
with the same API, this module is the only import to change.
"""

from __future__ import annotations

import httpx

from pipeline.sources import CrawlerConfig

#: the exception types callers may need; re-exported so nothing else imports httpx
TimeoutException = httpx.TimeoutException
TransportError = httpx.TransportError
ConnectError = httpx.ConnectError
HTTPError = httpx.HTTPError
AsyncClient = httpx.AsyncClient


def make_client(config: CrawlerConfig, *, connect_timeout: float | None = None) -> httpx.AsyncClient:
    """An async client with the crawler's identity, timeouts and no automatic redirects.

    Redirects are followed by the fetcher itself, hop by hop, so that each hop is checked
    against the source's allowed hosts and robots.txt before any request is sent.
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
        limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
        trust_env=False,
    )
