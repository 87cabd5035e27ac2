"""The window rebuild after a Redis loss: epoch and partition markers, what is re-read, completeness."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from seqsignal.schemas.codec import encode as encode_event
from seqsignal.schemas.events import Action, Post
from seqsignal.workers.retry import TRANSIENT
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state.window_rebuild import (
    HistoryRead,
    RebuildUnavailable,
    Records,
    Source,
    WindowRebuild,
    action_items,
    post_items,
    window_complete,
)
from seqsignal.workers.state.window_store import first_offsets

T0 = datetime(2024, 1, 1, tzinfo=UTC)


class FakeRedis:
    """GET / SET NX on a dict: enough for the markers (a loss is `data.clear()`)."""

    def __init__(self) -> None:
        self.data: dict[str, bytes] = {}

    async def get(self, key: str) -> bytes | None:
        return self.data.get(key)

    async def set(self, key: str, value: str, nx: bool = False) -> bool:
        if nx and key in self.data:
            return False
        self.data[key] = value.encode()
        return True


class FakeHistory:
    """A topic as {partition: [(offset, value)]}; records every read."""

    def __init__(self, log: dict[int, Records], truncated_ms: int = 0, fail: bool = False) -> None:
        self.log, self.truncated_ms, self.fail = log, truncated_ms, fail
        self.reads: list[tuple[str, int, int]] = []

    async def read(
        self, topic: str, partition: int, since_ms: int, end: int, sink: Callable[[Records], Awaitable[None]]
    ) -> HistoryRead:
        if self.fail:
            raise RebuildUnavailable("broker away")
        self.reads.append((topic, partition, end))
        records = [(o, v) for o, v in self.log.get(partition, []) if o < end]
        for i in range(0, len(records), 2):  # in chunks, as the Kafka reader does
            await sink(records[i : i + 2])
        return HistoryRead(start=0, records=len(records), truncated_ms=self.truncated_ms)


def _action(i: int, user: str = "u1") -> Action:
    return Action(event_id=f"e{i}", user_id=user, action="like", created_at=T0)


def _rebuild(client: FakeRedis, history: FakeHistory) -> tuple[WindowRebuild, list[Any]]:
    applied: list[Any] = []

    async def apply(items: list[Any]) -> None:
        applied.extend(items)

    source = Source("in.actions", 3600_000, lambda p, r: action_items(p, r, lambda a: a), apply)
    return WindowRebuild(client, "ss:", {"actions": source}, history), applied


def _log(n: int) -> Records:
    return [(i, encode_event(_action(i))) for i in range(n)]


async def test_first_start_sets_the_epoch_and_rebuilds_each_partition_up_to_the_batch() -> None:
    client, history = FakeRedis(), FakeHistory({0: _log(5), 1: _log(3)})
    rebuild, applied = _rebuild(client, history)
    await rebuild.ensure("actions", {0: 4, 1: 3})
    assert redis_keys.epoch_key("ss:") in client.data
    assert sorted(history.reads) == [("in.actions", 0, 4), ("in.actions", 1, 3)]
    assert [(a.event_id, p, o) for a, p, o in applied][:4] == [(f"e{i}", 0, i) for i in range(4)]
    assert len(applied) == 7  # offsets 0..3 of partition 0, 0..2 of partition 1; the batch itself is not
    epoch = client.data[redis_keys.epoch_key("ss:")].decode()
    assert client.data[redis_keys.partition_key("ss:", "in.actions", 0)] == f"{epoch} 0".encode()
    await rebuild.ensure("actions", {0: 9, 1: 9})  # same epoch: nothing re-read
    assert len(history.reads) == 2


async def test_a_lost_redis_is_rebuilt_once_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    client, history = FakeRedis(), FakeHistory({0: _log(6)})
    rebuild, applied = _rebuild(client, history)
    await rebuild.ensure("actions", {0: 2})
    before = client.data[redis_keys.epoch_key("ss:")]
    client.data.clear()  # Redis restarted empty
    with caplog.at_level(logging.WARNING):
        await rebuild.ensure("actions", {0: 5})
    assert "redis lost its data" in caplog.text
    assert client.data[redis_keys.epoch_key("ss:")] != before
    assert history.reads[-1] == ("in.actions", 0, 5)
    assert [o for _, _, o in applied] == [0, 1, 0, 1, 2, 3, 4]
    await rebuild.ensure("actions", {0: 6})
    assert len(history.reads) == 2


async def test_another_worker_trusts_the_markers_and_follows_a_new_epoch() -> None:
    client, history = FakeRedis(), FakeHistory({0: _log(4), 1: _log(4)})
    first, _ = _rebuild(client, history)
    await first.ensure("actions", {0: 3})
    second, _ = _rebuild(client, history)
    await second.ensure("actions", {0: 4})  # partition 0 whole under this epoch: not re-read
    assert history.reads == [("in.actions", 0, 3)]
    client.data.clear()
    await first.ensure("actions", {1: 2})  # the first worker finds the loss, sets a new epoch
    await second.ensure("actions", {0: 4})  # ...the second sees its partition's marker is stale
    assert history.reads[1:] == [("in.actions", 1, 2), ("in.actions", 0, 4)]


async def test_a_topic_that_cannot_be_read_holds_the_batch_and_marks_nothing() -> None:
    client = FakeRedis()
    rebuild, _ = _rebuild(client, FakeHistory({}, fail=True))
    with pytest.raises(RebuildUnavailable) as err:
        await rebuild.ensure("actions", {0: 1})
    assert isinstance(err.value, TRANSIENT)  # redis_call retries it: held, never dead-lettered
    assert redis_keys.partition_key("ss:", "in.actions", 0) not in client.data


async def test_a_truncated_history_is_remembered_per_partition() -> None:
    client = FakeRedis()
    rebuild, _ = _rebuild(client, FakeHistory({0: _log(2)}, truncated_ms=123_000))
    await rebuild.ensure("actions", {0: 2, 1: 0})
    assert rebuild.since_ms("actions", 0) == 123_000
    other, _ = _rebuild(client, FakeHistory({}))
    await other.ensure("actions", {0: 5})  # read back from the marker by another process
    assert other.since_ms("actions", 0) == 123_000


def test_window_complete_only_when_the_bounds_exclude_the_lost_history() -> None:
    kw = {"max_actions": 3, "max_age_ms": 1000}
    assert window_complete([5, 6], 0, **kw)  # nothing lost
    assert not window_complete([5, 6], 10, **kw)  # records may be missing before since
    assert window_complete([5, 2000], 900, **kw)  # newest - max_age >= since: the age bound excludes it
    assert window_complete([950, 960, 970], 900, **kw)  # full window, all after since
    assert not window_complete([800, 960, 970], 900, **kw)
    assert window_complete([], 900, **kw)


def test_items_are_decoded_as_the_pipelines_do_and_invalid_records_skipped() -> None:
    post = Post(post_id="p1", root_id="p1", user_id="a", text="hi", lang="en", created_at=T0)
    records: Records = [(0, encode_event(_action(0))), (1, b"{not json"), (2, None)]
    items = action_items(2, records, lambda a: a.model_copy(update={"user_id": "k:" + a.user_id}))
    assert [(a.user_id, p, o) for a, p, o in items] == [("k:u1", 2, 0)]
    assert [(p.post_id, o) for p, _, o in post_items(0, [(7, encode_event(post)), (8, b"")])] == [("p1", 7)]


def test_first_offsets_per_partition() -> None:
    items = [(None, 1, 9), (None, 0, 4), (None, 1, 7)]
    assert first_offsets(items) == {1: 7, 0: 4}


async def test_the_pipeline_flags_windows_of_a_truncated_partition_until_the_bounds_pass_since() -> None:
    from seqsignal.workers.pipelines.actions import ActionPipeline
    from seqsignal.workers.settings import Settings
    from seqsignal.workers.state.window_store import UserUpdate, WindowAction

    settings = Settings()
    pipe = ActionPipeline(None, None, settings, None, None)

    def update(*ts: float) -> UserUpdate:
        return UserUpdate("u", [WindowAction(i, "like", t) for i, t in enumerate(ts)], [], None, None, None)

    assert pipe._complete(update(1000.0), 0)  # no rebuild configured
    client = FakeRedis()
    pipe.rebuild, _ = _rebuild(client, FakeHistory({0: _log(1)}, truncated_ms=2_000_000))
    await pipe.rebuild.ensure("actions", {0: 1})
    assert not pipe._complete(update(1000.0, 1001.0), 0)  # may miss actions from before 2,000 s
    late = 2000.0 + settings.window.max_age_s
    assert pipe._complete(update(1000.0, late), 0)  # its age bound drops everything before 2,000 s anyway
    assert pipe._complete(update(1000.0), 1)  # partition 1 was not truncated
