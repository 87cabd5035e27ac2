"""Pure window rules (bounding, dedupe, record encoding) that the Lua scripts in `lua/` mirror exactly.

A user window is a function of the event sequence alone (not of how it was cut into batches): each event
is first checked against the user's (partition, offset) high-water mark (a Kafka redelivery), then against
the event hashes in the window (a duplicate produced twice at the source); an accepted action is inserted
in time order (after every record with ts <= its ts), and then the oldest records are dropped while they
are older than `max_age` before the newest one or while there are more than `max_actions`.

Threads follow the same scheme: high-water mark, then post id dedupe, replies ordered by
(created ms, post id bytes) as in a Redis sorted set, the oldest dropped beyond `max_replies`.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal, NamedTuple, Protocol, TypeVar

from seqsignal.schemas.events import ACTION_TYPES, ActionType

from .window_targets import decode_targets, encode_targets

Status = Literal["a", "r", "d"]
ADDED: Final = "a"  # appended by this event
REDELIVERED: Final = "r"  # (partition, offset) at or below the high-water mark
DUPLICATE: Final = "d"  # event hash / post id already in the window (or source already set)


class _Positioned(Protocol):
    """What the high-water mark needs of an event."""

    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


E = TypeVar("E", bound=_Positioned)
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


class ActionEvent(NamedTuple):
    """An incoming action reduced to what the window rules need."""

    partition: int
    offset: int
    ts_ms: int
    code: int
    event_hash: int
    target: bytes = b""


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


def action_event(
    partition: int,
    offset: int,
    ts: float,
    action: ActionType | str,
    event_id: str,
    target_id: str | None = None,
) -> ActionEvent:
    """Build the rules' view of one action."""
    return ActionEvent(
        partition, offset, ts_to_ms(ts), ACTION_CODES[action], event_hash(event_id), target_bytes(target_id)
    )


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


def is_redelivery(hw: tuple[int, int] | None, partition: int, offset: int) -> bool:
    """True when (partition, offset) was already applied (same partition, offset at or below the mark)."""
    return hw is not None and hw[0] == partition and offset <= hw[1]


def insert_in_time_order(records: list[Record], rec: Record) -> None:
    """Insert after every record whose ts is <= the new one (stable: ties keep arrival order)."""
    i = len(records)
    while i > 0 and records[i - 1].ts_ms > rec.ts_ms:
        i -= 1
    records.insert(i, rec)


def bound_records(records: list[Record], *, max_actions: int, max_age_ms: int) -> None:
    """Drop the oldest records while older than max_age before the newest, or more than max_actions."""
    if not records:
        return
    cutoff = records[-1].ts_ms - max_age_ms
    drop = 0
    while drop < len(records) and (records[drop].ts_ms < cutoff or len(records) - drop > max_actions):
        drop += 1
    del records[:drop]


def apply_in_order(
    hw: tuple[int, int] | None, events: Sequence[E], add: Callable[[E], bool]
) -> tuple[tuple[int, int] | None, list[Status]]:
    """The scheme windows and threads share: an event at or below the high-water mark is a redelivery;
    otherwise the mark moves to it and `add(event)` applies it (True) or finds it a duplicate (False).
    Returns the new mark and one status per event."""
    statuses: list[Status] = []
    for e in events:
        if is_redelivery(hw, e.partition, e.offset):
            statuses.append(REDELIVERED)
            continue
        hw = (e.partition, e.offset)
        statuses.append(ADDED if add(e) else DUPLICATE)
    return hw, statuses


def apply_actions(
    w: UserWindow, events: list[ActionEvent], *, max_actions: int, max_age_ms: int
) -> tuple[UserWindow, list[Status]]:
    """Apply events in order; returns the new window and one status per event."""
    records = list(w.records)
    hashes = {r.event_hash for r in records}

    def add(e: ActionEvent) -> bool:
        if e.event_hash in hashes:
            return False
        insert_in_time_order(records, Record(e.ts_ms, e.code, e.event_hash, e.target))
        hashes.add(e.event_hash)
        bound_records(records, max_actions=max_actions, max_age_ms=max_age_ms)
        hashes.intersection_update(r.event_hash for r in records)
        return True

    hw, statuses = apply_in_order(w.hw, events, add)
    return replace(w, hw=hw, records=tuple(records)), statuses


# --------------------------------------------------------------------------------------------- threads
class Reply(NamedTuple):
    ts_ms: int
    post_id: str
    text: str


class PostEvent(NamedTuple):
    """An incoming post reduced to what the thread rules need."""

    partition: int
    offset: int
    post_id: str
    ts_ms: int
    is_source: bool
    text: str


@dataclass(frozen=True, slots=True)
class ThreadWindow:
    hw: tuple[int, int] | None = None
    source_text: str | None = None
    replies: tuple[Reply, ...] = field(default_factory=tuple)  # ordered by (ts_ms, post id bytes)
    replies_seen: int = 0
    last_score: float | None = None
    last_flagged: bool | None = None


def _reply_order(r: Reply) -> tuple[int, bytes]:
    return (r.ts_ms, r.post_id.encode())


def apply_posts(
    t: ThreadWindow, events: list[PostEvent], *, max_replies: int
) -> tuple[ThreadWindow, list[Status]]:
    """Apply posts of one thread in order; returns the new thread and one status per event."""
    source, seen = t.source_text, t.replies_seen
    replies = list(t.replies)

    def add(e: PostEvent) -> bool:
        nonlocal source, seen
        if e.is_source:
            if source is not None:
                return False
            source = e.text
            return True
        if any(r.post_id == e.post_id for r in replies):
            return False
        replies.append(Reply(e.ts_ms, e.post_id, e.text))
        replies.sort(key=_reply_order)
        seen += 1
        del replies[: max(0, len(replies) - max_replies)]
        return True

    hw, statuses = apply_in_order(t.hw, events, add)
    return replace(t, hw=hw, source_text=source, replies=tuple(replies), replies_seen=seen), statuses
