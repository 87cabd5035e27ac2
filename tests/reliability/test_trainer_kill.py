"""SIGKILL the trainer in the middle of a cycle, restart it: no buffered training row is lost or doubled."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from kafka import KafkaConsumer, TopicPartition
from support.trainer_harness import cycles, higgs_actions, run_cli, send_actions
from support.worker_harness import ROOT, SEQSIGNAL, tiny_model, worker_env

from seqsignal.models.core import registry
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings
from seqsignal.workers.trainer.buffer import TrainingBuffer
from seqsignal.workers.trainer.service import BUFFER_FILE


def _end_offsets(bootstrap: str, topic: str) -> dict[tuple[str, int], int]:
    c = KafkaConsumer(bootstrap_servers=bootstrap)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(c.partitions_for_topic(topic) or ())]
        return {(tp.topic, tp.partition): o for tp, o in c.end_offsets(tps).items()}
    finally:
        c.close()


def test_sigkill_mid_cycle_loses_no_buffered_rows(settings: Settings, topics: Topics, kafka_bootstrap: str,
                                                   tmp_path: Path) -> None:
    reg, state = tmp_path / "registry", tmp_path / "trainer"
    champion = tiny_model(reg, "behavior")
    send_actions(settings, topics, higgs_actions(0, 3000))
    env = worker_env(settings, reg)
    log = (tmp_path / "trainer.log").open("wb")
    # A cycle that cannot finish in time (a million steps): the kill always lands inside it.
    proc = subprocess.Popen(["nice", "-n", "5", str(SEQSIGNAL), "trainer", "--tasks", "behavior", "--min-new",
                             "1000", "--steps", "1000000", "--state-dir", str(state)], env=env, cwd=ROOT,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 180
        while b"trainer cycle starting" not in (tmp_path / "trainer.log").read_bytes():
            assert proc.poll() is None, (tmp_path / "trainer.log").read_text()[-3000:]
            assert time.monotonic() < deadline, "no cycle started"
            time.sleep(0.5)
        time.sleep(3.0)  # well inside the fine-tune
        assert proc.poll() is None
        buf = TrainingBuffer(state / BUFFER_FILE)
        before = buf.count()
        buf.close()
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
        log.close()
    assert before >= 1000  # the cycle started on >= --min-new buffered rows
    assert cycles(state) == []  # the killed cycle recorded nothing and registered nothing
    assert registry.list_versions(reg, "behavior") == [champion]

    send_actions(settings, topics, higgs_actions(3000, 1000))  # more stream while the trainer is down
    r = run_cli(env, "trainer", "--once", "--tasks", "behavior", "--steps", "20", "--state-dir", str(state))
    assert r.returncode == 0, r.stderr[-3000:]
    buf = TrainingBuffer(state / BUFFER_FILE)
    try:
        n = buf.count()
        offsets = buf.offsets()
    finally:
        buf.close()
    print(f"\n[trainer-kill] buffered at SIGKILL: {before}; after restart: {n} of 4000 sent")
    assert n == 4000  # nothing lost (>= before + 1000) and nothing read twice
    assert {k: v for k, v in offsets.items() if k[0] == topics.actions} == _end_offsets(kafka_bootstrap,
                                                                                         topics.actions)
    [rec] = cycles(state)
    assert rec["data"]["stream_actions"] == 4000 and rec["steps"] == 20
