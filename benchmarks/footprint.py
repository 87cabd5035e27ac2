"""Redis bytes per active user (window + cached encoder state, MEMORY USAGE), as the worker writes them."""

from __future__ import annotations

import asyncio
import statistics
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np

from seqsignal.schemas.events import ACTION_TYPES, Action
from seqsignal.workers.settings import RedisSettings, WindowSettings
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_rules import decode_user
from seqsignal.workers.state.window_store import WindowStore


def _stats(sizes: list[int]) -> dict[str, Any]:
    return {"users": len(sizes), "mean_bytes": round(statistics.fmean(sizes), 1) if sizes else None,
            "median_bytes": statistics.median(sizes) if sizes else None,
            "max_bytes": max(sizes, default=None)}


TARGET_IDS = {  # how a target id looks: small numbers (the tracked figure), Higgs-like ids, pseudonyms
    "small": lambda n: str(n), "higgs": lambda n: str(100_000 + 7919 * n % 400_000),
    "pseudonym": lambda n: f"{n * 2654435761 % 2**128:032x}",
}


async def _full_windows(url: str, users: int, version: str, state_bytes: int, targets: str = "small"
                        ) -> dict[str, Any]:
    """`users` users with a full default window (64 actions, each on a distinct target) and a cached state,
    through WindowStore."""
    target_id = TARGET_IDS[targets]
    prefix = f"bench:fp{uuid.uuid4().hex[:8]}:"
    window = WindowSettings()
    client: Any = async_client(RedisSettings(url=url, key_prefix=prefix))  # the stubs lack some commands
    store = WindowStore(client, window, prefix)
    t0 = datetime.now(UTC) - timedelta(hours=2)
    try:
        offset = 0
        for step in range(window.max_actions + 8):  # 8 more than the window holds: it is bounded
            items = []
            for u in range(users):
                a = Action(event_id=f"fp:{u}:{step}", user_id=f"{1_000_000 + u}",
                           target_id=target_id(u + step), action=ACTION_TYPES[(u + step) % len(ACTION_TYPES)],
                           created_at=t0 + timedelta(seconds=17 * step + u % 13), source="higgs")
                items.append((a, 0, offset))
                offset += 1
            await store.append_actions(items)
        rng = np.random.default_rng(0)
        last = (t0 + timedelta(seconds=17 * (window.max_actions + 7))).timestamp()
        states = {f"{1_000_000 + u}": (rng.bytes(state_bytes), version, last) for u in range(users)}
        await store.put_states(states)
        keys = [k async for k in client.scan_iter(match=f"{prefix}u:*", count=1000)]
        sizes = [int(await client.memory_usage(k, samples=0)) for k in keys]
        blobs = [await client.get(k) for k in keys[:50]]
        lens = [len(decode_user(b).records) for b in blobs]
        return {**_stats(sizes), "window_actions": statistics.median(lens), "targets": targets,
                "value_bytes": statistics.median(len(b) for b in blobs), "state_bytes": state_bytes}
    finally:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        if keys:
            await client.delete(*keys)
        await client.aclose()


async def _sample_prefix(url: str, prefix: str, limit: int) -> dict[str, Any]:
    """MEMORY USAGE of the user keys a worker left under `prefix` (the real mix of window lengths)."""
    client: Any = async_client(RedisSettings(url=url, key_prefix=prefix))
    try:
        sizes, lens = [], []
        async for k in client.scan_iter(match=f"{prefix}u:*", count=1000):
            sizes.append(int(await client.memory_usage(k, samples=0)))
            lens.append(len(decode_user(await client.get(k)).records))
            if len(sizes) >= limit:
                break
        return {**_stats(sizes), "mean_window_actions": round(statistics.fmean(lens), 2) if lens else None}
    finally:
        await client.aclose()


async def _delete_prefix(url: str, prefix: str) -> int:
    client: Any = async_client(RedisSettings(url=url, key_prefix=prefix))
    try:
        keys = [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]
        for i in range(0, len(keys), 1000):
            await client.delete(*keys[i: i + 1000])
        return len(keys)
    finally:
        await client.aclose()


def full_windows(url: str, version: str, state_bytes: int, users: int = 200, targets: str = "small"
                 ) -> dict[str, Any]:
    return asyncio.run(_full_windows(url, users, version, state_bytes, targets))


def sample_prefix(url: str, prefix: str, limit: int = 500) -> dict[str, Any]:
    return asyncio.run(_sample_prefix(url, prefix, limit))


def delete_prefix(url: str, prefix: str) -> int:
    return asyncio.run(_delete_prefix(url, prefix))
