"""Fetch one URL politely and safely; never parses, never writes the warehouse.

Politeness and safety live here, per request: the host's rate and concurrency gate, robots.txt
for every hop, redirects only within the source's allowed hosts, a size limit enforced while
streaming, accepted content types only, conditional requests, and the retry policy:

- retried (exponential backoff with jitter, `Retry-After` honoured up to a cap): timeouts,
  connection errors, truncated bodies, 429 and 5xx;
- not retried: other 4xx, refused redirects, disallowed URLs, oversized or non-HTML bodies,
  bodies whose Content-Encoding is unknown or that decode past `max_body_bytes` (bombs);
- a request that ran into its total `request_deadline` is retried once, not `max_retries` times:
  a server that drips its answer will drip it again, so it costs at most two deadlines per URL.

Bodies are read raw and decoded here, each Content-Encoding layer bounded by `max_body_bytes`
(`http.BodyDecoder`): the library's own decoding expands a chunk in one call, before any check.

The only module besides `pipeline/http.py` that touches the HTTP library's exceptions: it turns
them into `FetchOutcome`s, so nothing downstream catches library errors.
"""

from __future__ import annotations

import asyncio
import email.utils
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import urljoin

from aiolimiter import AsyncLimiter
from protego import Protego
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt, wait_exponential_jitter

from pipeline import http
from pipeline.errors import FetchError, RetryableFetchError
from pipeline.sources import CrawlerConfig, Source

REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: response headers worth keeping: they drive conditional requests and explain outcomes
KEPT_HEADERS = ("etag", "last-modified", "content-type", "content-length", "retry-after", "location")


class DeadlineExceeded(RetryableFetchError):
    """A request that ran into its total `request_deadline`: retried once, not `max_retries` times."""


#: how many times a URL may run into its request deadline before it is given up
DEADLINE_ATTEMPTS = 2


@dataclass
class FetchOutcome:
    """What happened to one request, success or not; every outcome is logged."""

    url: str
    kind: str
    outcome: str = "pending"  # fetched | not_modified | refused | failed | disallowed | unreachable
    status: int | None = None
    final_url: str | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reason: str | None = None
    attempts: int = 0
    elapsed_ms: int = 0
    fetched_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))
    conditional: bool = False


class HostGate:
    """Per-host politeness: at most `concurrency` requests in flight, spaced by the rate.

    The rate is the stricter of the configured one and robots.txt's Crawl-delay. aiolimiter's
    leaky bucket with a capacity of one request gives even spacing rather than bursts.
    """

    def __init__(self, rate_per_second: float, concurrency: int, crawl_delay: float | None = None) -> None:
        interval = 1.0 / rate_per_second
        if crawl_delay:
            interval = max(interval, crawl_delay)
        self.interval = interval
        self._limiter = AsyncLimiter(1, interval)
        self._slots = asyncio.Semaphore(concurrency)

    async def __aenter__(self) -> HostGate:
        await self._slots.acquire()
        try:
            await self._limiter.acquire()
        except BaseException:
            self._slots.release()
            raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._slots.release()


