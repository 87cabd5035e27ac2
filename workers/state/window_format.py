"""The stored form of a user window: its records and the bytes at its Redis key (the Lua scripts agree).

Format 3 (written now; layout in `lua/append_actions.lua`): varint high-water mark, the state section only
when there is a state, then the records as columns: 4-byte event hashes, one varint per record of
(zigzag ts delta to the previous record << 3 | action code), and the targets (`window_targets.encode_dict`).
About 8 bytes a record instead of 15. Formats 1 and 2 (15-byte records, 64-bit hashes) are still read, their
hashes cut to the 32 bits that format 3 keeps; the Lua scripts rewrite such a key as format 3.

Why 32 bits of event hash are enough: a Kafka redelivery is recognised by the (partition, offset) high-water
mark before any hash is looked at; the hash only catches the same event produced twice at the source. A
distinct action is wrongly taken for such a duplicate when its hash equals one of the <= 64 in its user's
window: p <= 64 / 2**32 = 1.5e-8 per action, and then that one action is missing from one user's window.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace
from typing import Final, NamedTuple

from seqsignal.schemas.events import ACTION_TYPES

from .window_targets import decode_dict, decode_targets, encode_dict, read_uvarint, uvarint

FORMAT_VERSION: Final = 3  # 3: packed columns (this module's docstring); 1 and 2 are still read
_HEADER = struct.Struct(">BBIqd")  # formats 1-2: format, flags, hw partition, hw offset, state ts
_RECORD = struct.Struct(">HIBQ")  # formats 1-2: ts ms (uint48 as high 16 + low 32 bits), code, 64-bit hash
RECORD_SIZE: Final = _RECORD.size  # 15 bytes: a record of formats 1-2
HASH_MASK: Final = 0xFFFFFFFF  # format 3 keeps the low 32 bits of the event hash
MAX_TARGET_BYTES: Final = 64  # a longer target id is not stored (the action stays, without its target)
_FLAG_HW: Final = 1
_FLAG_STATE: Final = 2
ACTION_CODES: Final[dict[str, int]] = {a: i for i, a in enumerate(ACTION_TYPES)}


@dataclass(frozen=True, slots=True)
class WindowAction:
    """One action in a user's window, as stored compactly."""

    event_hash: int  # 32-bit hash of the event id (dedupe; ids themselves are not stored)
    action: str  # an ActionType
    ts: float  # unix seconds (UTC), millisecond precision
    target: str | None = None  # the user (or post) acted on, as it came (None: none, or too long to store)


class Record(NamedTuple):
    """A window record as stored: ts in ms, action code, 32-bit event hash, target id bytes (b"": none)."""

    ts_ms: int
    code: int
    event_hash: int
    target: bytes = b""

    def to_action(self) -> WindowAction:
        return WindowAction(self.event_hash, ACTION_TYPES[self.code], self.ts_ms / 1000, _target(self.target))


@dataclass(frozen=True, slots=True)
class UserWindow:
    """Everything stored about one user: high-water mark, cached encoder state, records oldest first."""

    hw: tuple[int, int] | None = None
    state: bytes | None = None
    state_version: str | None = None
    state_ts: float | None = None
    records: tuple[Record, ...] = ()


