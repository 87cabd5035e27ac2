"""Delivery: a batch returns only when every record is acknowledged; failures are re-sent, then give up."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from seqsignal.workers.pipelines.delivery import Backoff, DeliveryFailed, deliver, redis_call
from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.retry import Outage
from seqsignal.workers.stream.metrics import WorkerMetrics


class FlakyProducer:
    """Stands in for the faust producer's send(): enqueue, then a future acked or failed as told."""

    def __init__(self, fail: dict[bytes, int]) -> None:
        self.fail = dict(fail)  # value -> how many more sends of it fail
        self.acked: list[bytes] = []
        self.sends = 0

    async def send(self, topic: str, key: Any, value: bytes, partition: Any, ts: Any, headers: Any) -> Any:
        self.sends += 1
        fut: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        if self.fail.get(value, 0) > 0:
            self.fail[value] -= 1
            fut.set_exception(ConnectionError("not acknowledged"))
        else:
            self.acked.append(value)
            fut.set_result(("meta", value))
        return fut


def _records(n: int) -> list[OutRecord]:
    return [OutRecord("t", None, f"v{i}".encode(), [], task="behavior") for i in range(n)]


async def test_failed_records_are_resent_until_acknowledged() -> None:
    producer = FlakyProducer({b"v1": 2, b"v3": 1})
    metrics = WorkerMetrics()
    await deliver(producer, _records(5), metrics, Backoff(attempts=5, first_s=0.001, max_s=0.002))
    assert sorted(producer.acked) == [f"v{i}".encode() for i in range(5)]
    assert producer.sends == 5 + 2 + 1  # only the failed ones were re-sent
    assert metrics.retries.labels(op="kafka_produce")._value.get() == 2


async def test_gives_up_with_delivery_failed() -> None:
    producer = FlakyProducer({b"v0": 100})
    with pytest.raises(DeliveryFailed):
        await deliver(producer, _records(2), WorkerMetrics(), Backoff(attempts=3, first_s=0.001, max_s=0.001))
    assert producer.acked == [b"v1"]


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
