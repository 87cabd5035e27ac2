"""Typed event contracts (v1) for every topic seqsignal reads or writes; the JSON Schema files agree."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from seqsignal.schemas.fields import (
    ACTION_TYPES,
    INT32_MAX,
    INT64_MAX,
    INT64_MIN,
    MAX_SAFE_INTEGER,
    RUMOR_LABELS,
    SENTIMENT_LABELS,
    ActionType,
    Count,
    Id,
    Metric,
    Probability,
    RumorLabel,
    SentimentLabel,
    Task,
    Timestamp,
    Veracity,
    utc_from_unix,
)

SCHEMA_VERSION: Literal[1] = 1

# Shared by every model: immutable, no NaN/Infinity in float fields, and unknown fields ignored (the schema
# evolution policy, docs/consumers.md): within v1 a producer may add fields to an input and we only add
# optional fields to an output, so readers of either side skip what they do not know; a breaking change is
# schema_version 2 on a new topic (`.v2`). The exported JSON Schemas say `additionalProperties: true`.
_CONFIG = ConfigDict(frozen=True, extra="ignore", str_strip_whitespace=False, allow_inf_nan=False)


class _Event(BaseModel):
    """Common base: immutable, unknown fields ignored (not kept), schema version pinned."""

    model_config = _CONFIG

    schema_version: Literal[1] = Field(
        SCHEMA_VERSION,
        description="Contract version. Optional on input (absent means 1); always written on output.",
    )

    @field_validator("schema_version", mode="before")
    @classmethod
    def _exact_version(cls, value: Any) -> Any:
        # Literal[1] alone accepts true and 1.0.
        if type(value) is not int:
            raise ValueError("schema_version must be the integer 1")
        return value


# ----------------------------------------------------------------------------------------------- inputs
class Post(_Event):
    """A post (tweet, reply, Weibo post). Keyed by `root_id` so a thread stays on one partition."""

    post_id: Id = Field(description="Unique id of the post.")
    user_id: Id = Field(description="Author of the post.")
    text: Annotated[str, Field(max_length=20_000)] = Field(description="Post text, as written.")
    lang: Annotated[str, Field(min_length=2, max_length=16)] | None = Field(
        None, description="Language tag (BCP 47 or the platform's code), if known."
    )
    created_at: Timestamp = Field(description="When the post was created (RFC 3339).")
    reply_to: Id | None = Field(None, description="post_id this post replies to; null for a source post.")
    root_id: Id = Field(description="Thread root post_id; equals post_id for a source post. Partition key.")
    source: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Dataset or producer name."
    )


class Action(_Event):
    """One user action. Keyed by `user_id` so a user's window is owned by one partition."""

    event_id: Id = Field(description="Unique id of this action (idempotency key).")
    user_id: Id = Field(description="The user who acted. Partition key.")
    action: ActionType = Field(description="What the user did.")
    target_id: Id | None = Field(None, description="The post or user acted on, if any.")
    created_at: Timestamp = Field(description="When the action happened (RFC 3339).")
    source: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="Dataset or producer name."
    )


