"""Output records built straight as dicts -> orjson bytes (no pydantic model per record), same bytes as the
pydantic path: `encode(BehaviorPrediction(...))` etc. (checked in tests/unit/workers/test_signal_json.py)."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from seqsignal.schemas.events import (
    SCHEMA_VERSION,
    SENTIMENT_LABELS,
    BehaviorPrediction,
    Post,
    RumorFlag,
    SentimentSignal,
)
from seqsignal.workers.pipelines.batch import BatchResult, clip_probability
from seqsignal.workers.pipelines.emitter import (
    _CE_NAMESPACE,
    CE_SOURCE,
    CE_SPECVERSION,
    InvalidOutput,
    ce_dataschema,
    ce_type,
    validate_output,
)
from seqsignal.workers.pipelines.records import Headers, OutRecord

_NS = _CE_NAMESPACE.bytes
_MODEL = {"behavior": BehaviorPrediction, "sentiment": SentimentSignal, "rumor": RumorFlag}
_KIND = {"behavior": "behavior_prediction", "sentiment": "sentiment", "rumor": "rumor_flag"}
_TASK_PREFIX = {task: f"{task}\x00".encode() for task in _MODEL}
_MAX_ID = 256  # schemas.fields.Id


_TYPE_SOURCE = {task: (("ce_type", ce_type(task).encode()), ("ce_source", CE_SOURCE.encode()))
                for task in _MODEL}
_SPEC = ("ce_specversion", CE_SPECVERSION.encode())
_SCHEMA_CT = {task: (("ce_dataschema", ce_dataschema(task).encode()), ("content-type", b"application/json"))
              for task in _MODEL}


def fast_ce_id(task: str, source_event_id: str) -> bytes:
    """emitter.ce_id as bytes: uuid5 (SHA-1 of namespace + name, version 5, RFC 4122 variant) without the
    uuid.UUID object round trip."""
    d = bytearray(hashlib.sha1(_NS + _TASK_PREFIX[task] + source_event_id.encode()).digest()[:16])
    d[6] = (d[6] & 0x0F) | 0x50
    d[8] = (d[8] & 0x3F) | 0x80
    h = d.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}".encode()


def _check_id(value: str, what: str) -> str:
    if not 0 < len(value) <= _MAX_ID:
        raise InvalidOutput(f"{what}: an id of {len(value)} characters (1-{_MAX_ID})")
    return value


class BatchStamp:
    """What repeats over one batch's records: the emit time (and its ce_time header), model versions."""

    __slots__ = ("_versions", "ce_time", "emit_time")

    def __init__(self, now: datetime | None = None) -> None:
        self.emit_time = now if now is not None else datetime.now(UTC)
        self.ce_time = ("ce_time", self.emit_time.isoformat().encode())
        self._versions: dict[str, str] = {}

    def version(self, version: Any) -> str:
        """A model version as the records carry it, checked once per batch."""
        key = str(version)
        if key not in self._versions:
            self._versions[key] = _check_id(key, "model_version")
        return self._versions[key]

    def headers(self, task: str, source_event_id: str) -> Headers:
        """CloudEvents binary headers, equal to emitter.ce_headers(task, source_event_id, emit_time)."""
        return [("ce_id", fast_ce_id(task, source_event_id)), *_TYPE_SOURCE[task], self.ce_time, _SPEC,
                ("ce_subject", source_event_id.encode()), *_SCHEMA_CT[task]]

    def body(self, version: str, source_event_id: str, event_time: datetime) -> dict[str, Any]:
        """The provenance fields every signal starts with, in the models' field order."""
        return {"schema_version": SCHEMA_VERSION, "model_version": version,
                "source_event_id": _check_id(source_event_id, "source_event_id"),
                "event_time": event_time, "emit_time": self.emit_time}


