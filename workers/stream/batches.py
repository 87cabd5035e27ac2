"""Micro-batches straight from an agent's channel queue: faust's per-event `Stream` work left out.

`Stream.take_events` moves every event through the stream's generator: an `asyncio.sleep(0)` (one full
event-loop turn) per event, the take processor as a coroutine under a trace context, the stream sensors in
and out, and the `current_event` context variable. Profiled under the bench's drain that is the largest
per-event cost left between Kafka and the handler once the fetch hand-over is batched (consumer.py).
`event_batches` reads the same queue the conductor fills (the agent's channel) and keeps, per event, only
what the delivery contract needs, each step as the stream does it (faust-streaming 0.15.3):

- **Skip**: an event fetched under an older consumer generation, or taken while flow control is suspended
  (a rebalance), is dropped. Unlike the stream, it is not acked either: its offset stays uncommitted, and
  faust seeks every assigned partition back to its committed offset before the flow resumes
  (`Recovery._resume_streams` -> `Consumer.perform_seek`), so it is fetched again.
- **Track**: every taken event's message joins the consumer's un-acked set (`message.tracked`,
  `consumer.unacked`, the `on_message_in` sensor), so `Consumer.wait_empty` (shutdown, the rebalance
  drain) waits for its batch, and the commit cannot pass it.
- **Ack**: nothing here acks. The caller acks a batch's events (`ack_events`: `Event.ack` ->
  `Consumer.ack`, the commit's only input) once every output of the batch was acknowledged by the broker
  (workers/stream/agents.py: `consume`); a batch whose delivery never finished is never acked, and redone
  (faust's `take_events` acks in a `finally:`, whatever happened).

Batching is adaptive: when the agent is idle, a batch starts with the next event and closes at `max_size`
events or `max_wait_s` after it, whichever comes first; when events queued up while the last batch ran,
the batch takes what is queued (up to `max_size`) at once and waits for nothing, since those events have
waited a batch already. Under a backlog batches are full; at moderate load they are as large as the last
batch's duration makes them, and no event waits for a batch window after waiting for a batch
(`take_events` always waits up to `within`, timed from when it began waiting).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, cast

import faust
from faust.types import EventT


def ack_events(app: faust.App, events: list[EventT]) -> None:
    """Ack `events` (in their order): the commit may now pass them."""
    on_message_out = app.sensors.on_message_out
    for event in events:
        if event.ack():
            message = event.message
            on_message_out(message.tp, message.offset, message)


async def event_batches(
    app: faust.App, stream: faust.StreamT, max_size: int, max_wait_s: float
) -> AsyncIterator[list[EventT]]:
    """Yield batches of tracked, un-acked events from `stream`'s channel; the caller acks each batch with
    `ack_events` once its outputs are acknowledged."""
    queue: Any = cast(Any, stream.channel).queue  # the conductor puts here (mode ThrowableQueue)
    consumer = app.consumer
    add_unacked = consumer.unacked.add
    acking_topics = app.topics.acking_topics
    flow_active = app.flow_control.is_active
    on_message_in = app.sensors.on_message_in
    loop = asyncio.get_running_loop()
    while not app.should_stop:
        batch: list[EventT] = []
        idle = queue.empty()  # idle: wait for the first event, then up to max_wait_s for company; behind
        item: Any = await queue.get()  # (events queued while the last batch ran): take those, wait for none
        deadline = loop.time() + (max_wait_s if idle else 0.0)
        while True:
            if isinstance(item, EventT):
                message = item.message
                if flow_active() and message.generation_id == app.consumer_generation_id:
                    if message.topic in acking_topics and not message.tracked:
                        message.tracked = True
                        add_unacked(message)
                        on_message_in(message.tp, message.offset, message)
                    batch.append(item)
            if len(batch) >= max_size:
                break
            if not queue.empty():
                item = queue.get_nowait()
                continue
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            try:
                item = await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                break
        if not batch:
            continue
        yield batch
