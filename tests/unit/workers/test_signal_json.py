"""Fast output records (dicts -> orjson): the same bytes and headers as the pydantic path, valid against the
JSON Schemas in schemas/json/, and the edge cases (None fields, unicode, empty targets, bad values)."""

from __future__ import annotations

import math
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import BehaviorPrediction, Post, RumorFlag, SentimentSignal
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.batch import BatchResult
from seqsignal.workers.pipelines.emitter import (
    InvalidOutput,
    ce_headers,
    ce_id,
    output_record,
    validate_output,
)
from seqsignal.workers.pipelines.signal_json import (
    BatchStamp,
    add_record,
    behavior_body,
    fast_ce_id,
    rumor_body,
    sentiment_body,
)

TOPICS = Topics(prefix="x.")
T0 = datetime(2012, 7, 1, 12, 0, 0, 250_000, tzinfo=UTC)
NOW = datetime(2026, 11, 30, 17, 0, 1, 123_456, tzinfo=UTC)
KINDS = {"behavior": ("behavior_prediction", BehaviorPrediction, TOPICS.behavior),
         "sentiment": ("sentiment", SentimentSignal, TOPICS.sentiment),
         "rumor": ("rumor_flag", RumorFlag, TOPICS.rumor)}


def _post(post_id: str = "p1", root_id: str = "r1", created: datetime = T0) -> Post:
    return Post(post_id=post_id, user_id="a", text="x", created_at=created, root_id=root_id,
                reply_to=None if post_id == root_id else root_id)


def _behavior(stamp: BatchStamp, **kw: Any) -> dict[str, Any]:
    args: dict[str, Any] = dict(version="behavior-20261130-ab12", user_id="u1", source_event_id="e2",
                                event_time=T0, covers=["e1", "e2"],
                                actions=[("like", 0.5), ("reply", 0.25), ("post", 0.125)],
                                sequence_probability=0.015625, horizon=3, window_size=7,
                                targets=[("t1", 0.75), ("t2", 0.5)], complete=True)
    args.update(kw)
    return behavior_body(stamp, **args)


def _same_as_pydantic(task: str, body: dict[str, Any], stamp: BatchStamp) -> bytes:
    """The fast record equals, byte for byte and header for header, what the pydantic path emits for the
    same values; it validates against its JSON Schema. Returns its value."""
    kind, model, topic = KINDS[task]
    result = BatchResult()
    key = {"behavior": "user_id", "sentiment": "post_id", "rumor": "root_id"}[task]
    rec = add_record(result, task, topic, body[key], body, stamp)
    validate_output(kind, rec.value)
    signal = model.model_validate_json(rec.value)  # pydantic accepts it and writes the same bytes back
    assert encode(signal) == rec.value
    slow = output_record(signal, TOPICS)
    assert (slow.topic, slow.key, slow.value, slow.headers, slow.task) == (
        rec.topic, rec.key, rec.value, rec.headers, rec.task)
    assert slow.event_time == pytest.approx(rec.event_time)
    assert rec.headers == ce_headers(task, body["source_event_id"], stamp.emit_time)
    assert result.outputs == [rec]
    return rec.value


@pytest.mark.parametrize("name", ["e1", "é-ü-東京-🙂", "x" * 256, "a\x00b", "1234567890"])
def test_fast_ce_id_is_uuid5(name: str) -> None:
    for task in ("behavior", "sentiment", "rumor"):
        fast = fast_ce_id(task, name).decode()
        assert fast == ce_id(task, name)
        assert uuid.UUID(fast).version == 5


def test_behavior_matches_pydantic_and_schema() -> None:
    stamp = BatchStamp(NOW)
    value = _same_as_pydantic("behavior", _behavior(stamp), stamp)
    doc = orjson.loads(value)
    assert doc["emit_time"] == "2026-11-30T17:00:01.123456Z"
    assert doc["event_time"] == "2012-07-01T12:00:00.250000Z"
    assert [a["step"] for a in doc["actions"]] == [1, 2, 3] and doc["schema_version"] == 1


@pytest.mark.parametrize("kw", [
    {"targets": None}, {"targets": []}, {"complete": None}, {"complete": False},
    {"horizon": 2},  # decoded actions cut to the horizon
    {"user_id": "用户-🙂", "covers": ["é1", "𝔢2"], "source_event_id": "𝔢2", "targets": [("ü", 1.0)]},
    {"actions": [("like", 1.0000001), ("reply", -1e-9), ("post", float("nan"))]},  # clipped into [0, 1]
    {"sequence_probability": 1.5, "window_size": 0},
    {"targets": [("t", float("nan")), ("u", 1.5), ("v", -0.2), ("w", 1.0), ("x", 0.0)]},
], ids=["no-targets", "empty-targets", "complete-none", "incomplete", "horizon-cut", "unicode", "clip",
        "edge", "clip-targets"])
