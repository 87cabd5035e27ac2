"""Format 3 of a user window (packed columns): sizes, target packing, formats 1-2 still read."""

from __future__ import annotations

import struct

import pytest

from seqsignal.workers.state import window_format as wf
from seqsignal.workers.state import window_targets as wt
from seqsignal.workers.state.window_rules import Record, UserWindow, apply_actions, encode_targets

BASE_MS = 1_700_000_000_000
VERSION = "behavior-20261126-01"


def _legacy(w: UserWindow, hashes64: list[int]) -> bytes:
    """A window as formats 1-2 wrote it (the encoder before format 3), with 64-bit hashes."""
    section = encode_targets([r.target for r in w.records])
    flags = (1 if w.hw else 0) | (2 if w.state is not None else 0)
    hwp, hwo = w.hw or (0, 0)
    version = (w.state_version or "").encode() if w.state is not None else b""
    parts = [struct.pack(">BBIqd", 2 if section else 1, flags, hwp, hwo, w.state_ts or 0.0),
             bytes([len(version)]), version, len(w.state or b"").to_bytes(2, "big"), w.state or b""]
    if section:
        parts += [len(section).to_bytes(2, "big"), section]
    parts += [struct.pack(">HIBQ", r.ts_ms >> 32, r.ts_ms & 0xFFFFFFFF, r.code, h)
              for r, h in zip(w.records, hashes64, strict=True)]
    return b"".join(parts)


def _full(targets: list[bytes], state: bytes | None = bytes(172)) -> UserWindow:
    recs = tuple(Record(BASE_MS + 17_000 * i, i % 6, wf.event_hash(f"e{i}"), targets[i % len(targets)])
                 for i in range(64))
    return UserWindow(hw=(5, 123_456_789), state=state, state_version=VERSION if state else None,
                      state_ts=recs[-1].ts_ms / 1000 if state else None, records=recs)


@pytest.mark.parametrize("fmt", [1, 2])
def test_formats_1_and_2_still_read_with_hashes_cut_to_32_bits(fmt: int) -> None:
    w = _full([b"al", b"123456"] if fmt == 2 else [b""])
    hashes64 = [(i + 1) << 32 | r.event_hash for i, r in enumerate(w.records)]
    blob = _legacy(w, hashes64)
    assert blob[0] == fmt
    assert wf.decode_user(blob) == w  # the low 32 bits: what event_hash() gives for the same event id
    assert wf.decode_user(wf.encode_user(wf.decode_user(blob))) == w


def test_event_hash_is_the_low_half_of_the_old_64_bit_hash() -> None:
    import hashlib

    old = int.from_bytes(hashlib.blake2b(b"ev-1", digest_size=8).digest(), "big")
    assert wf.event_hash("ev-1") == old & 0xFFFFFFFF < 2**32


def test_targets_pack_decimal_and_hex_ids() -> None:
    for t, size in ((b"0", 2), (b"7", 2), (b"456626", 4), (b"999999999999999", 8), (b"0123", 3),
                    (b"0123456789abcdef0123456789abcdef", 17), (b"ABCD", 5), (b"abc", 4), (b"01", 2),
                    (b"1000000000000000", 9), ("ü".encode() * 32, 65)):
        entry = wt.pack_target(t)
        assert len(entry) == size, t
        assert wt.decode_dict(wt.uvarint(1) + entry + b"\x01", 0, 1) == [t]
    many = [str(i).encode() for i in range(300)] + [b""]  # 128 distinct or more: varint indexes
    assert wt.decode_dict(wt.encode_dict(many), 0, len(many)) == many
    with pytest.raises(ValueError):
        wt.decode_dict(wt.encode_dict(many) + b"\x00", 0, len(many))


def test_default_window_is_packed_under_the_budget() -> None:
    """64 actions 17 s apart, float16 state (172 B), 23-char version: 15-byte records took 1,436 B with
    a float32 state; format 3 stays under 892 B, the largest value that jemalloc puts in its 896 B class."""
    small = wf.encode_user(_full([str(i).encode() for i in range(64)]))  # bench/footprint's targets
    higgs = wf.encode_user(_full([str(400_000 + i).encode() for i in range(64)]))  # 6-digit user ids
    none = wf.encode_user(_full([b""]))
    print(f"format 3 bytes: small ids {len(small)}, 6-digit ids {len(higgs)}, no targets {len(none)}")
    assert len(none) <= 1 + 1 + 1 + 4 + 8 + 1 + len(VERSION) + 2 + 172 + 1 + 64 * (4 + 3) + 4 + 1  # + 1st ts
    assert len(small) <= 892
    assert wf.decode_user(small) == _full([str(i).encode() for i in range(64)])


def test_unsorted_records_negative_offsets_and_no_state_round_trip() -> None:
    w = UserWindow(hw=(0, -1), records=(Record(10, 7, 1), Record(5, 0, 2, b"x"), Record(2**48 - 1, 3, 3)))
    assert wf.decode_user(wf.encode_user(w)) == w
    with pytest.raises(ValueError):
        wf.encode_user(UserWindow(records=(Record(1, 8, 1),)))


def test_rules_dedupe_on_32_bit_hashes() -> None:
    from seqsignal.workers.state.window_rules import action_event

    evs = [action_event(0, i, 1000.0 + i, "reply", eid) for i, eid in enumerate(["a", "b", "a"])]
    w, statuses = apply_actions(UserWindow(), evs, max_actions=64, max_age_ms=10**9)
    assert statuses == ["a", "a", "d"] and all(r.event_hash < 2**32 for r in w.records)
