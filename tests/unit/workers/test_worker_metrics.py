"""The worker's observability pack (issue 13): consumer lag per partition, queue wait and batch size of model
calls, reloads (success, failure, duration) and build info, all on the worker's own registry."""

from __future__ import annotations

import asyncio
from collections import namedtuple
from typing import Any

import pytest

from seqsignal.workers.stream.lag import sample_lag
from seqsignal.workers.stream.metrics import WorkerMetrics, build_labels

TP = namedtuple("TP", "topic partition")


class FakeConsumer:
    """What `sample_lag` reads of faust's consumer."""

    def __init__(self, assigned: list[TP], ends: dict[TP, int], committed: dict[TP, int],
                 read: dict[TP, int], earliest: dict[TP, int]) -> None:
        self._assigned, self._ends, self._earliest = assigned, ends, earliest
        self._committed_offset, self._read_offset = committed, read

    def assignment(self) -> set[TP]:
        return set(self._assigned)

    async def highwaters(self, *tps: TP) -> dict[TP, int]:
        return {tp: self._ends[tp] for tp in tps}

    async def earliest_offsets(self, *tps: TP) -> dict[TP, int]:
        return {tp: self._earliest[tp] for tp in tps}


def _value(m: WorkerMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_consumer_lag_per_partition_from_commits_reads_or_the_earliest_offset() -> None:
    a0, a1, p0, other = TP("x.actions", 0), TP("x.actions", 1), TP("x.posts", 0), TP("x.leader", 0)
    consumer = FakeConsumer([a0, a1, p0, other], ends={a0: 100, a1: 50, p0: 30, other: 9},
                            committed={a0: 90}, read={a1: 44}, earliest={p0: 10})
    m = WorkerMetrics()
    lags = asyncio.run(sample_lag(consumer, m, ("x.actions", "x.posts")))
    assert lags == {("x.actions", 0): 10, ("x.actions", 1): 5, ("x.posts", 0): 20}
    assert _value(m, "seqsignal_consumer_lag", topic="x.actions", partition="0") == 10
    # a revoked partition's series goes away at the next sample
    consumer._assigned = [a0]
    asyncio.run(sample_lag(consumer, m, ("x.actions", "x.posts")))
    assert _value(m, "seqsignal_consumer_lag", topic="x.posts", partition="0") is None
    assert _value(m, "seqsignal_consumer_lag", topic="x.actions", partition="0") == 10


def test_build_info_names_the_versions() -> None:
    labels = build_labels()
    assert set(labels) == {"version", "python", "torch", "cuda"} and all(labels.values())
    assert _value(WorkerMetrics(), "seqsignal_build_info", **labels) == 1


def test_inference_engine_observes_batch_size_and_queue_wait() -> None:
    from seqsignal.workers.serving.inference import InferenceEngine
    from seqsignal.workers.settings import ModelSettings

    m = WorkerMetrics()
    engine = InferenceEngine(ModelSettings(device="cpu"), m)
    try:
        async def calls() -> None:
            await asyncio.gather(engine.run("sentiment", len, ["a", "b", "c"]),
                                 engine.run("behavior", len, [1]))
        asyncio.run(calls())
    finally:
        engine.close()
    assert _value(m, "seqsignal_inference_batch_size_sum", task="sentiment") == 3
    assert _value(m, "seqsignal_inference_batch_size_count", task="behavior") == 1
    assert _value(m, "seqsignal_queue_wait_seconds_count", stream="posts") == 1
    assert _value(m, "seqsignal_queue_wait_seconds_count", stream="actions") == 1


class _Engine:
    def __init__(self, metrics: WorkerMetrics) -> None:
        self.metrics, self.device, self.swapped = metrics, "cpu", []

    def loaded(self, task: str) -> bool:
        return True

    def version(self, task: str) -> str:
        return "v1"

    def tier(self, task: str) -> str:
        return "fast"

    def swap(self, task: str, predictor: Any) -> None:
        self.swapped.append(predictor)


@pytest.mark.parametrize("ok", [True, False])
def test_reloads_are_counted_on_the_worker_registry(ok: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    from datetime import UTC, datetime

    from seqsignal.schemas.events import ModelUpdate
    from seqsignal.workers.serving import model_updates
    from seqsignal.workers.settings import Settings

    def load(update: Any, registry_dir: Any, device: str) -> object:
        if not ok:
            raise ValueError("sha256 mismatch")
        return object()

    monkeypatch.setattr(model_updates, "load_verified", load)
    m = WorkerMetrics()
    listener = model_updates.ModelUpdateListener(Settings(_env_file=None), _Engine(m))
    update = ModelUpdate(task="behavior", version="v2", manifest_sha256="0" * 64,
                         promoted_at=datetime.now(UTC), registry_uri="file:///r")
    assert asyncio.run(listener.apply(update)) is ok
    result = "success" if ok else "failure"
    assert _value(m, "seqsignal_model_reloads_total", task="behavior", result=result) == 1
    assert _value(m, "seqsignal_model_reload_failures_total", task="behavior") == (0 if ok else 1)
    assert _value(m, "seqsignal_model_reload_duration_seconds_count", task="behavior") == (1 if ok else None)
