"""Typed event contracts (v1) for every topic seqsignal reads or writes; the JSON Schema files agree."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

SCHEMA_VERSION = 1

Id = Annotated[str, Field(min_length=1, max_length=256)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]

ActionType = Literal["post", "repost", "like", "reply", "mention", "follow"]
ACTION_TYPES: tuple[ActionType, ...] = ("post", "repost", "like", "reply", "mention", "follow")
SentimentLabel = Literal["negative", "neutral", "positive"]
SENTIMENT_LABELS: tuple[SentimentLabel, ...] = ("negative", "neutral", "positive")
RumorLabel = Literal["rumour", "non-rumour"]
Veracity = Literal["true", "false", "unverified", "non-rumor"]
Task = Literal["behavior", "sentiment", "rumor"]


class _Event(BaseModel):
    """Common base: immutable, unknown fields rejected, schema version pinned."""

    model_config = ConfigDict(frozen=True, extra="forbid", str_strip_whitespace=False)

    schema_version: Literal[1] = SCHEMA_VERSION


# ----------------------------------------------------------------------------------------------- inputs
class Post(_Event):
    """A post (tweet, reply, Weibo post). Keyed by `root_id` so a thread stays on one partition."""

    post_id: Id
    user_id: Id
    text: Annotated[str, Field(max_length=20_000)]
    lang: Annotated[str, Field(min_length=2, max_length=16)] | None = None
    created_at: AwareDatetime
    reply_to: Id | None = None
    root_id: Id  # thread root; equals post_id for a source post
    source: Annotated[str, Field(max_length=64)] | None = None  # dataset or producer name


class Action(_Event):
    """One user action. Keyed by `user_id` so a user's window is owned by one partition."""

    event_id: Id
    user_id: Id
    action: ActionType
    target_id: Id | None = None
    created_at: AwareDatetime
    source: Annotated[str, Field(max_length=64)] | None = None


class Label(_Event):
    """A human label for the trainer (moderator verdict, annotated dataset row)."""

    label_id: Id
    task: Literal["sentiment", "rumor"]
    post_id: Id
    text: Annotated[str, Field(max_length=20_000)] | None = None
    label: Annotated[str, Field(min_length=1, max_length=32)]  # a SentimentLabel or a RumorLabel
    veracity: Veracity | None = None
    replies: list[Annotated[str, Field(max_length=20_000)]] = Field(default_factory=list, max_length=1000)
    labeller: Annotated[str, Field(max_length=128)] | None = None
    created_at: AwareDatetime


# ---------------------------------------------------------------------------------------------- outputs
class _Signal(_Event):
    """Common fields of every emitted signal."""

    model_version: Id
    source_event_id: Id  # the input event that triggered this record
    event_time: AwareDatetime  # created_at of that input event
    emit_time: AwareDatetime


class PredictedAction(BaseModel):
    """One step of a predicted action sequence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    step: Annotated[int, Field(ge=1, le=64)]
    action: ActionType
    probability: Probability


class BehaviorPrediction(_Signal):
    """The next `horizon` actions a user is expected to take. Keyed by user id."""

    user_id: Id
    horizon: Annotated[int, Field(ge=1, le=64)]
    actions: list[PredictedAction] = Field(min_length=1, max_length=64)
    sequence_probability: Probability  # probability of the whole decoded sequence
    covers: list[Id] = Field(min_length=1)  # input event ids this prediction accounts for
    window_size: Annotated[int, Field(ge=0)]


class SentimentProbabilities(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    negative: Probability
    neutral: Probability
    positive: Probability


class SentimentSignal(_Signal):
    """Sentiment of one post. Keyed by post id."""

    post_id: Id
    root_id: Id
    label: SentimentLabel
    probabilities: SentimentProbabilities


class RumorFlag(_Signal):
    """Rumour score of a thread, re-emitted as replies arrive. Keyed by thread root id."""

    root_id: Id
    score: Probability
    flagged: bool
    threshold: Probability
    replies_seen: Annotated[int, Field(ge=0)]
    veracity: dict[str, Probability] | None = None


class DeadLetter(_Event):
    """An input that could not be processed, with everything needed to replay it."""

    stage: Literal["decode", "window", "inference", "emit"]
    error_class: Annotated[str, Field(max_length=128)]
    error_message: Annotated[str, Field(max_length=2000)]
    topic: Id
    partition: Annotated[int, Field(ge=0)]
    offset: Annotated[int, Field(ge=0)]
    key_b64: str | None = None
    raw_b64: str
    failed_at: AwareDatetime


class ModelUpdate(_Event):
    """Announcement that a model version was promoted to champion (compacted topic, keyed by task)."""

    task: Task
    version: Id
    manifest_sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    metrics: dict[str, float] = Field(default_factory=dict)
    promoted_at: AwareDatetime
    registry_uri: Annotated[str, Field(max_length=1024)]


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


def utc_from_unix(ts: float) -> datetime:
    """A timezone-aware UTC datetime from unix seconds."""
    from datetime import UTC

    return datetime.fromtimestamp(ts, tz=UTC)
