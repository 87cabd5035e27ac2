"""The ceiling: the worker's faust/aiokafka consumer and producer passing actions through, no Redis, no model.

Same app factory (`workers.app.create_app`: idempotent acks=all producer, consumer tuning), same
`take_events(max_size, within=max_wait)` batching, same `workers.delivery.deliver` (a batch's input is acked
only after its outputs are), concurrency=1. Each action is re-emitted unchanged to the behavior topic, so
the output names the event it covers and carries its created_at. Run: `python -m benchmarks.ceiling`
with the same SEQSIGNAL_* environment as `seqsignal worker`.
"""

from __future__ import annotations

from typing import cast

import faust

from seqsignal.schemas.topics import Topics
from seqsignal.settings import load_settings
from seqsignal.workers.agents import raw_event
from seqsignal.workers.app import create_app
from seqsignal.workers.delivery import deliver
from seqsignal.workers.metrics import WorkerMetrics
from seqsignal.workers.records import OutRecord


def main() -> None:
    settings = load_settings(web_port=0)
    topics = Topics(prefix=settings.kafka.topic_prefix)
    app = create_app(settings)
    metrics = WorkerMetrics()
    src = app.topic(topics.actions, key_type=bytes, value_type=bytes, key_serializer="raw",
                    value_serializer="raw")
    batch = settings.actions_batch

    @app.agent(src, name="bench.ceiling", concurrency=1)
    async def passthrough(stream: faust.StreamT) -> None:
        async for events in cast(faust.Stream, stream).take_events(batch.max_size, within=batch.max_wait_s):
            raws = [raw_event(e) for e in events]
            out = [OutRecord(topics.behavior, r.key, r.value, [], "behavior") for r in raws]
            await deliver(app.producer, out, metrics)

    faust.Worker(app, loglevel="WARNING", redirect_stdouts=False, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
