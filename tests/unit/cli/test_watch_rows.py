"""`seqsignal watch` rows: dead letters (input bytes + context headers) and signals display, junk does not."""

from __future__ import annotations

from types import SimpleNamespace

from seqsignal.commands.watch import _row
from seqsignal.schemas.codec import InvalidEvent
from seqsignal.workers.pipelines.dead_letter import build_dead_letter
from seqsignal.workers.pipelines.records import RawEvent


def _msg(value: bytes, headers: list[tuple[str, bytes]], key: bytes | None = None) -> SimpleNamespace:
    return SimpleNamespace(partition=0, offset=9, timestamp=1_700_000_000_000, key=key, value=value,
                           headers=headers)


def test_dead_letter_row_names_origin_stage_and_error() -> None:
    raw = RawEvent(topic="events.posts.v1", partition=2, offset=41, key=b"k", value=b"{not json")
    out = build_dead_letter(raw, "decode", InvalidEvent("not_json", "bad"), "events.deadletter.v1")
    key, what, model = _row("dead letters", _msg(out.value, out.headers, out.key))
    assert key == "events.posts.v1@41"
    assert what.startswith("decode: ") and model == "-"


def test_a_record_without_context_headers_is_unreadable_not_a_crash() -> None:
    assert _row("dead letters", _msg(b"{}", []))[1] == "unreadable record"
    assert _row("sentiment", _msg(b"\xff\xfe", []))[1] == "unreadable record"


def test_rumor_signal_row() -> None:
    rec = b'{"root_id": "r1", "score": 0.9, "flagged": true, "replies_seen": 3, "model_version": "v1"}'
    assert _row("rumor", _msg(rec, [])) == ("r1", "score 0.90 FLAGGED after 3 replies", "v1")
