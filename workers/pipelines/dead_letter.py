"""Dead letters: an input that failed at some stage, kept byte for byte, with Kafka Connect error headers.

A dead letter's key and value are the original record's key and value, unchanged (up to a size bound, below);
where it came from and why it failed travel in headers named as Kafka Connect's dead-letter queues name
them (so generic tools, e.g. Connect's own or kcat `-f '%h'`, read them):

- `__connect.errors.topic`, `.partition`, `.offset`: origin of the input record;
- `__connect.errors.stage`: `decode`, `window`, `inference` or `emit` (seqsignal's stages);
- `__connect.errors.exception.class.name`: the exception class (`InvalidEvent` for decode failures);
- `__connect.errors.exception.message`: `reason: detail` for decode failures (the codec's reason), else
  the exception text; at most 2000 bytes.

The original record's own headers are kept before these (except earlier `__connect.errors.*`, `ce_*` and
`seqsignal.truncated.*` ones); the record's timestamp is when it failed.

Bounded size: a producer that compresses can put a record of many MB on an input topic (the broker checks
the compressed batch), while this worker produces uncompressed and the broker takes at most ~1 MB. So a
dead letter keeps at most 256 KiB of the value, 64 KiB of the key and 64 KiB of the original headers (the
headers go whole or not at all); what was cut is named in `seqsignal.truncated.value` / `.key` /
`.headers` (the original size in bytes). Only an input already `too_large` for the codec (64 KiB) can lose
value bytes, so nothing replayable is cut; without the bound such an input is a poison pill (the dead
letter is never acknowledged, the worker exits 75 and re-reads it forever).

`ce_id` is deterministic per input and stage, so a redelivered batch dead-letters under the same id.
`seqsignal dlq` (`workers/dlq.py`) reads them back into `DeadLetter` (schemas/events.py), the JSON view that
`seqsignal dlq inspect --json` prints.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.workers.pipelines.records import Headers, OutRecord, RawEvent

Stage = Literal["decode", "window", "inference", "emit"]

# Kafka Connect's dead-letter context headers (connect.runtime.errors.DeadLetterQueueReporter).
H_PREFIX = "__connect.errors."
H_TOPIC = "__connect.errors.topic"
H_PARTITION = "__connect.errors.partition"
H_OFFSET = "__connect.errors.offset"
H_STAGE = "__connect.errors.stage"
H_ERROR_CLASS = "__connect.errors.exception.class.name"
H_ERROR_MESSAGE = "__connect.errors.exception.message"
CE_TYPE = "seqsignal.deadletter.v1"
_MAX_MESSAGE = 2000
_MAX_CLASS = 128
H_TRUNCATED = "seqsignal.truncated."
MAX_VALUE = 256 * 1024
MAX_KEY = 64 * 1024
MAX_HEADERS = 64 * 1024
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


def _clip_utf8(text: str, limit: int) -> bytes:
    return text.encode("utf-8", "replace")[:limit].decode("utf-8", "ignore").encode()


def _bounded(raw: RawEvent) -> tuple[bytes | None, bytes, Headers, Headers]:
    """(key, value, original headers, truncation headers) cut to what any broker takes back."""
    own = [(k, v) for k, v in raw.headers if not k.startswith((H_PREFIX, "ce_", H_TRUNCATED))]
    cut: Headers = []
    size = sum(len(k.encode()) + len(v) for k, v in own)
    if size > MAX_HEADERS:
        own, cut = [], [(H_TRUNCATED + "headers", str(size).encode())]
    key, value = raw.key, raw.value
    if key is not None and len(key) > MAX_KEY:
        key, cut = key[:MAX_KEY], [*cut, (H_TRUNCATED + "key", str(len(key)).encode())]
    if len(value) > MAX_VALUE:
        value, cut = value[:MAX_VALUE], [*cut, (H_TRUNCATED + "value", str(len(value)).encode())]
    return key, value, own, cut


def build_dead_letter(raw: RawEvent, stage: Stage, exc: BaseException, dead_letter_topic: str) -> OutRecord:
    """The dead-letter record of `raw`: its own key and value bytes (bounded), error context in headers."""
    error_class, message = describe(exc)
    now = datetime.now(UTC)
    key, value, own, cut = _bounded(raw)
    headers: Headers = [
        *own,
        *cut,
        (H_TOPIC, raw.topic.encode()),
        (H_PARTITION, str(raw.partition).encode()),
        (H_OFFSET, str(raw.offset).encode()),
        (H_STAGE, stage.encode()),
        (H_ERROR_CLASS, _clip_utf8(error_class, _MAX_CLASS)),
        (H_ERROR_MESSAGE, _clip_utf8(message, _MAX_MESSAGE)),
        ("ce_id", dead_letter_id(raw, stage).encode()),
        ("ce_type", CE_TYPE.encode()),
        ("ce_source", f"seqsignal/worker/{stage}".encode()),
        ("ce_time", now.isoformat().encode()),
        ("ce_specversion", b"1.0"),
        ("ce_subject", f"{raw.topic}/{raw.partition}/{raw.offset}".encode()),
    ]
    return OutRecord(dead_letter_topic, key, value, headers, task="dead_letter")


def header_map(headers: Headers) -> dict[str, bytes]:
    """Headers as a dict (the last value of a repeated name wins)."""
    return dict(headers)


def stage_of(record: OutRecord) -> str:
    """The stage header of a dead-letter record ('?' when absent)."""
    return header_map(record.headers).get(H_STAGE, b"?").decode()


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
