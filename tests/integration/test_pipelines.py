"""The batch handlers on real Redis, no broker: outputs, dead letters, redelivery, the rumour rule."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import orjson
import pytest
from support.worker_harness import tiny_model

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.actions import ActionPipeline
from seqsignal.workers.pipelines.posts import PostPipeline
from seqsignal.workers.pipelines.records import RawEvent
from seqsignal.workers.serving.inference import InferenceEngine
from seqsignal.workers.settings import ModelSettings, Settings
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore
from seqsignal.workers.stream.metrics import WorkerMetrics

Parts = tuple[WindowStore, InferenceEngine, WorkerMetrics]


def _action(i: int, user: str) -> Action:
    return Action.model_validate(
        {
            "event_id": f"e{i}",
            "user_id": user,
            "action": ["like", "reply", "repost"][i % 3],
            "created_at": f"2012-07-01T00:{i:02d}:00Z",
        }
    )


def _post(pid: str, root: str, minute: int, text: str) -> Post:
    return Post.model_validate(
        {
            "post_id": pid,
            "user_id": "x",
            "text": text,
            "root_id": root,
            "reply_to": None if pid == root else root,
            "created_at": f"2016-01-01T00:{minute:02d}:00Z",
        }
    )


def _raws(topic: str, values: list[bytes]) -> list[RawEvent]:
    return [RawEvent(topic, 0, i, b"k", v) for i, v in enumerate(values)]


@pytest.fixture
async def parts(settings: Settings, tmp_path: Path) -> AsyncIterator[Parts]:
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    metrics = WorkerMetrics()
    engine = InferenceEngine(ModelSettings(registry_dir=reg, device="cpu"), metrics)
    for task in ("behavior", "sentiment", "rumor"):
        await engine.ensure(task)
    client = async_client(settings.redis)
    store = WindowStore(client, settings.window, settings.redis.key_prefix)
    yield store, engine, metrics
    await client.aclose()
    engine.close()


async def test_action_batch_outputs_dead_letters_and_redelivery(
    settings: Settings, topics: Topics, parts: Parts
) -> None:
    store, engine, metrics = parts
    pipeline = ActionPipeline(store, engine, settings, topics, metrics)
    acts = [_action(i, f"u{i % 3}") for i in range(9)]
    raws = _raws(
        topics.actions, [encode(a) for a in acts[:5]] + [b"{not json"] + [encode(a) for a in acts[5:]]
    )
    first = await pipeline.process(raws)
    for step in first.after_ack:
        await step()
    behavior = [r for r in first.outputs if r.task == "behavior"]
    dead = [r for r in first.outputs if r.task == "dead_letter"]
    assert len(behavior) == 3 and len(dead) == 1  # one prediction per user per batch, for the latest
    assert dict(dead[0].headers)["__connect.errors.offset"] == b"5" and dead[0].value == b"{not json"
    covers = {c for r in behavior for c in orjson.loads(r.value)["covers"]}
    assert covers == {a.event_id for a in acts}
    sources = {orjson.loads(r.value)["source_event_id"] for r in behavior}
    assert sources == {"e6", "e7", "e8"}
    window_before = await store.read_window("u0")
    again = await pipeline.process(raws)  # a redelivery of the whole batch
    assert await store.read_window("u0") == window_before  # not counted twice
    assert sorted(dict(r.headers)["ce_id"] for r in again.outputs if r.task == "behavior") == sorted(
        dict(r.headers)["ce_id"] for r in behavior
    )  # same ids: consumers can dedupe
    stored = await store.read_user("u0")
    assert stored is not None and stored.state_version == engine.version("behavior")


async def test_post_batch_sentiment_and_rumor_rule(settings: Settings, topics: Topics, parts: Parts) -> None:
    store, engine, metrics = parts
    # The step rule under test (the default step 0 emits every update, a redelivery included).
    stepped = settings.model_copy(update={"model": settings.model.model_copy(update={"rumor_step": 0.05})})
    pipeline = PostPipeline(store, engine, stepped, topics, metrics)
    posts = [
        _post("r1", "r1", 0, "is this true?"),
        _post("p2", "r1", 1, "no way"),
        _post("p3", "r1", 2, "yes"),
    ]
    raws = _raws(topics.posts, [encode(p) for p in posts] + [b""])
    first = await pipeline.process(raws)
    for step in first.after_ack:
        await step()
    tasks = [r.task for r in first.outputs]
    assert tasks.count("sentiment") == 3 and tasks.count("rumor") == 1 and tasks.count("dead_letter") == 1
    flag = orjson.loads(next(r.value for r in first.outputs if r.task == "rumor"))
    assert (flag["root_id"], flag["replies_seen"], flag["source_event_id"]) == ("r1", 2, "p3")
    # veracity (additive field) on flagged threads only, P(true, false, unverified | rumour)
    assert (flag.get("veracity") is not None) == flag["flagged"]
    if flag["flagged"]:
        assert set(flag["veracity"]) == {"true", "false", "unverified"}
        assert abs(sum(flag["veracity"].values()) - 1) < 1e-3
    again = await pipeline.process(raws)  # redelivery: score unchanged -> no new flag (step 0.05)
    assert [r.task for r in again.outputs].count("rumor") == 0
    assert [r.task for r in again.outputs].count("sentiment") == 3
