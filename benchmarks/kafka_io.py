"""Kafka side of the end-to-end benchmark: stamped sends (backlog or paced) and reading the outputs back."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
import orjson
from confluent_kafka import Producer
from kafka import KafkaConsumer, TopicPartition

from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import kafka_python_kwargs, librdkafka_config
from seqsignal.workers.replay import route
from seqsignal.workers.settings import Settings


def event_id(e: Action | Post) -> str:
    """The id outputs use to name the input they cover (event_id of an action, post_id of a post)."""
    return e.event_id if isinstance(e, Action) else e.post_id


# The load generator runs on the cores of the system it measures, so it is librdkafka (confluent-kafka):
# paced at 5,400 events/s it used 18 us of CPU per event against kafka-python's 69 (0.10 of a core against
# 0.37; aiokafka: 45 us), measured on the 2-core box of docs/benchmarks.md.
# murmur2_random: the Java clients' key -> partition map (kafka-python's, replay's), not librdkafka's CRC32.
GENERATOR_TUNING: dict[str, Any] = {"acks": "all", "enable.idempotence": True, "batch.size": 256 * 1024,
                                    "partitioner": "murmur2_random", "client.id": "seqsignal-bench-load"}


def send_events(settings: Settings, topics: Topics, events: Sequence[Action | Post], rate: float | None = None
                ) -> dict[str, float]:
    """Send events to their topics with created_at stamped at send time (paced at `rate`/s, or as fast as
    the producer goes); returns id -> stamped unix time once the broker acknowledged every event. Paced:
    linger 5 ms, the default of Kafka 4 clients (at 1 ms, 5,000 events/s made ~1,000 produce requests a
    second; latency counts the linger: created_at is stamped before it)."""
    producer = Producer({**librdkafka_config(settings.kafka), **GENERATOR_TUNING,
                         "linger.ms": 5 if rate else 20})
    failed: list[str] = []

    def on_delivery(err: Any, _msg: Any) -> None:
        if err is not None:
            failed.append(str(err))

    for topic in {route(e, topics)[0] for e in events}:  # metadata before the clock: a first send that
        producer.list_topics(topic, timeout=30)  # waited for it was followed by a catch-up burst
    stamps: dict[str, float] = {}
    t0 = time.perf_counter()
    for i, e in enumerate(events):
        if rate:
            ahead = t0 + i / rate - time.perf_counter()
            if ahead > 0.0005:
                time.sleep(ahead)
        now = datetime.now(UTC)
        topic, key = route(e, topics)
        _produce(producer, topic, key, encode(e.model_copy(update={"created_at": now})), on_delivery)
        stamps[event_id(e)] = now.timestamp()
    left = producer.flush(60)
    if left or failed:
        raise RuntimeError(f"load generator: {left} events unsent, {len(failed)} failed ({failed[:1]})")
    return stamps


def _produce(producer: Any, topic: str, key: bytes, value: bytes, on_delivery: Any) -> None:
    """One send; when librdkafka's local queue is full, serve delivery reports until it has room."""
    while True:
        try:
            producer.produce(topic, value, key, on_delivery=on_delivery)
            producer.poll(0)
            return
        except BufferError:
            producer.poll(0.05)


@dataclass
class Outputs:
    """Output records read back: per covered event id, the earliest emit time (record CreateTime)."""

    emitted: dict[str, float] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)  # every record's timestamp, s
    records: int = 0

    def add(self, ts: float, covers: Sequence[str]) -> None:
        self.records += 1
        self.times.append(ts)
        for e in covers:
            if e not in self.emitted or ts < self.emitted[e]:
                self.emitted[e] = ts


class OutputReader:
    """Reads a topic from the beginning, incrementally; each record names the events it covers."""

    def __init__(self, settings: Settings, topic: str) -> None:
        self.consumer = KafkaConsumer(**kafka_python_kwargs(settings.kafka), enable_auto_commit=False,
                                      group_id=None, auto_offset_reset="earliest")
        parts = None
        for _ in range(50):
            parts = self.consumer.partitions_for_topic(topic)
            if parts:
                break
            time.sleep(0.2)
        self.consumer.assign([TopicPartition(topic, p) for p in sorted(parts or [])])
        self.consumer.seek_to_beginning()
        self.out = Outputs()

    def read_until(self, ids: set[str], timeout_s: float, idle_s: float = 20.0,
                   stop_at_first: bool = False) -> Outputs:
        """Poll until every id in `ids` is covered, `timeout_s` passes, or nothing new for `idle_s`
        (or, with stop_at_first, until the first record arrives)."""
        deadline, last_new = time.monotonic() + timeout_s, time.monotonic()
        missing = set(ids) - set(self.out.emitted)
        while missing and time.monotonic() < deadline and time.monotonic() - last_new < idle_s:
            if stop_at_first and self.out.records:
                break
            for recs in self.consumer.poll(timeout_ms=300, max_records=20_000).values():
                last_new = time.monotonic()
                for r in recs:
                    covers = covered(r.value)
                    self.out.add(r.timestamp / 1000.0, covers)
                    missing.difference_update(covers)
        return self.out

    def close(self) -> None:
        self.consumer.close()


def covered(value: bytes) -> list[str]:
    """Ids an output accounts for: `covers` (behavior), else the post id (sentiment, a passed-through post),
    else the event id (a passed-through action)."""
    obj: dict[str, Any] = orjson.loads(value)
    if "covers" in obj:
        return list(obj["covers"])
    return [str(obj.get("post_id") or obj.get("event_id"))]


def drain_rate(out: Outputs, ids: set[str]) -> dict[str, Any]:
    """Steady rate while draining a backlog: events first covered after the first output, over the time
    from the first to the last output (start-up and group join excluded)."""
    times = [out.emitted[e] for e in ids if e in out.emitted]
    if len(times) < 2:
        return {"events_per_s": 0.0, "covered": len(times), "of": len(ids)}
    t0, t1 = min(times), max(times)
    after = sum(1 for t in times if t > t0)
    rate = after / (t1 - t0) if t1 > t0 else 0.0
    return {"events_per_s": round(rate, 1), "covered": len(times), "of": len(ids),
            "drain_s": round(t1 - t0, 2), "records": out.records}


def latency(out: Outputs, stamps: dict[str, float]) -> dict[str, Any]:
    """Event-to-signal latency (stamped created_at -> first output covering the event), in ms."""
    lat = np.array([out.emitted[e] - t for e, t in stamps.items() if e in out.emitted]) * 1000.0
    if not len(lat):
        return {"covered": 0, "of": len(stamps)}
    p50, p95, p99 = np.percentile(lat, [50, 95, 99])
    return {"covered": len(lat), "of": len(stamps), "p50_ms": round(float(p50), 1),
            "p95_ms": round(float(p95), 1), "p99_ms": round(float(p99), 1),
            "max_ms": round(float(lat.max()), 1), "mean_ms": round(float(lat.mean()), 1)}
