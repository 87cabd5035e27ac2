"""The window rebuild on the real stack (Kafka + Redis, no worker): half of a real slice is applied through
the guarded store as the worker applies it, Redis loses every key, and the next appends find the epoch gone,
re-read each input partition from the topic and leave every user and thread window equal to the rebuild from
the inputs. Prints what was re-read and how fast."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import redis
from redis.crc import key_slot
from support.worker_acceptance import Inputs, check_windows, load_slice, send

from seqsignal.schemas.topics import Topics
from seqsignal.workers.input_history import TopicHistory
from seqsignal.workers.settings import RedisSettings, Settings
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_rebuild import (
    HistoryRead,
    Items,
    Records,
    Source,
    WindowRebuild,
    action_items,
    post_items,
)
from seqsignal.workers.state.window_store import Stream, WindowStore

N_ACTIONS = 20000
N_POSTS = 3000
BATCH = 512  # the worker's default actions batch


async def _read_all(history: TopicHistory, topic: str, partitions: int, stream: Stream) -> Items:
    """Every valid input of `topic`, as the pipelines decode it, in offset order per partition."""
    items: Items = []
    for p in range(partitions):
        records: Records = []

        async def sink(chunk: Records) -> None:
            records.extend(chunk)  # noqa: B023 (awaited within this iteration)

        end = await _end(history, topic, p)
        await history.read(topic, p, 0, end, sink)
        items += action_items(p, records, lambda a: a) if stream == "actions" else post_items(p, records)
    return sorted(items, key=lambda it: (it[2], it[1]))  # interleave partitions, as batches do


async def _end(history: TopicHistory, topic: str, partition: int) -> int:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    from seqsignal.workers.kafka import aiokafka_kwargs

    consumer = AIOKafkaConsumer(group_id=None, **aiokafka_kwargs(history._kafka))
    await consumer.start()
    try:
        tp = TopicPartition(topic, partition)
        return int((await consumer.end_offsets([tp]))[tp])
    finally:
        await consumer.stop()


def _lose_everything(settings: Settings) -> int:
    client = redis.Redis.from_url(settings.redis.url)
    try:
        pattern = redis_keys.all_keys_pattern(settings.redis.key_prefix)
        keys = list(client.scan_iter(match=pattern, count=1000))
        return int(client.delete(*keys)) if keys else 0
    finally:
        client.close()


async def _apply(store: WindowStore, stream: Stream, items: Items) -> None:
    append: Any = store.append_actions if stream == "actions" else store.append_posts
    for i in range(0, len(items), BATCH):
        await append(items[i : i + BATCH])


async def _scenario(settings: Settings, topics: Topics) -> tuple[WindowRebuild, float, int, int]:
    client = async_client(settings.redis)
    try:
        store = WindowStore(client, settings.window, settings.redis.key_prefix)
        history = TopicHistory(settings.kafka)
        w = settings.window
        sources: dict[Stream, Source] = {
            "actions": Source(
                topics.actions, w.max_age_s * 1000, lambda p, r: action_items(p, r, lambda a: a),
                store.apply_actions,
            ),
            "posts": Source(topics.posts, w.idle_ttl_s * 1000, post_items, store.apply_posts),
        }
        rebuild = WindowRebuild(client, settings.redis.key_prefix, sources, history)
        store.guard = rebuild
        parts = settings.kafka.partitions
        inputs = {s: await _read_all(history, src.topic, parts, s) for s, src in sources.items()}
        for stream, items in inputs.items():  # the first half, as the worker applies it
            await _apply(store, stream, items[: len(items) // 2])
        lost = _lose_everything(settings)  # Redis restarted empty
        # what a rebuild must re-read: every record below each partition's first offset of the second half
        expected = sum(
            min(o for _, p, o in items[len(items) // 2 :] if p == part)
            for items in inputs.values()
            for part in range(parts)
        )
        first_rebuild = len(rebuild.done)
        t0 = time.perf_counter()
        for stream, items in inputs.items():  # the next batches find the loss and rebuild first
            await _apply(store, stream, items[len(items) // 2 :])
        seconds = time.perf_counter() - t0
        rebuild.done[:] = rebuild.done[first_rebuild:]
        return rebuild, seconds, lost, expected
    finally:
        await client.aclose()


def test_a_lost_redis_is_rebuilt_from_the_topics(settings: Settings, topics: Topics) -> None:
    actions, posts = load_slice()
    actions, posts = actions[:N_ACTIONS], posts[:N_POSTS]
    send(settings, topics, actions, posts)  # with 1% invalid records, skipped by the rebuild
    rebuild, seconds, lost, expected = asyncio.run(_scenario(settings, topics))
    done = rebuild.done
    assert lost > 0
    assert sorted((r.stream, r.partition) for r in done) == [
        (s, p) for s in ("actions", "posts") for p in range(settings.kafka.partitions)
    ], "each input partition rebuilt once after the loss"
    read = sum(r.records for r in done)
    users = check_windows(settings, Inputs(actions, posts))
    print(
        f"\n[window rebuild] {lost} keys lost; {len(done)} partitions re-read: {read} records "
        f"({sum(r.applied for r in done)} valid re-applied) in {sum(r.seconds for r in done):.2f}s "
        f"({read / max(sum(r.seconds for r in done), 1e-9):.0f} records/s), the second half of the stream "
        f"applied in {seconds:.2f}s with it; 0 of {users} user windows differ from the inputs"
    )
    assert read == expected, "the rebuild re-reads each partition from its start up to the batch"


class _NoHistory:
    """An empty topic: what the markers are checked with on a cluster (the read itself is tested above)."""

    def __init__(self) -> None:
        self.reads = 0

    async def read(self, topic: str, partition: int, since_ms: int, end: int, sink: Any) -> HistoryRead:
        self.reads += 1
        return HistoryRead(start=end, records=0)


def test_the_markers_work_on_a_cluster(redis_cluster_url: str) -> None:
    """Epoch and partition markers on a Redis Cluster: one slot, a lost epoch seen by every partition."""
    prefix = "test-rebuild-cluster:"

    async def main() -> None:
        client = async_client(RedisSettings(url=redis_cluster_url, cluster=True))
        try:
            history = _NoHistory()
            source = Source("in.actions", 1000, lambda p, r: [], _noop)
            rebuild = WindowRebuild(client, prefix, {"actions": source}, history)
            await rebuild.ensure("actions", {0: 5, 1: 5, 2: 5})
            await rebuild.ensure("actions", {0: 9, 1: 9, 2: 9})
            assert history.reads == 3
            keys = [redis_keys.epoch_key(prefix)] + [
                redis_keys.partition_key(prefix, "in.actions", p) for p in range(3)
            ]
            assert len({key_slot(k.encode()) for k in keys}) == 1
            assert all([await client.get(k) for k in keys])
            await client.delete(keys[0])  # the marker's node lost its data
            await rebuild.ensure("actions", {1: 10})
            assert history.reads == 4
        finally:
            for k in [k async for k in client.scan_iter(match=f"{prefix}*", count=1000)]:
                await client.delete(k)
            await client.aclose()

    asyncio.run(main())


async def _noop(items: Items) -> None:
    return None
