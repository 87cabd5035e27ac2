"""Faults for the reliability tests: a Redis of the test's own (killed, frozen, restarted on the same port and
data), the consumer group's members, and a /readyz sampler that records status and latency."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from kafka import KafkaAdminClient

from seqsignal.deploy.local import process
from seqsignal.deploy.local.redis import redis_server_bin, wait_ready


class OwnRedis:
    """redis-server on a fixed port and data dir, AOF with appendfsync always, so a restart has every
    acknowledged write (the test checks windows after the outage, not Redis' durability)."""

    def __init__(self, run_dir: Path, port: int | None = None) -> None:
        self.dir = run_dir
        self.port = port or process.free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, empty: bool = False) -> OwnRedis:
        """Start (again) on the same port; `empty` drops the AOF first (Redis lost its data)."""
        if empty:
            shutil.rmtree(self.dir / "appendonlydir", ignore_errors=True)
        self.dir.mkdir(parents=True, exist_ok=True)
        argv = [
            redis_server_bin(), "--bind", "127.0.0.1", "--port", str(self.port), "--daemonize", "no",
            "--save", "", "--appendonly", "yes", "--appendfsync", "always", "--dir", str(self.dir),
            "--maxmemory-policy", "noeviction",
        ]
        log = (self.dir / "redis.log").open("ab")
        self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        wait_ready(self.url, self.proc.pid, timeout_s=30)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def freeze(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.proc is not None
        os.kill(self.proc.pid, signal.SIGCONT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGCONT)
            self.proc.kill()
            self.proc.wait(10)


def group_members(bootstrap: str, group_id: str) -> tuple[str, list[str]]:
    """(state, sorted member ids) of a consumer group, as the broker describes it."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, client_id="seqsignal-tests")
    try:
        desc = admin.describe_groups([group_id])[group_id]  # kafka-python 3: dicts of the response
        state = str(desc.get("group_state", desc.get("state")))
        return state, sorted(m["member_id"] if isinstance(m, dict) else m.member_id for m in desc["members"])
    finally:
        admin.close()


@dataclass
class ReadySampler:
    """Polls GET /readyz every `every_s` in a thread; keeps (time, status, seconds to answer)."""

    port: int
    every_s: float = 0.25
    timeout_s: float = 2.0
    samples: list[tuple[float, int, float]] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def _one(self) -> tuple[int, float]:
        t0 = time.monotonic()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/readyz", timeout=self.timeout_s) as r:
                status = r.status
        except urllib.error.HTTPError as e:
            status = e.code
        except OSError:
            status = 0  # no answer within the timeout
        return status, time.monotonic() - t0

    def __enter__(self) -> ReadySampler:
        def loop() -> None:
            while not self._stop.is_set():
                status, took = self._one()
                self.samples.append((time.monotonic(), status, took))
                self._stop.wait(self.every_s)

        self._thread = threading.Thread(target=loop, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5)

    def between(self, t0: float, t1: float) -> list[tuple[float, int, float]]:
        return [s for s in self.samples if t0 <= s[0] <= t1]


def log_lines(log_path: Path, msg: str, since: float = 0.0) -> list[dict[str, Any]]:
    """The worker's JSON log lines with message `msg` written at or after unix time `since` (`ts` added as
    unix seconds under `at`)."""
    out = []
    for line in log_path.read_text(errors="replace").splitlines():
        if f'"{msg}"' not in line:
            continue
        try:
            record = json.loads(line)
        except ValueError:
            continue
        at = datetime.fromisoformat(record["ts"]).timestamp()
        if record.get("msg") == msg and at >= since:
            out.append({**record, "at": at})
    return out
