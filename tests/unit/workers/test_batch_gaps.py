"""The batch gap clock: end of one micro-batch to the start of the next, per stream, and its maximum."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry

from seqsignal.workers.stream.metrics import BatchGaps, WorkerMetrics


def _value(metrics: WorkerMetrics, name: str, stream: str) -> float | None:
    return metrics.registry.get_sample_value(name, {"stream": stream})


def test_gap_is_end_to_next_start_per_stream_with_its_maximum() -> None:
    now = [0.0]
    m = WorkerMetrics()
    m.batch_gaps = gaps = BatchGaps(CollectorRegistry(), clock=lambda: now[0])
    m.batch_size._hook = gaps.started  # the facade calls whichever clock the metrics hold
    m.batch_seconds._hook = gaps.ended
    for start, end in ((1.0, 1.2), (1.25, 1.5), (2.0, 2.1), (2.13, 2.2)):  # gaps 0.05, 0.5, 0.03
        now[0] = start
        m.batch_size.labels(stream="actions").observe(10)
        now[0] = end
        m.batch_seconds.labels(stream="actions").observe(end - start)
    now[0] = 9.0
    m.batch_size.labels(stream="posts").observe(1)  # another stream's first batch: no gap for it
    r = gaps.seconds.labels(stream="actions")
    assert abs(r._sum.get() - 0.58) < 1e-9
    assert gaps.max_seconds.labels(stream="actions")._value.get() == 0.5
    assert gaps.seconds.labels(stream="posts")._sum.get() == 0.0
    assert m.mean_batch_size("actions") == 10.0  # the histograms behind the facade still count


def test_gap_series_are_exported() -> None:
    m = WorkerMetrics()
    for _ in range(2):
        m.batch_size.labels(stream="actions").observe(3)
        m.batch_seconds.labels(stream="actions").observe(0.01)
    assert _value(m, "seqsignal_batch_gap_seconds_count", "actions") == 1.0
    assert (_value(m, "seqsignal_batch_gap_max_seconds", "actions") or -1) >= 0.0
    assert _value(m, "seqsignal_batch_size_count", "actions") == 2.0


def test_overlapping_batches_are_no_gap() -> None:
    """Pipelined (agents.consume): N+1 starts before N ends; the gap runs only while no batch is in hand."""
    now = [0.0]
    gaps = BatchGaps(CollectorRegistry(), clock=lambda: now[0])
    steps = ((0.0, "start"), (1.0, "start"), (1.5, "end"), (2.0, "end"), (2.3, "start"), (2.4, "start"))
    for t, what in (*steps, (2.5, "end")):
        now[0] = t
        gaps.started("actions") if what == "start" else gaps.ended("actions")
    r = gaps.seconds.labels(stream="actions")
    assert abs(r._sum.get() - 0.3) < 1e-9  # 2.0 -> 2.3 only: 1.0 and 2.4 overlapped a batch in hand
    assert gaps.max_seconds.labels(stream="actions")._value.get() == pytest.approx(0.3)
