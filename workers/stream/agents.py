"""The faust agents: micro-batches from the input topics through the pipelines to acknowledged outputs.

Why this is at-least-once (faust-streaming 0.15.3, checked in its source):

1. Offsets advance only through acks. The consumer commits, every `broker_commit_interval`, on rebalance
   and on shutdown, the offset after the first consecutive run of acked offsets of each partition
   (`Consumer._new_offset`). That run is not anchored at the committed offset: an offset that is never
   acked while a later one is would be committed past. So every event is acked in offset order (one agent
   per topic, concurrency 1, batches in order), and an event dropped unprocessed is never followed by an
   ack on its partition before faust's seek back to the committed offset (points 2 and 7).
2. `event_batches` (workers/stream/batches.py) takes micro-batches from the agent's channel
   queue and tracks each event's message as un-acked when taken; nothing acks but the agent loop
   (`consume`), which acks a batch's events (`ack_events`) only after its outputs were acknowledged. The
   loop is two stages deep: batch N+1 is processed (decode, Redis, inference, records) while batch N is
   delivered; at most one delivery is in flight (N's starts after N-1's finished and acked), so acks keep
   their offset order per input partition and outputs their order per output partition. Events of an
   older consumer generation or taken while the flow is suspended are dropped unacked, like the rest of a
   fetch whose hand-over a suspension cancelled (`DrainingConsumer._drain_messages`): they are later than
   every event in hand, and the flow resumes only after faust seeks every assigned partition to its
   committed offset, which fetches them again.
   State the next batch reads is written before it is read: the actions' encoder states are written
   while the batch is delivered and the next batch's append waits for that write (a redelivered batch
   advances a state that already covers it by nothing; a write lost in a crash only costs a re-encode:
   workers/pipelines/actions.py); a posts batch with after-ack steps (the last rumour scores, which decide
   whether a thread's flag is emitted again: a stale one could skip a flag) is finished before the next
   batch is taken.
3. A delivery (`finish_batch`) ends only after every output *and* dead letter of the batch was acknowledged
   by the broker: each record goes to the idempotent acks=all producer and its delivery future is awaited
   (`delivery.deliver`, with bounded retries). So an offset is committed only after its outputs are durable.
4. Nothing escapes the loop: per-event failures become dead letters, transient Redis errors are retried
   for as long as Redis is away (the batch is held, never dead-lettered: docs/reliability.md), and a
   handler bug dead-letters the batch. The one failure that cannot be made durable, outputs that the
   broker never acknowledges, ends the process with `os._exit` *before* that batch is acked; the batch
   behind it is not acked either (its delivery has not started): no offset of either is committed, and a
   restarted worker re-reads them (as after a SIGKILL). A cancelled loop still waits for its delivery.
5. Agents run with concurrency=1 (an upstream bug can commit past an in-flight message otherwise).
6. SIGTERM: faust's `App.on_stop` pauses the partitions and stops the fetcher (stop fetching), then
   `Consumer.wait_empty` (stream_wait_empty=True) waits until every delivered message is acked, i.e. the
   buffered events were processed and their outputs acknowledged (both batches in hand: the one being
   delivered and the one being processed, whose delivery follows), commits, flushes the
   producer and leaves the group; only then are the agents cancelled. The last commit waits for a periodic
   commit in flight first (workers/stream/consumer.py), so it always carries the last batch's acks.
7. Rebalance (a member joins or leaves): before faust forgets the revoked partitions' acks, the consumer
   (`DrainingConsumer`, workers/stream/consumer.py) stops fetching, waits until the batches in hand are
   acknowledged and commits, while the group generation is still valid; the next owner starts after it.
   A graceful rebalance therefore redoes nothing (tests/reliability/test_rebalance.py: 0 duplicates).

A redelivery after a crash re-runs a batch: the window store drops events it already applied (per-user and
per-thread high-water marks), outputs get the same `ce_id`, so consumers can dedupe; duplicates are counted
in the reliability tests, and their bound (0 for graceful faults, at most the un-committed events for a
crash) is in docs/chaos.md.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Any, cast

import faust
from faust.types import EventT

from seqsignal.workers.pipelines.batch import BatchResult
from seqsignal.workers.pipelines.dead_letter import build_dead_letter, stage_of
from seqsignal.workers.pipelines.delivery import BatchSender, DeliveryFailed, deliver
from seqsignal.workers.pipelines.records import OutRecord, RawEvent, normalize_headers
from seqsignal.workers.stream.batches import ack_events, event_batches
from seqsignal.workers.stream.lag import attach_lag_sampler
from seqsignal.workers.stream.raw_schema import RawSchema
from seqsignal.workers.stream.runtime import Runtime

log = logging.getLogger(__name__)
EXIT_UNDELIVERABLE = 75  # EX_TEMPFAIL: outputs could not be acknowledged; offsets were not committed
EXIT_CONFIG = 78  # EX_CONFIG: Redis refused the credentials; retrying cannot heal a wrong password


def raw_event(event: EventT) -> RawEvent:
    """The consumed record behind a faust event, as raw bytes with its origin."""
    m = event.message
    value = m.value if isinstance(m.value, bytes) else (b"" if m.value is None else bytes(m.value))
    key = m.key if isinstance(m.key, bytes) or m.key is None else bytes(m.key)
    return RawEvent(m.topic, m.partition, m.offset, key, value, normalize_headers(m.headers))


def _observe_outputs(runtime: Runtime, outputs: Sequence[OutRecord]) -> None:
    """Emitted counts per task and each signal's event-to-emit latency (one labelled child per task)."""
    now, metrics = time.time(), runtime.metrics
    counts = Counter(r.task for r in outputs)
    for task, n in counts.items():
        metrics.emitted.labels(task=task).inc(n)
    latency = {t: metrics.end_to_end_seconds.labels(task=t) for t in counts if t != "dead_letter"}
    for r in outputs:
        if r.event_time is not None and r.task in latency:
            latency[r.task].observe(max(0.0, now - r.event_time))


