"""Dead letters: the original key and value bytes, Kafka Connect error headers, deterministic ids, and the
DeadLetter view `seqsignal dlq` reads back from them."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest

from seqsignal.schemas.events import DeadLetter
from seqsignal.workers import dlq
from seqsignal.workers.pipelines.dead_letter import (
    H_ERROR_CLASS,
    H_ERROR_MESSAGE,
    H_OFFSET,
    H_PARTITION,
    H_STAGE,
    H_TOPIC,
    build_dead_letter,
    decode_batch,
    header_map,
    stage_of,
)
from seqsignal.workers.pipelines.emitter import validate_output
from seqsignal.workers.pipelines.records import RawEvent

GOOD = (
    b'{"event_id":"e1","user_id":"u1","action":"like","target_id":null,'
    b'"created_at":"2012-07-01T00:00:00Z","source":"higgs"}'
)


def _raw(value: bytes, offset: int = 7) -> RawEvent:
    return RawEvent("x.events.actions.v1", 2, offset, b"u1", value, [("trace", b"abc"), ("ce_id", b"old")])


def test_decode_batch_splits_valid_and_invalid_in_order() -> None:
    raws = [_raw(GOOD, 1), _raw(b"\xff\xfe not utf8", 2), _raw(b"{}", 3), _raw(GOOD, 4)]
    events, dead = decode_batch("actions", raws, "x.events.deadletter.v1")
    assert [r.offset for _, r in events] == [1, 4]
    assert events[0][0].event_id == "e1"
    assert len(dead) == 2
    first = header_map(dead[0].headers)
    assert first[H_STAGE] == b"decode" and stage_of(dead[0]) == "decode"
    assert first[H_ERROR_CLASS] == b"InvalidEvent"
    assert first[H_ERROR_MESSAGE].startswith(b"invalid_utf8")
    assert (first[H_TOPIC], first[H_PARTITION], first[H_OFFSET]) == (b"x.events.actions.v1", b"2", b"2")
    assert first["trace"] == b"abc"  # original headers kept
    assert first["ce_id"] != b"old"  # the input's own CloudEvents headers are not the dead letter's
    assert header_map(dead[1].headers)[H_ERROR_MESSAGE].startswith(b"schema")


def test_dead_letter_keeps_the_original_key_and_value_bytes() -> None:
    raw = _raw(b"\x00\x01garbage")
    rec = build_dead_letter(raw, "window", ConnectionError("redis down"), "x.events.deadletter.v1")
    assert rec.topic == "x.events.deadletter.v1" and rec.task == "dead_letter"
    assert (rec.key, rec.value) == (b"u1", b"\x00\x01garbage")
    h = header_map(rec.headers)
    assert h[H_STAGE] == b"window" and h[H_ERROR_CLASS] == b"ConnectionError"
    assert h[H_ERROR_MESSAGE] == b"redis down"
    assert "content-type" not in h  # the value is whatever the producer sent


def test_header_names_are_kafka_connects() -> None:
    rec = build_dead_letter(_raw(b"x"), "decode", ValueError("a"), "dl")
    names = {k for k, _ in rec.headers}
    assert {
        "__connect.errors.topic", "__connect.errors.partition", "__connect.errors.offset",
        "__connect.errors.stage", "__connect.errors.exception.class.name",
        "__connect.errors.exception.message",
    } <= names


def test_long_messages_are_clipped_on_a_utf8_boundary() -> None:
    rec = build_dead_letter(_raw(b"x"), "inference", RuntimeError("é" * 5000), "dl")
    msg = header_map(rec.headers)[H_ERROR_MESSAGE]
    assert len(msg) <= 2000 and msg.decode("utf-8")


def test_dead_letter_id_is_deterministic_per_input_and_stage() -> None:
    a = build_dead_letter(_raw(b"x"), "decode", ValueError("a"), "dl")
    b = build_dead_letter(_raw(b"x"), "decode", ValueError("b"), "dl")
    c = build_dead_letter(_raw(b"x", offset=8), "decode", ValueError("a"), "dl")
    assert header_map(a.headers)["ce_id"] == header_map(b.headers)["ce_id"] != header_map(c.headers)["ce_id"]


def test_view_of_a_dead_letter_validates_and_round_trips_the_bytes() -> None:
    rec = build_dead_letter(_raw(b"\x00\x01garbage"), "window", ConnectionError("redis down"), "dl")
    parsed = dlq.view_of(4, 99, 1_700_000_000_000, rec.key, rec.value, rec.headers)
    assert parsed is not None
    view, headers = parsed
    assert isinstance(view, DeadLetter) and headers == rec.headers
    validate_output("dead_letter", view.model_dump_json().encode())
    assert base64.b64decode(view.raw_b64) == b"\x00\x01garbage"
    assert base64.b64decode(view.key_b64 or "") == b"u1"
    assert (view.stage, view.error_class, view.topic, view.partition, view.offset) == (
        "window", "ConnectionError", "x.events.actions.v1", 2, 7)
    assert (view.dead_letter_partition, view.dead_letter_offset) == (4, 99)
    assert view.failed_at == datetime.fromtimestamp(1_700_000_000, UTC)
    assert dlq.view_of(0, 0, 0, b"k", b"v", [("other", b"1")]) is None  # not a dead letter


def _record(value: bytes, stage: str, exc: BaseException, offset: int) -> dlq.DeadLetterRecord:
    rec = build_dead_letter(_raw(value, offset), stage, exc, "dl")  # type: ignore[arg-type]
    parsed = dlq.view_of(0, offset, 1_700_000_000_000, rec.key, rec.value, rec.headers)
    assert parsed is not None
    return dlq.DeadLetterRecord(parsed[0], rec.key, rec.value, parsed[1])


def test_summary_counts_by_stage_and_error_with_samples() -> None:
    from seqsignal.schemas.codec import InvalidEvent

    recs = [_record(b"{}", "decode", InvalidEvent("schema", "user_id: required"), i) for i in range(3)]
    recs.append(_record(GOOD, "window", ConnectionError("down"), 3))
    s = dlq.summarize(recs, samples=2)
    assert s["total"] == 4
    assert s["by_stage"] == {"decode": 3, "window": 1}
    assert s["by_error"] == {"InvalidEvent:schema": 3, "ConnectionError": 1}
    assert len(s["samples"]["decode InvalidEvent:schema"]) == 2
    assert s["samples"]["window ConnectionError"][0]["origin"] == "x.events.actions.v1/2/3"


def test_export_lines_load_back_as_replay_values(tmp_path: Path) -> None:
    recs = [_record(b'{"bad": 1}', "decode", ValueError("x"), 0),
            _record(b"\xff", "decode", ValueError("y"), 1)]
    path = tmp_path / "dead.jsonl"
    path.write_bytes(b"\n".join(dlq.export_line(r) for r in recs))
    assert dlq.load_values(path) == {"0/0": b'{"bad": 1}', "0/1": b"\xff"}  # not UTF-8: raw_b64 is used


def test_parse_since() -> None:
    now = datetime(2026, 1, 2, 12, tzinfo=UTC)
    assert dlq.parse_since("2h", now) == datetime(2026, 1, 2, 10, tzinfo=UTC)
    assert dlq.parse_since("2026-01-01T00:00:00Z") == datetime(2026, 1, 1, tzinfo=UTC)
    assert dlq.parse_since(None) is None
    with pytest.raises(ValueError):
        dlq.parse_since("yesterday")


def test_fix_hook_from_a_file(tmp_path: Path) -> None:
    (tmp_path / "fixer.py").write_text("def fix(value, dl):\n    return value.upper()\n")
    fix = dlq.load_fix(f"{tmp_path / 'fixer.py'}:fix")
    assert fix(b"abc", _record(b"x", "decode", ValueError("x"), 0).view) == b"ABC"
    with pytest.raises(ValueError):
        dlq.load_fix("no-colon")
