"""Issue-4 acceptance on the real stack: `seqsignal worker` (a subprocess) turns a real slice into signals."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from support.worker_acceptance import Inputs, check_outputs, check_windows, collect, load_slice, send
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings

TASKS = ("behavior", "sentiment", "rumor")


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    reg = tmp_path / "registry"
    for task in TASKS:
        tiny_model(reg, task)
    return reg


@pytest.mark.slow
def test_worker_end_to_end(
    settings: Settings, topics: Topics, kafka_bootstrap: str, registry_dir: Path, tmp_path: Path
) -> None:
    # rumor_step=0: a flag per batch that touches a thread, so each thread's last flag has seen every reply.
    env = worker_env(settings, registry_dir, SEQSIGNAL_MODEL__RUMOR_STEP="0")
    worker = WorkerProcess(env, tmp_path / "worker.log", settings.web_port).start()
    try:
        worker.wait_ready(timeout_s=180)
        actions, posts = load_slice()
        t0 = time.time()
        sa, sp = send(settings, topics, actions, posts)
        inputs = Inputs(
            actions, posts, invalid=sa.invalid + sp.invalid, sent_at=t0, replay_s=time.time() - t0
        )
        out = collect(kafka_bootstrap, topics, inputs, timeout_s=900)
        check_outputs(out, inputs)
        users = check_windows(settings, inputs)
        mean_actions = worker.metric("seqsignal_batch_size_sum", stream="actions") / max(
            1.0, worker.metric("seqsignal_batch_size_count", stream="actions")
        )
        mean_posts = worker.metric("seqsignal_batch_size_sum", stream="posts") / max(
            1.0, worker.metric("seqsignal_batch_size_count", stream="posts")
        )
        n_in = len(actions) + len(posts)
        elapsed = out.complete_at - t0
        print(
            f"\n[e2e] inputs: {len(actions)} actions, {len(posts)} posts, {inputs.invalid} invalid; "
            f"replay {inputs.replay_s:.1f}s; all outputs after {elapsed:.1f}s = {n_in / elapsed:.0f} events/s"
        )
        print(
            "[e2e] outputs: "
            + ", ".join(f"{k}={len(v)}" for k, v in out.records.items())
            + "; duplicates by ce_id: "
            + ", ".join(f"{k}={out.duplicates(k)}" for k in out.records)
        )
        print(
            f"[e2e] mean batch size: actions {mean_actions:.1f}, posts {mean_posts:.1f}; "
            f"{users} user windows equal the rebuild"
        )
        assert mean_actions > 20, f"batching does not work under load: mean actions batch {mean_actions:.1f}"
        assert all(out.duplicates(k) == 0 for k in out.records), "duplicates without any crash"
        assert worker.get("/livez")[0] == 200 and worker.get("/readyz")[0] == 200
        assert worker.metric("seqsignal_events_dead_lettered_total") == inputs.invalid
        assert worker.terminate() == 0, worker.tail()
    finally:
        worker.stop_quietly()
