"""Hostile inputs against a running worker (issue 12, the last row of the fault table): a 5 MB value (plain:
refused by the client, then by the broker; gzip-compressed: accepted by the broker), a null value
(tombstone), a 10,000-deep JSON array, 10 KB user ids on an action and on a post, an empty value and invalid
UTF-8, produced with kafka-python straight into the input topics while valid Higgs actions and TweetEval
posts flow. Each is refused by the client or the broker, or dead-lettered once at `decode` with its own bytes
and the context headers; the worker stays alive and ready, every valid input gets its signal, and no output
is duplicated. The compressed 5 MB value was a poison pill: its uncompressed dead letter was refused, the
worker exited 75 and re-read it; dead letters are bounded now (workers/pipelines/dead_letter.py)."""

from __future__ import annotations

import itertools
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import KafkaError, MessageSizeTooLargeError
from support.worker_acceptance import Inputs, check_outputs, collect, send
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.dead_letter_reader import DeadLetterRecord, read_dead_letters
from seqsignal.workers.pipelines.dead_letter import (
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
    H_TRUNCATED,
    MAX_VALUE,
)
from seqsignal.workers.settings import Settings

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
N_ACTIONS, N_POSTS = 1000, 100
RATE = 100.0  # valid events/s per input stream: the hostile records land in the middle of the flow
BIG = 5 * 1024 * 1024
LONG_ID = "u" * 10 * 1024


@dataclass
class Hostile:
    """One hostile record: where it went, and what became of it."""

    name: str
    stream: str  # "actions" or "posts"
    key: bytes | None
    value: bytes | None
    expect: str  # the codec reason expected in the dead letter, or "refused"
    producer: str = "plain"  # "plain" (kafka-python defaults), "big" (max_request_size 8 MB), "gzip" (both)
    partition: int = -1
    offset: int = -1
    refused: str = ""  # the error class when the client or the broker refused it
    outcome: str = ""


def _action_doc(user: str) -> bytes:
    return orjson.dumps({"event_id": "hostile-a1", "user_id": user, "action": "like", "target_id": None,
                         "created_at": "2012-07-01T00:00:00Z", "source": "test"})


def _post_doc(user: str) -> bytes:
    return orjson.dumps({"post_id": "hostile-p1", "user_id": user, "text": "a post from a very long id",
                         "lang": "en", "created_at": "2024-01-31T12:00:00Z", "reply_to": None,
                         "root_id": "hostile-p1", "source": "test"})


def hostile_records() -> list[Hostile]:
    big = os.urandom(BIG)  # incompressible, so no codec can slip it under the broker's limit
    return [
        Hostile("5 MB value (client limit)", "posts", b"big", big, "refused"),
        Hostile("5 MB value (broker limit)", "posts", b"big", big, "refused", producer="big"),
        Hostile("5 MB value, gzip", "posts", b"big", b'{"text": "' + b"a" * BIG + b'"}', "too_large",
                producer="gzip"),
        Hostile("null value (tombstone)", "actions", b"223789", None, "empty"),
        Hostile("10,000-deep JSON array", "posts", b"deep", b"[" * 10_000 + b"]" * 10_000, "too_deep"),
        Hostile("action, 10 KB user id", "actions", LONG_ID.encode(), _action_doc(LONG_ID), "schema"),
        Hostile("post, 10 KB user id", "posts", b"hostile-p1", _post_doc(LONG_ID), "schema"),
        Hostile("empty value", "posts", b"empty", b"", "empty"),
        Hostile("invalid UTF-8", "actions", b"223789", b'{"user_id": "\xff\xfe\xc3"}', "invalid_utf8"),
    ]


def produce_hostile(bootstrap: str, topics: Topics, records: list[Hostile]) -> None:
    """Send each record with its own kafka-python producer (acks=all) and wait for the verdict."""
    producers = {
        "plain": KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0),
        "big": KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0,
                             max_request_size=8 * 1024 * 1024),
        "gzip": KafkaProducer(bootstrap_servers=bootstrap, acks="all", retries=0,
                              max_request_size=8 * 1024 * 1024, compression_type="gzip"),
    }
    try:
        for h in records:
            topic = topics.actions if h.stream == "actions" else topics.posts
            try:
                meta = producers[h.producer].send(topic, key=h.key, value=h.value).get(timeout=60)
            except KafkaError as exc:
                h.refused = type(exc).__name__
                h.outcome = f"refused: {h.refused} ({str(exc)[:100]})"
                continue
            h.partition, h.offset = meta.partition, meta.offset
    finally:
        for p in producers.values():
            p.close()


def input_count(bootstrap: str, topics: Topics) -> int:
    """Records in both input topics now (sum of end offsets minus beginnings)."""
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, group_id=None)
    try:
        tps = [TopicPartition(t, p) for t in (topics.actions, topics.posts)
               for p in sorted(consumer.partitions_for_topic(t) or set())]
        begin, end = consumer.beginning_offsets(tps), consumer.end_offsets(tps)
        return sum(end[tp] - begin[tp] for tp in tps)
    finally:
        consumer.close()


