"""The trainer's durable buffer: rows + offsets atomic, bounded, retention, forget leaves no bytes behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime
from pathlib import Path

from seqsignal.schemas.events import Action, Label
from seqsignal.workers.state.privacy import pseudonymize
from seqsignal.workers.trainer.buffer import Consumed, TrainingBuffer

T0 = datetime(2012, 7, 1, tzinfo=UTC).timestamp()


def action(i: int, user: str = "alice", kind: str = "reply") -> Consumed:
    a = Action(event_id=f"e{i}", user_id=user, action=kind, target_id="someone-else",
               created_at=datetime.fromtimestamp(T0 + i, UTC))
    return Consumed("acts", 0, i, a)


def label(i: int) -> Consumed:
    lab = Label(label_id=f"l{i}", task="sentiment", post_id=f"p{i}", text=f"text {i}", label="positive",
                labeller="moderator-7", created_at=datetime.fromtimestamp(T0 + i, UTC))
    return Consumed("labels", 1, i, lab)


def files_bytes(path: Path) -> bytes:
    return b"".join(p.read_bytes() for p in path.parent.glob(path.name + "*"))


def test_rows_and_offsets_roundtrip_and_dedupe(tmp_path: Path) -> None:
    buf = TrainingBuffer(tmp_path / "b.sqlite3")
    assert buf.add([action(0), action(1, "bob", "like"), label(5)], {("acts", 0): 2, ("labels", 1): 6}) == 3
    assert buf.add([action(1, "bob", "like")], {("acts", 0): 2}) == 0  # same offset again: ignored
    assert buf.offsets() == {("acts", 0): 2, ("labels", 1): 6}
    acts = buf.actions()
    assert [(r.user, r.action, r.ts) for r in acts] == [("alice", 3, T0), ("bob", 2, T0 + 1)]
    labs = buf.labels("sentiment")
    assert [(r.text, r.label) for r in labs] == [("text 5", "positive")]
    assert buf.count() == 3 and buf.count("behavior") == 2 and buf.count(after_id=acts[0].id) == 2
    buf.close()
    raw = files_bytes(tmp_path / "b.sqlite3")
    assert b"someone-else" not in raw and b"moderator-7" not in raw  # never stored: target ids, labellers


def test_bounded_by_rows_and_retention(tmp_path: Path) -> None:
    buf = TrainingBuffer(tmp_path / "b.sqlite3", max_rows=10, retention_s=3600)
    buf.add([action(i) for i in range(25)], {("acts", 0): 25})
    assert buf.count() == 10
    assert [r.ts - T0 for r in buf.actions()] == [float(i) for i in range(15, 25)]  # the newest kept
    assert buf.expire(now=time.time() + 1800) == 0
    assert buf.expire(now=time.time() + 7200) == 10 and buf.count() == 0
    assert buf.offsets() == {("acts", 0): 25}  # offsets survive expiry: expired rows are not re-read


def test_forget_pseudonymised_user_leaves_no_bytes(tmp_path: Path) -> None:
    key = b"k" * 32
    path = tmp_path / "b.sqlite3"
    buf = TrainingBuffer(path, user_key=lambda u: pseudonymize(u, key))
    buf.add([action(i, "user-to-forget") for i in range(50)] + [action(100 + i, "keeper") for i in range(5)],
            {("acts", 0): 200})
    alias = pseudonymize("user-to-forget", key)
    assert alias in buf.users() and "user-to-forget" not in buf.users()
    assert alias.encode() in files_bytes(path)
    assert buf.forget("user-to-forget") == 50
    assert buf.users() == {pseudonymize("keeper", key)} and buf.count() == 5
    raw = files_bytes(path)
    assert alias.encode() not in raw and b"user-to-forget" not in raw
    buf.close()


def test_committed_rows_survive_sigkill(tmp_path: Path) -> None:
    """A writer killed with SIGKILL in the middle of a stream of commits loses nothing it committed."""
    path = tmp_path / "b.sqlite3"
    script = textwrap.dedent(f"""
        import sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_training_buffer import action
        from seqsignal.workers.trainer.buffer import TrainingBuffer
        buf = TrainingBuffer({str(path)!r})
        for i in range(10**6):
            buf.add([action(i)], {{("acts", 0): i + 1}})
            print(i + 1, flush=True)
    """)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    acked = 0
    for line in proc.stdout:
        acked = int(line)
        if acked >= 200:
            break
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)
    buf = TrainingBuffer(path)
    n = buf.count()
    assert n >= acked, f"{acked} commits acknowledged but only {n} rows survived"
    assert buf.offsets() == {("acts", 0): n}  # rows and offsets always agree
    assert [r.ts - T0 for r in buf.actions()] == [float(i) for i in range(n)]