def retry_after_seconds(value: str | None) -> float | None:
    """Retry-After as seconds: either delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def retry_wait(config: CrawlerConfig) -> Callable[[RetryCallState], float]:
    """The retry policy's wait: the server's Retry-After (capped) if it gave one, else backoff."""
    backoff = wait_exponential_jitter(
        multiplier=config.backoff_base, max=config.backoff_max, jitter=config.backoff_base
    )

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, RetryableFetchError) and exc.retry_after is not None:
            return min(exc.retry_after, config.retry_after_cap)
        return backoff(state)

    return wait


class Fetcher:
    """Fetches URLs of one source through its gate, obeying its robots.txt."""

    def __init__(
        self,
        client: http.AsyncClient,
        config: CrawlerConfig,
        source: Source,
        gate: HostGate,
        robots: Protego | None = None,
    ) -> None:
        self.client = client
        self.config = config
        self.source = source
        self.gate = gate
        self.robots = robots

    def allowed_by_robots(self, url: str) -> bool:
        return self.robots is None or self.robots.can_fetch(url, self.config.user_agent)

    async def get(
        self, url: str, kind: str, validators: dict[str, str] | None = None, *, deadlines_hit: int = 0
    ) -> FetchOutcome:
        """Fetch with retries; always returns an outcome, never raises for network trouble.

        `deadlines_hit`: how often this URL already ran into a deadline (the probe's try): it counts
        towards the two a URL may spend.
        """
        started = time.monotonic()
        outcome = FetchOutcome(url=url, kind=kind, conditional=bool(validators))
        cap = self.config.retry_after_cap
        hits = [deadlines_hit]

        def again(exc: BaseException) -> bool:
            if not isinstance(exc, RetryableFetchError):
                return False
            if isinstance(exc, DeadlineExceeded):
                hits[0] += 1
                if hits[0] >= DEADLINE_ATTEMPTS:  # it dripped twice: it will drip again
                    return False
            # a server asking for more than the cap is not waited for: the URL is given up now
            return not (exc.retry_after and exc.retry_after > cap)

        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.config.max_retries + 1),
            wait=retry_wait(self.config),
            retry=retry_if_exception(again),
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    outcome.attempts += 1
                    await self._once(url, validators, outcome)
        except RetryableFetchError as exc:
            outcome.outcome, outcome.reason = "failed", f"{exc.reason} (after {outcome.attempts} attempts)"
            if isinstance(exc, DeadlineExceeded) and hits[0] >= DEADLINE_ATTEMPTS:
                outcome.reason = f"{exc.reason} twice: not retried again (after {outcome.attempts} attempts)"
            if exc.retry_after and exc.retry_after > cap:
                outcome.reason = (
                    f"{exc.reason} with Retry-After {exc.retry_after:.0f}s, above the {cap:g}s cap: "
                    "not waited for, skipped"
                )
        except FetchError as exc:
            if outcome.outcome == "pending":
                outcome.outcome = "failed"
            outcome.reason = exc.reason
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome

    async def _once(self, url: str, validators: dict[str, str] | None, outcome: FetchOutcome) -> None:
        current = url
        for _hop in range(self.config.max_redirects + 1):
            if not self.source.allows(current):
                outcome.outcome = "refused"
                raise FetchError(url, f"redirect to {current} leaves the allowed hosts {self.source.allowed_hosts}")
            if not self.allowed_by_robots(current):
                outcome.outcome = "disallowed"
                raise FetchError(url, f"{current} is disallowed by robots.txt")
            headers = {}
            if validators and current == url:
                if validators.get("etag"):
                    headers["If-None-Match"] = validators["etag"]
                if validators.get("last-modified"):
                    headers["If-Modified-Since"] = validators["last-modified"]
            async with self.gate:
                status, kept, body = await self._request(current, headers, outcome)
            outcome.status, outcome.headers, outcome.final_url = status, kept, current
            if status in REDIRECT_STATUSES and kept.get("location"):
                current = urljoin(current, kept["location"])
                continue
            self._classify(url, status, kept, body, outcome)
            return
        outcome.outcome = "refused"
        raise FetchError(url, f"more than {self.config.max_redirects} redirects")

    async def _request(
        self, url: str, headers: dict[str, str], outcome: FetchOutcome
    ) -> tuple[int, dict[str, str], bytes | None]:
        limit = self.config.max_body_bytes
        deadline = self.config.request_deadline
        try:
            async with asyncio.timeout(deadline), self.client.stream("GET", url, headers=headers) as resp:
                kept = {k: resp.headers[k] for k in KEPT_HEADERS if k in resp.headers}
                status = resp.status_code
                outcome.status, outcome.headers = status, kept
                if status == 429 or status >= 500:
                    raise RetryableFetchError(
                        url, f"HTTP {status}", retry_after=retry_after_seconds(kept.get("retry-after"))
                    )
                if status != 200:
                    return status, kept, None
                declared = kept.get("content-length")
                if declared and declared.isdigit() and int(declared) > limit:
                    outcome.outcome = "refused"
                    raise FetchError(url, f"body of {declared} bytes is over the {limit}-byte limit")
                if not self._accepted(kept.get("content-type", "")):
                    outcome.outcome = "refused"
                    raise FetchError(url, f"content type {kept.get('content-type')!r} is not accepted")
                return status, kept, await self._body(url, resp, limit, outcome)
        except TimeoutError as exc:  # asyncio.timeout: the whole request took too long
            raise DeadlineExceeded(url, f"no complete answer within the {deadline:g}s request deadline") from exc
        except http.TimeoutException as exc:
            raise RetryableFetchError(url, f"timeout ({type(exc).__name__})") from exc
        except http.TransportError as exc:
            raise RetryableFetchError(url, f"{type(exc).__name__}: {exc}") from exc
        except http.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
            raise RetryableFetchError(url, f"{type(exc).__name__}: {exc}") from exc

    async def _body(self, url: str, resp: http.Response, limit: int, outcome: FetchOutcome) -> bytes:
        """The body read raw and decoded layer by layer, refused once any layer passes `limit`.

        A bomb or an encoding never asked for is refused (not retried: the same bytes would come
        back); a stream cut short is retried like a truncated body.
        """
        try:
            decoder = http.BodyDecoder(http.content_codings(resp.headers.get("content-encoding")), limit)
        except http.UndecodableBody as exc:
            outcome.outcome = "refused"
            raise FetchError(url, str(exc)) from exc
        chunks: list[bytes] = []
        try:
            async for raw in resp.aiter_raw():
                chunks.extend(decoder.feed(raw))
            decoder.finish()
        except http.BodyTooLarge as exc:
            outcome.outcome = "refused"
            if exc.layer.startswith("the body"):  # the bytes as sent, before any decoding
                raise FetchError(url, f"body is over the {limit}-byte limit (stopped reading)") from exc
            raise FetchError(
                url,
                f"body refused: {exc.layer} decodes to more than the {limit}-byte limit "
                f"(Content-Encoding: {resp.headers.get('content-encoding')}; a decompression bomb?), stopped decoding",
            ) from exc
        except http.UndecodableBody as exc:
            raise RetryableFetchError(url, f"undecodable body: {exc}") from exc
        return b"".join(chunks)

    async def probe(self, url: str, kind: str, validators: dict[str, str] | None = None) -> FetchOutcome:
        """First request to a host: one quick try that tells an unreachable host from a slow one.

        An unreachable host (DNS failure, refused or unanswered connection within the probe
        timeout) is not retried page by page: the caller skips the whole source. Any answer,
        even a 5xx, proves the host is there and goes through the normal retrying `get`.
        """
        started = time.monotonic()
        outcome = FetchOutcome(url=url, kind=kind, attempts=1, conditional=bool(validators))
        try:
            async with asyncio.timeout(self.config.probe_timeout):
                await self._once(url, validators, outcome)
        except FetchError as exc:
            answered = outcome.status is not None
            if not answered:
                outcome.outcome = "unreachable"
                outcome.reason = f"host unreachable: {exc.reason}"
            elif isinstance(exc, RetryableFetchError):
                return await self.get(url, kind, validators, deadlines_hit=int(isinstance(exc, DeadlineExceeded)))
            else:
                outcome.outcome = "failed" if outcome.outcome == "pending" else outcome.outcome
                outcome.reason = exc.reason
        except TimeoutError:
            if outcome.status is not None:  # it answered, slowly: a slow host, not a missing one
                # the probe's deadline ran out: one more try is all a dripping host gets
                return await self.get(url, kind, validators, deadlines_hit=1)
            outcome.outcome = "unreachable"
            outcome.reason = f"host unreachable: no answer within {self.config.probe_timeout:g}s"
        outcome.elapsed_ms = int((time.monotonic() - started) * 1000)
        return outcome

    def _accepted(self, content_type: str) -> bool:
        media = content_type.split(";")[0].strip().lower()
        return not media or media in self.config.accept_content_types

    def _classify(self, url: str, status: int, kept: dict[str, str], body: bytes | None, outcome: FetchOutcome) -> None:
        if status == 304:
            outcome.outcome = "not_modified"
        elif status == 200:
            outcome.outcome, outcome.body = "fetched", body
        else:
            outcome.outcome = "failed"
            raise FetchError(url, f"HTTP {status}")
