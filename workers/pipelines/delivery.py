"""Producing a batch's records until the broker acknowledged each (bounded backoff), and timed Redis calls."""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.retry import OUTAGES, Outage, with_retry
from seqsignal.workers.stream.metrics import WorkerMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")


class DeliveryFailed(RuntimeError):
    """Records could not be acknowledged by the broker within the retry budget."""


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with full jitter, bounded by attempts and by total time."""

    attempts: int = 8
    first_s: float = 0.1
    max_s: float = 5.0
    deadline_s: float = 60.0

    def delays(self) -> list[float]:
        return [min(self.max_s, self.first_s * 2**i) for i in range(self.attempts - 1)]


async def redis_call(
    op: str,
    fn: Callable[[], Awaitable[T]],
    metrics: WorkerMetrics,
    attempts: int | None = None,
    outage: Outage | None = OUTAGES,
    max_delay_s: float = 5.0,
) -> T:
    """One Redis round trip with the shared backoff (transient errors only), timed per `op`.

    By default (`attempts=None`) it retries for as long as Redis is unavailable: an outage is backpressure,
    never bad data. The agent (concurrency 1) holds the same batch, takes no new one, and nothing is
    dead-lettered; faust pauses the partition once its buffer is full and keeps heartbeating (see
    docs/reliability.md). Waits grow 0.1 s, 0.2 s, ... capped at `max_delay_s` (with jitter). `outage`
    (the process's record) is marked `redis` down from the first failure to the next success, which is
    what `/readyz` reports. Non-transient errors (a script bug) raise at once.
    """
    t0 = time.perf_counter()

    def on_retry(_n: int, exc: BaseException) -> None:
        metrics.retries.labels(op=f"redis_{op}").inc()
        if outage is not None and outage.begin("redis"):
            log.error(
                "redis unavailable: holding the batch and retrying until it answers",
                extra={"op": op, "error_class": type(exc).__name__},
            )

    try:
        result = await with_retry(
            fn, attempts=attempts, base_delay=0.1, max_delay=max_delay_s, on_retry=on_retry
        )
    finally:
        metrics.redis_seconds.labels(op=op).observe(time.perf_counter() - t0)
    if outage is not None:
        down_s = outage.end("redis")
        if down_s is not None:
            log.warning(
                "redis available again, batch resumed", extra={"op": op, "outage_s": round(down_s, 3)}
            )
    return result


class BatchSender(Protocol):
    """What delivery needs of a producer: aiokafka's batch interface, partitioned as its send() would."""

    async def partitioner_for(self, topic: str) -> Callable[[bytes | None], int]: ...  # awaits metadata

    def create_batch(self) -> Any: ...

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Awaitable[Any]: ...


async def _send_all(producer: BatchSender, records: Sequence[OutRecord]) -> list[BaseException | None]:
    """Send the records as one closed batch per output partition (in order), then await each batch's
    acknowledgement; one error (or None) per record, the error of its batch.

    A closed batch is sent at once: per-record `send()` left each delivery waiting out the producer's
    linger (5 ms) and cost ~7 % of the loop thread per record (faust's send, aiokafka's, its partitioner).
    """
    partition_of: dict[str, Callable[[bytes | None], int]] = {}
    for topic in {r.topic for r in records}:
        partition_of[topic] = await producer.partitioner_for(topic)
    groups: dict[tuple[str, int], list[int]] = {}
    for i, r in enumerate(records):
        groups.setdefault((r.topic, partition_of[r.topic](r.key)), []).append(i)
    sent: list[tuple[list[int], Awaitable[Any] | BaseException]] = []
    for (topic, partition), indexes in groups.items():
        batch, members = producer.create_batch(), list[int]()
        for i in indexes:
            r = records[i]
            if batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers) is None:  # full
                sent.append((members, await _submit(producer, batch, topic, partition)))
                batch, members = producer.create_batch(), list[int]()
                batch.append(key=r.key, value=r.value, timestamp=None, headers=r.headers)  # 1st always fits
            members.append(i)
        sent.append((members, await _submit(producer, batch, topic, partition)))
    errors: list[BaseException | None] = [None] * len(records)
    for members, fut in sent:
        try:
            if isinstance(fut, BaseException):
                raise fut
            await fut
        except Exception as exc:
            for i in members:
                errors[i] = exc
    return errors


async def _submit(producer: BatchSender, batch: Any, topic: str, partition: int
                  ) -> Awaitable[Any] | BaseException:
    """Close and enqueue one batch; its delivery future, or the error that kept it from being enqueued."""
    batch.close()
    try:
        return await producer.send_batch(batch, topic, partition)
    except Exception as exc:  # enqueue failed (queue timeout, metadata): retried with its records
        return exc


async def deliver(
    producer: BatchSender,
    records: Sequence[OutRecord],
    metrics: WorkerMetrics,
    backoff: Backoff = Backoff(attempts=10, deadline_s=120.0),
) -> None:
    """Produce `records` and return only once the broker acknowledged all of them (acks=all).

    Failed records are re-sent with backoff (the producer is idempotent, so a retry after a lost
    acknowledgement at worst duplicates, never loses). Raises DeliveryFailed when the budget is spent.
    """
    pending = list(records)
    start = time.monotonic()
    for attempt, delay in enumerate([*backoff.delays(), 0.0]):
        errors = await _send_all(producer, pending)
        failed = [(r, e) for r, e in zip(pending, errors, strict=True) if e is not None]
        if not failed:
            return
        pending = [r for r, _ in failed]
        if attempt == backoff.attempts - 1 or time.monotonic() - start > backoff.deadline_s:
            break
        metrics.retries.labels(op="kafka_produce").inc()
        log.warning(
            "produce failed, retrying",
            extra={
                "failed": len(pending),
                "attempt": attempt + 1,
                "error_class": type(failed[0][1]).__name__,
            },
        )
        await asyncio.sleep(delay * (0.5 + random.random() / 2))
    raise DeliveryFailed(f"{len(pending)} records not acknowledged after {backoff.attempts} attempts")
