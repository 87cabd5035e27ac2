"""event_batches on faust's own Event / Message and mode's queue, with a stand-in for the app (no broker):
batch limits, tracking when taken, acks only through `ack_events`, skipped events neither processed
nor acked."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import faust
from faust.types import TP, Message
from faust.types.tuples import ConsumerMessage
from mode.utils.queues import FlowControlEvent, ThrowableQueue

from seqsignal.workers.stream.batches import ack_events, event_batches

TOPIC = "in"


class FakeConsumer:
    """What event_batches and `Message.ack` touch: the un-acked set and `ack` (the commit's input)."""

    def __init__(self) -> None:
        self.unacked: set[Message] = set()
        self.acked: list[int] = []

    def ack(self, message: Message) -> bool:
        self.unacked.discard(message)
        self.acked.append(message.offset)
        return True


class FakeApp:
    def __init__(self) -> None:
        self.consumer = FakeConsumer()
        self.topics = SimpleNamespace(acking_topics={TOPIC})
        self.active = True
        self.flow_control = SimpleNamespace(is_active=lambda: self.active)
        self.sensors = SimpleNamespace(on_message_in=lambda *a: None, on_message_out=lambda *a: None)
        self.consumer_generation_id = 1
        self.should_stop = False


def setup() -> tuple[FakeApp, Any, Any]:
    app = FakeApp()
    queue: ThrowableQueue[Any] = ThrowableQueue(maxsize=100, flow_control=FlowControlEvent())
    stream = SimpleNamespace(channel=SimpleNamespace(queue=queue))
    return app, queue, stream


def event(app: FakeApp, offset: int, generation: int = 1) -> faust.Event:
    message = ConsumerMessage(TOPIC, 0, offset, 0.0, 0, headers=None, key=b"k", value=b"v", checksum=None,
                      tp=TP(TOPIC, 0), generation_id=generation)
    return faust.Event(app, b"k", b"v", {}, message)  # type: ignore[arg-type]


async def test_a_batch_closes_at_max_size_and_is_acked_only_by_ack_events() -> None:
    app, queue, stream = setup()
    for i in range(5):
        queue.put_nowait(event(app, i))
    batches = event_batches(app, stream, max_size=3, max_wait_s=0.5)  # type: ignore[arg-type]
    first = await anext(batches)
    assert [e.message.offset for e in first] == [0, 1, 2]
    assert {m.offset for m in app.consumer.unacked} == {0, 1, 2}  # tracked when taken
    assert app.consumer.acked == []  # its outputs are not acknowledged yet
    ack_events(app, first)  # type: ignore[arg-type]  # they are: the caller acks
    second = await anext(batches)
    assert app.consumer.acked == [0, 1, 2]
    assert [e.message.offset for e in second] == [3, 4]  # what was queued, without waiting
    await batches.aclose()
    assert app.consumer.acked == [0, 1, 2]  # closed before its delivery: the second batch is not acked
    assert {m.offset for m in app.consumer.unacked} == {3, 4}


async def test_an_idle_agent_waits_at_most_max_wait_after_the_first_event() -> None:
    app, queue, stream = setup()
    batches = event_batches(app, stream, max_size=100, max_wait_s=0.05)  # type: ignore[arg-type]
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    loop.call_later(0.02, queue.put_nowait, event(app, 0))
    loop.call_later(0.04, queue.put_nowait, event(app, 1))  # within the window: joins
    late = loop.call_later(0.2, queue.put_nowait, event(app, 2))  # after it: next batch
    batch = await anext(batches)
    waited = loop.time() - t0
    assert [e.message.offset for e in batch] == [0, 1]
    assert 0.06 <= waited < 0.2
    late.cancel()
    await batches.aclose()


async def test_events_queued_during_the_last_batch_are_taken_without_waiting() -> None:
    app, queue, stream = setup()
    for i in range(3):
        queue.put_nowait(event(app, i))
    batches = event_batches(app, stream, max_size=100, max_wait_s=5.0)  # type: ignore[arg-type]
    batch = await asyncio.wait_for(anext(batches), timeout=1.0)  # not the 5 s window
    assert [e.message.offset for e in batch] == [0, 1, 2]
    await batches.aclose()


async def test_events_of_an_older_generation_or_under_suspended_flow_are_dropped_unacked() -> None:
    app, queue, stream = setup()
    queue.put_nowait(event(app, 0, generation=0))  # fetched before the last rebalance
    queue.put_nowait(event(app, 1))
    batches = event_batches(app, stream, max_size=2, max_wait_s=0.01)  # type: ignore[arg-type]
    batch = await anext(batches)
    assert [e.message.offset for e in batch] == [1]
    ack_events(app, batch)  # type: ignore[arg-type]
    app.active = False  # a rebalance suspended the flow: what is taken now is dropped
    queue.put_nowait(event(app, 2))
    app.loop_task = asyncio.ensure_future(anext(batches))  # type: ignore[attr-defined]
    await asyncio.sleep(0.05)
    assert app.consumer.acked == [1]  # offset 0 and 2: never acked, re-fetched after the seek
    assert {m.offset for m in app.consumer.unacked} == set()
    app.active = True
    queue.put_nowait(event(app, 3))
    batch = await app.loop_task  # type: ignore[attr-defined]
    assert [e.message.offset for e in batch] == [3]
    await batches.aclose()


async def test_without_acks_only_ack_events_acks_and_in_order() -> None:
    """Nothing is acked by asking for the next batch (the pipelined agents take N+1 before N is delivered)."""
    app, queue, stream = setup()
    for i in range(4):
        queue.put_nowait(event(app, i))
    batches = event_batches(app, stream, max_size=2, max_wait_s=0.01)  # type: ignore[arg-type]
    first = await anext(batches)
    second = await anext(batches)
    assert app.consumer.acked == [] and {m.offset for m in app.consumer.unacked} == {0, 1, 2, 3}
    ack_events(app, first)  # type: ignore[arg-type]
    assert app.consumer.acked == [0, 1] and {m.offset for m in app.consumer.unacked} == {2, 3}
    ack_events(app, second)  # type: ignore[arg-type]
    assert app.consumer.acked == [0, 1, 2, 3] and not app.consumer.unacked
    await batches.aclose()
