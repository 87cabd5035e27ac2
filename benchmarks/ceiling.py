"""The ceiling: the worker's faust/aiokafka consumer and producer passing events through, no Redis, no model.

Same app factory (`workers.app.create_app`: idempotent acks=all producer, consumer tuning), same
`event_batches(max_size, max_wait)` batching, same `workers.delivery.deliver` (a batch's input is acked
only after its outputs are), concurrency=1. Each action is re-emitted unchanged to the behavior topic (each
post to the sentiment topic), so the output names the event it covers. Run: `python -m benchmarks.ceiling`
with the same SEQSIGNAL_* environment as `seqsignal worker`.

`--stock` (the `stock_ceiling` case of the bench): faust's own consumption path instead, its per-record
fetch hand-over (`Consumer._drain_messages`) and `Stream.take_events`, i.e. the faust ceiling as it was
before the worker's lean path (workers/stream/consumer.py, batches.py): the reference that path is judged by.
Its outputs go through faust's per-record `producer.send` (`send_each`) and its input through faust's
per-record decode (not the worker's `RawSchema`), as when issue 11 was filed; the worker's closed batch per
partition (`delivery._send_all`) and raw schema are the lean ceiling's and the worker's, not part of the
reference.
"""

from __future__ import annotations

import sys
from typing import Any, cast

import faust
from faust.transport.consumer import Consumer as FaustConsumer

from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.delivery import deliver
from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.settings import BatchSettings, load_settings
from seqsignal.workers.stream.agents import raw_event
from seqsignal.workers.stream.app import create_app
from seqsignal.workers.stream.batches import ack_events, event_batches
from seqsignal.workers.stream.consumer import DrainingConsumer
from seqsignal.workers.stream.metrics import WorkerMetrics
from seqsignal.workers.stream.raw_schema import RawSchema


async def send_each(producer: Any, records: list[OutRecord]) -> None:
    """Stock delivery: one faust `send` per record (each waits out the producer's linger), then every ack."""
    futures = [await producer.send(r.topic, r.key, r.value, None, None, r.headers) for r in records]
    for fut in futures:
        await fut


def main() -> None:
    stock = "--stock" in sys.argv[1:]
    del sys.argv[1:]
    if stock:  # faust's per-record hand-over back in place of the batched one
        DrainingConsumer._drain_messages = FaustConsumer._drain_messages  # type: ignore[method-assign]
    settings = load_settings(web_port=0)
    topics = Topics(prefix=settings.kafka.topic_prefix)
    app = create_app(settings)
    metrics = WorkerMetrics()
    def passthrough(src: str, dst: str, batch: BatchSettings) -> None:
        raw = {"key_type": bytes, "value_type": bytes, "key_serializer": "raw", "value_serializer": "raw"}
        topic = app.topic(src, **raw) if stock else app.topic(src, schema=RawSchema())  # stock: faust decodes

        async def agent(stream: faust.StreamT) -> None:
            size, wait = batch.max_size, batch.max_wait_s
            batches = (cast(faust.Stream, stream).take_events(size, within=wait) if stock
                       else event_batches(app, stream, size, wait))
            async for events in batches:
                out = [OutRecord(dst, r.key, r.value, [], "behavior") for r in map(raw_event, events)]
                await (send_each(app.producer, out) if stock else deliver(app.producer, out, metrics))
                if not stock:  # the lean path acks as the agents do: after the outputs are acknowledged
                    ack_events(app, events)

        app.agent(topic, name=f"bench.ceiling.{dst}", concurrency=1)(agent)

    passthrough(topics.actions, topics.behavior, settings.actions_batch)
    passthrough(topics.posts, topics.sentiment, settings.posts_batch)
    faust.Worker(app, loglevel="WARNING", redirect_stdouts=False, quiet=True).execute_from_commandline()


if __name__ == "__main__":
    main()
