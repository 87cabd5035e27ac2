"""Readiness from a background probe: answers at once whatever hangs; false while a neighbour is away."""

from __future__ import annotations

import asyncio
import socket
import time
from types import SimpleNamespace
from typing import Any

from seqsignal.workers.retry import Outage
from seqsignal.workers.settings import KafkaSettings
from seqsignal.workers.stream.health import Health, broker_answers


class FakeRuntime:
    def __init__(self, redis: Any) -> None:
        self.group_joined = True
        self.engine = SimpleNamespace(warm=True)
        self.settings = SimpleNamespace(kafka=KafkaSettings())
        self._redis = redis

    async def redis_ok(self, timeout_s: float = 1.0) -> bool:
        return bool(await self._redis())


async def _hangs() -> bool:
    await asyncio.sleep(3600)
    return True


async def _up() -> bool:
    return True


async def test_readiness_is_cached_and_a_hanging_probe_counts_as_down() -> None:
    outage = Outage()
    health = Health(FakeRuntime(_hangs), broker_probe=_hangs, outage=outage, timeout_s=0.05)  # type: ignore[arg-type]
    assert health.readiness() == (
        False,
        {"group_joined": True, "models_warm": True, "broker": False, "redis": False, "no_outage": True},
    )  # never probed: not ready
    t0 = time.monotonic()
    await health.probe_once()
    assert time.monotonic() - t0 < 0.5  # both probes bounded by the timeout, side by side
    t0 = time.monotonic()
    ok, checks = health.readiness()
    assert time.monotonic() - t0 < 0.1 and not ok and not checks["broker"] and not checks["redis"]

    health = Health(FakeRuntime(_up), broker_probe=_up, outage=outage, timeout_s=0.05)  # type: ignore[arg-type]
    await health.probe_once()
    assert health.readiness()[0]
    assert not health.readiness(rebalancing=True)[0]
    outage.begin("redis")  # a batch is held waiting for Redis
    assert health.readiness() == (
        False,
        {"group_joined": True, "models_warm": True, "broker": True, "redis": True, "no_outage": False},
    )
    outage.end("redis")
    assert health.readiness()[0]


async def test_broker_probe_needs_an_answer_not_just_an_accept() -> None:
    """A listener that accepts and never replies (a frozen broker) is down; a closed port too."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)
    port = silent.getsockname()[1]
    try:
        t0 = time.monotonic()
        assert not await broker_answers(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"), timeout_s=0.2)
        assert time.monotonic() - t0 < 1.0
    finally:
        silent.close()
    assert not await broker_answers(KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}"), timeout_s=0.2)
