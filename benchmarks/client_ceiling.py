"""The raw client ceiling: aiokafka consume -> produce with no framework, no Redis, no model (issue 11).

One consumer in the worker's group settings (earliest, no auto-commit), one idempotent acks=all producer
with the worker's linger (5 ms); `getmany(max_records=max_size, timeout=max_wait)` per batch, each action
re-emitted unchanged to the behavior topic (each post to the sentiment topic), and the batch's offsets
committed only after every send of the batch is acknowledged: the worker's delivery contract without faust.
Run: `python -m benchmarks.client_ceiling` with the same SEQSIGNAL_* environment as `seqsignal worker`.
"""

from __future__ import annotations

import asyncio
import signal

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import aiokafka_kwargs
from seqsignal.workers.settings import load_settings
from seqsignal.workers.stream.app import MAX_POLL_RECORDS


async def pump(stop: asyncio.Event) -> None:
    """Consume both input topics and pass every record through until `stop` is set."""
    s = load_settings(web_port=0)
    topics = Topics(prefix=s.kafka.topic_prefix)
    route = {topics.actions: topics.behavior, topics.posts: topics.sentiment}
    batch = {topics.actions: s.actions_batch, topics.posts: s.posts_batch}
    max_size = max(b.max_size for b in batch.values())
    max_wait_s = min(b.max_wait_s for b in batch.values())
    kw = aiokafka_kwargs(s.kafka)
    consumer = AIOKafkaConsumer(*route, group_id=s.worker_id, auto_offset_reset="earliest",
                                enable_auto_commit=False, max_poll_records=MAX_POLL_RECORDS, **kw)
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, linger_ms=5,
                                max_request_size=4 * 1024 * 1024, **kw)
    await consumer.start()
    await producer.start()
    try:
        while not stop.is_set():
            got = await consumer.getmany(timeout_ms=int(max_wait_s * 1000), max_records=max_size)
            if not got:
                continue
            sends = [await producer.send(route[tp.topic], value=r.value, key=r.key)
                     for tp, records in got.items() for r in records]
            await asyncio.gather(*sends)  # every output acknowledged (acks=all), then the commit
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in got.items()})
    finally:
        await producer.stop()
        await consumer.stop()


def main() -> None:
    async def run() -> None:
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await pump(stop)

    asyncio.run(run())


if __name__ == "__main__":
    main()
