"""Acceptance: 10,000 real Higgs actions replayed into Kafka all reach a faust agent, decoded, in order."""

from __future__ import annotations

import asyncio
from collections import defaultdict

import pytest

from seqsignal.models.datasets.higgs import HIGGS_REL, iter_higgs_actions
from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import admin_client
from seqsignal.workers.replay import INVALID_KINDS, make_producer, replay
from seqsignal.workers.settings import Settings, default_data_dir
from seqsignal.workers.stream.app import create_app

N = 10_000


pytestmark = [
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.skipif(not (default_data_dir() / HIGGS_REL).exists(), reason="Higgs data not found"),
]


def _delete_topics(settings: Settings, names: list[str]) -> None:
    admin = admin_client(settings.kafka)
    try:
        admin.delete_topics(names, timeout_ms=30_000, raise_errors=False)
    finally:
        admin.close()


async def test_replayed_higgs_actions_all_reach_a_faust_agent(settings: Settings, topics: Topics) -> None:
    events = list(iter_higgs_actions(limit=N))
    producer = make_producer(settings)
    try:
        stats = replay(events, producer, topics, invalid_fraction=0.01, seed=7)
    finally:
        producer.close(timeout=30)
    assert stats.sent == N and stats.failed == 0
    assert stats.invalid > 0  # ~1% extra bad records, interleaved on the same topic and keys

    app = create_app(settings)
    topic = app.topic(topics.actions, key_serializer="raw", value_serializer="raw")
    per_user: dict[str, list[str]] = defaultdict(list)
    reasons: list[str] = []
    keys_ok = True
    done = asyncio.Event()

    @app.agent(topic, concurrency=1)
    async def consume(stream):  # type: ignore[no-untyped-def]
        nonlocal keys_ok
        async for batch in stream.take_events(1000, within=0.5):
            for event in batch:
                try:
                    action = decode("actions", event.value)
                except InvalidEvent as exc:
                    reasons.append(exc.reason)
                    continue
                keys_ok &= event.key == action.user_id.encode()
                per_user[action.user_id].append(action.event_id)
            if sum(map(len, per_user.values())) >= N and len(reasons) >= stats.invalid:
                done.set()

    await app.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=180)
    finally:
        await app.stop()
        _delete_topics(settings, [f"{settings.worker_id}-__assignor-__leader"])  # faust's, outside the prefix

    consumed = [eid for ids in per_user.values() for eid in ids]
    assert len(consumed) == N and len(set(consumed)) == N  # none lost, none duplicated
    assert set(consumed) == {e.event_id for e in events}
    expected: dict[str, list[str]] = defaultdict(list)
    for e in events:
        expected[e.user_id].append(e.event_id)
    assert per_user == expected  # each user's actions arrive in replay order (one partition per key)
    assert keys_ok
    assert len(reasons) == stats.invalid
    assert set(reasons) <= set(INVALID_KINDS)
