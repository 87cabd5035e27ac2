"""DrainingConsumer's order of work, on a stand-in for faust's consumer (no broker): the drain stops the
flow before it waits for the in-flight events, and the last commit waits for a commit already in flight."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from seqsignal.workers.stream.consumer import DrainingConsumer


class FakeConsumer:
    def __init__(self) -> None:
        self.calls: list[str] = []
        self._commit_fut: asyncio.Future[None] | None = None
        flow = SimpleNamespace(suspend=lambda: self.calls.append("suspend"),
                               clear=lambda: self.calls.append("clear"))
        self.app = SimpleNamespace(flow_control=flow, should_stop=False)

    def assignment(self) -> set[str]:
        return {"t-0", "t-1"}

    def stop_flow(self) -> None:
        self.calls.append("stop_flow")

    def pause_partitions(self, tps: Any) -> None:
        self.calls.append(f"pause {sorted(tps)}")

    async def wait_empty(self) -> None:
        self.calls.append("wait_empty")

    async def maybe_wait_for_commit_to_finish(self) -> bool:
        assert self._commit_fut is not None
        await self._commit_fut
        self.calls.append("waited for the commit in flight")
        return True

    async def commit(self, start_new_transaction: bool = True) -> bool:
        self.calls.append("commit")
        return True


async def test_drain_stops_the_flow_then_waits_for_acks() -> None:
    fake = FakeConsumer()
    await DrainingConsumer.drain(fake)  # type: ignore[arg-type]
    assert fake.calls == ["stop_flow", "suspend", "pause ['t-0', 't-1']", "clear", "wait_empty"]


async def test_last_commit_runs_after_the_commit_in_flight() -> None:
    fake = FakeConsumer()
    fake._commit_fut = asyncio.get_running_loop().create_future()

    async def periodic_commit_finishes() -> None:
        await asyncio.sleep(0.01)
        assert fake._commit_fut is not None
        fake._commit_fut.set_result(None)
        fake._commit_fut = None

    finisher = asyncio.create_task(periodic_commit_finishes())
    await DrainingConsumer.commit_and_end_transactions(fake)  # type: ignore[arg-type]
    await finisher
    assert fake.calls == ["waited for the commit in flight", "commit"]
