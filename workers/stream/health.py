"""HTTP endpoints on the faust web server: /livez (process only), /readyz (cached status), /metrics.

`/readyz` never waits on a neighbour: it serves the status a background probe keeps current (every
`PROBE_INTERVAL_S`; each probe bounded by `PROBE_TIMEOUT_S`), so it answers at once whatever hangs (a frozen
Redis, a broker that accepts connections and never replies). It is false while the broker or Redis is
unreachable, while a batch is held because Redis is away (`retry.OUTAGES`), before the consumer group is
joined or during a rebalance, and until the models are warm. `/livez` only proves the event loop answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import struct
import time
from collections.abc import Awaitable, Callable
from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from seqsignal.workers.kafka import servers, ssl_context
from seqsignal.workers.retry import OUTAGES, Outage
from seqsignal.workers.settings import KafkaSettings
from seqsignal.workers.stream.runtime import Runtime

log = logging.getLogger(__name__)
PROBE_INTERVAL_S = 1.0
PROBE_TIMEOUT_S = 0.8
_API_VERSIONS_V0 = struct.pack(">hhih", 18, 0, 0x5EC5, 9) + b"readiness"  # key, version, corr id, client id


async def broker_answers(kafka: KafkaSettings, timeout_s: float = PROBE_TIMEOUT_S) -> bool:
    """True when some bootstrap broker answers an ApiVersions request within `timeout_s` (a TCP accept alone
    is not enough: a frozen broker still accepts). Allowed before SASL authentication; TLS when configured."""

    async def one(server: str) -> bool:
        host, _, port = server.rpartition(":")
        reader, writer = await asyncio.open_connection(host, int(port), ssl=ssl_context(kafka))
        try:
            writer.write(struct.pack(">i", len(_API_VERSIONS_V0)) + _API_VERSIONS_V0)
            await writer.drain()
            size, correlation = struct.unpack(">ii", await reader.readexactly(8))
            return correlation == 0x5EC5 and size >= 4
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    for server in servers(kafka):
        with contextlib.suppress(Exception):
            if await asyncio.wait_for(one(server), timeout_s):
                return True
    return False


class Health:
    """Readiness status, kept current by `probe_once` (looped by `run`); `readiness()` only reads it."""

    def __init__(
        self,
        runtime: Runtime,
        broker_probe: Callable[[], Awaitable[bool]] | None = None,
        outage: Outage = OUTAGES,
        timeout_s: float = PROBE_TIMEOUT_S,
    ) -> None:
        self.runtime = runtime
        self.outage = outage
        self.timeout_s = timeout_s
        self._broker_probe = broker_probe or (lambda: broker_answers(runtime.settings.kafka, timeout_s))
        self.broker = False
        self.redis = False
        self.probed_at: float | None = None

    async def probe_once(self) -> None:
        """Probe the broker and Redis side by side, each bounded by the timeout (a hang counts as down)."""

        async def bounded(probe: Awaitable[bool]) -> bool:
            try:
                return bool(await asyncio.wait_for(probe, self.timeout_s))
            except Exception:
                return False

        self.broker, self.redis = await asyncio.gather(
            bounded(self._broker_probe()), bounded(self.runtime.redis_ok(self.timeout_s))
        )
        self.probed_at = time.monotonic()

    async def run(self, interval_s: float = PROBE_INTERVAL_S) -> None:
        while True:
            t0 = time.monotonic()
            await self.probe_once()
            await asyncio.sleep(max(0.0, interval_s - (time.monotonic() - t0)))

    def readiness(self, rebalancing: bool = False) -> tuple[bool, dict[str, Any]]:
        """(ready, checks) from the last probe; never awaits anything."""
        fresh = self.probed_at is not None and time.monotonic() - self.probed_at < 5 * PROBE_INTERVAL_S + 5
        checks = {
            "group_joined": self.runtime.group_joined and not rebalancing,
            "models_warm": self.runtime.engine.warm,
            "broker": self.broker and fresh,
            "redis": self.redis and fresh,
            "no_outage": not self.outage.active,  # no batch held waiting for Redis
        }
        return all(checks.values()), checks


def attach_health(app: faust.App, runtime: Runtime) -> Health:
    """Register the three views, the background probe and the consumer group's first completed rebalance."""
    health = Health(runtime)

    async def on_rebalance_complete(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        runtime.group_joined = True

    app.on_rebalance_complete.connect(on_rebalance_complete)  # type: ignore[arg-type]

    @app.task
    async def readiness_probe() -> None:
        await health.run()

    @app.page("/livez")
    async def livez(self: View, request: Request) -> Response:
        # The event loop answered: the process is alive. Deliberately no Kafka or Redis check here.
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        ok, checks = health.readiness(rebalancing=app.rebalancing)
        return self.json(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
        )

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        body = runtime.metrics.exposition()
        return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])

    return health
