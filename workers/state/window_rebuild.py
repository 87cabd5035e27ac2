"""Windows made whole again after Redis lost its data: an epoch marker tells, the input topics rebuild them.

Redis is a cache of the input topics. The first worker that finds no epoch marker (`redis_keys.epoch_key`)
sets a random one with SET NX. Before every append (`WindowStore.append_*`, inside the same retried call)
`WindowRebuild.ensure` checks, with one GET, that the epoch is the one under which each input partition of
the batch was last made whole (`redis_keys.partition_key`, cached per process). A missing or different epoch
means the data was lost (an empty restart, a failover that lost writes with the marker) or that this Redis
never had seqsignal's marker (first start): the partition's retained actions or posts, from the first record
inside the lookback (`offsets_for_times`) up to the batch's first offset, are re-read with a group-less
consumer and re-applied through the same append (`WindowStore.apply_*`), where the high-water marks make it
idempotent; then the batch itself is applied. The batch is held meanwhile, so no signal is computed on an
emptied window. Design, at-least-once argument, figures and limits: docs/window-rebuild.md.
"""

from __future__ import annotations

import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.events import Action, Post

from . import redis_keys
from .window_guard import Stream

log = logging.getLogger(__name__)
Records = list[tuple[int, bytes | None]]  # (offset, value) of one input partition, in offset order
Items = list[tuple[Any, int, int]]  # (event, partition, offset), what WindowStore.apply_* takes


class RebuildUnavailable(ConnectionError):
    """The input topic could not be read for a rebuild; a ConnectionError, so the batch is held and retried
    like a Redis outage (workers/retry.py: TRANSIENT), never dead-lettered."""


@dataclass(frozen=True, slots=True)
class HistoryRead:
    """What one partition read returned: where it started, how many records, and `truncated_ms`: the log
    time from which the topic still holds the history (0: everything inside the lookback is retained)."""

    start: int
    records: int
    truncated_ms: int = 0


class History(Protocol):
    """The retained records of an input partition (workers/input_history.py reads them from Kafka)."""

    async def read(
        self, topic: str, partition: int, since_ms: int, end: int, sink: Callable[[Records], Awaitable[None]]
    ) -> HistoryRead:
        """Feed `sink` the records from the first with a timestamp >= `since_ms` up to `end` (exclusive)."""
        ...


@dataclass(frozen=True, slots=True)
class Source:
    """One input stream: its topic, how far back its windows reach, and how its records become items."""

    topic: str
    lookback_ms: int
    prepare: Callable[[int, Records], Items]  # partition, records -> items (invalid records left out)
    apply: Callable[[Items], Awaitable[Any]]  # the unguarded append (WindowStore.apply_actions / apply_posts)


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """One partition rebuild, for the log and the tests' figures."""

    stream: str
    partition: int
    start: int
    end: int
    records: int
    applied: int
    seconds: float
    since_ms: int


def action_items(partition: int, records: Records, keyed: Callable[[Action], Action]) -> Items:
    """Decode action records as the pipeline does (`keyed`: its pseudonymisation); invalid ones are skipped:
    they were dead-lettered when they first arrived."""
    items: Items = []
    for offset, value in records:
        try:
            items.append((keyed(decode("actions", value or b"")), partition, offset))
        except InvalidEvent:
            continue
    return items


def post_items(partition: int, records: Records) -> Items:
    """Decode post records (invalid ones skipped, as for actions)."""
    items: Items = []
    for offset, value in records:
        try:
            post: Post = decode("posts", value or b"")
        except InvalidEvent:
            continue
        items.append((post, partition, offset))
    return items


def window_complete(ts_ms: Sequence[int], since_ms: int, *, max_actions: int, max_age_ms: int) -> bool:
    """Whether a user window (record times, oldest first) can hold all it should when its partition's
    history is only retained from `since_ms` (0: all of it): the age bound or a full count bound already
    excludes everything before `since_ms`."""
    if since_ms <= 0 or not ts_ms:
        return True
    if ts_ms[-1] - max_age_ms >= since_ms:
        return True
    return len(ts_ms) >= max_actions and ts_ms[0] >= since_ms


