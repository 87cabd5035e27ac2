"""The broker goes away under load (SIGTERM or SIGKILL) and comes back on the same port (`stack
restart kafka`): the worker survives, /readyz says unavailable meanwhile and answers at once, the log
carries a handful of rate-limited lines instead of aiokafka's ~8,000 a second, and nothing is lost or
dead-lettered."""

from __future__ import annotations

import json
import signal
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
from support.faults import ReadySampler
from support.worker_acceptance import Inputs, check_outputs, collect, load_slice, send
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.deploy.local import process
from seqsignal.deploy.local.faults import kill, restart
from seqsignal.deploy.local.stack import StackSettings, down, up
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import KafkaSettings, RedisSettings, Settings
from seqsignal.workers.topic_admin import ensure_topics

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
RATE = 250.0
N_ACTIONS, N_POSTS = 5000, 2000
DOWN_S = 12.0


def _metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    for _ in range(10):
        try:
            return worker.metric(name, **labels)
        except OSError:
            time.sleep(0.5)
    return worker.metric(name, **labels)


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["term", "kill"])
def test_broker_sigterm_then_restart_in_place(tmp_path: Path, sig: signal.Signals) -> None:
    run_dir = tmp_path / "stack"
    try:
        state, _ = up(StackSettings(dir=run_dir))
        kafka = KafkaSettings(
            bootstrap_servers=state.bootstrap_servers, topic_prefix=f"b{uuid.uuid4().hex[:8]}.", partitions=3
        )
        ensure_topics(kafka, partitions=3, timeout_s=30.0)
        topics = Topics(prefix=kafka.topic_prefix)
        s = Settings(
            _env_file=None,
            kafka=kafka,
            redis=RedisSettings(url=state.redis_url, key_prefix="b:"),
            worker_id=f"seqsignal-test-{uuid.uuid4().hex[:8]}",
            web_port=process.free_port(),
        )
        reg = tmp_path / "registry"
        for task in ("behavior", "sentiment", "rumor"):
            tiny_model(reg, task)
        worker = WorkerProcess(
            worker_env(s, reg, SEQSIGNAL_MODEL__RUMOR_STEP="0"), tmp_path / "worker.log", s.web_port
        ).start()
        try:
            worker.wait_ready(timeout_s=180)
            actions, posts = load_slice()
            actions, posts = actions[:N_ACTIONS], posts[:N_POSTS]
            sent: dict[str, Any] = {}
            t_sent = time.time()
            # the replay producer retries through the outage (kafka-python, acks=all)
            replayer = threading.Thread(
                target=lambda: sent.update(stats=send(s, topics, actions, posts, RATE))
            )
            replayer.start()
            while _metric(worker, "seqsignal_events_processed_total", stream="actions") < N_ACTIONS // 5:
                time.sleep(0.2)
            lines_before = len(worker.log_path.read_text(errors="replace").splitlines())
            with ReadySampler(s.web_port) as ready:
                t_down = time.monotonic()
                kill(run_dir, "kafka", sig)
                time.sleep(DOWN_S)
                _, broker_ready_s = restart(StackSettings(dir=run_dir), "kafka")
                t_up = time.monotonic()
                worker.wait_ready(timeout_s=180)
                t_ready = time.monotonic()
            replayer.join()
            sa, sp = sent["stats"]
            inputs = Inputs(actions, posts, invalid=sa.invalid + sp.invalid, sent_at=t_sent)
            out = collect(state.bootstrap_servers, topics, inputs, timeout_s=300)
            log_lines = worker.log_path.read_text(errors="replace").splitlines()[lines_before:]
            loud = [json.loads(x) for x in log_lines if x.startswith("{")]
            loud = [x for x in loud if x["level"] in ("WARNING", "ERROR", "CRITICAL")]
            # while surely down: from 5 s after the signal (a SIGTERM's controlled shutdown) until the restart
            during = ready.between(t_down + 5.0, t_down + DOWN_S)
            took = sorted(t for _, _, t in ready.samples)
            dups = {task: out.duplicates(task) for task in out.records}
            print(
                f"\n[broker {sig.name} {DOWN_S:.0f}s + restart] broker ready {broker_ready_s:.1f}s after "
                f"start, worker ready {t_ready - t_up:.1f}s after that; readyz 503 in "
                f"{sum(st == 503 for _, st, _ in during)}/{len(during)} samples while down, answer p50 "
                f"{took[len(took) // 2] * 1000:.0f} ms, slowest {took[-1] * 1000:.0f} ms; WARNING+ log lines "
                f"from the kill to the end: {len(loud)} ({len(log_lines)} lines in all); dead letters "
                f"{len(out.dead)} (invalid sent {inputs.invalid}); duplicates {dups}"
            )
            check_outputs(out, inputs)
            assert during and all(st == 503 for _, st, _ in during), "ready while the broker is away"
            assert took[-1] < 1.0
            assert len(loud) < 300, "connection errors are not rate-limited"
            assert worker.terminate() == 0, worker.tail()
        finally:
            worker.stop_quietly()
    finally:
        down(run_dir)
