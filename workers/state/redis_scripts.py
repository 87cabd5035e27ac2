"""Lua scripts from `lua/`, run with EVALSHA in one round trip per call (SCRIPT LOAD only on NOSCRIPT)."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from importlib import resources
from typing import Any

import redis.asyncio as aioredis
from redis.crc import key_slot
from redis.exceptions import NoScriptError

AsyncRedis = aioredis.Redis | aioredis.RedisCluster
KeyArgs = tuple[list[str], list[Any]]  # the keys and args of one script invocation


class LuaScript:
    """One script: its text and SHA1 (computed locally, so no round trip is spent to learn it)."""

    def __init__(self, name: str, text: str) -> None:
        self.name = name
        self.text = text
        self.sha = hashlib.sha1(text.encode()).hexdigest()

    async def run(self, client: AsyncRedis, keys: list[str], args: list[Any]) -> Any:
        """EVALSHA; on NOSCRIPT (server restarted, new node, flushed) load the script and retry once."""
        c: Any = client  # the redis stubs lack most cluster commands
        try:
            return await c.evalsha(self.sha, len(keys), *keys, *args)
        except NoScriptError:
            await c.script_load(self.text)
            return await c.evalsha(self.sha, len(keys), *keys, *args)

    async def load(self, client: AsyncRedis) -> None:
        """SCRIPT LOAD (on every primary of a cluster)."""
        c: Any = client
        await c.script_load(self.text)

    async def run_many(self, client: AsyncRedis, calls: Sequence[KeyArgs]) -> list[Any]:
        """Several invocations in one non-transactional pipeline (split by node on a cluster).

        Results come back in call order; a call that failed with NOSCRIPT is retried after SCRIPT LOAD;
        any other error is raised.
        """
        if len(calls) == 1:
            return [await self.run(client, *calls[0])]
        results = await self._pipeline(client, calls)
        missing = [i for i, r in enumerate(results) if isinstance(r, NoScriptError)]
        if missing:
            await self.load(client)
            retried = await self._pipeline(client, [calls[i] for i in missing])
            for i, r in zip(missing, retried, strict=True):
                results[i] = r
        for r in results:
            if isinstance(r, Exception):
                raise r
        return results

    async def _pipeline(self, client: AsyncRedis, calls: Sequence[KeyArgs]) -> list[Any]:
        pipe: Any = client.pipeline(transaction=False)
        for keys, args in calls:
            # execute_command: redis-py blocks the evalsha() helper on a cluster pipeline, not the command
            pipe.execute_command("EVALSHA", self.sha, len(keys), *keys, *args)
        return list(await pipe.execute(raise_on_error=False))


@cache
def load_script(name: str) -> LuaScript:
    """The script `lua/<name>.lua` shipped with the package."""
    text = (resources.files("seqsignal.workers.state") / "lua" / f"{name}.lua").read_text(encoding="utf-8")
    return LuaScript(name, text)


def is_cluster(client: AsyncRedis) -> bool:
    return isinstance(client, aioredis.RedisCluster)


def group_by_slot(client: AsyncRedis, units: Sequence[str]) -> list[list[int]]:
    """Indices of `units` (their first key) grouped so one script call touches one slot on a cluster.

    On a single server everything is one group: one script call per batch.
    """
    if not units:
        return []
    if not is_cluster(client):
        return [list(range(len(units)))]
    groups: dict[int, list[int]] = defaultdict(list)
    for i, key in enumerate(units):
        groups[key_slot(key.encode())].append(i)
    return list(groups.values())
