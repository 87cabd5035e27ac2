"""Dead letters: raw bytes preserved, origin and error in headers and envelope, deterministic ids."""

from __future__ import annotations

import base64

import orjson

from seqsignal.schemas.codec import decode_as
from seqsignal.schemas.events import DeadLetter
from seqsignal.workers.pipelines.dead_letter import build_dead_letter, decode_batch, header_map
from seqsignal.workers.pipelines.emitter import validate_output
from seqsignal.workers.pipelines.records import RawEvent

GOOD = (
    b'{"event_id":"e1","user_id":"u1","action":"like","target_id":null,'
    b'"created_at":"2012-07-01T00:00:00Z","source":"higgs"}'
)


def _raw(value: bytes, offset: int = 7) -> RawEvent:
    return RawEvent("x.events.actions.v1", 2, offset, b"u1", value, [("trace", b"abc")])


def test_decode_batch_splits_valid_and_invalid_in_order() -> None:
    raws = [_raw(GOOD, 1), _raw(b"\xff\xfe not utf8", 2), _raw(b"{}", 3), _raw(GOOD, 4)]
    events, dead = decode_batch("actions", raws, "x.events.deadletter.v1")
    assert [r.offset for _, r in events] == [1, 4]
    assert events[0][0].event_id == "e1"
    assert len(dead) == 2
    first = header_map(dead[0].headers)
    assert first["dl_stage"] == b"decode"
    assert first["dl_error_class"] == b"InvalidEvent"
    assert first["dl_error_message"].startswith(b"invalid_utf8")
    assert (first["dl_topic"], first["dl_partition"], first["dl_offset"]) == (
        b"x.events.actions.v1",
        b"2",
        b"2",
    )
    assert first["trace"] == b"abc"  # original headers kept
    assert header_map(dead[1].headers)["dl_error_message"].startswith(b"schema")


def test_envelope_holds_raw_bytes_and_validates() -> None:
    raw = _raw(b"\x00\x01garbage")
    rec = build_dead_letter(raw, "window", ConnectionError("redis down"), "x.events.deadletter.v1")
    assert rec.topic == "x.events.deadletter.v1" and rec.key == b"u1" and rec.task == "dead_letter"
    validate_output("dead_letter", rec.value)
    env = decode_as(DeadLetter, rec.value)
    assert base64.b64decode(env.raw_b64) == b"\x00\x01garbage"
    assert base64.b64decode(env.key_b64 or "") == b"u1"
    assert (env.stage, env.error_class, env.topic, env.partition, env.offset) == (
        "window",
        "ConnectionError",
        "x.events.actions.v1",
        2,
        7,
    )
    assert "redis down" in env.error_message
    assert orjson.loads(rec.value)["stage"] == "window"


def test_dead_letter_id_is_deterministic_per_input_and_stage() -> None:
    a = build_dead_letter(_raw(b"x"), "decode", ValueError("a"), "dl")
    b = build_dead_letter(_raw(b"x"), "decode", ValueError("b"), "dl")
    c = build_dead_letter(_raw(b"x", offset=8), "decode", ValueError("a"), "dl")
    assert header_map(a.headers)["ce_id"] == header_map(b.headers)["ce_id"] != header_map(c.headers)["ce_id"]
