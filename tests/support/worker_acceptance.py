"""Issue-4 acceptance checks shared by the e2e and crash tests: replay a real slice, collect and verify."""

from __future__ import annotations

import asyncio
import itertools
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import orjson
from kafka import KafkaConsumer, TopicPartition

from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.dead_letter import (
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
)
from seqsignal.workers.pipelines.emitter import validate_output
from seqsignal.workers.replay import ReplayStats, make_producer, replay
from seqsignal.workers.settings import Settings
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_rules import (
    PostEvent,
    ThreadWindow,
    UserWindow,
    action_event,
    apply_actions,
    apply_posts,
    ts_to_ms,
)
from seqsignal.workers.state.window_store import WindowStore

N_ACTIONS = int(os.environ.get("SEQSIGNAL_TEST_E2E_ACTIONS", "20000"))
N_TWEETS = int(os.environ.get("SEQSIGNAL_TEST_E2E_TWEETS", "2000"))
N_THREAD_POSTS = int(os.environ.get("SEQSIGNAL_TEST_E2E_THREAD_POSTS", "1000000"))  # all RumourEval
KINDS = {
    "behavior": "behavior_prediction",
    "sentiment": "sentiment",
    "rumor": "rumor_flag",
    "dead_letter": "dead_letter",
}


@dataclass
class Inputs:
    """The valid events sent (in send order) and how many invalid records were injected."""

    actions: list[Action]
    posts: list[Post]
    invalid: int = 0
    sent_at: float = 0.0
    replay_s: float = 0.0

    @property
    def replies_per_thread(self) -> dict[str, int]:
        roots = {p.post_id for p in self.posts if p.post_id == p.root_id}
        out: dict[str, set[str]] = {r: set() for r in roots}
        for p in self.posts:
            if p.post_id != p.root_id and p.root_id in out:
                out[p.root_id].add(p.post_id)
        return {r: len(s) for r, s in out.items()}


def load_slice() -> tuple[list[Action], list[Post]]:
    """The acceptance slice: Higgs actions, TweetEval tweets, RumourEval threads (sources + replies)."""
    actions = [e for e in itertools.islice(iter_dataset_events("higgs"), N_ACTIONS) if isinstance(e, Action)]
    tweets = [e for e in itertools.islice(iter_dataset_events("tweeteval"), N_TWEETS) if isinstance(e, Post)]
    threads = [
        e for e in itertools.islice(iter_dataset_events("rumoureval"), N_THREAD_POSTS) if isinstance(e, Post)
    ]
    return actions, tweets + threads


def send(
    settings: Settings, topics: Topics, actions: list[Action], posts: list[Post], rate: float | None = None
) -> tuple[ReplayStats, ReplayStats]:
    """Replay posts and actions (1% extra invalid records each, seeded) with the project's replay producer:
    one after the other at full speed, or side by side (two producers) at `rate` events/s each."""
    if rate is None:
        producer = make_producer(settings)
        try:
            sp = replay(iter(posts), producer, topics, invalid_fraction=0.01, seed=1)
            sa = replay(iter(actions), producer, topics, invalid_fraction=0.01, seed=2)
        finally:
            producer.close()
        return sa, sp

    def one(events: list[Any], seed: int) -> ReplayStats:
        producer = make_producer(settings)
        try:
            return replay(iter(events), producer, topics, invalid_fraction=0.01, seed=seed, rate=rate)
        finally:
            producer.close()

    with ThreadPoolExecutor(2) as pool:
        fp, fa = pool.submit(one, posts, 1), pool.submit(one, actions, 2)
        return fa.result(), fp.result()


@dataclass
class Outputs:
    """Everything read back from the output topics."""

    records: dict[str, list[Any]] = field(default_factory=dict)  # task -> consumer records
    covered: set[str] = field(default_factory=set)
    sentiment_posts: set[str] = field(default_factory=set)
    replies_seen: dict[str, int] = field(default_factory=dict)  # root -> max replies_seen
    dead: set[tuple[str, int, int]] = field(default_factory=set)  # (topic, partition, offset)
    complete_at: float = 0.0

    def add(self, task: str, rec: Any) -> None:
        self.records.setdefault(task, []).append(rec)
        if task == "dead_letter":
            h = dict(rec.headers)
            self.dead.add((h[H_TOPIC].decode(), int(h[H_PARTITION]), int(h[H_OFFSET])))
            return
        body = orjson.loads(rec.value)
        if task == "behavior":
            self.covered.update(body["covers"])
        elif task == "sentiment":
            self.sentiment_posts.add(body["post_id"])
        else:
            root = body["root_id"]
            self.replies_seen[root] = max(self.replies_seen.get(root, -1), body["replies_seen"])

    def covered_again(self) -> int:
        """Action events covered by more than one behavior record (redelivered after a crash)."""
        counts: dict[str, int] = {}
        for rec in self.records.get("behavior", []):
            for event_id in orjson.loads(rec.value)["covers"]:
                counts[event_id] = counts.get(event_id, 0) + 1
        return sum(n - 1 for n in counts.values())

    def duplicates(self, task: str) -> int:
        ids = [dict(r.headers)["ce_id"] for r in self.records.get(task, [])]
        return len(ids) - len(set(ids))


def complete(out: Outputs, inputs: Inputs) -> bool:
    replies = inputs.replies_per_thread
    return (
        out.covered >= {a.event_id for a in inputs.actions}
        and out.sentiment_posts >= {p.post_id for p in inputs.posts}
        and all(out.replies_seen.get(r, -1) >= n for r, n in replies.items())
        and len(out.dead) >= inputs.invalid
    )


