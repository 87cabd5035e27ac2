"""Higgs Twitter activity (SNAP): `activity.txt.gz` rows -> merged action tuples and typed `Action` events.

Format: one row per line, `user target unix_ts TYPE`, whitespace separated, time-sorted (2012-07-01..04),
TYPE one of RT (retweet), MT (mention), RE (reply); 410,134 rows.

Decisions:
- One tweet can yield several rows with the same (user, target, ts): a reply that also mentions (RE+MT,
  25,504 pairs), a retweet that also mentions (RT+MT, 2,914 pairs) and one RE+MT+RT triple. Such rows are
  merged into one event whose action is the strongest type: reply > repost > mention. That leaves 381,714
  events. Merging is streaming: rows are grouped per timestamp (the file is time-sorted, duplicates are
  adjacent), so memory stays O(rows per second).
- `event_id` is deterministic: `higgs:<user>:<target>:<ts>:<TYPE>` with the merged TYPE (RE/RT/MT); it is
  unique because (user, target, ts) is unique after merging.
- User ids are the dataset's anonymised integers, as strings in `Action`; `target_id` is the target user.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path

from seqsignal.models.datasets._common import resolve
from seqsignal.schemas.events import Action, ActionType, utc_from_unix

HIGGS_REL = "behavior/higgs/activity.txt.gz"
SOURCE = "higgs"
TYPE_TO_ACTION: dict[str, ActionType] = {"RT": "repost", "MT": "mention", "RE": "reply"}
ACTION_TO_TYPE: dict[ActionType, str] = {v: k for k, v in TYPE_TO_ACTION.items()}
_PRIORITY = {"RE": 3, "RT": 2, "MT": 1}  # the kept type when rows of one tweet are merged

HiggsRow = tuple[int, int, int, str]  # (user, target, unix_ts, TYPE) as in the file


def iter_higgs_rows(path: str | Path | None = None) -> Iterator[HiggsRow]:
    """Every row of the file, unmerged: (user, target, unix_ts, TYPE). Fast (plain tuples)."""
    with gzip.open(resolve(path, HIGGS_REL), "rt", encoding="ascii") as f:
        for line in f:
            parts = line.split()
            if len(parts) != 4:
                continue
            yield int(parts[0]), int(parts[1]), int(parts[2]), parts[3]


def iter_higgs(path: str | Path | None = None) -> Iterator[HiggsRow]:
    """Merged rows, one per tweet, in file (time) order: (user, target, unix_ts, TYPE). Fast (tuples).

    Rows sharing (user, target, ts) become one row with the strongest TYPE (RE > RT > MT)."""
    group: dict[tuple[int, int], str] = {}
    group_ts: int | None = None
    for user, target, ts, typ in iter_higgs_rows(path):
        if ts != group_ts:
            if group_ts is not None:
                for (u, t), ty in group.items():
                    yield u, t, group_ts, ty
            group = {}
            group_ts = ts
        key = (user, target)
        prev = group.get(key)
        if prev is None or _PRIORITY.get(typ, 0) > _PRIORITY.get(prev, 0):
            group[key] = typ
    if group_ts is not None:
        for (u, t), ty in group.items():
            yield u, t, group_ts, ty


def higgs_event_id(user: int | str, target: int | str, ts: int, typ: str) -> str:
    """The deterministic event id of one merged Higgs row."""
    return f"{SOURCE}:{user}:{target}:{ts}:{typ}"


def row_to_action(row: HiggsRow) -> Action:
    """A merged row as a typed `Action`."""
    user, target, ts, typ = row
    return Action(
        event_id=higgs_event_id(user, target, ts, typ),
        user_id=str(user),
        action=TYPE_TO_ACTION[typ],
        target_id=str(target),
        created_at=utc_from_unix(ts),
        source=SOURCE,
    )


def iter_higgs_actions(path: str | Path | None = None, limit: int | None = None) -> Iterator[Action]:
    """Merged rows as typed `Action` events, in time order (optionally the first `limit`)."""
    for n, row in enumerate(iter_higgs(path)):
        if limit is not None and n >= limit:
            return
        yield row_to_action(row)