@dataclass
class Processed:
    """A batch that went through its pipeline: the events to ack and what to deliver for them."""

    stream: str
    events: list[EventT]
    result: BatchResult
    t0: float


async def process_batch(runtime: Runtime, stream: str, events: list[EventT]) -> Processed:
    """Decode, Redis, inference and records of one micro-batch (never raises, delivers nothing)."""
    t0 = time.perf_counter()
    raws = [raw_event(e) for e in events]
    metrics = runtime.metrics
    metrics.consumed.labels(stream=stream).inc(len(raws))
    metrics.batch_size.labels(stream=stream).observe(len(raws))
    pipeline = runtime.actions if stream == "actions" else runtime.posts
    try:
        assert pipeline is not None, "runtime not started"
        result = await pipeline.process(raws)
    except Exception as exc:  # a handler bug: keep every input replayable in the dead-letter topic
        log.exception("batch handler failed", extra={"stream": stream, "error_class": type(exc).__name__})
        dl = [build_dead_letter(r, "inference", exc, runtime.topics.dead_letter) for r in raws]
        result = BatchResult(outputs=dl, dead_letters=len(dl))
    return Processed(stream, events, result, t0)


async def finish_batch(app: faust.App, runtime: Runtime, batch: Processed) -> None:
    """Deliver a processed batch and run its after-ack steps; returns only when all its outputs are
    acknowledged. Outputs the broker never acknowledges end the process (`os._exit`), un-acked."""
    metrics, stream, result = runtime.metrics, batch.stream, batch.result
    t_deliver = time.perf_counter()
    try:
        await deliver(cast(BatchSender, app.producer), result.outputs, metrics)  # IdempotentProducer
    except (DeliveryFailed, Exception) as exc:
        log.critical(
            "outputs not acknowledged; exiting without committing this batch",
            extra={"stream": stream, "error_class": type(exc).__name__},
        )
        logging.shutdown()
        os._exit(EXIT_UNDELIVERABLE)
    metrics.delivery_seconds.labels(stream=stream).observe(time.perf_counter() - t_deliver)
    for step in result.after_ack:
        try:
            await step()
        except Exception as exc:  # caches only (the last rumour score): never fatal
            log.warning("post-ack step failed", extra={"stream": stream, "error_class": type(exc).__name__})
    _observe_outputs(runtime, result.outputs)
    metrics.processed.labels(stream=stream).inc(result.valid)
    for r in result.outputs:
        if r.task == "dead_letter":
            metrics.dead_lettered.labels(stream=stream, stage=stage_of(r)).inc()
    metrics.batch_seconds.labels(stream=stream).observe(time.perf_counter() - batch.t0)