def event_hash(event_id: str) -> int:
    """Unsigned 32-bit event id hash: the low half of its 64-bit BLAKE2b (what formats 1-2 stored whole)."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest()[4:], "big")


def target_bytes(target_id: str | None) -> bytes:
    """The stored form of a target id: its UTF-8 bytes, or b"" when absent or over MAX_TARGET_BYTES."""
    b = target_id.encode() if target_id else b""
    return b if len(b) <= MAX_TARGET_BYTES else b""


def _target(b: bytes) -> str | None:
    return b.decode() if b else None


def ts_to_ms(ts: float) -> int:
    """Unix seconds to the stored integer milliseconds (clamped to the uint48 range)."""
    return min(max(round(ts * 1000), 0), (1 << 48) - 1)


def _zigzag(v: int) -> int:
    return v << 1 if v >= 0 else ((-v) << 1) - 1


def _unzigzag(z: int) -> int:
    return z >> 1 if not z & 1 else -((z + 1) >> 1)


def encode_user(w: UserWindow) -> bytes:
    """Pack a user window into the bytes stored at its key (format 3; see the module docstring)."""
    flags = (_FLAG_HW if w.hw is not None else 0) | (_FLAG_STATE if w.state is not None else 0)
    hwp, hwo = w.hw if w.hw is not None else (0, 0)
    parts = [bytes([FORMAT_VERSION, flags]), uvarint(hwp), uvarint(_zigzag(hwo))]
    if w.state is not None:
        version = (w.state_version or "").encode()
        if len(version) > 255:
            raise ValueError("state version must be <= 255 bytes")
        ts = w.state_ts if w.state_ts is not None else 0.0
        parts += [struct.pack(">d", ts), bytes([len(version)]), version, uvarint(len(w.state)), w.state]
    recs = w.records
    if any(r.code > 7 for r in recs):
        raise ValueError("format 3 holds action codes 0-7")
    parts += [uvarint(len(recs)), struct.pack(f">{len(recs)}I", *(r.event_hash & HASH_MASK for r in recs))]
    prev = 0
    for r in recs:
        parts.append(uvarint(_zigzag(r.ts_ms - prev) << 3 | r.code))
        prev = r.ts_ms
    parts.append(encode_dict([r.target for r in recs]))
    return b"".join(parts)


def _decode_v3(blob: bytes) -> tuple[UserWindow, list[tuple[int, int, int, bytes]]]:
    flags = blob[1]
    hwp, pos = read_uvarint(blob, 2)
    hwo, pos = read_uvarint(blob, pos)
    head = UserWindow(hw=(hwp, _unzigzag(hwo)) if flags & _FLAG_HW else None)
    if flags & _FLAG_STATE:
        (sts,) = struct.unpack_from(">d", blob, pos)
        vlen = blob[pos + 8]
        version = blob[pos + 9 : pos + 9 + vlen].decode()
        slen, pos = read_uvarint(blob, pos + 9 + vlen)
        head = replace(head, state=blob[pos : pos + slen], state_version=version, state_ts=sts)
        pos += slen
    n, pos = read_uvarint(blob, pos)
    hashes = struct.unpack_from(f">{n}I", blob, pos)
    pos += 4 * n
    ts, codes = [], []
    t = v = shift = 0
    for _ in range(n):
        while True:
            b = blob[pos]
            pos += 1
            v |= (b & 127) << shift
            if b < 128:
                break
            shift += 7
        t += _unzigzag(v >> 3)
        ts.append(t)
        codes.append(v & 7)
        v = shift = 0
    targets = decode_dict(blob, pos, n)
    return head, list(zip(ts, codes, hashes, targets, strict=True))


def _decode_head(blob: bytes) -> tuple[UserWindow, int, bytes]:
    """Formats 1-2: the window without its records, where the records start, the targets section."""
    fmt, flags, hwp, hwo, sts = _HEADER.unpack_from(blob, 0)
    pos = _HEADER.size
    vlen = blob[pos]
    version = blob[pos + 1 : pos + 1 + vlen].decode()
    pos += 1 + vlen
    slen = int.from_bytes(blob[pos : pos + 2], "big")
    state = blob[pos + 2 : pos + 2 + slen]
    pos += 2 + slen
    section = b""
    if fmt == 2:
        tlen = int.from_bytes(blob[pos : pos + 2], "big")
        section, pos = blob[pos + 2 : pos + 2 + tlen], pos + 2 + tlen
    if (len(blob) - pos) % RECORD_SIZE:
        raise ValueError("truncated user window")
    has_state = bool(flags & _FLAG_STATE)
    head = UserWindow(
        hw=(hwp, hwo) if flags & _FLAG_HW else None,
        state=state if has_state else None,
        state_version=version if has_state else None,
        state_ts=sts if has_state else None,
    )
    return head, pos, section


def _records(blob: bytes) -> tuple[UserWindow, list[tuple[int, int, int, bytes]]]:
    if blob[0] == FORMAT_VERSION:
        return _decode_v3(blob)
    if blob[0] not in (1, 2):
        raise ValueError(f"unknown user window format {blob[0]}")
    head, pos, section = _decode_head(blob)
    raw = list(_RECORD.iter_unpack(memoryview(blob)[pos:]))
    targets = decode_targets(section, len(raw))
    recs = [((hi << 32) | lo, c, h & HASH_MASK, t) for (hi, lo, c, h), t in zip(raw, targets, strict=True)]
    return head, recs


def decode_user(blob: bytes) -> UserWindow:
    """Inverse of `encode_user` (formats 1 and 2 read too, their hashes cut to 32 bits)."""
    head, recs = _records(blob)
    return replace(head, records=tuple(Record(*r) for r in recs))


def decode_window(blob: bytes) -> tuple[UserWindow, list[WindowAction]]:
    """The hot path of `decode_user`: the head (records left empty) and the records as WindowActions."""
    head, recs = _records(blob)
    names = ACTION_TYPES
    return head, [WindowAction(h, names[c], ts / 1000, _target(t)) for ts, c, h, t in recs]
