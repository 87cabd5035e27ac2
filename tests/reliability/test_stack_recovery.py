"""The local stack under abuse: concurrent `up`s make one stack; a SIGKILLed stack still comes down."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from seqsignal.deploy.local import process
from seqsignal.deploy.local.stack import down, load_state, status

pytestmark = [pytest.mark.reliability, pytest.mark.slow]

SEQSIGNAL = str(Path(sys.executable).parent / "seqsignal")


def _kafka_pids_for(run_dir: Path) -> list[int]:
    marker = str(run_dir.resolve() / "conf" / "server.properties")
    pids = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    return [pid for pid in pids if process.alive(pid, marker)]


def test_concurrent_ups_make_one_stack_and_sigkill_leaves_nothing_after_down(tmp_path: Path) -> None:
    run_dir = tmp_path / "contended"
    try:
        procs = [subprocess.Popen([SEQSIGNAL, "stack", "up", "--dir", str(run_dir)], stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(3)]
        outs = [p.communicate(timeout=300) for p in procs]
        assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
        assert len({out for out, _ in outs}) == 1, "the three `up`s reported different stacks"
        assert sum("already up" in err for _, err in outs) == 2
        state = load_state(run_dir)
        assert state is not None and status(run_dir).healthy
        assert _kafka_pids_for(run_dir) == [state.kafka_pid]

        # Both processes die hard; the records stay behind. `down` must still clean up.
        for pid in (state.kafka_pid, state.redis_pid):
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and any(map(process.alive, (state.kafka_pid, state.redis_pid))):
            time.sleep(0.1)
        assert not status(run_dir).healthy
        report = down(run_dir)
        assert report.leftovers == []
        for port in (state.kafka_port, state.controller_port, state.redis_port):
            assert not process.port_open(port), port
        assert load_state(run_dir) is None and not (run_dir / "stack.env").exists()
        assert _kafka_pids_for(run_dir) == []
    finally:
        down(run_dir)
