"""WindowStore on a real Redis: one round trip per batch, NOSCRIPT fallback, TTL, forget, bytes per user."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import pytest

from seqsignal.schemas.events import Action, Post
from seqsignal.workers.settings import RedisSettings, WindowSettings
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.redis_scripts import load_script
from seqsignal.workers.state.window_store import EpochChanged, WindowStore

BASE = 1_700_000_000.0


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    c = async_client(RedisSettings(url=redis_url))
    yield c
    await c.aclose()


def _action(i: int, user: str = "u", ts: float = BASE) -> Action:
    return Action(event_id=f"e{i}", user_id=user, action="like", created_at=_at(ts + i))


class _CountingClient:
    """The real client, counting the commands and pipelines sent through it."""

    def __init__(self, inner: Any) -> None:
        self.inner, self.sent = inner, 0

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self.inner, name)
        if name in ("evalsha", "pipeline", "script_load", "get", "execute_command"):

            def counted(*a: Any, **kw: Any) -> Any:
                self.sent += 1
                return attr(*a, **kw)

            return counted
        return attr


async def test_one_round_trip_per_batch(client: Any, redis_prefix: str) -> None:
    for name in ("append_actions", "put_states", "append_posts", "put_thread_scores"):
        await load_script(name).load(client)
    counting = _CountingClient(client)
    store = WindowStore(counting, WindowSettings(), redis_prefix)
    batch = [(_action(i, user=f"user{i % 50}"), i % 3, i) for i in range(500)]
    out = await store.append_actions(batch)
    assert len(out) == 50 and sum(len(u.added) for u in out.values()) == 500
    assert counting.sent == 1
    posts = [
        (Post(post_id=f"p{i}", user_id="u", text="t", created_at=_at(BASE), root_id=f"p{i % 20}"), 0, i)
        for i in range(200)
    ]
    assert len(await store.append_posts(posts)) == 20
    assert counting.sent == 2
    await store.put_states({u: (b"s", "v", 1.0) for u in out})
    await store.put_thread_scores({f"p{i}": (0.5, False) for i in range(20)})
    assert counting.sent == 4
    assert await store.append_actions([]) == {} and counting.sent == 4  # nothing to do, nothing sent


async def test_noscript_falls_back_to_script_load_also_in_a_pipeline(client: Any, redis_prefix: str) -> None:
    store = WindowStore(client, WindowSettings(), redis_prefix)
    await client.script_flush()
    assert (await store.append_actions([(_action(1), 0, 1)]))["u"].added == ["e1"]
    await client.script_flush()
    key = redis_keys.user_key(redis_prefix, "p")
    script = load_script("append_actions")
    args: list[Any] = [64, 10**9, 60, ""]  # "": no epoch check
    ev = struct.pack(">Iq6sB8sB", 0, 1, (5).to_bytes(6, "big"), 0, bytes(8), 0)  # one event, no target
    res = await script.run_many(client, [([key], [*args, ev]), ([key], [*args, ev])])
    assert [r[0][0] for r in res] == [b"a", b"r"]  # same key twice in one pipeline: second is a redelivery


async def test_ttl_forget_and_late_writes_do_not_resurrect(client: Any, redis_prefix: str) -> None:
    ws = WindowSettings(idle_ttl_s=120)
    store = WindowStore(client, ws, redis_prefix)
    await store.append_actions([(_action(1), 0, 1)])
    await store.append_posts(
        [(Post(post_id="p", user_id="u", text="t", created_at=_at(BASE), root_id="r"), 0, 1)]
    )
    ukey = redis_keys.user_key(redis_prefix, "u")
    assert 100 < await client.ttl(ukey) <= 120
    assert [100 < await client.ttl(k) <= 120 for k in redis_keys.thread_keys(redis_prefix, "r")] == [
        True,
        True,
    ]
    await client.expire(ukey, 50)
    await store.put_states({"u": (b"s", "v", 1.0)})
    assert 40 < await client.ttl(ukey) <= 50  # a state write keeps the TTL
    await store.append_actions([(_action(2), 0, 2)])
    assert await client.ttl(ukey) > 100  # an append refreshes it
    assert await store.forget_user("u") == 1
    assert await store.forget_user("u") == 0
    await store.put_states({"u": (b"s", "v", 1.0)})
    await store.put_thread_scores({"gone": (0.9, True)})
    assert not await client.exists(ukey, redis_keys.thread_key(redis_prefix, "gone"))
    assert await store.read_window("u") == []


async def test_bytes_per_active_user_within_budget(client: Any, redis_prefix: str) -> None:
    """issue 6: at most 1.5 KB per active user at the default window (64 actions + cached state)."""
    store = WindowStore(client, WindowSettings(), redis_prefix)
    measured = {}
    for state_size in (64, 128, 256):
        user = f"user-{state_size}-0123456789abcdef0123456789ab"  # a 32-hex pseudonym-sized id
        await store.append_actions([(_action(i, user=user, ts=BASE), 0, i) for i in range(100)])
        await store.put_states({user: (bytes(state_size), "behavior-20261126-01", BASE)})
        assert len(await store.read_window(user)) == 64
        measured[state_size] = await client.memory_usage(redis_keys.user_key(redis_prefix, user), samples=0)
    print(f"redis bytes per user (64 actions) by state size: {measured}")
    assert all(v <= 1536 for v in measured.values()), measured


async def test_hash_dedupe_only_matches_whole_records(client: Any, redis_prefix: str) -> None:
    """The Lua dedupe searches the packed records: a hash spanning two records must not count."""
    key = redis_keys.user_key(redis_prefix, "aligned")

    def ev(off: int, ts_ms: int, h: bytes) -> bytes:
        return struct.pack(">Iq6sB8sB", 0, off, ts_ms.to_bytes(6, "big"), 0, h, 0)

    straddling = b"\x01" * 7 + b"\x00"  # tail of record 1's hash + head of record 2's ts
    script, head = load_script("append_actions"), [64, 10**12, 60, ""]
    res = await script.run(client, [key], [*head, ev(1, 5, b"\x01" * 8) + ev(2, 5, b"\x02" * 8)])
    assert res[0][0] == b"aa"
    res = await script.run(client, [key], [*head, ev(3, 6, straddling) + ev(4, 7, b"\x02" * 8)])
    assert res[0][0] == b"ad"
    assert [
        a.event_hash for a in await WindowStore(client, WindowSettings(), redis_prefix).read_window("aligned")
    ] == [int.from_bytes(h[4:], "big") for h in (b"\x01" * 8, b"\x02" * 8, straddling)]  # 32 bits kept


class _Guard:
    """A guard that already made every partition whole under `epoch` (a real one: window_rebuild.py)."""

    def __init__(self, client: Any, prefix: str, epoch: str) -> None:
        self.client, self.prefix, self.epoch, self.ensured = client, prefix, epoch, 0

    def known_epoch(self, stream: str, starts: Any) -> str | None:
        return self.epoch if self.ensured == 0 else None

    async def ensure(self, stream: str, starts: Any) -> str:  # the GET path: sets the marker it finds missing
        self.ensured += 1
        key = redis_keys.epoch_key(self.prefix)
        await self.client.set(key, "e2", nx=True)
        self.epoch = (await self.client.get(key)).decode()
        return self.epoch


async def test_the_epoch_check_rides_in_the_append_and_a_stale_epoch_writes_nothing(
    client: Any, redis_prefix: str
) -> None:
    await load_script("append_actions").load(client)
    marker = redis_keys.epoch_key(redis_prefix)
    await client.set(marker, "e1")
    counting = _CountingClient(client)
    store = WindowStore(counting, WindowSettings(), redis_prefix)
    with pytest.raises(EpochChanged):
        await store.apply_actions([(_action(0), 0, 0)], epoch="e0")
    assert await store.read_window("u") == []  # nothing written
    guard = _Guard(client, redis_prefix, "e1")
    store.guard = guard
    counting.sent = 0
    out = await store.append_actions([(_action(i), 0, i) for i in range(3)])
    assert len(out["u"].added) == 3 and counting.sent == 1 and guard.ensured == 0  # no GET of its own
    await client.delete(marker)  # Redis lost the marker (and, in life, the windows)
    out = await store.append_actions([(_action(3), 0, 3)])
    assert guard.ensured == 1 and guard.epoch == "e2"  # the append refused, the guard ran, then it applied
    assert out["u"].added == ["e3"] and len(await store.read_window("u")) == 4
