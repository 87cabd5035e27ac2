"""Replay producer: sends dataset events to their Kafka topics, paced, with optional injected invalid records.

Valid events go to `Topics.posts` / `.actions` / `.labels`, keyed by `post_key` / `action_key` / the label's
post id, encoded with `schemas.codec.encode`. With `invalid_fraction > 0`, an *extra* bad record is sent
before a valid event with that probability (seeded `random.Random`, so a run is reproducible), to the same
topic with the same key: every valid event is still delivered, so consumers can count them exactly.

Pacing: `rate` sends at most N events/s; `speedup` replays event time X times faster than it happened
(`created_at` deltas). Neither: as fast as the producer goes. Delivery: acks=all, idempotent producer, so a
retried batch is never duplicated and per-partition order is kept; `flush()` at the end waits for every ack.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

import orjson
from kafka import KafkaProducer

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action, Label, Post
from seqsignal.schemas.topics import Topics, action_key, post_key
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.settings import Settings

Event: TypeAlias = Post | Action | Label
InvalidKind = Literal["not_json", "invalid_utf8", "empty", "schema", "unsupported_version", "not_object"]
INVALID_KINDS: tuple[InvalidKind, ...] = (
    "not_json", "invalid_utf8", "empty", "schema", "unsupported_version", "not_object",
)

# Throughput tuning: fill 256 KiB batches, wait up to 20 ms for them; 5 in-flight requests is the most
# idempotence allows while keeping order.
PRODUCER_TUNING: dict[str, Any] = {
    "acks": "all",
    "enable_idempotence": True,
    "linger_ms": 20,
    "batch_size": 256 * 1024,
    "max_in_flight_requests_per_connection": 5,
    "retries": 2**31 - 1,
    "delivery_timeout_ms": 120_000,
}
PROGRESS_EVERY = 1000  # events between progress callbacks


@dataclass
class ReplayStats:
    """What one replay sent, how fast, and how many deliveries failed."""

    sent: int = 0
    invalid: int = 0
    by_topic: dict[str, int] = field(default_factory=dict)
    invalid_by_kind: dict[str, int] = field(default_factory=dict)
    failed: int = 0
    elapsed_s: float = 0.0

    @property
    def events_per_s(self) -> float:
        return self.sent / self.elapsed_s if self.elapsed_s > 0 else 0.0


def encode_event(event: Event) -> bytes:
    """The record value of an event (the codec's compact JSON)."""
    return encode(event)


def route(event: Event, topics: Topics) -> tuple[str, bytes]:
    """(topic, key) of an event: actions by user, posts by thread root, labels by post."""
    if isinstance(event, Action):
        return topics.actions, action_key(event)
    if isinstance(event, Post):
        return topics.posts, post_key(event)
    return topics.labels, event.post_id.encode()


def invalid_value(kind: InvalidKind, valid: bytes) -> bytes:
    """Bad bytes of one kind, derived from a valid value so they look like real traffic."""
    if kind == "not_json":
        return valid[: max(1, len(valid) // 2)]  # truncated mid-record
    if kind == "invalid_utf8":
        return b'{"text": "\xff\xfe\xc3\x28"}' + valid[1:]
    if kind == "empty":
        return b""
    obj = orjson.loads(valid)
    if kind == "schema":
        obj.pop(next(k for k in obj if k != "schema_version"))  # a required field missing
        return orjson.dumps(obj)
    if kind == "unsupported_version":
        obj["schema_version"] = 2
        return orjson.dumps(obj)
    return orjson.dumps([obj])  # not_object


def make_producer(settings: Settings, **overrides: Any) -> KafkaProducer:
    """A kafka-python producer on the configured cluster with the replay tuning (overridable)."""
    kw = {**kafka_python_kwargs(settings.kafka), "client_id": "seqsignal-replay", **PRODUCER_TUNING}
    kw.update(overrides)
    return KafkaProducer(**kw)


class _Pacer:
    """Sleeps so that event n is not sent before its due time (rate or event-time based)."""

    def __init__(self, rate: float | None, speedup: float | None,
                 clock: Callable[[], float], sleep: Callable[[float], None]) -> None:
        if rate is not None and speedup is not None:
            raise ValueError("give a rate or a speedup, not both")
        if (rate is not None and rate <= 0) or (speedup is not None and speedup <= 0):
            raise ValueError("rate and speedup must be positive")
        self.rate, self.speedup, self.clock, self.sleep = rate, speedup, clock, sleep
        self.start = clock()
        self.first_ts: float | None = None

    def wait(self, n: int, event: Event) -> None:
        if self.rate is not None:
            due = self.start + n / self.rate
        elif self.speedup is not None:
            ts = event.created_at.timestamp()
            if self.first_ts is None:
                self.first_ts = ts
            due = self.start + max(0.0, ts - self.first_ts) / self.speedup
        else:
            return
        ahead = due - self.clock()
        if ahead > 0.001:
            self.sleep(ahead)


def replay(
    events: Iterable[Event],
    producer: KafkaProducer,
    topics: Topics,
    *,
    rate: float | None = None,
    speedup: float | None = None,
    limit: int | None = None,
    invalid_fraction: float = 0.0,
    seed: int = 0,
    on_progress: Callable[[ReplayStats], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayStats:
    """Send `events` (at most `limit`) to their topics, paced, then flush; returns the counts.

    Raises if any record was not acknowledged (after the producer's own retries)."""
    if not 0.0 <= invalid_fraction < 1.0:
        raise ValueError("invalid_fraction must be in [0, 1)")
    rng = random.Random(seed)
    pacer = _Pacer(rate, speedup, clock, sleep)
    stats = ReplayStats()
    errors: list[BaseException] = []

    def _failed(exc: BaseException) -> None:
        stats.failed += 1
        if len(errors) < 5:
            errors.append(exc)

    t0 = clock()
    for event in events:
        if limit is not None and stats.sent >= limit:
            break
        pacer.wait(stats.sent, event)
        topic, key = route(event, topics)
        value = encode_event(event)
        if invalid_fraction and rng.random() < invalid_fraction:
            kind = INVALID_KINDS[rng.randrange(len(INVALID_KINDS))]
            producer.send(topic, key=key, value=invalid_value(kind, value)).add_errback(_failed)
            stats.invalid += 1
            stats.invalid_by_kind[kind] = stats.invalid_by_kind.get(kind, 0) + 1
        producer.send(topic, key=key, value=value).add_errback(_failed)
        stats.sent += 1
        stats.by_topic[topic] = stats.by_topic.get(topic, 0) + 1
        if on_progress is not None and stats.sent % PROGRESS_EVERY == 0:
            on_progress(stats)
    producer.flush()
    stats.elapsed_s = clock() - t0
    if on_progress is not None:
        on_progress(stats)
    if errors:
        raise RuntimeError(f"{stats.failed} records were not delivered; first: {errors[0]!r}") from errors[0]
    return stats
