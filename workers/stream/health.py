"""HTTP endpoints on the faust web server: /livez (process only), /readyz (group, models, Redis), /metrics."""

from __future__ import annotations

from typing import Any

import faust
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST

from seqsignal.workers.stream.runtime import Runtime


def attach_health(app: faust.App, runtime: Runtime) -> None:
    """Register the three views and track the consumer group's first completed rebalance."""

    async def on_rebalance_complete(sender: Any, *args: Any, signal: Any = None, **kwargs: Any) -> None:
        runtime.group_joined = True

    app.on_rebalance_complete.connect(on_rebalance_complete)  # type: ignore[arg-type]

    @app.page("/livez")
    async def livez(self: View, request: Request) -> Response:
        # The event loop answered: the process is alive. Deliberately no Kafka or Redis check here.
        return self.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(self: View, request: Request) -> Response:
        checks = await runtime.ready()
        checks["group_joined"] = checks["group_joined"] and not app.rebalancing
        ok = all(checks.values())
        return self.json(
            {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
        )

    @app.page("/metrics")
    async def metrics(self: View, request: Request) -> Response:
        body = runtime.metrics.exposition()
        return self.bytes(body, content_type=CONTENT_TYPE_LATEST.split(";")[0])
