"""Output records: schema-validated signals with CloudEvents binary headers and the rumour re-emit rule."""

from __future__ import annotations

import json
import uuid
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any, TypeAlias

import orjson
from jsonschema import Draft202012Validator

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import BehaviorPrediction, RumorFlag, SentimentSignal
from seqsignal.schemas.export import schema_id
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.records import Headers, OutRecord

CE_SPECVERSION = "1.0"
CE_SOURCE = "urn:seqsignal:worker"
_CE_NAMESPACE = uuid.UUID("3b0c7d4e-8a2f-4f4e-9d8c-2a6c1e5b7f10")
Signal: TypeAlias = BehaviorPrediction | SentimentSignal | RumorFlag
_KIND = {BehaviorPrediction: "behavior_prediction", SentimentSignal: "sentiment", RumorFlag: "rumor_flag"}
_TASK = {BehaviorPrediction: "behavior", SentimentSignal: "sentiment", RumorFlag: "rumor"}
_KIND_OF_TASK = {task: _KIND[model] for model, task in _TASK.items()}


class InvalidOutput(ValueError):
    """An output record does not validate against its JSON Schema (a bug, never sent)."""


def ce_id(task: str, source_event_id: str) -> str:
    """Deterministic CloudEvents id: the same source event and task always give the same id."""
    return str(uuid.uuid5(_CE_NAMESPACE, f"{task}\x00{source_event_id}"))


def ce_type(task: str) -> str:
    """CloudEvents type of a task's records, e.g. 'seqsignal.signals.behavior.v1'."""
    return f"seqsignal.signals.{task}.v1"


def ce_dataschema(task: str) -> str:
    """CloudEvents `dataschema` of a task's records: the `$id` of its JSON Schema (schemas/json/), e.g.
    'urn:seqsignal:schema:v1:rumor_flag'."""
    return schema_id(_KIND_OF_TASK[task])


def ce_headers(task: str, source_event_id: str, emit_time: datetime) -> Headers:
    """CloudEvents binary-mode headers (Kafka protocol binding: ce_ prefix) plus the content type."""
    return [
        ("ce_id", ce_id(task, source_event_id).encode()),
        ("ce_type", ce_type(task).encode()),
        ("ce_source", CE_SOURCE.encode()),
        ("ce_time", emit_time.isoformat().encode()),
        ("ce_specversion", CE_SPECVERSION.encode()),
        ("ce_subject", source_event_id.encode()),
        ("ce_dataschema", ce_dataschema(task).encode()),
        ("content-type", b"application/json"),
    ]


@cache
def schema_validator(kind: str) -> Draft202012Validator | None:
    """The JSON Schema validator of an output kind (None when the schema file is not shipped)."""
    path = resources.files("seqsignal.schemas") / "json" / f"{kind}.schema.json"
    if not path.is_file():
        return None
    schema: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return Draft202012Validator(schema)


def validate_output(kind: str, value: bytes) -> None:
    """Raise InvalidOutput when the serialized record does not match its JSON Schema."""
    validator = schema_validator(kind)
    if validator is None:
        return
    errors = sorted(validator.iter_errors(orjson.loads(value)), key=lambda e: list(e.path))
    if errors:
        first = errors[0]
        raise InvalidOutput(f"{kind}: {first.message} at {'/'.join(map(str, first.path))}")


def output_record(signal: Signal, topics: Topics, *, validate: bool = True) -> OutRecord:
    """Serialize one signal (validated) into the record for its topic, keyed as the topic contract says."""
    kind = _KIND[type(signal)]
    task = _TASK[type(signal)]
    if isinstance(signal, BehaviorPrediction):
        topic, key = topics.behavior, signal.user_id
    elif isinstance(signal, SentimentSignal):
        topic, key = topics.sentiment, signal.post_id
    else:
        topic, key = topics.rumor, signal.root_id
    value = encode(signal)
    if validate:
        validate_output(kind, value)
    return OutRecord(
        topic=topic,
        key=key.encode(),
        value=value,
        headers=ce_headers(task, signal.source_event_id, signal.emit_time),
        task=task,
        event_time=signal.event_time.timestamp(),
    )


def rumor_should_emit(
    score: float, last_score: float | None, last_flagged: bool | None, threshold: float, step: float
) -> bool:
    """A thread's first score, a threshold crossing, or a move of more than `step` (0: every update)."""
    if last_score is None or step <= 0:
        return True
    flagged = score >= threshold
    was_flagged = last_flagged if last_flagged is not None else last_score >= threshold
    return flagged != was_flagged or abs(score - last_score) > step
