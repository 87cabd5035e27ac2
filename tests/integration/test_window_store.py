"""WindowStore on a real Redis: the Lua path equals the pure rules, one round trip per batch, footprint."""

from __future__ import annotations

import asyncio
import itertools
import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from seqsignal.schemas.events import ACTION_TYPES, Action, Post
from seqsignal.workers.settings import RedisSettings, WindowSettings
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state import window_rules as wr
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore

BASE = 1_700_000_000.0
WS = WindowSettings(max_actions=6, max_age_s=3600, idle_ttl_s=600, max_replies=4)
# The model-based tests also run on a Redis Cluster: the session's `redis_cluster_url` (3 local masters).
TARGETS = ["server", "cluster"]
USERS = ["u1", "u2", "7", "we{ir}d", "}x", "ü"]
TARGET_IDS = [None, "u1", "12345", "ü" * 32, "x" * 65]  # 64 bytes is the longest stored target


def _at(ts: float) -> datetime:
    return datetime.fromtimestamp(ts, UTC)


def _deliveries(rng: random.Random, events: list[Any], partition_of: Any) -> list[tuple[Any, int, int]]:
    """Kafka-like delivery: per-partition offsets; crashes redeliver a suffix, plus stray old redeliveries."""
    offsets: dict[int, int] = {}
    log: list[tuple[Any, int, int]] = []
    out: list[tuple[Any, int, int]] = []
    for ev in events:
        p = partition_of(ev)
        off = offsets.get(p, 0)
        offsets[p] = off + 1
        log.append((ev, p, off))
        out.append(log[-1])
        r = rng.random()
        if r < 0.08:
            same = [d for d in log if d[1] == p]
            out += same[rng.randrange(len(same)) :]
        elif r < 0.15:
            out.append(rng.choice(log))
    return out


def _batches(rng: random.Random, items: list[Any]) -> list[list[Any]]:
    cuts = sorted(rng.sample(range(1, len(items)), k=min(len(items) - 1, rng.randint(0, 8)))) if items else []
    bounds = [0, *cuts, len(items)]
    return [items[a:b] for a, b in itertools.pairwise(bounds) if b > a]


def _run(request: pytest.FixtureRequest, redis_url: str, target: str, prefix: str, coro_fn: Any) -> None:
    """Run `coro_fn(client)` on a fresh client (server or cluster), then delete every key under `prefix`."""
    cluster = target == "cluster"
    url = request.getfixturevalue("redis_cluster_url") if cluster else redis_url

    async def main() -> None:
        c = async_client(RedisSettings(url=url, cluster=cluster))
        try:
            await coro_fn(c)
        finally:
            keys = [k async for k in c.scan_iter(match=redis_keys.all_keys_pattern(prefix), count=1000)]
            for k in keys:
                await c.delete(k)
            await c.aclose()

    asyncio.run(main())


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32))
def test_actions_lua_path_equals_pure_rules(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str, target: str, seed: int
) -> None:
    rng = random.Random(seed)
    actions: list[Action] = []
    coarse = rng.random() < 0.5
    for i in range(rng.randint(1, 120)):
        eid = f"e{i}" if not actions or rng.random() > 0.1 else rng.choice(actions).event_id  # source dup
        # spans several max_age; a coarse grid half the time (ts ties, actions exactly max_age apart)
        ts = BASE + (rng.randrange(0, 25) * 600 if coarse else rng.randrange(0, 4 * 3600 * 1000) / 1000)
        actions.append(
            Action(
                event_id=eid,
                user_id=rng.choice(USERS),
                action=rng.choice(ACTION_TYPES),
                created_at=_at(ts),
                target_id=rng.choice(TARGET_IDS),
            )
        )
    items = _deliveries(rng, actions, lambda a: USERS.index(a.user_id) % 3)
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"

    async def check(c: Any) -> None:
        store = WindowStore(c, WS, prefix)
        model: dict[str, wr.UserWindow] = {}
        for batch in _batches(rng, items):
            got = await store.append_actions(batch)
            assert list(got) == list(dict.fromkeys(a.user_id for a, _, _ in batch))
            for user, upd in got.items():
                mine = [(a, p, o) for a, p, o in batch if a.user_id == user]
                evs = [
                    wr.action_event(p, o, a.created_at.timestamp(), a.action, a.event_id, a.target_id)
                    for a, p, o in mine
                ]
                w, statuses = wr.apply_actions(
                    model.get(user, wr.UserWindow()),
                    evs,
                    max_actions=WS.max_actions,
                    max_age_ms=WS.max_age_s * 1000,
                )
                model[user] = w
                assert upd.window == [r.to_action() for r in w.records]
                assert upd.added == [
                    a.event_id for (a, _, _), s in zip(mine, statuses, strict=True) if s == "a"
                ]
                assert len(upd.added) + len(upd.skipped) == len(mine)
                assert (upd.state, upd.state_version, upd.state_ts) == (w.state, w.state_version, w.state_ts)
            if rng.random() < 0.4:  # the worker caches states for some users, maybe one never seen
                users = rng.sample([*got, "never-seen"], k=min(2, len(got) + 1))
                states = {
                    u: (rng.randbytes(rng.randint(0, 256)), f"v{rng.randint(1, 3)}", BASE) for u in users
                }
                await store.put_states(states)
                for u, (s, v, t) in states.items():
                    if u in model:
                        model[u] = replace(model[u], state=s, state_version=v, state_ts=t)
        for user in USERS:
            assert await store.read_user(user) == model.get(user)
        assert await store.read_user("never-seen") is None

    _run(request, redis_url, target, prefix, check)


