"""Several `seqsignal worker` processes in one consumer group (scale up / down, kill), and a paced feed of
actions and posts that keeps both input streams flowing for a chosen time."""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.deploy.local import process
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.replay import ReplayStats, make_producer, replay
from seqsignal.workers.settings import Settings

INVALID_FRACTION = 0.01  # ~1% malformed records, injected by the replay producer (extra, never instead)


def metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    """A /metrics sample, tolerating slow answers on a loaded box (0 when the worker does not answer)."""
    for _ in range(10):
        try:
            return worker.metric(name, **labels)
        except OSError:
            time.sleep(0.5)
    return 0.0


class Fleet:
    """Workers of one consumer group (the settings' worker_id), each on its own web port and log.

    With `supervise()`, a member that exits on its own (e.g. started while the broker was away: faust cannot
    bootstrap and exits) is recorded in `exited` and replaced, and a member still running `grace_s` after
    its SIGTERM is SIGKILLed (`before_kill` runs first), as an orchestrator would."""

    def __init__(self, settings: Settings, work_dir: Path, grace_s: float = 60.0,
                 before_kill: Callable[[], None] | None = None, **extra_env: str) -> None:
        self.settings, self.dir = settings, work_dir
        self.registry = work_dir / "registry"
        if not (self.registry / "behavior").exists():
            for task in ("behavior", "sentiment", "rumor"):
                tiny_model(self.registry, task)
        self.extra = {"SEQSIGNAL_MODEL__RUMOR_STEP": "0", **extra_env}
        self.members: list[WorkerProcess] = []  # started and not yet stopped by us
        self.leaving: list[WorkerProcess] = []  # SIGTERMed, maybe still draining
        self.started = 0
        self.exited: list[tuple[str, int | None, str]] = []  # (log name, exit code, last error line)
        self.grace_s, self.before_kill = grace_s, before_kill
        self.term_at: dict[str, float] = {}  # log name -> when it was sent SIGTERM
        self.grace_killed: list[str] = []  # SIGTERMed, still running after grace_s, SIGKILLed
        self.lock = threading.RLock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def add(self) -> WorkerProcess:
        """Start one more member (does not wait for it to be ready)."""
        with self.lock:
            port = process.free_port()
            env = worker_env(self.settings, self.registry, SEQSIGNAL_WEB_PORT=str(port), **self.extra)
            self.started += 1
            worker = WorkerProcess(env, self.dir / f"worker-{self.started}.log", port).start()
            self.members.append(worker)
            return worker

    def respawn(self) -> int:
        """Replace every member that exited on its own; returns how many."""
        with self.lock:
            gone = [w for w in self.members if w.proc is not None and w.proc.poll() is not None]
            self._reap_hung()
            for w in gone:
                assert w.proc is not None
                lines = [x for x in w.tail(200).splitlines() if x.strip()]
                errors = [x for x in lines if '"level":"ERROR"' in x or "CRITICAL" in x] or lines[-1:]
                self.exited.append((w.log_path.stem, w.proc.poll(), errors[-1][:300] if errors else ""))
                self.members.remove(w)
                self.add()
            return len(gone)

    def _reap_hung(self) -> None:
        for w in self.leaving:
            name = w.log_path.stem
            hung = w.proc is not None and w.proc.poll() is None and name not in self.grace_killed
            if hung and time.monotonic() - self.term_at.get(name, time.monotonic()) > self.grace_s:
                if self.before_kill is not None:
                    self.before_kill()
                w.kill()
                self.grace_killed.append(name)

    def supervise(self, every_s: float = 2.0) -> Fleet:
        """Respawn exited members in a background thread until `stop_all`."""

        def loop() -> None:
            while not self._stop.wait(every_s):
                self.respawn()

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def alive(self) -> list[WorkerProcess]:
        return [w for w in self.members if w.proc is not None and w.proc.poll() is None]

    def kill(self, worker: WorkerProcess) -> None:
        """SIGKILL: no drain, no commit."""
        with self.lock:
            if worker in self.members:
                self.members.remove(worker)
            worker.kill()

    def leave(self, worker: WorkerProcess) -> None:
        """SIGTERM without waiting: the member drains, commits and leaves the group on its own."""
        with self.lock:
            if worker in self.members:
                self.members.remove(worker)
            self.leaving.append(worker)
            self.term_at[worker.log_path.stem] = time.monotonic()
            assert worker.proc is not None
            worker.proc.send_signal(signal.SIGTERM)

    def exit_codes(self, timeout_s: float = 120.0) -> list[int | None]:
        """Wait for the leaving members; their exit codes (None: still running at the timeout)."""
        deadline = time.monotonic() + timeout_s
        codes: list[int | None] = []
        for w in self.leaving:
            assert w.proc is not None
            with contextlib.suppress(Exception):
                w.proc.wait(max(0.1, deadline - time.monotonic()))
            codes.append(w.proc.poll())
        return codes

    def processed(self) -> float:
        return sum(metric(w, "seqsignal_events_processed_total") for w in self.alive())

    def stop_supervising(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(10)

    def stop_all(self) -> None:
        self.stop_supervising()
        for w in self.members + self.leaving:
            w.stop_quietly()


@dataclass
class Feed:
    """Actions and posts replayed side by side (two producers, ~1% malformed each), each paced to last
    about `duration_s`, in a background thread; `stats` holds (actions, posts) ReplayStats when done."""

    settings: Settings
    topics: Topics
    actions: list[Action]
    posts: list[Post]
    duration_s: float
    stats: tuple[ReplayStats, ReplayStats] | None = None
    error: BaseException | None = None
    started_at: float = 0.0
    _thread: threading.Thread | None = field(default=None, repr=False)

    def _one(self, events: list[Any], seed: int) -> ReplayStats:
        producer = make_producer(self.settings)
        try:
            rate = max(1.0, len(events) / self.duration_s)
            return replay(iter(events), producer, self.topics, invalid_fraction=INVALID_FRACTION,
                          seed=seed, rate=rate)
        finally:
            producer.close()

    def _run(self) -> None:
        try:
            with ThreadPoolExecutor(2) as pool:
                fa, fp = pool.submit(self._one, self.actions, 2), pool.submit(self._one, self.posts, 1)
                self.stats = (fa.result(), fp.result())
        except BaseException as exc:  # reported by join()
            self.error = exc

    def start(self) -> Feed:
        self.started_at = time.time()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def join(self, timeout_s: float = 900.0) -> tuple[ReplayStats, ReplayStats]:
        assert self._thread is not None
        self._thread.join(timeout_s)
        if self.error is not None:
            raise self.error
        assert self.stats is not None, "the feed did not finish"
        return self.stats

    @property
    def stats_elapsed(self) -> float:
        """Seconds the longer of the two replays took."""
        return max((s.elapsed_s for s in self.stats or ()), default=0.0)

    @property
    def invalid(self) -> int:
        assert self.stats is not None
        return self.stats[0].invalid + self.stats[1].invalid
