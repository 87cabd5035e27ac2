"""DrainingConsumer's order of work, on a stand-in for faust's consumer (no broker): the drain stops the
flow before it waits for the in-flight events, and the last commit waits for a commit already in flight."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from mode import Service

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


class FetchLoopFake:
    """What DrainingConsumer._drain_messages touches, with mode's real `wait_first` (no broker)."""

    def __init__(self, fetches: list[list[int]], blocking_offset: int | None = None) -> None:
        self.fetches = fetches
        self.delivered: list[int] = []
        self.fetched: list[int] = []
        self.blocking_offset = blocking_offset
        self._stopped, self._crashed = asyncio.Event(), asyncio.Event()
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.suspend_flow = asyncio.Event()
        self.flow_active = True
        self.loop = asyncio.get_running_loop()
        self._read_offset: dict[Any, int | None] = {TP_: None}
        self._commit_every = None
        self._n_acked = 0
        self.should_stop = False
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda t: True))
        self.transport = SimpleNamespace(app=SimpleNamespace(should_stop=False))
        self.consumer_stopped_errors = ()
        self.diag = SimpleNamespace(set_flag=lambda f: None, unset_flag=lambda f: None)
        self.wait_first = Service.wait_first.__get__(self)
        self._hand_over = DrainingConsumer._hand_over.__get__(self)  # type: ignore[attr-defined]

    async def sleep(self, n: float) -> None:
        await asyncio.sleep(n)

    async def getmany(self, timeout: float) -> Any:
        if not self.fetches:
            self.fetcher._stopped.set()
            return
        for offset in self.fetches.pop(0):
            self.fetched.append(offset)
            yield TP_, SimpleNamespace(offset=offset, topic="in")

    async def callback(self, message: Any) -> None:
        if message.offset == self.blocking_offset:  # a queue that stays full: the delivery waits
            self.stop_flow_soon()
            await asyncio.Event().wait()
        self.delivered.append(message.offset)

    def stop_flow_soon(self) -> None:
        def stop() -> None:
            self.flow_active = False
            self.suspend_flow.set()
        self.loop.call_later(0.01, stop)

    async def _add_gap(self, tp: Any, start: int, end: int) -> None:
        raise AssertionError("no gaps in these fetches")


TP_ = ("in", 0)


async def test_fetch_loop_delivers_every_record_in_order_one_race_per_fetch() -> None:
    fake = FetchLoopFake([[0, 1, 2], [3, 4]])
    await DrainingConsumer._drain_messages(fake, fake.fetcher)  # type: ignore[arg-type]
    assert fake.delivered == [0, 1, 2, 3, 4]
    assert fake._read_offset[TP_] == 4


async def test_a_suspended_flow_cancels_the_rest_of_the_fetch_but_never_the_fetch_itself() -> None:
    fake = FetchLoopFake([[0, 1, 2, 3], [4]], blocking_offset=2)
    await DrainingConsumer._drain_messages(fake, fake.fetcher)  # type: ignore[arg-type]
    assert fake.fetched == [0, 1, 2, 3, 4]  # the fetch ran to its end outside the race
    assert fake.delivered[:2] == [0, 1]
    assert 2 not in fake.delivered and 3 not in fake.delivered  # cancelled in the callback, rest dropped
    assert fake.delivered == [0, 1]  # flow inactive: the next fetch's records are dropped too
    assert fake._read_offset[TP_] == 1  # not read: fetched again after faust's seek to the committed offset
