"""Exponential backoff with jitter for transient Redis (and other) errors, bounded or for as long as it takes,
and the `Outage` record that readiness reads while a dependency is down."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import redis.exceptions

T = TypeVar("T")
log = logging.getLogger(__name__)

TRANSIENT: tuple[type[BaseException], ...] = (
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    redis.exceptions.BusyLoadingError,  # a restarted Redis still loading its AOF/RDB
    redis.exceptions.OutOfMemoryError,  # type: ignore[attr-defined]  # maxmemory under noeviction (stubs lag)
    redis.exceptions.ReadOnlyError,  # writing to a replica during a failover
    redis.exceptions.TryAgainError,  # Cluster: slot migrating
    redis.exceptions.ClusterDownError,  # Cluster: slots not covered (MASTERDOWN too)
    ConnectionError,
    TimeoutError,
)


class Outage:
    """Which dependencies are failing right now: set while a call to one of them retries, cleared when a
    call succeeds. `/readyz` reports not-ready while any is set."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def begin(self, dependency: str) -> bool:
        """Mark `dependency` down; True when it was up until now (the caller logs the start once)."""
        if dependency in self._since:
            return False
        self._since[dependency] = time.monotonic()
        return True

    def end(self, dependency: str) -> float | None:
        """Mark `dependency` up; seconds it was down, or None when it was not marked down."""
        since = self._since.pop(dependency, None)
        return None if since is None else time.monotonic() - since

    def down(self) -> dict[str, float]:
        """Each dependency marked down, with the seconds since."""
        now = time.monotonic()
        return {d: now - t for d, t in self._since.items()}

    @property
    def active(self) -> bool:
        return bool(self._since)


OUTAGES = Outage()  # the worker process's record (one worker per process); /readyz reads it


def backoff_delay(attempt: int, base_delay: float, max_delay: float) -> float:
    """The wait before retry `attempt` (1-based): base * 2**(attempt-1), capped, full jitter in [d/2, d]."""
    delay = min(max_delay, base_delay * 2 ** min(attempt - 1, 62))
    return random.uniform(delay / 2, delay)


async def with_retry(
    fn: Callable[[], Awaitable[T]],
    *,
    attempts: int | None,
    base_delay: float,
    max_delay: float = 5.0,
    retry_on: tuple[type[BaseException], ...] = TRANSIENT,
    on_retry: Callable[[int, BaseException], None] | None = None,
) -> T:
    """Await `fn()`, retrying on `retry_on` errors: up to `attempts` calls in all, or forever when `attempts`
    is None (an outage is waited out, never turned into an error).

    Waits base_delay * 2**(n-1), capped at max_delay, with full jitter in [d/2, d]; with a bound, the last
    error is raised. `on_retry(attempt, error)` is called before each wait (metrics, outage tracking). Only
    the error class is logged, never its message (it may carry a URL or data).
    """
    if attempts is not None and attempts < 1:
        raise ValueError("attempts must be >= 1 (or None: no bound)")
    attempt = 0
    while True:
        attempt += 1
        try:
            return await fn()
        except retry_on as exc:
            if attempts is not None and attempt >= attempts:
                raise
            if on_retry is not None:
                on_retry(attempt, exc)
            delay = backoff_delay(attempt, base_delay, max_delay)
            log.warning(
                "transient %s, retry %d/%s in %.3fs",
                type(exc).__name__,
                attempt,
                "inf" if attempts is None else attempts - 1,
                delay,
            )
            await asyncio.sleep(delay)
