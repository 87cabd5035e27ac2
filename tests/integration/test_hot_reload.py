"""Hot reload on the real stack: announcements on the compacted topic swap verified models into a running
InferenceEngine; a corrupted version is refused and the old model keeps serving; a restart sees the latest."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from support.worker_harness import tiny_model

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.workers.serving.inference import InferenceEngine
from seqsignal.workers.serving.model_updates import ModelUpdateListener, announce, make_update
from seqsignal.workers.settings import ModelSettings, Settings
from seqsignal.workers.stream.metrics import WorkerMetrics
from seqsignal.workers.topic_admin import ensure_topics


async def wait_for(cond: Callable[[], bool], timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.1)


def failures(metrics: WorkerMetrics, task: str) -> float:
    value = metrics.registry.get_sample_value("seqsignal_model_reload_failures_total", {"task": task})
    return value or 0.0


def flip_byte(path: Path, at: int = -100) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 0x01
    path.write_bytes(bytes(data))


async def predict_once(engine: InferenceEngine) -> str:
    """One behavior call through the engine's inference thread; returns the version that served it."""
    p = engine.predictor("behavior")
    now = time.time()
    states = await engine.run("behavior", p.encode_windows, [[ActionRecord("reply", now)]])
    out = await engine.run("behavior", p.predict, states, [ActionRecord("reply", now)], 2)
    assert len(out) == 1 and np.isfinite(out[0].sequence_probability)
    return str(p.version)


Started = tuple[InferenceEngine, WorkerMetrics, ModelUpdateListener, asyncio.Task[None]]


async def start(settings: Settings, version: str) -> Started:
    metrics = WorkerMetrics()
    engine = InferenceEngine(settings.model, metrics)
    await engine.load("behavior", version)
    listener = ModelUpdateListener(settings, engine)
    return engine, metrics, listener, asyncio.create_task(listener.run(poll_s=0.2))


async def stop(task: asyncio.Task[None], engine: InferenceEngine) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    engine.close()


async def test_announcements_swap_refuse_corrupt_and_replay_on_restart(settings: Settings, tmp_path: Path
                                                                        ) -> None:
    reg = tmp_path / "registry"
    s = settings.model_copy(update={"model": ModelSettings(registry_dir=reg, device="cpu")})
    v1 = tiny_model(reg, "behavior", seed=1)
    await asyncio.to_thread(ensure_topics, s.kafka)
    engine, metrics, listener, task = await start(s, v1)
    try:
        assert await predict_once(engine) == v1
        v2 = tiny_model(reg, "behavior", seed=2)
        t0 = time.monotonic()
        await asyncio.to_thread(announce, s.kafka, make_update("behavior", v2, reg))
        await wait_for(lambda: engine.version("behavior") == v2)
        print(f"\n[hot-reload] announce -> served in {time.monotonic() - t0:.2f}s "
              f"(load + verify + warm-up {listener.reload_seconds * 1000:.0f} ms)")
        assert await predict_once(engine) == v2 and listener.applied == [f"behavior:{v2}"]
        assert metrics.model_info.labels(task="behavior", version=v2, device="cpu")._value.get() == 1

        # A restarted worker (fresh engine on the old version) reads the topic from the start: latest wins.
        engine2, _, _, task2 = await start(s, v1)
        try:
            await wait_for(lambda: engine2.version("behavior") == v2)
        finally:
            await stop(task2, engine2)

        # A corrupted version (one flipped byte in the weights) is refused; v2 keeps serving.
        v3 = tiny_model(reg, "behavior", seed=3)
        flip_byte(reg / "behavior" / v3 / "model.safetensors")
        await asyncio.to_thread(announce, s.kafka, make_update("behavior", v3, reg))
        await wait_for(lambda: failures(metrics, "behavior") == 1)
        assert engine.version("behavior") == v2 and await predict_once(engine) == v2

        # An announcement whose manifest checksum does not match the registry is refused as well.
        v4 = tiny_model(reg, "behavior", seed=4)
        bad = make_update("behavior", v4, reg).model_copy(update={"manifest_sha256": "0" * 64})
        await asyncio.to_thread(announce, s.kafka, bad)
        await wait_for(lambda: failures(metrics, "behavior") == 2)
        assert engine.version("behavior") == v2 and listener.applied == [f"behavior:{v2}"]
    finally:
        await stop(task, engine)
