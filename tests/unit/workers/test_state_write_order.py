"""The actions pipeline writes a batch's encoder states in the background; the next batch's append waits."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.actions import ActionPipeline
from seqsignal.workers.pipelines.records import RawEvent
from seqsignal.workers.settings import Settings
from seqsignal.workers.stream.metrics import WorkerMetrics


class _Store:
    def __init__(self, log: list[str]) -> None:
        self.log = log

    async def append_actions(self, items: Any) -> dict[str, Any]:
        self.log.append("append")
        return {}  # no window back: nothing to predict, the test is about the order


def _pipeline(log: list[str]) -> ActionPipeline:
    engine = SimpleNamespace(predictor=lambda _task: SimpleNamespace(version="v1", has_targets=False))
    return ActionPipeline(_Store(log), engine, Settings(), Topics(), WorkerMetrics())


def _raw(offset: int) -> RawEvent:
    a = Action(event_id=f"e{offset}", user_id="u", action="like", created_at=datetime.now(UTC))
    return RawEvent("actions", 0, offset, b"u", encode(a))


@pytest.mark.asyncio
async def test_the_next_append_waits_for_the_last_batchs_state_write() -> None:
    log: list[str] = []
    pipe, gate = _pipeline(log), asyncio.Event()

    async def slow_write() -> None:
        await gate.wait()
        log.append("states written")

    pipe._states_write = asyncio.ensure_future(slow_write())
    batch = asyncio.ensure_future(pipe.process([_raw(1)]))
    await asyncio.sleep(0.05)
    assert log == [] and not batch.done()  # decoded, then held before the append
    gate.set()
    result = await batch
    assert log == ["states written", "append"] and result.valid == 1
    assert pipe._states_write is None


@pytest.mark.asyncio
async def test_settling_with_no_write_in_flight_returns_at_once() -> None:
    pipe = _pipeline([])
    await asyncio.wait_for(pipe.settle_states(), 0.5)
