"""The ceiling: the worker's faust/aiokafka consumer and producer passing events through, no Redis, no model.

Same app factory (`workers.app.create_app`: idempotent acks=all producer, consumer tuning), same
`take_events(max_size, within=max_wait)` batching, same `workers.delivery.deliver` (a batch's input is acked
only after its outputs are), concurrency=1. Each action is re-emitted unchanged to the behavior topic (each
post to the sentiment topic), so the output names the event it covers. Run: `python -m benchmarks.ceiling`
with the same SEQSIGNAL_* environment as `seqsignal worker`.
"""

from __future__ import annotations

from typing import cast

import faust

from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.delivery import deliver
from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.settings import BatchSettings, load_settings
from seqsignal.workers.stream.agents import raw_event
from seqsignal.workers.stream.app import create_app
from seqsignal.workers.stream.metrics import WorkerMetrics


def main() -> None:
    settings = load_settings(web_port=0)
    topics = Topics(prefix=settings.kafka.topic_prefix)
    app = create_app(settings)
    metrics = WorkerMetrics()
    def passthrough(src: str, dst: str, batch: BatchSettings) -> None:
        topic = app.topic(src, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw")

        async def agent(stream: faust.StreamT) -> None:
            batches = cast(faust.Stream, stream).take_events(batch.max_size, within=batch.max_wait_s)
            async for events in batches:
                out = [OutRecord(dst, r.key, r.value, [], "behavior") for r in map(raw_event, events)]
                await deliver(app.producer, out, metrics)

        app.agent(topic, name=f"bench.ceiling.{dst}", concurrency=1)(agent)

    passthrough(topics.actions, topics.behavior, settings.actions_batch)
    passthrough(topics.posts, topics.sentiment, settings.posts_batch)
    faust.Worker(app, loglevel="WARNING", redirect_stdouts=False, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
