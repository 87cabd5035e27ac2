"""Dead-letter redrive: read `events.deadletter.v1` back, summarise it, and replay dead letters to the input
topic they came from (`seqsignal dlq inspect | export | replay`).

Dead letters hold the original key and value bytes and Kafka Connect error headers
(`workers/pipelines/dead_letter.py`); each is read back as a `DeadLetter` view (schemas/events.py) that also
names where the dead letter itself sits (`dead_letter_partition`, `dead_letter_offset`).

Replay is idempotent by a ledger: after the replayed records are acknowledged (acks=all), one record per
replayed dead letter goes to the compacted topic `events.deadletter.replays.v1`, keyed by the dead letter's
position; a later replay skips every dead letter the ledger names (`force=True` replays them again). A crash
between the two writes replays those records once more: the worker then dedupes the windows by event id
(actions) or post id (threads) and the outputs carry the same `ce_id`, so consumers that dedupe on `ce_id`
see each signal once (docs/consumers.md). The replayed record keeps the original key and headers (minus
the dead-letter ones) and adds `seqsignal.replay.of: <dead-letter topic>/<partition>/<offset>`.
"""

from __future__ import annotations

import base64
import contextlib
import importlib
import importlib.util
import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from seqsignal.schemas.events import DeadLetter
from seqsignal.schemas.topics import Topics
from seqsignal.workers.dead_letter_reader import (
    DeadLetterRecord,
    parse_since,
    read_dead_letters,
    replayed_positions,
    view_of,
)
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.pipelines.dead_letter import H_PREFIX
from seqsignal.workers.settings import KafkaSettings
from seqsignal.workers.topic_admin import ensure_topics

H_REPLAY_OF = "seqsignal.replay.of"
Fix = Callable[[bytes, DeadLetter], "bytes | None"]


# ------------------------------------------------------------------------------------------ inspect
def _text(value: bytes, limit: int = 300) -> str:
    text = value.decode("utf-8", errors="replace")
    return text if len(text) <= limit else text[: limit - 3] + "..."


def summarize(
    records: list[DeadLetterRecord], samples: int = 3, replayed: set[str] | None = None
) -> dict[str, Any]:
    """Counts by stage, error and origin topic, first/last failure time, how many were replayed already
    (`replayed`: the ledger's positions), and a few samples per error."""
    by_error: dict[str, list[DeadLetterRecord]] = {}
    for r in records:
        by_error.setdefault(f"{r.view.stage} {r.error}", []).append(r)
    return {
        "total": len(records),
        "replayed": sum(1 for r in records if r.position in (replayed or set())),
        "by_stage": dict(Counter(r.view.stage for r in records).most_common()),
        "by_error": dict(Counter(r.error for r in records).most_common()),
        "by_topic": dict(Counter(r.view.topic for r in records).most_common()),
        "first_failed_at": min((r.view.failed_at for r in records), default=None),
        "last_failed_at": max((r.view.failed_at for r in records), default=None),
        "samples": {
            group: [
                {"dead_letter": r.position, "origin": f"{r.view.topic}/{r.view.partition}/{r.view.offset}",
                 "message": r.view.error_message, "value": _text(r.value)}
                for r in recs[:samples]
            ]
            for group, recs in sorted(by_error.items(), key=lambda kv: -len(kv[1]))
        },
    }


def export_line(r: DeadLetterRecord) -> bytes:
    """One JSONL line of `dlq export`: the DeadLetter view plus `value` as text when it is UTF-8.

    Edit `value` (or `raw_b64`) and hand the file to `dlq replay --values`: only the listed dead letters are
    replayed, with the edited bytes.
    """
    doc = r.view.model_dump(mode="json")
    with contextlib.suppress(UnicodeDecodeError):
        doc["value"] = r.value.decode("utf-8")
    return orjson.dumps(doc)


def load_values(path: Path) -> dict[str, bytes | None]:
    """`partition/offset` of a dead letter -> the bytes to replay, from an (edited) `dlq export` file;
    a line with `"value": null` means: do not replay it."""
    out: dict[str, bytes | None] = {}
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        doc = json.loads(line)
        try:
            key = f"{int(doc['dead_letter_partition'])}/{int(doc['dead_letter_offset'])}"
        except (KeyError, TypeError, ValueError):
            raise ValueError(f"{path}:{n}: needs dead_letter_partition and dead_letter_offset") from None
        if "value" in doc:
            out[key] = None if doc["value"] is None else str(doc["value"]).encode()
        else:
            out[key] = base64.b64decode(doc["raw_b64"])
    return out


