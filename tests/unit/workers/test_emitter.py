"""Output records: schema validation, deterministic CloudEvents ids and headers, the rumour re-emit rule."""

from __future__ import annotations

from datetime import UTC, datetime

import orjson
import pytest

from seqsignal.schemas.events import (
    BehaviorPrediction,
    PredictedAction,
    RumorFlag,
    SentimentProbabilities,
    SentimentSignal,
)
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.emitter import (
    InvalidOutput,
    ce_id,
    output_record,
    rumor_should_emit,
    validate_output,
)

T0 = datetime(2012, 7, 1, 12, 0, tzinfo=UTC)
TOPICS = Topics(prefix="x.")


def _behavior(**kw: object) -> BehaviorPrediction:
    base: dict[str, object] = dict(
        model_version="v1",
        source_event_id="e2",
        event_time=T0,
        emit_time=T0,
        user_id="u1",
        horizon=2,
        actions=[
            PredictedAction(step=1, action="like", probability=0.5),
            PredictedAction(step=2, action="reply", probability=0.25),
        ],
        sequence_probability=0.125,
        covers=["e1", "e2"],
        window_size=2,
    )
    base.update(kw)
    return BehaviorPrediction(**base)


def test_behavior_record_topic_key_headers_and_schema() -> None:
    rec = output_record(_behavior(), TOPICS)
    assert rec.topic == "x.signals.behavior.v1"
    assert rec.key == b"u1"
    headers = dict(rec.headers)
    assert headers["ce_id"].decode() == ce_id("behavior", "e2")
    assert headers["ce_type"] == b"seqsignal.signals.behavior.v1"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["ce_source"]
    assert datetime.fromisoformat(headers["ce_time"].decode()) == T0
    assert headers["ce_dataschema"] == b"urn:seqsignal:schema:v1:behavior_prediction"
    body = orjson.loads(rec.value)
    assert body["covers"] == ["e1", "e2"] and body["schema_version"] == 1
    validate_output("behavior_prediction", rec.value)  # does not raise


def test_ce_id_is_deterministic_and_task_scoped() -> None:
    assert ce_id("sentiment", "p1") == ce_id("sentiment", "p1")
    assert ce_id("sentiment", "p1") != ce_id("rumor", "p1")
    assert ce_id("sentiment", "p1") != ce_id("sentiment", "p2")
    a = output_record(_behavior(emit_time=T0), TOPICS)
    b = output_record(_behavior(emit_time=datetime.now(UTC)), TOPICS)  # a redelivery, emitted later
    assert dict(a.headers)["ce_id"] == dict(b.headers)["ce_id"]


def test_sentiment_and_rumor_keys() -> None:
    s = SentimentSignal(
        model_version="s1",
        source_event_id="p9",
        event_time=T0,
        emit_time=T0,
        post_id="p9",
        root_id="r1",
        label="neutral",
        probabilities=SentimentProbabilities(negative=0.2, neutral=0.5, positive=0.3),
    )
    r = RumorFlag(
        model_version="r1",
        source_event_id="p9",
        event_time=T0,
        emit_time=T0,
        root_id="r1",
        score=0.7,
        flagged=True,
        threshold=0.5,
        replies_seen=3,
    )
    rs, rr = output_record(s, TOPICS), output_record(r, TOPICS)
    assert (rs.topic, rs.key, rs.task) == ("x.signals.sentiment.v1", b"p9", "sentiment")
    assert (rr.topic, rr.key, rr.task) == ("x.signals.rumor.v1", b"r1", "rumor")
    assert dict(rs.headers)["ce_id"] != dict(rr.headers)["ce_id"]


def test_schema_violation_is_rejected() -> None:
    body = orjson.loads(output_record(_behavior(), TOPICS).value)
    body["actions"][0]["probability"] = 1.5
    with pytest.raises(InvalidOutput):
        validate_output("behavior_prediction", orjson.dumps(body))
    del body["covers"]
    with pytest.raises(InvalidOutput):
        validate_output("behavior_prediction", orjson.dumps(body))


@pytest.mark.parametrize(
    ("score", "last", "last_flag", "step", "expected"),
    [
        (0.3, None, None, 0.05, True),  # first score of a thread
        (0.31, 0.3, False, 0.05, False),  # small move, same side
        (0.36, 0.3, False, 0.05, True),  # moved more than the step
        (0.51, 0.49, False, 0.05, True),  # crossed the threshold upwards
        (0.49, 0.51, True, 0.05, True),  # crossed downwards
        (0.52, 0.51, True, 0.05, False),
        (0.3, 0.3, False, 0.0, True),  # step 0: every update
    ],
)
def test_rumor_should_emit(
    score: float, last: float | None, last_flag: bool | None, step: float, expected: bool
) -> None:
    assert rumor_should_emit(score, last, last_flag, 0.5, step) is expected


def test_ce_dataschema_names_each_task_s_committed_schema_file() -> None:
    import json
    from pathlib import Path

    from seqsignal.workers.pipelines.emitter import ce_dataschema

    json_dir = Path(__file__).resolve().parents[3] / "schemas" / "json"
    kinds = {"behavior": "behavior_prediction", "sentiment": "sentiment", "rumor": "rumor_flag"}
    for task, kind in kinds.items():
        schema = json.loads((json_dir / f"{kind}.schema.json").read_text())
        assert ce_dataschema(task) == schema["$id"]