def check_hostile(h: Hostile, topics: Topics, dead: list[DeadLetterRecord]) -> None:
    """One hostile record's fate: refused with MessageSizeTooLargeError, or dead-lettered exactly once at
    decode with the codec reason expected, its own key and bytes and the context headers."""
    if h.expect == "refused":
        assert h.refused == MessageSizeTooLargeError.__name__, f"{h.name}: not refused ({h.refused!r})"
        # kafka-python's own check names the serialized size; the broker's error (code 10) carries no text
        assert ("bytes when serialized" in h.outcome) == (h.producer == "plain"), h.outcome
        return
    assert not h.refused, f"{h.name}: refused by {h.refused}"
    topic = topics.actions if h.stream == "actions" else topics.posts
    mine = [d for d in dead
            if (d.view.topic, d.view.partition, d.view.offset) == (topic, h.partition, h.offset)]
    assert len(mine) == 1, f"{h.name}: {len(mine)} dead letters"
    d = mine[0]
    hs = dict(d.headers)
    assert d.key == h.key, f"{h.name}: key changed"
    # a tombstone arrives as b"" (agents.raw_event); a value over the bound keeps its first MAX_VALUE bytes
    assert d.value == (h.value or b"")[:MAX_VALUE], f"{h.name}: value changed ({len(d.value)} bytes)"
    if h.value is not None and len(h.value) > MAX_VALUE:
        assert hs[H_TRUNCATED + "value"] == str(len(h.value)).encode()
    assert hs[H_STAGE] == b"decode" and hs[H_TOPIC] == topic.encode()
    assert (int(hs[H_PARTITION]), int(hs[H_OFFSET])) == (h.partition, h.offset)
    assert d.error == f"InvalidEvent:{h.expect}", f"{h.name}: {d.view.error_message}"
    assert LONG_ID not in d.view.error_message, "the error message repeats the offending id"
    h.outcome = f"dead letter at decode, {d.view.error_message[:60]!r}"


def valid_slice() -> tuple[list[Action], list[Post]]:
    actions = [e for e in itertools.islice(iter_dataset_events("higgs"), N_ACTIONS) if isinstance(e, Action)]
    posts = [e for e in itertools.islice(iter_dataset_events("tweeteval"), N_POSTS) if isinstance(e, Post)]
    return actions, posts


def test_hostile_inputs_are_refused_or_dead_lettered_once(
    settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    worker = WorkerProcess(worker_env(settings, reg, SEQSIGNAL_MODEL__RUMOR_STEP="0"),
                           tmp_path / "worker.log", settings.web_port).start()
    try:
        worker.wait_ready(timeout_s=180)
        actions, posts = valid_slice()
        t0 = time.monotonic()
        sent: dict[str, Any] = {}
        replayer = threading.Thread(
            target=lambda: sent.update(stats=send(settings, topics, actions, posts, RATE)))
        replayer.start()
        time.sleep(2.0)  # the valid flow is under way
        hostile = hostile_records()
        produce_hostile(kafka_bootstrap, topics, hostile)
        assert replayer.is_alive(), "the valid flow ended before the hostile records: lower RATE"
        replayer.join()
        sa, sp = sent["stats"]
        reached = [h for h in hostile if not h.refused]
        inputs = Inputs(actions, posts, invalid=sa.invalid + sp.invalid + len(reached))
        out = collect(kafka_bootstrap, topics, inputs, timeout_s=180)
        elapsed = time.monotonic() - t0
        dead = read_dead_letters(settings.kafka)
        in_topics = input_count(kafka_bootstrap, topics)
        alive, ready = worker.proc is not None and worker.proc.poll() is None, worker.get("/readyz")[0]
        dups = {task: out.duplicates(task) for task in out.records}
        for h in hostile:
            try:
                check_hostile(h, topics, dead)
            except AssertionError as exc:
                h.outcome = f"FAILED: {exc}"
        lost = (len({a.event_id for a in actions} - out.covered),
                len({p.post_id for p in posts} - out.sentiment_posts))
        print(f"\n[hostile inputs] {len(actions)} actions + {len(posts)} posts valid, "
              f"{inputs.invalid - len(reached)} replay-invalid, {len(hostile)} hostile "
              f"({len(reached)} reached the topics); worker alive {alive}, /readyz {ready}; dead letters "
              f"{len(out.dead)} (expected {inputs.invalid}); lost {lost[0]} actions, {lost[1]} posts; "
              f"duplicates {dups}; {elapsed:.1f}s from the first valid event to all outputs")
        for h in hostile:
            print(f"  {h.name:28s} {h.stream:8s} -> {h.outcome}")
        assert alive and ready == 200, worker.tail()
        assert all(not h.outcome.startswith("FAILED") for h in hostile), [h.outcome for h in hostile]
        assert in_topics == len(actions) + len(posts) + inputs.invalid, "a refused record reached a topic"
        check_outputs(out, inputs)
        assert not any(dups.values()), dups
        assert worker.terminate() == 0, worker.tail()
    finally:
        worker.stop_quietly()
