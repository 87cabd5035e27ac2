"""The agent loop two stages deep (`agents.consume`): batch N+1 is processed while N is delivered, N's events
are acked only after its delivery, one delivery at a time, and a batch with after-ack steps finishes first."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from seqsignal.workers.pipelines.batch import BatchResult
from seqsignal.workers.stream import agents
from seqsignal.workers.stream.agents import Processed
from seqsignal.workers.stream.metrics import WorkerMetrics


class FakeRuntime:
    metrics = WorkerMetrics()


async def _batches(batches: list[list[Any]], then_wait_s: float = 0.0) -> AsyncIterator[list[Any]]:
    for b in batches:
        yield b
    if then_wait_s:
        await asyncio.sleep(then_wait_s)  # no more input: the agent is cancelled (shutdown) in here
        yield ["never"]


def _install(
    monkeypatch: pytest.MonkeyPatch, log: list[str], after_ack: set[str], deliver_s: float = 0.05
) -> list[int]:
    """Stand-ins for the pipeline and the producer that log when each stage starts and ends."""
    in_flight, peak = [0], [0]

    async def process(runtime: Any, stream: str, events: list[Any]) -> Processed:
        log.append(f"process {events[0]} start")
        await asyncio.sleep(0.01)
        log.append(f"process {events[0]} end")
        steps: list[Any] = [lambda: asyncio.sleep(0)] if events[0] in after_ack else []
        return Processed(stream, events, BatchResult(after_ack=steps), 0.0)

    async def finish(app: Any, runtime: Any, batch: Processed) -> None:
        in_flight[0] += 1
        peak[0] = max(peak[0], in_flight[0])
        log.append(f"deliver {batch.events[0]} start")
        await asyncio.sleep(deliver_s)
        log.append(f"deliver {batch.events[0]} end")
        in_flight[0] -= 1

    monkeypatch.setattr(agents, "process_batch", process)
    monkeypatch.setattr(agents, "finish_batch", finish)
    monkeypatch.setattr(agents, "ack_events", lambda app, events: log.extend(f"ack {e}" for e in events))
    return peak


async def test_next_batch_overlaps_delivery_and_acks_follow_it(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    peak = _install(monkeypatch, log, set())
    await agents.consume(object(), FakeRuntime(), "actions", _batches([["a1", "a2"], ["b1"], ["c1"]]))  # type: ignore[arg-type]
    at = log.index
    assert at("process b1 start") < at("deliver a1 end")  # the overlap
    for b, n in (("a1", "b1"), ("b1", "c1")):
        assert at(f"deliver {b} end") < at(f"ack {b}") < at(f"deliver {n} start")  # one delivery at a time
    assert peak[0] == 1
    assert [x for x in log if x.startswith("ack")] == ["ack a1", "ack a2", "ack b1", "ack c1"]
    assert at("deliver c1 end") < at("ack c1")  # the last batch too: the loop waits for it at the end


async def test_after_ack_steps_finish_before_the_next_batch_is_read(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    _install(monkeypatch, log, {"a1"})
    await agents.consume(object(), FakeRuntime(), "posts", _batches([["a1"], ["b1"]]))  # type: ignore[arg-type]
    assert log.index("ack a1") < log.index("process b1 start")


async def test_a_cancelled_loop_still_delivers_and_acks_its_batch(monkeypatch: pytest.MonkeyPatch) -> None:
    log: list[str] = []
    _install(monkeypatch, log, set(), deliver_s=0.2)
    task = asyncio.ensure_future(
        agents.consume(object(), FakeRuntime(), "actions", _batches([["a1"]], then_wait_s=10))  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.05)
    assert "deliver a1 start" in log and "ack a1" not in log
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert "deliver a1 end" in log and log[-1] == "ack a1"
    assert "process never start" not in log


async def test_cancelled_while_waiting_for_a_delivery_the_delivery_still_ends_in_acks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    log: list[str] = []
    _install(monkeypatch, log, set(), deliver_s=0.3)
    task = asyncio.ensure_future(
        agents.consume(object(), FakeRuntime(), "actions", _batches([["a1"], ["b1"]], then_wait_s=10))  # type: ignore[arg-type]
    )
    await asyncio.sleep(0.1)  # b1 processed; the loop waits for a1's delivery
    assert "process b1 end" in log and "deliver a1 end" not in log
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert log.index("deliver a1 end") < log.index("ack a1")  # not cancelled: delivered, then acked
    assert "ack b1" not in log  # b1's delivery never started: it stays un-acked and is redone
