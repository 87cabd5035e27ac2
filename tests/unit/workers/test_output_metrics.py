"""What the agents count for a delivered batch: signals emitted per task, event-to-emit latency per signal."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

from seqsignal.workers.pipelines.records import OutRecord
from seqsignal.workers.stream.agents import _observe_outputs
from seqsignal.workers.stream.metrics import WorkerMetrics


def _value(metrics: WorkerMetrics, name: str, task: str) -> float:
    v = metrics.registry.get_sample_value(name, {"task": task})
    return 0.0 if v is None else v


def test_counts_per_task_and_latency_only_for_signals_with_an_event_time() -> None:
    metrics = WorkerMetrics()
    now = time.time()
    out: list[Any] = [OutRecord("b", None, b"", [], "behavior", now - 2.0) for _ in range(3)]
    out += [OutRecord("s", None, b"", [], "sentiment", None),
            OutRecord("d", None, b"", [], "dead_letter", now)]
    _observe_outputs(SimpleNamespace(metrics=metrics), out)  # type: ignore[arg-type]
    assert _value(metrics, "seqsignal_signals_emitted_total", "behavior") == 3.0
    assert _value(metrics, "seqsignal_signals_emitted_total", "sentiment") == 1.0
    assert _value(metrics, "seqsignal_signals_emitted_total", "dead_letter") == 1.0
    e2e = "seqsignal_end_to_end_latency_seconds"
    assert _value(metrics, f"{e2e}_count", "behavior") == 3.0
    assert 1.9 < _value(metrics, f"{e2e}_sum", "behavior") / 3 < 10.0
    assert _value(metrics, f"{e2e}_count", "sentiment") == 0.0  # no event time: no latency
    assert _value(metrics, f"{e2e}_count", "dead_letter") == 0.0  # dead letters are not signals
