"""Per-user action windows and per-thread reply windows in Redis: one round trip per batch, Lua-applied."""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from redis.exceptions import ResponseError

from seqsignal.schemas.events import Action, Post
from seqsignal.workers.settings import WindowSettings

from . import redis_keys
from .redis_scripts import AsyncRedis, KeyArgs, group_by_slot, is_cluster, load_script
from .window_guard import EpochChanged, Stream, WindowGuard, first_offsets
from .window_rules import (
    ACTION_CODES,
    ADDED,
    Reply,
    ThreadWindow,
    UserWindow,
    WindowAction,
    decode_user,
    decode_window,
    event_hash,
    target_bytes,
    ts_to_ms,
)

__all__ = [
    "EpochChanged", "Stream", "ThreadUpdate", "UserUpdate", "WindowAction", "WindowGuard", "WindowStore",
]

T = TypeVar("T", Action, Post)
_EVENT = struct.Struct(">Iq6sB8s")  # partition, offset, ts_ms (uint48), action code, event hash


@dataclass(frozen=True, slots=True)
class UserUpdate:
    user_id: str
    window: list[WindowAction]  # the window after this append, oldest first, bounded by count and age
    added: list[str]  # event ids appended by this call (redeliveries and duplicates removed), in order
    # (an accepted action older than max_age before the newest is still `added`, then bounded away)
    state: bytes | None  # cached encoder state (opaque bytes) or None
    state_version: str | None  # model version that produced the state
    state_ts: float | None  # ts of the last action folded into the state
    # Event ids of this call that were already applied (redelivery at or below the high-water mark, or a
    # duplicate event hash). After a crash between append and commit these are events whose outputs may
    # never have been emitted: a worker that must cover every event re-emits for them.
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class ThreadUpdate:
    root_id: str
    source_text: str | None  # None until the source post itself has arrived
    replies: list[str]  # reply texts in created-time order, bounded (max_replies, keep the latest)
    replies_seen: int  # count of distinct replies ever seen (not bounded)
    added: list[str]  # post ids appended by this call (dedupe removed redeliveries)
    last_score: float | None  # last emitted rumour score (for change detection), None if never emitted
    last_flagged: bool | None
    reply_ids: list[str] = field(default_factory=list)  # post ids of `replies`, same order
    skipped: list[str] = field(default_factory=list)  # post ids of this call already applied


def _group(items: Sequence[tuple[T, int, int]], key: str) -> dict[str, list[tuple[T, int, int]]]:
    out: dict[str, list[tuple[T, int, int]]] = {}
    for item in items:
        out.setdefault(getattr(item[0], key), []).append(item)
    return out


def _target_arg(target_id: str | None) -> bytes:
    t = target_bytes(target_id)
    return bytes([len(t)]) + t


def _str(b: bytes | str | None) -> str | None:
    return b.decode() if isinstance(b, bytes) else b