class Label(_Event):
    """A human label for the trainer (moderator verdict, annotated dataset row)."""

    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"task": {"const": "sentiment"}}},
                    "then": {"properties": {"label": {"enum": list(SENTIMENT_LABELS)}}},
                },
                {
                    "if": {"properties": {"task": {"const": "rumor"}}},
                    "then": {"properties": {"label": {"enum": list(RUMOR_LABELS)}}},
                },
            ]
        }
    )

    label_id: Id = Field(description="Unique id of this label.")
    task: Literal["sentiment", "rumor"] = Field(description="Which model the label trains.")
    post_id: Id = Field(description="The labelled post (the thread source for rumour labels).")
    text: Annotated[str, Field(max_length=20_000)] | None = Field(None, description="Text of the post.")
    label: Annotated[str, Field(min_length=1, max_length=32)] = Field(
        description="A sentiment label (task sentiment) or a rumour label (task rumor).",
        json_schema_extra={"enum": [*SENTIMENT_LABELS, *RUMOR_LABELS]},
    )
    veracity: Veracity | None = Field(None, description="Rumour veracity, where annotated.")
    replies: list[Annotated[str, Field(max_length=20_000)]] = Field(
        default_factory=list, max_length=1000, description="Reply texts in time order (rumour labels)."
    )
    labeller: Annotated[str, Field(max_length=128)] | None = Field(
        None, description="Who labelled: a moderator id or a dataset name."
    )
    created_at: Timestamp = Field(description="When the label was made (RFC 3339).")

    @field_validator("label")
    @classmethod
    def _label_fits_task(cls, value: str, info: ValidationInfo) -> str:
        task = info.data.get("task")  # absent when task itself failed validation
        allowed: tuple[str, ...] = SENTIMENT_LABELS if task == "sentiment" else RUMOR_LABELS
        if task is not None and value not in allowed:
            raise ValueError(f"label for task {task} must be one of {', '.join(allowed)}")
        return value


# ---------------------------------------------------------------------------------------------- outputs
class _Signal(_Event):
    """Common fields of every emitted signal."""

    model_version: Id = Field(description="Registry version of the model that produced the signal.")
    source_event_id: Id = Field(description="The input event that triggered this record.")
    event_time: Timestamp = Field(description="created_at of that input event (RFC 3339).")
    emit_time: Timestamp = Field(description="When the signal was emitted (RFC 3339).")


class PredictedAction(BaseModel):
    """One step of a predicted action sequence."""

    model_config = _CONFIG

    step: Annotated[int, Field(ge=1, le=64)] = Field(description="1-based position in the sequence.")
    action: ActionType = Field(description="The predicted action.")
    probability: Probability = Field(description="Probability of this action at this step.")


class PredictedTarget(BaseModel):
    """One predicted next interaction target."""

    model_config = _CONFIG

    user_id: Id = Field(
        description="The user the next action is expected to target (pseudonymised like user_id when the "
        "worker pseudonymises user ids)."
    )
    probability: Probability = Field(description="Estimated probability that the next action targets them.")


class BehaviorPrediction(_Signal):
    """The next `horizon` actions a user is expected to take. Keyed by user id."""

    user_id: Id = Field(description="The user. Partition key.")
    horizon: Annotated[int, Field(ge=1, le=64)] = Field(description="How many actions were asked for.")
    actions: list[PredictedAction] = Field(min_length=1, max_length=64, description="The decoded sequence.")
    sequence_probability: Probability = Field(description="Probability of the whole decoded sequence.")
    covers: list[Id] = Field(min_length=1, description="Input event ids this prediction accounts for.")
    window_size: Count = Field(description="Actions in the user's window when predicting.")
    targets: list[PredictedTarget] | None = Field(
        None,
        max_length=64,
        description="Most likely targets of the user's next action, most likely first; absent when the "
        "model does not rank targets (added in a backward-compatible way: consumers may ignore it).",
    )
    window_complete: bool | None = Field(
        None,
        description="False when the user's window may miss part of its history: Redis lost its data and the "
        "window was rebuilt from an input topic whose retention no longer holds the user's oldest actions "
        "(docs/window-rebuild.md); true when the worker knows the window is whole; absent from workers "
        "before this field (added in a backward-compatible way: consumers may ignore it).",
    )


class SentimentProbabilities(BaseModel):
    """Class probabilities of a sentiment prediction."""

    model_config = _CONFIG

    negative: Probability
    neutral: Probability
    positive: Probability


class SentimentSignal(_Signal):
    """Sentiment of one post. Keyed by post id."""

    post_id: Id = Field(description="The post. Partition key.")
    root_id: Id = Field(description="Thread root of the post.")
    label: SentimentLabel = Field(description="The most probable class.")
    probabilities: SentimentProbabilities = Field(description="Probability of each class.")


