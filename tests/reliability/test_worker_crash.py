"""SIGKILL / SIGTERM the worker mid-replay and restart: nothing missing, windows exact, duplicates counted."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from support.worker_acceptance import Inputs, check_outputs, check_windows, collect, load_slice, send
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings

RATE = 800.0  # events/s per input stream: below the worker's throughput, so the kill lands mid-replay


@pytest.mark.slow
def test_sigkill_mid_replay_then_restart(
    settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    env = worker_env(settings, reg, SEQSIGNAL_MODEL__RUMOR_STEP="0")
    first = WorkerProcess(env, tmp_path / "worker-1.log", settings.web_port).start()
    second = WorkerProcess(env, tmp_path / "worker-2.log", settings.web_port)
    try:
        first.wait_ready(timeout_s=180)
        actions, posts = load_slice()
        sent: dict[str, Any] = {}
        t0 = time.time()
        replayer = threading.Thread(
            target=lambda: sent.update(stats=send(settings, topics, actions, posts, RATE))
        )
        replayer.start()
        kill_after = len(actions) // 5
        deadline = time.monotonic() + 300
        while first.metric("seqsignal_events_processed_total", stream="actions") < kill_after:
            assert time.monotonic() < deadline, first.tail()
            time.sleep(0.2)
        processed_before = first.metric("seqsignal_events_processed_total")
        first.kill()  # SIGKILL: no drain, no commit, no flush
        killed_mid_replay = replayer.is_alive()
        second.start()
        second.wait_ready(timeout_s=180)
        replayer.join()
        sa, sp = sent["stats"]
        inputs = Inputs(actions, posts, invalid=sa.invalid + sp.invalid, sent_at=t0)
        out = collect(kafka_bootstrap, topics, inputs, timeout_s=900)
        check_outputs(
            out, inputs
        )  # nothing missing, all schema-valid, every invalid event dead-lettered once
        users = check_windows(settings, inputs)  # no double counting in Redis after the redelivery
        dups = {task: out.duplicates(task) for task in out.records}
        reprocessed = second.metric("seqsignal_events_consumed_total")
        print(
            f"\n[crash] killed after {processed_before:.0f} processed inputs "
            f"(mid-replay: {killed_mid_replay}); "
            f"restart consumed {reprocessed:.0f}; duplicate outputs by ce_id: {dups}; "
            f"action events covered twice: {out.covered_again()}; "
            f"{users} user windows equal the rebuild"
        )
        assert killed_mid_replay, "the replay finished before the kill: raise the event count or lower RATE"
        assert second.terminate() == 0, second.tail()
    finally:
        first.stop_quietly()
        second.stop_quietly()


@pytest.mark.slow
def test_sigterm_drains_then_restart_has_no_duplicates(
    settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    """SIGTERM under load: the batch in hand finishes, offsets are committed, a restart redoes nothing."""
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    env = worker_env(settings, reg, SEQSIGNAL_MODEL__RUMOR_STEP="0")
    first = WorkerProcess(env, tmp_path / "worker-1.log", settings.web_port).start()
    second = WorkerProcess(env, tmp_path / "worker-2.log", settings.web_port)
    try:
        first.wait_ready(timeout_s=180)
        actions, posts = load_slice()
        actions = actions[:8000]
        sa, sp = send(settings, topics, actions, posts[:1000])
        while first.metric("seqsignal_events_processed_total", stream="actions") < len(actions) // 5:
            time.sleep(0.2)
        t_stop = time.monotonic()
        assert first.terminate(timeout_s=120) == 0, first.tail()
        drain_s = time.monotonic() - t_stop
        second.start()
        second.wait_ready(timeout_s=180)
        inputs = Inputs(actions, posts[:1000], invalid=sa.invalid + sp.invalid)
        out = collect(kafka_bootstrap, topics, inputs, timeout_s=600)
        check_outputs(out, inputs)
        dups = {task: out.duplicates(task) for task in out.records}
        print(
            f"\n[sigterm] drain took {drain_s:.1f}s; duplicates after restart: {dups}, "
            f"events covered twice: {out.covered_again()}"
        )
        assert sum(dups.values()) == 0 and out.covered_again() == 0, "a drained worker left work to redo"
        assert second.terminate() == 0, second.tail()
    finally:
        first.stop_quietly()
        second.stop_quietly()