def load_fix(spec: str) -> Fix:
    """A fix hook `module:function` or `path/to/file.py:function`: fn(value, dead_letter) -> bytes | None
    (None: do not replay this one)."""
    target, _, name = spec.rpartition(":")
    if not target or not name:
        raise ValueError(f"--fix wants module:function or file.py:function, got {spec!r}")
    if target.endswith(".py"):
        loaded = importlib.util.spec_from_file_location(Path(target).stem, target)
        if loaded is None or loaded.loader is None:
            raise ValueError(f"cannot load {target}")
        module = importlib.util.module_from_spec(loaded)
        loaded.loader.exec_module(module)
    else:
        module = importlib.import_module(target)
    fn = getattr(module, name)
    if not callable(fn):
        raise ValueError(f"{spec} is not callable")
    return fn


# ------------------------------------------------------------------------------------------- replay
@dataclass
class ReplayReport:
    """What a replay did (printed as JSON by the CLI)."""

    selected: int = 0
    replayed: int = 0
    already_replayed: int = 0  # named by the ledger (skipped unless force)
    dropped: int = 0  # the fix hook or the values file said not to replay them
    not_input: int = 0  # origin is not an input topic of this prefix (never replayed)
    by_topic: dict[str, int] = field(default_factory=dict)
    dry_run: bool = False


def _plan(
    records: list[DeadLetterRecord], report: ReplayReport, inputs: set[str], done: set[str],
    fix: Fix | None, values: dict[str, bytes | None] | None,
) -> list[tuple[DeadLetterRecord, bytes]]:
    """The records to replay with the bytes to send; counts what is skipped (and why) into `report`."""
    plan: list[tuple[DeadLetterRecord, bytes]] = []
    for r in records:
        if values is not None and r.position not in values:
            continue
        report.selected += 1
        if r.view.topic not in inputs:
            report.not_input += 1
            continue
        if r.position in done:
            report.already_replayed += 1
            continue
        value: bytes | None = r.value if values is None else values[r.position]
        if value is not None and fix is not None:
            value = fix(value, r.view)
        if value is None:
            report.dropped += 1
            continue
        plan.append((r, value))
    return plan


def _send(kafka: KafkaSettings, topics: Topics, plan: list[tuple[DeadLetterRecord, bytes]],
          timeout_s: float) -> None:
    """Send the planned records to their origin topics, then, once acknowledged, mark them in the ledger."""
    from kafka import KafkaProducer

    producer = KafkaProducer(acks="all", enable_idempotence=True, **kafka_python_kwargs(kafka))
    try:
        dl_topic = topics.dead_letter
        futures = []
        for r, value in plan:
            headers = [(k, v) for k, v in r.headers if not k.startswith((H_PREFIX, "ce_", H_REPLAY_OF))]
            headers.append((H_REPLAY_OF, f"{dl_topic}/{r.position}".encode()))
            futures.append(producer.send(r.view.topic, key=r.key, value=value, headers=headers))
        for f in futures:
            f.get(timeout=timeout_s)
        now = datetime.now(UTC).isoformat()
        marks = [
            producer.send(topics.dead_letter_replays, key=r.position.encode(),
                          value=orjson.dumps({"replayed_at": now, "topic": r.view.topic}))
            for r, _ in plan
        ]
        for f in marks:
            f.get(timeout=timeout_s)
    finally:
        producer.close()


def replay(
    kafka: KafkaSettings,
    records: list[DeadLetterRecord],
    *,
    fix: Fix | None = None,
    values: dict[str, bytes | None] | None = None,
    force: bool = False,
    dry_run: bool = False,
    timeout_s: float = 60.0,
) -> ReplayReport:
    """Replay `records` to their origin topics (see the module docstring); returns what was done."""
    topics = Topics(prefix=kafka.topic_prefix)
    ensure_topics(kafka, [topics.dead_letter_replays])
    report = ReplayReport(dry_run=dry_run)
    done = set() if force else replayed_positions(kafka, timeout_s)
    plan = _plan(records, report, set(topics.inputs().values()), done, fix, values)
    for r, _ in plan:
        report.by_topic[r.view.topic] = report.by_topic.get(r.view.topic, 0) + 1
    report.replayed = len(plan)
    if dry_run or not plan:
        return report
    _send(kafka, topics, plan, timeout_s)
    return report


# The names importers use, those kept here for them included.
__all__ = [
    "H_REPLAY_OF", "DeadLetterRecord", "Fix", "ReplayReport", "export_line", "load_fix", "load_values",
    "parse_since", "read_dead_letters", "replay", "replayed_positions", "summarize", "view_of",
]
