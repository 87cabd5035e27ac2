"""Pure window rules (high-water mark, dedupe, time order, bounds) that the Lua scripts in `lua/` mirror.

A user window is a function of the event sequence alone (not of how it was cut into batches): each event
is first checked against the user's (partition, offset) high-water mark (a Kafka redelivery), then against
the event hashes in the window (a duplicate produced twice at the source); an accepted action is inserted
in time order (after every record with ts <= its ts), and then the oldest records are dropped while they
are older than `max_age` before the newest one or while there are more than `max_actions`.

Threads follow the same scheme: high-water mark, then post id dedupe, replies ordered by
(created ms, post id bytes) as in a Redis sorted set, the oldest dropped beyond `max_replies`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final, Literal, NamedTuple, Protocol, TypeVar

from seqsignal.schemas.events import ACTION_TYPES, ActionType

from .window_format import (
    ACTION_CODES,
    FORMAT_VERSION,
    MAX_TARGET_BYTES,
    RECORD_SIZE,
    Record,
    UserWindow,
    WindowAction,
    decode_user,
    decode_window,
    encode_user,
    event_hash,
    target_bytes,
    ts_to_ms,
)
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


class ActionEvent(NamedTuple):
    """An incoming action reduced to what the window rules need."""

    partition: int
    offset: int
    ts_ms: int
    code: int
    event_hash: int
    target: bytes = b""


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


# The names importers use, those kept here for them included.
__all__ = [
    "ACTION_CODES", "ACTION_TYPES", "ADDED", "DUPLICATE", "FORMAT_VERSION", "MAX_TARGET_BYTES", "RECORD_SIZE",
    "REDELIVERED", "ActionEvent", "PostEvent", "Record", "Reply", "Status", "ThreadWindow", "UserWindow",
    "WindowAction", "action_event", "apply_actions", "apply_in_order", "apply_posts", "bound_records",
    "decode_targets", "decode_user", "decode_window", "encode_targets", "encode_user", "event_hash",
    "insert_in_time_order", "is_redelivery", "target_bytes", "ts_to_ms",
]