def test_behavior_edge_cases(kw: dict[str, Any]) -> None:
    stamp = BatchStamp(NOW)
    doc = orjson.loads(_same_as_pydantic("behavior", _behavior(stamp, **kw), stamp))
    assert all(0.0 <= a["probability"] <= 1.0 for a in doc["actions"])
    assert len(doc["actions"]) == doc["horizon"] == kw.get("horizon", 3)
    if len(kw.get("targets") or []) == 5:  # clip-targets
        assert [t["probability"] for t in doc["targets"]] == [0.0, 1.0, 0.0, 1.0, 0.0]


@pytest.mark.parametrize("kw", [
    {"actions": []}, {"covers": []}, {"horizon": 0}, {"horizon": 65}, {"user_id": ""},
    {"user_id": "u" * 257}, {"covers": ["e1", ""]}, {"targets": [("", 0.5)]}, {"source_event_id": ""},
])
def test_behavior_refuses_what_the_schema_refuses(kw: dict[str, Any]) -> None:
    stamp = BatchStamp(NOW)
    with pytest.raises(InvalidOutput):
        _behavior(stamp, **kw)


def test_model_version_checked_once_per_batch() -> None:
    stamp = BatchStamp(NOW)
    assert stamp.version(12) == "12" and stamp.version("v1") == "v1"
    with pytest.raises(InvalidOutput):
        stamp.version("v" * 300)


def test_lone_surrogate_raises_like_the_pydantic_path() -> None:
    stamp = BatchStamp(NOW)
    body = _behavior(stamp, user_id="u\ud800")
    with pytest.raises(TypeError):  # orjson.JSONEncodeError; the pipelines dead-letter the inputs
        add_record(BatchResult(), "behavior", TOPICS.behavior, "u", body, stamp)


@pytest.mark.parametrize("probs,best", [([0.1, 0.2, 0.7], 2), ([0.5, 0.5, 0.0], 0),
                                        ([1.0000002, -1e-7, 0.0], 0)])
def test_sentiment_matches_pydantic_and_schema(probs: list[float], best: int) -> None:
    stamp = BatchStamp(NOW)
    post = _post("p🙂", "r-東京")
    doc = orjson.loads(_same_as_pydantic("sentiment", sentiment_body(stamp, "s1", post, probs, best), stamp))
    assert doc["label"] == ("negative", "neutral", "positive")[best]
    assert math.isclose(sum(doc["probabilities"].values()), sum(min(1, max(0, p)) for p in probs))


@pytest.mark.parametrize("veracity", [None, {"true": 0.2, "false": 0.7, "unverified": 0.1}, {"true": 1.2}])
@pytest.mark.parametrize("score,threshold", [(0.9, 0.5), (0.1, 0.5), (0.5, 0.5), (1.0, 1.0)])
def test_rumor_matches_pydantic_and_schema(veracity: dict[str, float] | None, score: float, threshold: float
                                           ) -> None:
    stamp = BatchStamp(NOW - timedelta(microseconds=NOW.microsecond))  # whole second: no fraction printed
    body = rumor_body(stamp, "r1", _post("p2", "root"), "root", score, threshold, 4, veracity)
    doc = orjson.loads(_same_as_pydantic("rumor", body, stamp))
    assert doc["flagged"] is (score >= threshold) and doc["replies_seen"] == 4
    assert doc["emit_time"] == "2026-11-30T17:00:01Z"


def test_rumor_refuses_bad_threshold_and_counts() -> None:
    stamp = BatchStamp(NOW)
    for kw in ({"threshold": 1.5}, {"replies_seen": -1}):
        args: dict[str, Any] = {"threshold": 0.5, "replies_seen": 1, **kw}
        with pytest.raises(InvalidOutput):
            rumor_body(stamp, "r1", _post(), "r1", 0.5, args["threshold"], args["replies_seen"], None)


def test_first_record_per_task_is_schema_checked() -> None:
    stamp = BatchStamp(NOW)
    result = BatchResult()
    bad = _behavior(stamp)
    bad["actions"] = [{"step": 0, "action": "like", "probability": 0.5}]  # step >= 1 in the schema
    with pytest.raises(InvalidOutput):
        add_record(result, "behavior", TOPICS.behavior, "u1", bad, stamp)
    add_record(result, "behavior", TOPICS.behavior, "u1", _behavior(stamp), stamp)
    assert BehaviorPrediction in result.schema_checked and len(result.outputs) == 1


def test_default_stamp_is_now_in_utc() -> None:
    before = datetime.now(UTC)
    stamp = BatchStamp()
    assert before <= stamp.emit_time <= datetime.now(UTC)
    assert stamp.ce_time == ("ce_time", stamp.emit_time.isoformat().encode())
