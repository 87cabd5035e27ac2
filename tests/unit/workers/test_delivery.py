"""Delivery: a batch returns only when every record is acknowledged; failures are re-sent, then give up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from seqsignal.workers.pipelines.delivery import Backoff, DeliveryFailed, deliver, redis_call
from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.retry import Outage
from seqsignal.workers.stream.metrics import WorkerMetrics


class FlakyBatch:
    """Stands in for aiokafka's BatchBuilder: holds up to `room` records, then says it is full (None)."""

    def __init__(self, room: int) -> None:
        self.room, self.values, self.closed = room, [], False

    def append(self, *, key: Any, value: bytes, timestamp: Any, headers: Any) -> Any:
        assert not self.closed
        if len(self.values) >= self.room:
            return None
        self.values.append(value)
        return object()

    def close(self) -> None:
        self.closed = True


class FlakyProducer:
    """Stands in for the batch interface (`BatchSender`): a batch is acked or failed as a whole, failed when
    it holds a value that is told to fail."""

    def __init__(self, fail: dict[bytes, int], room: int = 100, partitions: int = 1) -> None:
        self.fail = dict(fail)  # value -> how many more sends of it fail
        self.acked: list[bytes] = []
        self.sends = 0  # records sent
        self.batches: list[tuple[str, int, list[bytes]]] = []
        self.room, self.partitions = room, partitions

    async def partitioner_for(self, topic: str) -> Any:
        return lambda key: int(key or b"0") % self.partitions

    def create_batch(self) -> FlakyBatch:
        return FlakyBatch(self.room)

    async def send_batch(self, batch: FlakyBatch, topic: str, partition: int) -> Any:
        assert batch.closed
        self.sends += len(batch.values)
        self.batches.append((topic, partition, list(batch.values)))
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        failing = [v for v in batch.values if self.fail.get(v, 0) > 0]
        for v in failing:
            self.fail[v] -= 1
        if failing:
            fut.set_exception(ConnectionError("not acknowledged"))
        else:
            self.acked.extend(batch.values)
            fut.set_result(("meta", partition))
        return fut


def _records(n: int) -> list[OutRecord]:
    return [OutRecord("t", None, f"v{i}".encode(), [], task="behavior") for i in range(n)]


async def test_failed_batches_are_resent_until_acknowledged() -> None:
    producer = FlakyProducer({b"v1": 2, b"v3": 1}, room=2)  # batches (v0 v1) (v2 v3) (v4)
    metrics = WorkerMetrics()
    await deliver(producer, _records(5), metrics, Backoff(attempts=5, first_s=0.001, max_s=0.002))
    assert sorted(producer.acked) == [f"v{i}".encode() for i in range(5)]
    assert producer.sends == 5 + 4 + 2  # failed batches are re-sent: (v0 v1)(v2 v3), then (v0 v1)
    assert metrics.retries.labels(op="kafka_produce")._value.get() == 2


async def test_gives_up_with_delivery_failed() -> None:
    producer = FlakyProducer({b"v0": 100}, room=1)
    with pytest.raises(DeliveryFailed):
        await deliver(producer, _records(2), WorkerMetrics(), Backoff(attempts=3, first_s=0.001, max_s=0.001))
    assert producer.acked == [b"v1"]


async def test_one_closed_batch_per_partition_in_record_order() -> None:
    producer = FlakyProducer({}, room=3, partitions=2)
    records = [OutRecord("t", str(i).encode(), f"v{i}".encode(), [], task="behavior") for i in range(8)]
    await deliver(producer, records, WorkerMetrics())
    assert producer.batches == [("t", 0, [b"v0", b"v2", b"v4"]), ("t", 0, [b"v6"]),
                                ("t", 1, [b"v1", b"v3", b"v5"]), ("t", 1, [b"v7"])]


async def test_redis_call_retries_transient_errors_only_and_is_bounded() -> None:
    calls = 0

    async def flaky() -> str:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise TimeoutError("slow")
        return "ok"

    metrics, outage = WorkerMetrics(), Outage()
    assert await redis_call("op", flaky, metrics, attempts=4, outage=outage) == "ok"
    assert metrics.retries.labels(op="redis_op")._value.get() == 2
    calls = -10
    with pytest.raises(TimeoutError):
        await redis_call("op", flaky, metrics, attempts=3, outage=outage)
    assert calls == -7

    async def bug() -> str:
        nonlocal calls
        calls += 1
        raise KeyError("not transient")

    calls = 0
    with pytest.raises(KeyError):
        await redis_call("op", bug, metrics, attempts=5, outage=outage)
    assert calls == 1  # a programming error is not retried


async def test_redis_call_waits_out_an_outage_by_default_and_marks_it_while_it_lasts() -> None:
    """An outage is backpressure: by default the call is retried for as long as it takes (far beyond the
    old budget of 6 attempts), the outage is visible while it lasts and cleared by the first success."""
    outage = Outage()
    calls = 0
    seen_down: list[bool] = []

    async def down_for_a_while() -> str:
        nonlocal calls
        calls += 1
        seen_down.append(outage.active)
        if calls <= 30:
            raise ConnectionError("redis down")
        return "ok"

    metrics = WorkerMetrics()
    assert await redis_call("append", down_for_a_while, metrics, outage=outage, max_delay_s=0.002) == "ok"
    assert calls == 31 and metrics.retries.labels(op="redis_append")._value.get() == 30
    assert seen_down[0] is False and all(seen_down[1:])  # down from the first failure to the success
    assert not outage.active and outage.down() == {}


def test_outage_record() -> None:
    outage = Outage()
    assert outage.begin("redis") and not outage.begin("redis")  # logged once per outage
    assert outage.active and set(outage.down()) == {"redis"}
    assert outage.end("redis") is not None and outage.end("redis") is None
    assert not outage.active
