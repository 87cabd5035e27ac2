"""The worker's batch delivery puts each output on the partition aiokafka's `send()` would have chosen."""

from __future__ import annotations

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.partitioner import DefaultPartitioner

from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.delivery import deliver
from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.stream.app import key_partitioner
from seqsignal.workers.stream.metrics import WorkerMetrics


class _Sender:
    """The `BatchSender` interface over a plain aiokafka producer (as `IdempotentProducer` offers it)."""

    def __init__(self, producer: AIOKafkaProducer) -> None:
        self.producer = producer

    async def partitioner_for(self, topic: str):  # type: ignore[no-untyped-def]
        await self.producer.partitions_for(topic)
        return key_partitioner(self.producer, self.producer._partitioner, topic)

    def create_batch(self):  # type: ignore[no-untyped-def]
        return self.producer.create_batch()

    async def send_batch(self, batch, topic: str, partition: int):  # type: ignore[no-untyped-def]
        return await self.producer.send_batch(batch, topic, partition=partition)


@pytest.mark.partitions(6)
async def test_batches_land_where_send_would_put_each_key(kafka_bootstrap: str, topics: Topics) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", enable_idempotence=True,
                                partitioner=DefaultPartitioner())
    await producer.start()
    try:
        topic, keys = topics.behavior, [f"user-{i}".encode() for i in range(300)]
        await producer.partitions_for(topic)
        picks = key_partitioner(producer, producer._partitioner, topic)
        expected = {k: producer._partition(topic, None, None, None, k, None) for k in keys}
        assert {k: picks(k) for k in keys} == expected and len(set(expected.values())) == 6
        records = [OutRecord(topic, k, b"v-" + k, [("ce_id", k)], task="behavior") for k in keys]
        await deliver(_Sender(producer), records, WorkerMetrics())
        sent = [await (await producer.send(topic, b"v-" + k, key=k)) for k in keys[:20]]  # per-record send
        assert [m.partition for m in sent] == [expected[k] for k in keys[:20]]
    finally:
        await producer.stop()
    landed = await _read(kafka_bootstrap, topic, 6, len(keys) + 20)
    for p in range(6):  # each partition holds its keys in the order they were sent: the batch, then the sends
        assert [k for k, q in landed if q == p] == [k for k in [*keys, *keys[:20]] if expected[k] == p]


async def _read(bootstrap: str, topic: str, partitions: int, n: int) -> list[tuple[bytes, int]]:
    """(key, partition) of the first `n` records of `topic`, partition by partition, each in offset order."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None,
                                auto_offset_reset="earliest")
    await consumer.start()
    try:
        consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
        out: list[tuple[bytes, int]] = []
        for _ in range(50):
            for tp, recs in (await consumer.getmany(timeout_ms=500)).items():
                out += [(r.key, tp.partition) for r in recs]
            if len(out) >= n:
                break
        return sorted(out, key=lambda kp: kp[1])
    finally:
        await consumer.stop()
