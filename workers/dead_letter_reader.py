"""Reading dead letters back: the dead-letter topic to its end as `DeadLetter` views; the replay ledger."""

from __future__ import annotations

import base64
import re
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from seqsignal.schemas.events import DeadLetter
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.pipelines.dead_letter import (
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
)
from seqsignal.workers.settings import KafkaSettings


@dataclass(frozen=True)
class DeadLetterRecord:
    """One dead letter as read back: the view, and the record's own key, value and headers."""

    view: DeadLetter
    key: bytes | None
    value: bytes
    headers: list[tuple[str, bytes]]

    @property
    def position(self) -> str:
        """`partition/offset` of the dead letter in the dead-letter topic (the ledger key)."""
        return f"{self.view.dead_letter_partition}/{self.view.dead_letter_offset}"

    @property
    def error(self) -> str:
        """The error class, with the codec's reason for decode failures (`InvalidEvent:schema`)."""
        if self.view.error_class == "InvalidEvent":
            return f"InvalidEvent:{self.view.error_message.split(':', 1)[0]}"
        return self.view.error_class


# ------------------------------------------------------------------------------------------ parsing
def parse_since(text: str | None, now: datetime | None = None) -> datetime | None:
    """`2h`, `30m`, `7d`, `90s` before now, or an RFC 3339 / ISO date-time (UTC when naive)."""
    if not text:
        return None
    now = now or datetime.now(UTC)
    m = re.fullmatch(r"(\d+)([smhd])", text.strip())
    if m:
        unit = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}[m.group(2)]
        return now - timedelta(**{unit: int(m.group(1))})
    when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def view_of(partition: int, offset: int, timestamp_ms: int, key: bytes | None, value: bytes | None,
            headers: Iterable[tuple[str, bytes | None]]) -> tuple[DeadLetter, list[tuple[str, bytes]]] | None:
    """The DeadLetter view of one dead-letter record, or None when it lacks the context headers."""
    hs = [(k, v or b"") for k, v in headers]
    h = dict(hs)
    try:
        view = DeadLetter(
            stage=h[H_STAGE].decode(),  # validated by pydantic
            error_class=h[H_ERROR_CLASS].decode(errors="replace")[:128],
            error_message=h.get(H_ERROR_MESSAGE, b"").decode(errors="replace")[:2000],
            topic=h[H_TOPIC].decode(),
            partition=int(h[H_PARTITION]),
            offset=int(h[H_OFFSET]),
            key_b64=base64.b64encode(key).decode() if key is not None else None,
            raw_b64=base64.b64encode(value or b"").decode(),
            failed_at=datetime.fromtimestamp(timestamp_ms / 1000, UTC),
            dead_letter_partition=partition,
            dead_letter_offset=offset,
        )
    except (KeyError, ValueError):
        return None
    return view, hs


# ------------------------------------------------------------------------------------------ reading
def _consumer(kafka: KafkaSettings) -> Any:
    from kafka import KafkaConsumer

    return KafkaConsumer(group_id=None, enable_auto_commit=False, auto_offset_reset="earliest",
                         consumer_timeout_ms=1000, **kafka_python_kwargs(kafka))


def _read_all(kafka: KafkaSettings, topic: str, since: datetime | None = None,
              timeout_s: float = 60.0) -> list[Any]:
    """Every record of `topic` (from `since`, by record timestamp) up to the end offsets seen at the start."""
    from kafka import TopicPartition

    consumer = _consumer(kafka)
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        tps = [TopicPartition(topic, p) for p in sorted(parts)]
        if not tps:
            return []
        consumer.assign(tps)
        end = consumer.end_offsets(tps)
        start = consumer.beginning_offsets(tps)
        if since is not None:
            found = consumer.offsets_for_times({tp: int(since.timestamp() * 1000) for tp in tps})
            start = {tp: (found[tp].offset if found.get(tp) is not None else end[tp]) for tp in tps}
        for tp in tps:
            consumer.seek(tp, start[tp])
        todo = {tp for tp in tps if start[tp] < end[tp]}
        out: list[Any] = []
        deadline = time.monotonic() + timeout_s
        while todo and time.monotonic() < deadline:
            for tp, recs in consumer.poll(timeout_ms=500, max_records=5000).items():
                out += [r for r in recs if r.offset < end[tp]]
                if consumer.position(tp) >= end[tp]:
                    todo.discard(tp)
        if todo:
            raise TimeoutError(f"{topic}: not read to its end within {timeout_s:.0f} s")
        return out
    finally:
        consumer.close()


def read_dead_letters(
    kafka: KafkaSettings,
    *,
    since: datetime | None = None,
    stages: Iterable[str] = (),
    source_topic: str | None = None,
    timeout_s: float = 60.0,
) -> list[DeadLetterRecord]:
    """Dead letters (oldest first per partition), filtered by failure time, stage and origin topic."""
    wanted = set(stages)
    out: list[DeadLetterRecord] = []
    for r in _read_all(kafka, Topics(prefix=kafka.topic_prefix).dead_letter, since, timeout_s):
        parsed = view_of(r.partition, r.offset, r.timestamp, r.key, r.value, r.headers or [])
        if parsed is None:
            continue
        view, headers = parsed
        if (wanted and view.stage not in wanted) or (source_topic and view.topic != source_topic):
            continue
        if since is not None and view.failed_at < since:
            continue
        out.append(DeadLetterRecord(view, r.key, r.value or b"", headers))
    return out


def replayed_positions(kafka: KafkaSettings, timeout_s: float = 60.0) -> set[str]:
    """Dead letters already replayed, from the ledger (a tombstone un-marks one)."""
    done: set[str] = set()
    for r in _read_all(kafka, Topics(prefix=kafka.topic_prefix).dead_letter_replays, None, timeout_s):
        key = (r.key or b"").decode()
        if r.value is None:
            done.discard(key)
        else:
            done.add(key)
    return done