class RumorFlag(_Signal):
    """Rumour score of a thread, re-emitted as replies arrive. Keyed by thread root id."""

    root_id: Id = Field(description="Thread root post id. Partition key.")
    score: Probability = Field(description="Probability that the thread is a rumour.")
    flagged: bool = Field(description="score >= threshold.")
    threshold: Probability = Field(description="Decision threshold in force.")
    replies_seen: Count = Field(description="Replies of the thread seen when scoring.")
    veracity: dict[Annotated[str, Field(min_length=1, max_length=64)], Probability] | None = Field(
        None, description="Probability per veracity class, when the model predicts veracity."
    )


class DeadLetter(_Event):
    """A dead letter as `seqsignal dlq` reads it back: the record keeps the input's own key and value bytes
    and carries this context in Kafka Connect headers (`__connect.errors.*`); this is its JSON view."""

    stage: Literal["decode", "window", "inference", "emit"] = Field(description="Where it failed.")
    error_class: Annotated[str, Field(max_length=128)] = Field(
        description="Exception class; InvalidEvent for decode failures (the message starts with the reason)."
    )
    error_message: Annotated[str, Field(max_length=2000)] = Field(description="Short human explanation.")
    topic: Id = Field(description="Topic the input was read from.")
    partition: Annotated[int, Field(ge=0, le=INT32_MAX)] = Field(description="Its partition.")
    offset: Count = Field(description="Its offset.")
    key_b64: str | None = Field(None, description="Record key, base64; null when the record had none.")
    raw_b64: str = Field(description="Record value, base64.")
    failed_at: Timestamp = Field(description="When it failed (RFC 3339): the dead letter's record time.")
    dead_letter_partition: Annotated[int, Field(ge=0, le=INT32_MAX)] | None = Field(
        None, description="Partition of the dead letter itself in the dead-letter topic."
    )
    dead_letter_offset: Count | None = Field(
        None, description="Offset of the dead letter itself in the dead-letter topic."
    )


class ModelUpdate(_Event):
    """Announcement that a model version was promoted to champion (compacted topic, keyed by task)."""

    task: Task = Field(description="The task. Partition key.")
    version: Id = Field(description="Registry version now champion.")
    # No `$` in the pattern: Python's `$` also matches before a final newline, ECMA-262's does not.
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}", min_length=64, max_length=64)] = Field(
        description="sha256 (lowercase hex) of the version's manifest."
    )
    metrics: dict[str, Metric] = Field(default_factory=dict, description="Evaluation metrics by name.")
    promoted_at: Timestamp = Field(description="When it was promoted (RFC 3339).")
    registry_uri: Annotated[str, Field(max_length=1024)] = Field(description="Where the registry lives.")


INPUT_EVENTS: dict[str, type[_Event]] = {"posts": Post, "actions": Action, "labels": Label}
OUTPUT_EVENTS: dict[str, type[_Event]] = {
    "behavior_prediction": BehaviorPrediction,
    "sentiment": SentimentSignal,
    "rumor_flag": RumorFlag,
    "dead_letter": DeadLetter,
    "model_update": ModelUpdate,
}
ALL_EVENTS: dict[str, type[_Event]] = {
    "post": Post,
    "action": Action,
    "label": Label,
    **OUTPUT_EVENTS,
}


# The names importers use, those kept here for them included.
__all__ = [
    "ACTION_TYPES", "ALL_EVENTS", "INPUT_EVENTS", "INT32_MAX", "INT64_MAX", "INT64_MIN", "MAX_SAFE_INTEGER",
    "OUTPUT_EVENTS", "RUMOR_LABELS", "SCHEMA_VERSION", "SENTIMENT_LABELS", "Action", "ActionType",
    "BehaviorPrediction", "Count", "DeadLetter", "Id", "Label", "Metric", "ModelUpdate", "Post",
    "PredictedAction", "PredictedTarget", "Probability", "RumorFlag", "RumorLabel", "SentimentLabel",
    "SentimentProbabilities", "SentimentSignal", "Task", "Timestamp", "Veracity", "utc_from_unix",
]
