"""Bounded exponential backoff with jitter for transient Redis (and other) errors."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.exceptions

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,
    TimeoutError,
)


async def with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int,
    base_delay: float,
    max_delay: float = 5.0,
    retry_on: tuple[type[BaseException], ...] = TRANSIENT,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Await `fn()`, retrying up to `attempts` times in all on `retry_on` errors.

    Waits base_delay * 2**(n-1), capped at max_delay, with full jitter in [d/2, d]; the last error is
    raised. `on_retry(attempt, error)` is called before each wait (metrics). Only the error class is
    logged, never its message (it may carry a URL or data).
    """
    if attempts < 1:
        raise ValueError("attempts must be >= 1")
    for attempt in range(1, attempts + 1):
        try:
            return await fn()
        except retry_on as exc:
            if attempt == attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            delay = min(max_delay, base_delay * 2 ** (attempt - 1))
            delay = random.uniform(delay / 2, delay)
            log.warning(
                "transient %s, retry %d/%d in %.3fs", type(exc).__name__, attempt, attempts - 1, delay
            )
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")