def add_record(result: BatchResult, task: str, topic: str, key: str, body: dict[str, Any],
               stamp: BatchStamp) -> OutRecord:
    """Serialize `body` and append its record; the first record of each task per batch is checked against
    its JSON Schema (as BatchResult.add_signal does for the pydantic path)."""
    value = orjson.dumps(body, option=orjson.OPT_UTC_Z)
    model = _MODEL[task]
    if model not in result.schema_checked:
        validate_output(_KIND[task], value)
        result.schema_checked.add(model)
    event_time: datetime = body["event_time"]
    headers = stamp.headers(task, body["source_event_id"])
    rec = OutRecord(topic=topic, key=key.encode(), value=value, headers=headers, task=task,
                    event_time=event_time.timestamp())
    result.outputs.append(rec)
    return rec


def behavior_body(stamp: BatchStamp, version: str, user_id: str, source_event_id: str, event_time: datetime,
                  covers: Sequence[str], actions: Sequence[tuple[str, float]], sequence_probability: float,
                  horizon: int, window_size: int, targets: Sequence[tuple[str, float]] | None,
                  complete: bool | None) -> dict[str, Any]:
    """A BehaviorPrediction as a dict (actions: the decoded (action, probability) pairs, cut to horizon)."""
    steps = [{"step": k + 1, "action": a, "probability": clip_probability(p)}
             for k, (a, p) in enumerate(actions[:horizon])]
    if not 1 <= horizon <= 64 or not steps or not covers or window_size < 0:
        raise InvalidOutput(f"behavior_prediction: horizon {horizon}, {len(steps)} actions, "
                            f"{len(covers)} covers, window {window_size}")
    body = stamp.body(version, source_event_id, event_time)
    body.update(
        user_id=_check_id(user_id, "user_id"), horizon=horizon, actions=steps,
        sequence_probability=clip_probability(sequence_probability),
        covers=_check_ids(covers, "covers"), window_size=window_size,
        targets=None if targets is None else _targets(targets), window_complete=complete,
    )
    return body


def _check_ids(ids: Sequence[str], what: str) -> list[str]:
    if any(not 0 < len(i) <= _MAX_ID for i in ids):
        raise InvalidOutput(f"{what}: an id outside 1-{_MAX_ID} characters")
    return list(ids)


def _targets(targets: Sequence[tuple[str, float]]) -> list[dict[str, Any]]:
    """PredictedTarget dicts; the probability clipped inline as clip_probability does (NaN -> 0.0)."""
    _check_ids([t for t, _ in targets], "targets")
    out = []
    for t, p in targets:
        q = float(p)
        out.append({"user_id": t, "probability": 1.0 if q >= 1.0 else q if q > 0.0 else 0.0})
    return out


def sentiment_body(stamp: BatchStamp, version: str, post: Post, probs: Sequence[float], best: int
                   ) -> dict[str, Any]:
    """A SentimentSignal as a dict from one post's (3,) probabilities (negative, neutral, positive) and the
    index of the largest (the batch's argmax, taken once over the (B, 3) array)."""
    neg, neu, pos = (clip_probability(x) for x in probs)
    body = stamp.body(version, post.post_id, post.created_at)
    body.update(post_id=post.post_id, root_id=post.root_id, label=SENTIMENT_LABELS[best],
                probabilities={"negative": neg, "neutral": neu, "positive": pos})
    return body


def rumor_body(stamp: BatchStamp, version: str, latest: Post, root_id: str, score: float, threshold: float,
               replies_seen: int, veracity: dict[str, float] | None) -> dict[str, Any]:
    """A RumorFlag as a dict: the thread's flag after this batch, triggered by its latest post."""
    body = stamp.body(version, latest.post_id, latest.created_at)
    body.update(root_id=_check_id(root_id, "root_id"), score=clip_probability(score),
                flagged=score >= threshold, threshold=float(threshold), replies_seen=int(replies_seen),
                veracity=None if veracity is None else {k: clip_probability(v) for k, v in veracity.items()})
    if not 0.0 <= threshold <= 1.0 or replies_seen < 0:
        raise InvalidOutput(f"rumor_flag: threshold {threshold}, replies_seen {replies_seen}")
    return body
