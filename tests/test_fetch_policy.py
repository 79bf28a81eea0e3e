"""The retry and politeness policies as pure functions (the fetcher itself is tested on loopback)."""

from __future__ import annotations

import asyncio
import email.utils
import itertools
import time
from datetime import UTC, datetime, timedelta

from tenacity import RetryCallState

from pipeline.errors import RetryableFetchError
from pipeline.fetch import HostGate, retry_after_seconds, retry_wait
from pipeline.sources import CrawlerConfig


def test_retry_after_accepts_seconds_and_http_dates() -> None:
    assert retry_after_seconds("7") == 7.0
    later = email.utils.format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 <= retry_after_seconds(later) <= 31
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds(None) is None


def _state(attempt: int, exc: BaseException) -> RetryCallState:
    state = RetryCallState(retry_object=None, fn=None, args=(), kwargs={})  # type: ignore[arg-type]
    state.attempt_number = attempt
    state.set_exception((type(exc), exc, None))
    return state


def test_wait_honours_retry_after_up_to_the_cap() -> None:
    wait = retry_wait(CrawlerConfig(retry_after_cap=10.0))
    assert wait(_state(1, RetryableFetchError("u", "HTTP 429", retry_after=3))) == 3
    assert wait(_state(1, RetryableFetchError("u", "HTTP 429", retry_after=3600))) == 10.0


def test_backoff_grows_and_is_capped() -> None:
    config = CrawlerConfig(backoff_base=0.5, backoff_max=4.0)
    wait = retry_wait(config)
    first = [wait(_state(1, RetryableFetchError("u", "timeout"))) for _ in range(20)]
    fourth = [wait(_state(4, RetryableFetchError("u", "timeout"))) for _ in range(20)]
    assert max(first) <= 0.5 + 0.5
    assert min(fourth) >= 4.0 - 1e-9 or min(fourth) > max(first)
    assert max(wait(_state(12, RetryableFetchError("u", "timeout"))) for _ in range(20)) <= 4.0 + 0.5


def test_host_gate_spaces_requests_by_the_stricter_of_rate_and_crawl_delay() -> None:
    async def timed(gate: HostGate, n: int) -> list[float]:
        stamps: list[float] = []

        async def one() -> None:
            async with gate:
                stamps.append(time.monotonic())

        await asyncio.gather(*(one() for _ in range(n)))
        return sorted(stamps)

    stamps = asyncio.run(timed(HostGate(rate_per_second=20, concurrency=4), 5))
    gaps = [b - a for a, b in itertools.pairwise(stamps)]
    assert min(gaps) >= 0.05 * 0.8
    gate = HostGate(rate_per_second=100, concurrency=4, crawl_delay=0.1)
    assert gate.interval == 0.1
    stamps = asyncio.run(timed(gate, 3))
    assert stamps[-1] - stamps[0] >= 0.2 * 0.8
