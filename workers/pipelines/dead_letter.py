"""Dead letters: an input that failed at some stage, kept with its raw bytes, origin and error headers."""

from __future__ import annotations

import base64
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from seqsignal.schemas.codec import InvalidEvent, decode, encode
from seqsignal.schemas.events import DeadLetter
from seqsignal.workers.pipelines.records import Headers, OutRecord, RawEvent

Stage = Literal["decode", "window", "inference", "emit"]

# Header names added to a dead letter (the original record's headers are kept before them).
H_STAGE = "dl_stage"
H_ERROR_CLASS = "dl_error_class"
H_ERROR_MESSAGE = "dl_error_message"
H_TOPIC = "dl_topic"
H_PARTITION = "dl_partition"
H_OFFSET = "dl_offset"
_MAX_MESSAGE = 2000
_MAX_HEADER_MESSAGE = 512
_DL_NAMESPACE = uuid.UUID("6f1d2a0e-6f55-4b1e-9a57-5d1f0e4c9b21")


def describe(exc: BaseException) -> tuple[str, str]:
    """(error class, message) of an exception; InvalidEvent reports its reason and detail."""
    if isinstance(exc, InvalidEvent):
        reason = getattr(exc, "reason", "")
        detail = getattr(exc, "detail", "")
        return "InvalidEvent", f"{reason}: {detail}" if detail else str(reason or exc)
    return type(exc).__name__, str(exc) or repr(exc)


def dead_letter_id(raw: RawEvent, stage: Stage) -> str:
    """Deterministic id of the dead letter of one input at one stage (a redelivery gives the same id)."""
    return str(uuid.uuid5(_DL_NAMESPACE, f"{raw.topic}/{raw.partition}/{raw.offset}/{stage}"))


def build_dead_letter(raw: RawEvent, stage: Stage, exc: BaseException, dead_letter_topic: str) -> OutRecord:
    """The dead-letter record of `raw`: DeadLetter envelope as value, original key, headers as documented."""
    error_class, message = describe(exc)
    error_class = error_class[:128]
    now = datetime.now(UTC)
    envelope = DeadLetter(
        stage=stage,
        error_class=error_class,
        error_message=message[:_MAX_MESSAGE],
        topic=raw.topic,
        partition=raw.partition,
        offset=raw.offset,
        key_b64=base64.b64encode(raw.key).decode() if raw.key is not None else None,
        raw_b64=base64.b64encode(raw.value).decode(),
        failed_at=now,
    )
    headers: Headers = [
        *[(k, v) for k, v in raw.headers if not k.startswith(("dl_", "ce_"))],
        (H_STAGE, stage.encode()),
        (H_ERROR_CLASS, error_class.encode()),
        (H_ERROR_MESSAGE, message[:_MAX_HEADER_MESSAGE].encode("utf-8", "replace")),
        (H_TOPIC, raw.topic.encode()),
        (H_PARTITION, str(raw.partition).encode()),
        (H_OFFSET, str(raw.offset).encode()),
        ("ce_id", dead_letter_id(raw, stage).encode()),
        ("ce_type", b"seqsignal.deadletter.v1"),
        ("ce_source", f"seqsignal/worker/{stage}".encode()),
        ("ce_time", now.isoformat().encode()),
        ("ce_specversion", b"1.0"),
        ("content-type", b"application/json"),
    ]
    return OutRecord(dead_letter_topic, raw.key, encode(envelope), headers, task="dead_letter")


def header_map(headers: Headers) -> dict[str, bytes]:
    """Headers as a dict (the last value of a repeated name wins)."""
    return dict(headers)


def decode_batch(
    kind: str, raws: list[RawEvent], dead_letter_topic: str
) -> tuple[list[tuple[Any, RawEvent]], list[OutRecord]]:
    """Decode a batch with the codec: (event, raw) pairs in order, and a dead letter per invalid one."""
    events: list[tuple[Any, RawEvent]] = []
    dead: list[OutRecord] = []
    for raw in raws:
        try:
            events.append((decode(kind, raw.value), raw))
        except InvalidEvent as exc:
            dead.append(build_dead_letter(raw, "decode", exc, dead_letter_topic))
    return events, dead