async def _finish_and_ack(app: faust.App, runtime: Runtime, batch: Processed) -> None:
    await finish_batch(app, runtime, batch)  # never returns on undeliverable outputs (os._exit)
    ack_events(app, batch.events)


async def consume(app: faust.App, runtime: Runtime, stream: str, events: AsyncIterator[list[EventT]]) -> None:
    """The agent loop, two stages deep: batch N+1 is processed while batch N is delivered.

    `events` yields un-acked batches; each is acked only once its outputs are acknowledged. At most one
    delivery is in flight (N's starts after N-1's finished and acked), so outputs keep their order per output
    partition and acks their order per input partition. A batch with after-ack steps (the posts' last rumour
    scores, which the next batch reads) is finished before the next batch is taken. A cancelled loop still
    waits for the delivery in flight, which ends in acks or in the process's exit.
    """
    inflight: asyncio.Future[None] | None = None
    try:
        async for batch in events:
            processed = await process_batch(runtime, stream, batch)
            if inflight is not None:
                await asyncio.shield(inflight)  # shielded: cancelling the loop never cancels a delivery
            inflight = asyncio.ensure_future(_finish_and_ack(app, runtime, processed))
            if processed.result.after_ack:
                await asyncio.shield(inflight)
    finally:
        if inflight is not None and not inflight.done():
            await asyncio.shield(inflight)


def freeze_heap() -> None:
    """Move everything alive after start-up (faust, torch, the models) out of the collector's sight.

    A full (generation 2) collection walks every tracked object: 175-212 ms on the loop thread with the
    worker's start-up heap, 14 ms once it is frozen (benchmarks/stall_trace.py, paced at 400/s), a stall of
    every batch in hand. Frozen objects are never scanned again (reference counting still frees them), so
    later full collections only walk what the stream allocated since. The cost: a start-up object caught
    in a reference cycle is never reclaimed once dropped (a model replaced by a hot swap, if cyclic)."""
    gc.collect()
    gc.freeze()


async def _start_runtime(runtime: Runtime, tasks: tuple[str, ...]) -> None:
    """Start the runtime, retrying (capped delay) until Redis answers and `tasks` have their models.

    Until then the agent does not consume: a missing model means lag, never lost or dead-lettered input.
    """
    from redis.exceptions import AuthenticationError  # imported here: redis-py is the runtime's business

    delay = 0.5
    while True:
        try:
            await runtime.start(tasks)
            freeze_heap()
            return
        except AuthenticationError as exc:
            log.critical("worker start failed: Redis refused the credentials (SEQSIGNAL_REDIS__USERNAME / "
                         "SEQSIGNAL_REDIS__PASSWORD); exiting", extra={"error_class": type(exc).__name__})
            logging.shutdown()
            os._exit(EXIT_CONFIG)
        except Exception as exc:
            log.error(
                "worker start failed, retrying", extra={"error_class": type(exc).__name__, "delay_s": delay}
            )
            await asyncio.sleep(delay)
            delay = min(delay * 2, 15.0)


def _raw_topic(app: faust.App, name: str) -> Any:
    return app.topic(name, schema=RawSchema())  # bytes as fetched: the agents decode (raw_event)


def attach_agents(app: faust.App, runtime: Runtime) -> None:
    """One agent per input topic (concurrency=1, micro-batches from `event_batches`).

    New champions arrive through the model-update listener (workers/serving/model_updates.py), the one
    hot-swap path; the agents only load each task's champion once, at start.
    """
    s = runtime.settings
    attach_lag_sampler(app, runtime.metrics, (runtime.topics.actions, runtime.topics.posts))

    @app.agent(_raw_topic(app, runtime.topics.actions), name="seqsignal.actions", concurrency=1)
    async def actions(stream: faust.StreamT) -> None:
        await _start_runtime(runtime, ("behavior",))
        b = s.actions_batch
        batches = event_batches(app, stream, b.max_size, b.max_wait_s)
        await consume(app, runtime, "actions", batches)

    @app.agent(_raw_topic(app, runtime.topics.posts), name="seqsignal.posts", concurrency=1)
    async def posts(stream: faust.StreamT) -> None:
        await _start_runtime(runtime, ("sentiment", "rumor"))
        b = s.posts_batch
        batches = event_batches(app, stream, b.max_size, b.max_wait_s)
        await consume(app, runtime, "posts", batches)