def collect(
    bootstrap: str, topics: Topics, inputs: Inputs, timeout_s: float, settle_s: float = 3.0
) -> Outputs:
    """Read the four output topics from the beginning until `complete` (plus `settle_s`) or the timeout."""
    names = {
        topics.behavior: "behavior",
        topics.sentiment: "sentiment",
        topics.rumor: "rumor",
        topics.dead_letter: "dead_letter",
    }
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    out = Outputs()
    try:
        consumer.assign(
            [TopicPartition(t, p) for t in names for p in sorted(consumer.partitions_for_topic(t))]
        )
        consumer.seek_to_beginning()
        deadline, done_at = time.monotonic() + timeout_s, None
        while time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=500, max_records=10000).items():
                for rec in recs:
                    out.add(names[tp.topic], rec)
            if done_at is None and complete(out, inputs):
                done_at, out.complete_at = time.monotonic(), time.time()
            if done_at is not None and time.monotonic() - done_at > settle_s:
                break
    finally:
        consumer.close()
    return out


def key_partitions(bootstrap: str, topic: str, timeout_s: float = 30.0) -> dict[str, int]:
    """Record key -> partition of everything in `topic` now (the input partition of each user)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    out: dict[str, int] = {}
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning()
        ends = consumer.end_offsets(tps)
        deadline = time.monotonic() + timeout_s
        while any(consumer.position(tp) < ends[tp] for tp in tps) and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=500, max_records=10000).items():
                for rec in recs:
                    if rec.key is not None:
                        out[rec.key.decode()] = tp.partition
    finally:
        consumer.close()
    return out


def check_outputs(out: Outputs, inputs: Inputs) -> None:
    """Every acceptance condition on the topics (asserts with a readable difference)."""
    missing_actions = {a.event_id for a in inputs.actions} - out.covered
    assert not missing_actions, (
        f"{len(missing_actions)} actions never covered, e.g. {sorted(missing_actions)[:3]}"
    )
    missing_posts = {p.post_id for p in inputs.posts} - out.sentiment_posts
    assert not missing_posts, (
        f"{len(missing_posts)} posts without sentiment, e.g. {sorted(missing_posts)[:3]}"
    )
    short = {
        r: (out.replies_seen.get(r), n)
        for r, n in inputs.replies_per_thread.items()
        if out.replies_seen.get(r, -1) < n
    }
    assert not short, (
        f"{len(short)} threads whose last flag missed replies (seen, total): {list(short.items())[:3]}"
    )
    assert len(out.dead) == inputs.invalid, f"dead letters {len(out.dead)} != invalid sent {inputs.invalid}"
    for task, recs in out.records.items():
        for rec in recs:
            if task != "dead_letter":  # a dead letter's value is the invalid input's own bytes
                validate_output(KINDS[task], rec.value)
            h = dict(rec.headers)
            assert {"ce_id", "ce_type", "ce_source", "ce_time", "ce_specversion"} <= h.keys()
            if task == "dead_letter":
                assert {H_STAGE, H_ERROR_CLASS, H_ERROR_MESSAGE, H_TOPIC, H_PARTITION, H_OFFSET} <= h.keys()
                assert h[H_STAGE] == b"decode"


async def _read_windows(
    settings: Settings, users: list[str], roots: list[str]
) -> tuple[list[Any], list[Any]]:
    client = async_client(settings.redis)
    store = WindowStore(client, settings.window, settings.redis.key_prefix)
    u: list[Any] = []
    t: list[Any] = []
    try:
        for i in range(0, len(users), 50):
            u += await asyncio.gather(*(store.read_user(x) for x in users[i : i + 50]))
        for i in range(0, len(roots), 50):
            t += await asyncio.gather(*(store.read_thread(x) for x in roots[i : i + 50]))
        return u, t
    finally:
        await client.aclose()


def check_windows(settings: Settings, inputs: Inputs) -> int:
    """Each Redis user and thread window equals the window rebuilt from the inputs; returns users checked."""
    w = settings.window
    by_user: dict[str, list[Action]] = {}
    for a in inputs.actions:
        by_user.setdefault(a.user_id, []).append(a)
    by_root: dict[str, list[Post]] = {}
    for p in inputs.posts:
        by_root.setdefault(p.root_id, []).append(p)
    users, roots = sorted(by_user), sorted(by_root)
    stored_u, stored_t = asyncio.run(_read_windows(settings, users, roots))
    bad_u = []
    for user, stored in zip(users, stored_u, strict=True):
        events = [
            action_event(0, i, a.created_at.timestamp(), a.action, a.event_id, a.target_id)
            for i, a in enumerate(by_user[user])
        ]
        expected, _ = apply_actions(
            UserWindow(), events, max_actions=w.max_actions, max_age_ms=w.max_age_s * 1000
        )
        if stored is None or stored.records != expected.records:
            bad_u.append(user)
    assert not bad_u, f"{len(bad_u)} of {len(users)} user windows differ from the rebuild"
    bad_t = []
    for root, stored in zip(roots, stored_t, strict=True):
        events = [
            PostEvent(0, i, p.post_id, ts_to_ms(p.created_at.timestamp()), p.post_id == p.root_id, p.text)
            for i, p in enumerate(by_root[root])
        ]
        expected_t, _ = apply_posts(ThreadWindow(), events, max_replies=w.max_replies)
        if stored is None or (stored.source_text, stored.replies, stored.replies_seen) != (
            expected_t.source_text,
            expected_t.replies,
            expected_t.replies_seen,
        ):
            bad_t.append(root)
    assert not bad_t, f"{len(bad_t)} of {len(roots)} thread windows differ from the rebuild"
    return len(users)
