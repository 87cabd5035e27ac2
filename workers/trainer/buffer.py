"""The trainer's durable training buffer: a bounded SQLite (WAL, synchronous=FULL) table of stream rows.

Rows and the Kafka offsets they came from are written in one transaction, so after a crash (SIGKILL, power
loss) the buffer and the next offset to read always agree: nothing is lost and nothing is read twice.

- Actions keep only what behavior training needs: the user key (the keyed pseudonym when privacy is on),
  the action type and its event time. No target id (it can name another user), no event id.
- Labels keep the task, post text, label and reply texts (what the text models train on); no labeller.
- Bounded by `max_rows` (oldest rows dropped first) and by `retention_s` of wall-clock age since buffered.
- `forget(user)` deletes the user's rows with `secure_delete` on and truncates the WAL, so the bytes are gone
  from the files too, not only from query results.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from seqsignal.models.behavior.features import ACTION_INDEX
from seqsignal.schemas.events import Action, Label

_SCHEMA = """
CREATE TABLE IF NOT EXISTS rows (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task TEXT NOT NULL,
    user TEXT,
    action INTEGER,
    ts REAL NOT NULL,
    ingested REAL NOT NULL,
    payload TEXT,
    src TEXT NOT NULL UNIQUE
);
CREATE INDEX IF NOT EXISTS rows_task_id ON rows (task, id);
CREATE INDEX IF NOT EXISTS rows_user ON rows (user);
CREATE INDEX IF NOT EXISTS rows_ingested ON rows (ingested);
CREATE TABLE IF NOT EXISTS offsets (topic TEXT NOT NULL, part INTEGER NOT NULL, next_offset INTEGER NOT NULL,
                                    PRIMARY KEY (topic, part));
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@dataclass(frozen=True, slots=True)
class Consumed:
    """One decoded input record with its origin (topic, partition, offset)."""

    topic: str
    partition: int
    offset: int
    event: Action | Label


@dataclass(frozen=True, slots=True)
class ActionRow:
    id: int
    user: str
    action: int  # index into ACTION_TYPES
    ts: float


@dataclass(frozen=True, slots=True)
class LabelRow:
    id: int
    task: str
    text: str
    label: str
    replies: list[str]
    ts: float


class TrainingBuffer:
    """Append-only (until expiry/forget) buffer of training rows; one instance per process."""

    def __init__(
        self,
        path: Path | str,
        *,
        max_rows: int = 500_000,
        retention_s: float = 30 * 86400.0,
        user_key: Callable[[str], str] | None = None,
    ) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self.max_rows = max_rows
        self.retention_s = retention_s
        self._user_key = user_key or (lambda u: u)
        self._db = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # a committed row survives power loss, not only kill -9
        self._db.execute("PRAGMA secure_delete=ON")  # deleted rows are overwritten, not just unlinked
        self._db.executescript(_SCHEMA)

    @contextmanager
    def _tx(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()

    # ------------------------------------------------------------------------------------------- ingest
    def _row(self, c: Consumed, now: float) -> tuple[object, ...]:
        e = c.event
        src = f"{c.topic}:{c.partition}:{c.offset}"
        if isinstance(e, Action):
            return (
                "behavior",
                self._user_key(e.user_id),
                ACTION_INDEX[e.action],
                e.created_at.timestamp(),
                now,
                None,
                src,
            )
        payload = json.dumps({"text": e.text or "", "label": e.label, "replies": e.replies})
        return (e.task, None, None, e.created_at.timestamp(), now, payload, src)

    def add(self, items: Iterable[Consumed], offsets: dict[tuple[str, int], int]) -> int:
        """Append rows and advance the stored next offsets in one durable transaction; returns rows added."""
        now = time.time()
        rows = [self._row(c, now) for c in items]
        with self._tx() as db:
            before = db.total_changes
            db.executemany(
                "INSERT OR IGNORE INTO rows (task, user, action, ts, ingested, payload, src) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)",
                rows,
            )
            added = db.total_changes - before
            db.executemany(
                "INSERT INTO offsets (topic, part, next_offset) VALUES (?, ?, ?) ON CONFLICT "
                "(topic, part) DO UPDATE SET next_offset = excluded.next_offset",
                [(t, p, o) for (t, p), o in offsets.items()],
            )
            self._bound(db)
        return added

    def _bound(self, db: sqlite3.Connection) -> None:
        db.execute(
            "DELETE FROM rows WHERE id <= (SELECT id FROM rows ORDER BY id DESC LIMIT 1 OFFSET ?)",
            (self.max_rows,),
        )

    def offsets(self) -> dict[tuple[str, int], int]:
        """Next offset to read per (topic, partition), as committed with the rows."""
        return {(t, p): o for t, p, o in self._db.execute("SELECT topic, part, next_offset FROM offsets")}

    # -------------------------------------------------------------------------------------------- reads
    def count(self, task: str | None = None, *, after_id: int = 0) -> int:
        q = "SELECT COUNT(*) FROM rows WHERE id > ?" + (" AND task = ?" if task else "")
        return int(self._db.execute(q, (after_id, task) if task else (after_id,)).fetchone()[0])

    def max_id(self) -> int:
        return int(self._db.execute("SELECT COALESCE(MAX(id), 0) FROM rows").fetchone()[0])

    def actions(self) -> list[ActionRow]:
        """Every buffered action, in event-time order (ties by arrival)."""
        cur = self._db.execute(
            "SELECT id, user, action, ts FROM rows WHERE task = 'behavior' ORDER BY ts, id"
        )
        return [ActionRow(int(i), str(u), int(a), float(t)) for i, u, a, t in cur]

    def labels(self, task: str) -> list[LabelRow]:
        """Every buffered label of `task`, in event-time order."""
        cur = self._db.execute(
            "SELECT id, task, payload, ts FROM rows WHERE task = ? ORDER BY ts, id", (task,)
        )
        out = []
        for i, t, payload, ts in cur:
            d = json.loads(payload)
            out.append(
                LabelRow(int(i), str(t), str(d["text"]), str(d["label"]), list(d["replies"]), float(ts))
            )
        return out

    def users(self) -> set[str]:
        return {str(u) for (u,) in self._db.execute("SELECT DISTINCT user FROM rows WHERE user IS NOT NULL")}

    # ---------------------------------------------------------------------------------------- meta
    def get_meta(self, key: str, default: str | None = None) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_meta(self, key: str, value: str) -> None:
        with self._tx() as db:
            db.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET "
                "value = excluded.value",
                (key, value),
            )

    # ------------------------------------------------------------------------------ privacy, retention
    def expire(self, now: float | None = None) -> int:
        """Drop rows buffered more than `retention_s` ago (and beyond `max_rows`); returns rows removed."""
        cutoff = (now if now is not None else time.time()) - self.retention_s
        with self._tx() as db:
            before = db.total_changes
            db.execute("DELETE FROM rows WHERE ingested < ?", (cutoff,))
            self._bound(db)
            removed = db.total_changes - before
        if removed:
            self._scrub()
        return removed

    def forget(self, user_id: str) -> int:
        """Delete every row of a user (raw id; keyed here like on ingest); returns rows removed."""
        with self._tx() as db:
            removed = db.execute("DELETE FROM rows WHERE user = ?", (self._user_key(user_id),)).rowcount
        self._scrub()
        return int(removed)

    def _scrub(self) -> None:
        """Copy the WAL into the main file (secure_delete zeroed the freed cells) and truncate the WAL."""
        self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
