"""Prometheus metrics of the worker (prefix seqsignal_, seconds, counters end in _total)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
_LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
_E2E_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400, float("inf"))
_GAP_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_RELOAD_BUCKETS = (0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
STREAM_OF_TASK = {"behavior": "actions", "sentiment": "posts", "rumor": "posts"}


def build_labels() -> dict[str, str]:
    """seqsignal, Python, torch and CUDA versions of this process (`seqsignal_build_info`'s labels)."""
    import platform
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("seqsignal")
    except PackageNotFoundError:
        ours = "unknown"
    try:
        import torch

        torch_version, cuda = str(torch.__version__), str(torch.version.cuda or "none")
    except ImportError:  # pragma: no cover - torch is a dependency
        torch_version, cuda = "none", "none"
    return {"version": ours, "python": platform.python_version(), "torch": torch_version, "cuda": cuda}


def _counter(registry: CollectorRegistry, name: str, doc: str, *labels: str) -> Counter:
    return Counter(name, doc, list(labels), registry=registry)


def _histogram(
    registry: CollectorRegistry, name: str, doc: str, label: str, buckets: tuple[float, ...]
) -> Histogram:
    return Histogram(name, doc, [label], buckets=buckets, registry=registry)


class _Timed:
    """A labelled histogram whose every observation also calls `hook(labels)` (the batch gap clock)."""

    def __init__(self, histogram: Histogram, hook: Callable[[str], None]) -> None:
        self._histogram, self._hook = histogram, hook

    def labels(self, stream: str) -> _TimedChild:
        return _TimedChild(self._histogram.labels(stream=stream), lambda: self._hook(stream))

    def collect(self) -> Any:
        return self._histogram.collect()


class _TimedChild:
    def __init__(self, child: Any, hook: Callable[[], None]) -> None:
        self._child, self._hook = child, hook

    def observe(self, value: float) -> None:
        self._child.observe(value)
        self._hook()


class BatchGaps:
    """Time from the end of one batch to the start of the next, per stream (`seqsignal_batch_gap_seconds`,
    its running maximum `seqsignal_batch_gap_max_seconds`): time with no batch of the stream in hand (two
    overlap when pipelined). Under a backlog, time the worker spends outside its handler (faust's ack and
    commit, the next fetch); when idle, it also holds the wait for input."""

    def __init__(self, r: CollectorRegistry, clock: Callable[[], float] = time.perf_counter) -> None:
        self.seconds = _histogram(
            r, "seqsignal_batch_gap_seconds", "End of one micro-batch to the start of the next", "stream",
            _GAP_BUCKETS,
        )
        self.max_seconds = Gauge(
            "seqsignal_batch_gap_max_seconds", "Largest gap between two micro-batches so far", ["stream"],
            registry=r,
        )
        self._clock = clock
        self._ended: dict[str, float] = {}
        self._max: dict[str, float] = {}
        self._active: dict[str, int] = {}

    def started(self, stream: str) -> None:
        active = self._active.get(stream, 0)
        self._active[stream] = active + 1
        ended = self._ended.pop(stream, None)
        if ended is None or active:  # the first batch, one whose predecessor never ended, or an overlap
            return
        gap = self._clock() - ended
        self.seconds.labels(stream=stream).observe(gap)
        if gap > self._max.get(stream, -1.0):
            self._max[stream] = gap
            self.max_seconds.labels(stream=stream).set(gap)

    def ended(self, stream: str) -> None:
        active = max(0, self._active.get(stream, 0) - 1)
        self._active[stream] = active
        if not active:  # no batch of the stream in hand (two overlap when pipelined: agents.consume)
            self._ended[stream] = self._clock()


class WorkerMetrics:
    """Every metric of one worker process, on its own registry (tests create as many as they like)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self._event_counters(r)
        self._latencies(r)
        self._model_metrics(r)
        self._reload_metrics(r)

    def _event_counters(self, r: CollectorRegistry) -> None:
        """Events consumed, processed and dead-lettered, signals emitted, retries."""
        self.consumed = _counter(r, "seqsignal_events_consumed", "Input events taken from Kafka", "stream")
        self.processed = _counter(
            r, "seqsignal_events_processed", "Input events fully processed (outputs acknowledged)", "stream"
        )
        self.dead_lettered = _counter(
            r, "seqsignal_events_dead_lettered", "Input events sent to the dead-letter topic", "stream",
            "stage",
        )
        self.emitted = _counter(r, "seqsignal_signals_emitted", "Output records acknowledged", "task")
        self.retries = _counter(r, "seqsignal_retries", "Retried Redis/Kafka operations", "op")

    def _latencies(self, r: CollectorRegistry) -> None:
        """Micro-batch sizes and durations, model call, end-to-end, delivery and Redis latencies."""
        # A batch starts when its size is observed and ends when its duration is: the gap clock rides on both
        self.batch_gaps = BatchGaps(r)
        self.batch_size = _Timed(_histogram(
            r, "seqsignal_batch_size", "Events per micro-batch", "stream", _BATCH_BUCKETS
        ), self.batch_gaps.started)
        self.batch_seconds = _Timed(_histogram(
            r, "seqsignal_batch_duration_seconds", "Wall time to process one micro-batch", "stream",
            _LATENCY_BUCKETS,
        ), self.batch_gaps.ended)
        self.inference_seconds = _histogram(
            r, "seqsignal_inference_latency_seconds", "Model call latency per batch", "task", _LATENCY_BUCKETS
        )
        self.end_to_end_seconds = _histogram(
            r, "seqsignal_end_to_end_latency_seconds", "Event time of the source event to emit time", "task",
            _E2E_BUCKETS,
        )
        self.delivery_seconds = _histogram(
            r, "seqsignal_delivery_latency_seconds",
            "Producing a batch's records until the broker acknowledged all of them", "stream",
            _LATENCY_BUCKETS,
        )
        self.redis_seconds = _histogram(
            r, "seqsignal_redis_latency_seconds", "Redis round trip latency", "op", _LATENCY_BUCKETS
        )

    def _model_metrics(self, r: CollectorRegistry) -> None:
        """Served model, consumer lag, the inference queue and model call sizes."""
        self.model_info = Gauge(
            "seqsignal_model_info", "Model version served (1 = current)", ["task", "version", "device"],
            registry=r,
        )
        self.consumer_lag = Gauge(
            "seqsignal_consumer_lag",
            "Messages between this worker's position and the log end, per assigned input partition",
            ["topic", "partition"], registry=r,
        )
        self.queue_wait_seconds = _histogram(
            r, "seqsignal_queue_wait_seconds",
            "Wait of a model call for the inference thread (shared by both streams) before it runs", "stream",
            _LATENCY_BUCKETS,
        )
        self.inference_batch_size = _histogram(
            r, "seqsignal_inference_batch_size", "Items per model call (users, posts, threads)", "task",
            _BATCH_BUCKETS,
        )

    def _reload_metrics(self, r: CollectorRegistry) -> None:
        """Hot-swap reloads (series at 0 from the start) and build versions."""
        self.reloads = _counter(
            r, "seqsignal_model_reloads", "Announced models applied (result=success) or refused (failure)",
            "task", "result",
        )
        self.reload_failures = _counter(
            r, "seqsignal_model_reload_failures",
            "Announced models refused (load or checksum failed); the old model kept serving", "task",
        )
        self.reload_seconds = _histogram(
            r, "seqsignal_model_reload_duration_seconds",
            "Load + verify + warm-up of an announced model, until it is swapped in", "task", _RELOAD_BUCKETS,
        )
        self.build_info = Gauge(
            "seqsignal_build_info", "Versions this worker runs (always 1)",
            ["version", "python", "torch", "cuda"], registry=r,
        )
        self.build_info.labels(**build_labels()).set(1)
        # Reload series exist from the start at 0, so `increase()` sees a first failure (a series that
        # appears at 1 has no increase in Prometheus).
        for task in STREAM_OF_TASK:
            self.reload_failures.labels(task=task)
            for result in ("success", "failure"):
                self.reloads.labels(task=task, result=result)

    def set_model(self, task: str, version: str, device: str) -> None:
        """Mark `version` as the served model of `task` (older versions of that task drop to 0)."""
        for sample in [s for m in self.model_info.collect() for s in m.samples]:
            if sample.labels.get("task") == task:
                self.model_info.labels(**sample.labels).set(0)
        self.model_info.labels(task=task, version=version, device=device).set(1)

    def exposition(self) -> bytes:
        """The text exposition format of every metric."""
        return generate_latest(self.registry)

    def mean_batch_size(self, stream: str) -> float:
        """Mean events per batch so far for `stream` (0 when none yet)."""
        total = count = 0.0
        for metric in self.batch_size.collect():
            for sample in metric.samples:
                if sample.labels.get("stream") != stream:
                    continue
                if sample.name.endswith("_sum"):
                    total = sample.value
                elif sample.name.endswith("_count"):
                    count = sample.value
        return total / count if count else 0.0
