"""Dead letters are bounded (value 256 KiB, key 64 KiB, original headers 64 KiB), so an input a compressing
producer slipped past the broker cannot make a dead letter the broker refuses (a poison pill)."""

from __future__ import annotations

import pytest

from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.workers.pipelines.dead_letter import (
    H_TRUNCATED,
    MAX_HEADERS,
    MAX_KEY,
    MAX_VALUE,
    build_dead_letter,
    decode_batch,
)
from seqsignal.workers.pipelines.records import RawEvent


def _dead(key: bytes | None, value: bytes, headers: list[tuple[str, bytes]]) -> tuple[bytes | None, bytes,
                                                                                         dict[str, bytes]]:
    raw = RawEvent("x.events.posts.v1", 0, 3, key, value, headers)
    _, dead = decode_batch("posts", [raw], "dl")
    assert len(dead) == 1
    return dead[0].key, dead[0].value, dict(dead[0].headers)


def test_a_5_mb_value_is_cut_to_the_bound_and_the_cut_is_named() -> None:
    value = b'{"text": "' + b"a" * (5 * 1024 * 1024) + b'"}'
    key, kept, h = _dead(b"k", value, [("trace", b"t1")])
    assert kept == value[:MAX_VALUE] and key == b"k" and h["trace"] == b"t1"
    assert h[H_TRUNCATED + "value"] == str(len(value)).encode()
    assert h["__connect.errors.exception.message"].startswith(b"too_large")
    assert H_TRUNCATED + "key" not in h and H_TRUNCATED + "headers" not in h


def test_huge_key_and_headers_are_cut_too() -> None:
    big_headers = [(f"h{i}", b"x" * 1024) for i in range(100)]
    key, _, h = _dead(b"k" * (MAX_KEY + 1), b"\xff", big_headers)
    assert key == b"k" * MAX_KEY and h[H_TRUNCATED + "key"] == str(MAX_KEY + 1).encode()
    assert int(h[H_TRUNCATED + "headers"]) > MAX_HEADERS and "h0" not in h


def test_records_within_the_bounds_are_kept_byte_for_byte() -> None:
    value = b"[" * 10_000 + b"]" * 10_000  # too deep, 20 KB: kept whole
    key = b"u" * 10 * 1024
    headers = [("trace", b"t"), (H_TRUNCATED + "value", b"spoofed")]
    got_key, kept, h = _dead(key, value, headers)
    assert (got_key, kept) == (key, value)
    assert not any(k.startswith(H_TRUNCATED) for k in h), "a spoofed truncation header is dropped"
    with pytest.raises(InvalidEvent) as exc:
        decode("posts", value)
    assert exc.value.reason == "too_deep"
    rec = build_dead_letter(RawEvent("t", 0, 0, None, b"x" * MAX_VALUE, []), "window", OSError("x"), "dl")
    assert len(rec.value) == MAX_VALUE and rec.key is None
