"""Keys written in formats 1-2 (before the packed format 3): the Lua scripts read them and agree with the
pure rules applied to what Python decodes, appends rewrite them as format 3, put_states keeps them."""

from __future__ import annotations

import struct
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from seqsignal.schemas.events import Action
from seqsignal.workers.settings import RedisSettings, WindowSettings
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state import window_rules as wr
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore

WS = WindowSettings(max_actions=8, max_age_s=3600)
BASE_MS = 1_700_000_000_000


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[Any]:
    c = async_client(RedisSettings(url=redis_url))
    yield c
    await c.aclose()


def _legacy(w: wr.UserWindow) -> bytes:
    """Format 1 or 2 bytes of a window, as the encoder before format 3 wrote them (64-bit hashes)."""
    section = wr.encode_targets([r.target for r in w.records])
    flags = (1 if w.hw else 0) | (2 if w.state is not None else 0)
    hwp, hwo = w.hw or (0, 0)
    version = (w.state_version or "").encode() if w.state is not None else b""
    parts = [struct.pack(">BBIqd", 2 if section else 1, flags, hwp, hwo, w.state_ts or 0.0),
             bytes([len(version)]), version, len(w.state or b"").to_bytes(2, "big"), w.state or b""]
    if section:
        parts += [len(section).to_bytes(2, "big"), section]
    parts += [struct.pack(">HIBQ", r.ts_ms >> 32, r.ts_ms & 0xFFFFFFFF, r.code, (7 << 32) | r.event_hash)
              for r in w.records]
    return b"".join(parts)


def _action(i: int, ts_ms: int, target: str | None) -> Action:
    return Action(event_id=f"e{i}", user_id="u", action="reply", target_id=target,
                  created_at=datetime.fromtimestamp(ts_ms / 1000, UTC))


@pytest.mark.parametrize("targets", [[None], ["al", "123456", None, "0123456789abcdef0123456789abcdef"]])
@pytest.mark.parametrize("with_state", [False, True])
async def test_old_keys_are_read_appended_as_format_3_and_take_states(
    client: Any, redis_prefix: str, targets: list[str | None], with_state: bool
) -> None:
    store = WindowStore(client, WS, redis_prefix)
    records = tuple(
        wr.Record(BASE_MS + 1000 * i, i % 6, wr.event_hash(f"e{i}"), wr.target_bytes(t))
        for i, t in enumerate((targets * 6)[:6])
    )
    old = wr.UserWindow(hw=(2, 40), state=b"\x01" * 30 if with_state else None,
                        state_version="v1" if with_state else None, state_ts=1.5 if with_state else None,
                        records=records)
    blob = _legacy(old)
    key = redis_keys.user_key(redis_prefix, "u")
    await client.set(key, blob)
    assert await store.read_user("u") == old  # formats 1-2 read by Python
    # a redelivery (offset 40), a duplicate of e3 and three new actions, one older than all but the first
    batch = [(_action(5, BASE_MS + 5000, targets[5 % len(targets)]), 2, 40),
             (_action(3, BASE_MS + 9000, None), 2, 41),
             (_action(10, BASE_MS + 500, "al"), 2, 42),
             (_action(11, BASE_MS + 20_000, "456626"), 2, 43),
             (_action(12, BASE_MS + 21_000, None), 2, 44)]
    got = (await store.append_actions(batch))["u"]
    evs = [wr.action_event(p, o, a.created_at.timestamp(), a.action, a.event_id, a.target_id)
           for a, p, o in batch]
    want, statuses = wr.apply_actions(old, evs, max_actions=WS.max_actions, max_age_ms=WS.max_age_s * 1000)
    assert statuses == ["r", "d", "a", "a", "a"]
    assert got.added == ["e10", "e11", "e12"] and got.window == [r.to_action() for r in want.records]
    value = await client.get(key)
    assert value[0] == wr.FORMAT_VERSION and await store.read_user("u") == want  # rewritten as format 3
    assert len(value) < len(blob) + 3 * wr.RECORD_SIZE
    await store.put_states({"u": (b"\x02" * 172, "v2", 21.0)})
    assert await store.read_user("u") == replace(want, state=b"\x02" * 172, state_version="v2", state_ts=21.0)


async def test_put_states_on_an_old_key_keeps_its_format(client: Any, redis_prefix: str) -> None:
    store = WindowStore(client, WS, redis_prefix)
    old = wr.UserWindow(hw=(0, 3), records=(wr.Record(BASE_MS, 1, 5, b"x"),))
    await client.set(redis_keys.user_key(redis_prefix, "u"), _legacy(old))
    await store.put_states({"u": (b"s" * 10, "v9", 2.0)})
    assert (await client.get(redis_keys.user_key(redis_prefix, "u")))[0] == 2
    assert await store.read_user("u") == replace(old, state=b"s" * 10, state_version="v9", state_ts=2.0)


async def test_a_large_window_with_many_targets_matches_the_rules(client: Any, redis_prefix: str) -> None:
    """3,000 actions (blobs past the scripts' 4,000-byte chunks), 300 distinct targets (varint indexes),
    timestamps out of order: the Lua path still equals the pure rules."""
    ws = WindowSettings(max_actions=3000, max_age_s=10**6)
    store = WindowStore(client, ws, redis_prefix)
    model, offset = wr.UserWindow(), 0
    for chunk in range(6):
        batch = [(_action(offset + i, BASE_MS + 7_919 * ((offset + i) * 37 % 3001), str((offset + i) % 300)),
                  1, offset + i) for i in range(500)]
        offset += 500
        got = (await store.append_actions(batch))["u"]
        evs = [wr.action_event(p, o, a.created_at.timestamp(), a.action, a.event_id, a.target_id)
               for a, p, o in batch]
        model, _ = wr.apply_actions(model, evs, max_actions=ws.max_actions, max_age_ms=ws.max_age_s * 1000)
        assert got.window == [r.to_action() for r in model.records], chunk
    assert len(model.records) == 3000 and await store.read_user("u") == model