class WindowStore:
    """Reads and writes windows; the client must return bytes (decode_responses=False)."""

    def __init__(self, client: AsyncRedis, settings: WindowSettings, key_prefix: str) -> None:
        kwargs: dict[str, object] = getattr(client, "get_connection_kwargs", dict)()
        if kwargs.get("decode_responses"):
            raise ValueError("WindowStore needs a Redis client with decode_responses=False")
        self._client: Any = client  # typed Any: the redis stubs lack most cluster commands
        self._settings = settings
        self._prefix = key_prefix
        self._append_actions = load_script("append_actions")
        self._put_states = load_script("put_states")
        self._append_posts = load_script("append_posts")
        self._put_scores = load_script("put_thread_scores")
        self.guard: WindowGuard | None = None  # set by the runtime: the rebuild after a Redis loss

    async def _guarded(self, stream: Stream, items: Sequence[tuple[Any, int, int]]) -> None:
        if self.guard is not None and items:
            await self.guard.ensure(stream, first_offsets(items))

    # ------------------------------------------------------------------------------------------ users
    async def append_actions(self, items: Sequence[tuple[Action, int, int]]) -> dict[str, UserUpdate]:
        """The guard first (windows whole, see `WindowGuard`), then `apply_actions`.

        On a single server the guard's check rides in the append itself: when this process already made
        the batch's partitions whole under an epoch, the script writes only if the marker still holds it
        (one round trip, and no gap between check and write); otherwise, or when it changed, the guard's
        GET (and rebuild) runs first. A cluster keeps the GET: the marker lives in another slot."""
        if self.guard is None or not items or is_cluster(self._client):
            await self._guarded("actions", items)
            return await self.apply_actions(items)
        starts = first_offsets(items)
        epoch = self.guard.known_epoch("actions", starts)
        while True:
            if epoch is None:
                epoch = await self.guard.ensure("actions", starts)
            try:
                return await self.apply_actions(items, epoch=epoch)
            except EpochChanged:
                epoch = None  # nothing was written: the guard sees the new marker and rebuilds first

    async def apply_actions(
        self, items: Sequence[tuple[Action, int, int]], epoch: str | None = None
    ) -> dict[str, UserUpdate]:
        """Append (action, partition, offset) items, in order; one round trip (one per node on a cluster).
        With `epoch` (a single server only) nothing is written unless the epoch marker holds it."""
        by_user = _group(items, "user_id")
        users = list(by_user)
        keys = [redis_keys.user_key(self._prefix, u) for u in users]
        head = [self._settings.max_actions, self._settings.max_age_s * 1000, self._settings.idle_ttl_s,
                epoch or ""]
        calls: list[KeyArgs] = []
        groups = group_by_slot(self._client, keys)
        for group in groups:
            packed = [
                b"".join(
                    _EVENT.pack(
                        p,
                        o,
                        ts_to_ms(a.created_at.timestamp()).to_bytes(6, "big"),
                        ACTION_CODES[a.action],
                        event_hash(a.event_id).to_bytes(8, "big"),
                    )
                    + _target_arg(a.target_id)
                    for a, p, o in by_user[users[i]]
                )
                for i in group
            ]
            marker = [redis_keys.epoch_key(self._prefix)] if epoch else []
            calls.append(([*(keys[i] for i in group), *marker], [*head, *packed]))
        try:
            results = await self._append_actions.run_many(self._client, calls) if calls else []
        except ResponseError as exc:
            if str(exc).startswith("EPOCH"):
                raise EpochChanged(str(exc)) from exc
            raise
        out: dict[str, UserUpdate] = {}
        for group, result in zip(groups, results, strict=True):
            for i, (statuses, value) in zip(group, result, strict=True):
                user, (window, actions) = users[i], decode_window(value)
                ids = [a.event_id for a, _, _ in by_user[user]]
                out[user] = UserUpdate(
                    user_id=user,
                    window=actions,
                    added=[e for e, s in zip(ids, statuses.decode(), strict=True) if s == ADDED],
                    state=window.state,
                    state_version=window.state_version,
                    state_ts=window.state_ts,
                    skipped=[e for e, s in zip(ids, statuses.decode(), strict=True) if s != ADDED],
                )
        return out

    async def put_states(self, states: Mapping[str, tuple[bytes, str, float]]) -> None:
        """Cache encoder states (state, model version, state ts) next to existing windows; one round trip."""
        users = list(states)
        keys = [redis_keys.user_key(self._prefix, u) for u in users]
        calls: list[KeyArgs] = []
        for group in group_by_slot(self._client, keys):
            args: list[bytes | str] = []
            for i in group:
                state, version, ts = states[users[i]]
                args += [state, version, repr(float(ts))]
            calls.append(([keys[i] for i in group], args))
        if calls:
            await self._put_states.run_many(self._client, calls)

    async def read_user(self, user_id: str) -> UserWindow | None:
        """Everything stored about one user (None when there is no window)."""
        value = await self._client.get(redis_keys.user_key(self._prefix, user_id))
        return decode_user(value) if value is not None else None

    async def read_window(self, user_id: str) -> list[WindowAction]:
        """The user's window, oldest first (empty when there is none)."""
        user = await self.read_user(user_id)
        return [r.to_action() for r in user.records] if user else []

    async def forget_user(self, user_id: str) -> int:
        """Delete every key holding data about the user; returns the number of keys removed."""
        removed = 0
        for key in redis_keys.user_keys(self._prefix, user_id):
            removed += int(await self._client.delete(key))
        return removed

    # ---------------------------------------------------------------------------------------- threads
    async def append_posts(self, items: Sequence[tuple[Post, int, int]]) -> dict[str, ThreadUpdate]:
        """The guard first (windows whole, see `WindowGuard`), then `apply_posts`."""
        await self._guarded("posts", items)
        return await self.apply_posts(items)

    async def apply_posts(self, items: Sequence[tuple[Post, int, int]]) -> dict[str, ThreadUpdate]:
        """Append (post, partition, offset) items to their threads, in order; one round trip."""
        by_root = _group(items, "root_id")
        roots = list(by_root)
        calls: list[KeyArgs] = []
        groups = group_by_slot(self._client, [redis_keys.thread_key(self._prefix, r) for r in roots])
        for group in groups:
            keys: list[str] = []
            args: list[int | str] = [self._settings.max_replies, self._settings.idle_ttl_s]
            for i in group:
                keys += redis_keys.thread_keys(self._prefix, roots[i])
                posts = by_root[roots[i]]
                args.append(len(posts))
                for post, p, o in posts:
                    is_source = "1" if post.post_id == post.root_id else "0"
                    ts = str(ts_to_ms(post.created_at.timestamp()))
                    args += [p, o, post.post_id, ts, is_source, post.text]
            calls.append((keys, args))
        results = await self._append_posts.run_many(self._client, calls) if calls else []
        out: dict[str, ThreadUpdate] = {}
        for group, result in zip(groups, results, strict=True):
            for i, (statuses, src, replies, seen, score, flag) in zip(group, result, strict=True):
                root = roots[i]
                ids = [p.post_id for p, _, _ in by_root[root]]
                out[root] = ThreadUpdate(
                    root_id=root,
                    source_text=_str(src),
                    replies=[r.decode() for r in replies[1::2]],
                    replies_seen=int(seen),
                    added=[e for e, s in zip(ids, statuses.decode(), strict=True) if s == ADDED],
                    last_score=float(score) if score is not None else None,
                    last_flagged=flag == b"1" if flag is not None else None,
                    reply_ids=[r.decode() for r in replies[0::2]],
                    skipped=[e for e, s in zip(ids, statuses.decode(), strict=True) if s != ADDED],
                )
        return out

    async def put_thread_scores(self, scores: Mapping[str, tuple[float, bool]]) -> None:
        """Record the last emitted rumour score and flag of existing threads; one round trip."""
        roots = list(scores)
        keys = [redis_keys.thread_key(self._prefix, r) for r in roots]
        calls: list[KeyArgs] = []
        for group in group_by_slot(self._client, keys):
            args: list[str] = []
            for i in group:
                score, flagged = scores[roots[i]]
                args += [repr(float(score)), "1" if flagged else "0"]
            calls.append(([keys[i] for i in group], args))
        if calls:
            await self._put_scores.run_many(self._client, calls)

    async def read_thread(self, root_id: str) -> ThreadWindow | None:
        """Everything stored about one thread (None when there is none); for tests and rebuild checks."""
        hkey, zkey = redis_keys.thread_keys(self._prefix, root_id)
        pipe: Any = self._client.pipeline(transaction=False)
        pipe.hgetall(hkey)
        pipe.zrange(zkey, 0, -1, withscores=True)
        fields, members = await pipe.execute()
        if not fields:
            return None
        replies = tuple(Reply(int(s), m.decode(), fields[b"r:" + m].decode()) for m, s in members)
        return ThreadWindow(
            hw=(int(fields[b"hwp"]), int(fields[b"hwo"])) if b"hwp" in fields else None,
            source_text=_str(fields.get(b"src")),
            replies=replies,
            replies_seen=int(fields.get(b"seen", 0)),
            last_score=float(fields[b"score"]) if b"score" in fields else None,
            last_flagged=fields[b"flag"] == b"1" if b"flag" in fields else None,
        )