@pytest.mark.parametrize("target", TARGETS)
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32))
def test_posts_lua_path_equals_pure_rules(
    request: pytest.FixtureRequest, redis_url: str, redis_prefix: str, target: str, seed: int
) -> None:
    rng = random.Random(seed)
    roots = ["r1", "r2", "{r3}"]
    posts: list[Post] = []
    for i in range(rng.randint(1, 80)):
        root = rng.choice(roots)
        pid = root if rng.random() < 0.15 else f"p{i}" if rng.random() > 0.1 else f"p{rng.randrange(i + 1)}"
        text = rng.choice(["", "hi", "ünï €", "x" * rng.randint(0, 300)])
        ts = BASE + rng.randrange(0, 20)  # coarse: many ties, ordered by post id bytes
        posts.append(Post(post_id=pid, user_id="u", text=text, created_at=_at(ts), root_id=root))
    items = _deliveries(rng, posts, lambda p: roots.index(p.root_id))
    prefix = f"{redis_prefix}{uuid.uuid4().hex[:6]}:"

    async def check(c: Any) -> None:
        store = WindowStore(c, WS, prefix)
        model: dict[str, wr.ThreadWindow] = {}
        for batch in _batches(rng, items):
            got = await store.append_posts(batch)
            for root, upd in got.items():
                mine = [(p, pa, o) for p, pa, o in batch if p.root_id == root]
                evs = [
                    wr.PostEvent(
                        pa, o, p.post_id, wr.ts_to_ms(p.created_at.timestamp()), p.post_id == root, p.text
                    )
                    for p, pa, o in mine
                ]
                t, statuses = wr.apply_posts(
                    model.get(root, wr.ThreadWindow()), evs, max_replies=WS.max_replies
                )
                model[root] = t
                assert upd.source_text == t.source_text
                assert upd.replies == [r.text for r in t.replies]
                assert upd.reply_ids == [r.post_id for r in t.replies]
                assert upd.replies_seen == t.replies_seen
                assert upd.added == [
                    p.post_id for (p, _, _), s in zip(mine, statuses, strict=True) if s == "a"
                ]
                assert (upd.last_score, upd.last_flagged) == (t.last_score, t.last_flagged)
            if rng.random() < 0.3:
                scores = {r: (rng.random(), rng.random() < 0.5) for r in rng.sample(roots, 2)}
                await store.put_thread_scores(scores)
                for r, (s, f) in scores.items():
                    if r in model:
                        model[r] = replace(model[r], last_score=s, last_flagged=f)
        for root in roots:
            assert await store.read_thread(root) == model.get(root)

    _run(request, redis_url, target, prefix, check)
