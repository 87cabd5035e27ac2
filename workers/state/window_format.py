"""The stored form of a user window: its records and the bytes at its Redis key (the Lua scripts agree)."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace
from typing import Final, NamedTuple

from seqsignal.schemas.events import ACTION_TYPES

from .window_targets import decode_targets, encode_targets

FORMAT_VERSION: Final = 2  # 2: a targets section before the records; windows without targets stay format 1
_HEADER = struct.Struct(">BBIqd")  # format, flags, hw partition, hw offset, state ts
_RECORD = struct.Struct(">HIBQ")  # ts in ms (uint48 as high 16 + low 32 bits), action code, event hash
RECORD_SIZE: Final = _RECORD.size  # 15 bytes (targets, when any, in their own section)
MAX_TARGET_BYTES: Final = 64  # a longer target id is not stored (the action stays, without its target)
_FLAG_HW: Final = 1
_FLAG_STATE: Final = 2
ACTION_CODES: Final[dict[str, int]] = {a: i for i, a in enumerate(ACTION_TYPES)}


@dataclass(frozen=True, slots=True)
class WindowAction:
    """One action in a user's window, as stored compactly."""

    event_hash: int  # 64-bit hash of the event id (dedupe; ids themselves are not stored)
    action: str  # an ActionType
    ts: float  # unix seconds (UTC), millisecond precision
    target: str | None = None  # the user (or post) acted on, as it came (None: none, or too long to store)


class Record(NamedTuple):
    """A window record as stored: ts in ms, action code, 64-bit event hash, target id bytes (b"": none)."""

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
    """Unsigned 64-bit BLAKE2b hash of an event id."""
    return int.from_bytes(hashlib.blake2b(event_id.encode(), digest_size=8).digest(), "big")


def target_bytes(target_id: str | None) -> bytes:
    """The stored form of a target id: its UTF-8 bytes, or b"" when absent or over MAX_TARGET_BYTES."""
    b = target_id.encode() if target_id else b""
    return b if len(b) <= MAX_TARGET_BYTES else b""


def _target(b: bytes) -> str | None:
    return b.decode() if b else None


def ts_to_ms(ts: float) -> int:
    """Unix seconds to the stored integer milliseconds (clamped to the uint48 range)."""
    return min(max(round(ts * 1000), 0), (1 << 48) - 1)


def encode_user(w: UserWindow) -> bytes:
    """Pack a user window into the bytes stored at its key (format documented in lua/append_actions.lua):
    format 1 when no record has a target, else format 2 (a targets section before the records)."""
    flags = (_FLAG_HW if w.hw is not None else 0) | (_FLAG_STATE if w.state is not None else 0)
    hwp, hwo = w.hw if w.hw is not None else (0, 0)
    version = (w.state_version or "").encode() if w.state is not None else b""
    state = w.state or b""
    if len(version) > 255 or len(state) > 65535:
        raise ValueError("state version must be <= 255 bytes and state <= 65535 bytes")
    section = encode_targets([r.target for r in w.records])
    parts = [
        _HEADER.pack(2 if section else 1, flags, hwp, hwo, w.state_ts if w.state_ts is not None else 0.0),
        bytes([len(version)]),
        version,
        len(state).to_bytes(2, "big"),
        state,
    ]
    if section:
        parts += [len(section).to_bytes(2, "big"), section]
    parts += [_RECORD.pack(r.ts_ms >> 32, r.ts_ms & 0xFFFFFFFF, r.code, r.event_hash) for r in w.records]
    return b"".join(parts)


def _decode_head(blob: bytes) -> tuple[UserWindow, int, bytes]:
    """The window without its records, where the records start, and the targets section (b"": none)."""
    fmt, flags, hwp, hwo, sts = _HEADER.unpack_from(blob, 0)
    if fmt not in (1, FORMAT_VERSION):
        raise ValueError(f"unknown user window format {fmt}")
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
    head, pos, section = _decode_head(blob)
    raw = list(_RECORD.iter_unpack(memoryview(blob)[pos:]))
    targets = decode_targets(section, len(raw))
    return head, [((hi << 32) | lo, c, h, t) for (hi, lo, c, h), t in zip(raw, targets, strict=True)]


def decode_user(blob: bytes) -> UserWindow:
    """Inverse of `encode_user`."""
    head, recs = _records(blob)
    return replace(head, records=tuple(Record(*r) for r in recs))


def decode_window(blob: bytes) -> tuple[UserWindow, list[WindowAction]]:
    """The hot path of `decode_user`: the head (records left empty) and the records as WindowActions."""
    head, recs = _records(blob)
    names = ACTION_TYPES
    return head, [WindowAction(h, names[c], ts / 1000, _target(t)) for ts, c, h, t in recs]