def _marker(value: bytes | None) -> tuple[str, int] | None:
    if value is None:
        return None
    epoch, _, since = value.decode().partition(" ")
    return epoch, int(since or 0)


@dataclass
class WindowRebuild:
    """The `WindowGuard` of the worker's store: detects a lost Redis and rebuilds each input partition once
    per epoch, before the first append to it under that epoch."""

    client: Any  # redis asyncio client (or cluster), bytes responses
    prefix: str
    sources: Mapping[Stream, Source]
    history: History
    chunk: int = 2000
    done: list[Rebuilt] = field(default_factory=list)
    # (topic, partition) -> (epoch, since ms) under which the partition's windows are whole
    _whole: dict[tuple[str, int], tuple[str, int]] = field(default_factory=dict)
    _seen: str | None = None  # the epoch this process saw last

    async def epoch(self) -> str:
        """The current epoch; sets a new one (SET NX) when there is none; logs a loss if we saw another."""
        key = redis_keys.epoch_key(self.prefix)
        while True:
            value = await self.client.get(key)
            if value is None:
                await self.client.set(key, secrets.token_hex(8), nx=True)
                continue
            epoch = value.decode()
            if self._seen is not None and epoch != self._seen:
                log.warning("redis lost its data (epoch marker changed): rebuilding windows from the inputs")
            self._seen = epoch
            return epoch

    def since_ms(self, stream: Stream, partition: int) -> int:
        """The log time from which `partition`'s windows hold the whole history (0: all of it)."""
        return self._whole.get((self.sources[stream].topic, partition), ("", 0))[1]

    def known_epoch(self, stream: Stream, starts: Mapping[int, int]) -> str | None:
        """The epoch this process saw last, when it made every partition of `starts` whole under it."""
        topic, seen = self.sources[stream].topic, self._seen
        if seen is None or any(self._whole.get((topic, p), ("", 0))[0] != seen for p in starts):
            return None
        return seen

    async def ensure(self, stream: Stream, starts: Mapping[int, int]) -> str:
        """Rebuild every partition of `starts` not yet whole under the current epoch, up to its start;
        returns that epoch."""
        topic = self.sources[stream].topic
        while True:
            epoch = await self.epoch()
            todo = [p for p in starts if self._whole.get((topic, p), ("", 0))[0] != epoch]
            if not todo:
                return epoch
            keys = [redis_keys.partition_key(self.prefix, topic, p) for p in todo]
            for p, value in zip(todo, [await self.client.get(k) for k in keys], strict=True):
                marker = _marker(value)
                if marker is not None and marker[0] == epoch:
                    self._whole[(topic, p)] = marker
            for p, key in zip(todo, keys, strict=True):
                if self._whole.get((topic, p), ("", 0))[0] != epoch:
                    since = await self._rebuild(stream, p, starts[p])
                    await self.client.set(key, f"{epoch} {since}")
                    self._whole[(topic, p)] = (epoch, since)
            # loop: the epoch is checked again, so a loss during the rebuild starts it over

    async def _rebuild(self, stream: Stream, partition: int, end: int) -> int:
        source = self.sources[stream]
        t0, applied = time.perf_counter(), 0

        async def sink(records: Records) -> None:
            nonlocal applied
            items = source.prepare(partition, records)
            if items:
                await source.apply(items)
            applied += len(items)

        since_ms = int(time.time() * 1000) - source.lookback_ms
        read = await self.history.read(source.topic, partition, since_ms, end, sink)
        seconds = time.perf_counter() - t0
        done = Rebuilt(stream, partition, read.start, end, read.records, applied, seconds, read.truncated_ms)
        self.done.append(done)
        log.info(
            "window rebuild done",
            extra={
                "stream": stream, "partition": partition, "start": done.start, "end": end,
                "records": done.records, "applied": applied, "seconds": round(done.seconds, 3),
                "since_ms": done.since_ms,
            },
        )
        return read.truncated_ms
