"""Prometheus metrics of the trainer (prefix seqsignal_trainer_), served on `trainer.metrics_port`.

One sample per task and cycle, from the cycle's record (the same facts as cycles.jsonl): how long the cycle
took, the candidate's and the champion's score on each evaluation set (`metric` = `<set>_<name>`, e.g.
`stream_hr_at_1`), promotions, refusals by reason (`gate`: the candidate scored below the champion,
`failed`: the task raised; a cycle skipped for lack of data is neither), and when the last cycle of a task
finished (the SeqsignalTrainerStalled alert).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from seqsignal.workers.stream.metrics import build_labels

_CYCLE_BUCKETS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)


class TrainerMetrics:
    """Every metric of one trainer process, on its own registry."""

    def __init__(self, tasks: Iterable[str] = (), registry: CollectorRegistry | None = None) -> None:
        self.registry = r = registry or CollectorRegistry()
        self.cycle_seconds = Histogram(
            "seqsignal_trainer_cycle_duration_seconds",
            "Fine-tune + gate (+ promote) of one task in one cycle", ["task"], buckets=_CYCLE_BUCKETS,
            registry=r,
        )
        self.candidate_score = Gauge(
            "seqsignal_trainer_candidate_score", "Last candidate's score per evaluation set and metric",
            ["task", "metric"], registry=r,
        )
        self.champion_score = Gauge(
            "seqsignal_trainer_champion_score", "The champion's score it was gated against, same sets",
            ["task", "metric"], registry=r,
        )
        self.promotions = Counter(
            "seqsignal_trainer_promotions", "Candidates promoted to champion", ["task"], registry=r
        )
        self.refusals = Counter(
            "seqsignal_trainer_refusals", "Candidates not promoted: gate (scored below) or failed",
            ["task", "reason"], registry=r,
        )
        self.last_cycle = Gauge(
            "seqsignal_trainer_last_cycle_timestamp_seconds", "Unix time the task's last cycle finished",
            ["task"], registry=r,
        )
        self.build_info = Gauge(
            "seqsignal_build_info", "Versions this process runs (always 1)",
            ["version", "python", "torch", "cuda"], registry=r,
        )
        self.build_info.labels(**build_labels()).set(1)
        for task in tasks:  # series at 0 from the start, so increase() sees the first event
            self.promotions.labels(task=task)
            for reason in ("gate", "failed"):
                self.refusals.labels(task=task, reason=reason)

    def observe(self, rec: Any, now: float | None = None) -> None:
        """Record one task's cycle (a `CycleRecord`)."""
        task = rec.task
        self.cycle_seconds.labels(task=task).observe(rec.duration_s)
        self.last_cycle.labels(task=task).set(now if now is not None else time.time())
        pairs = ((self.candidate_score, rec.candidate), (self.champion_score, rec.champion_metrics))
        for gauge, sets in pairs:
            for name, metrics in (sets or {}).items():
                for metric, value in metrics.items():
                    if value == value:  # NaN (nothing to score on a set) is not exported
                        gauge.labels(task=task, metric=f"{name}_{metric}").set(float(value))
        if rec.promoted:
            self.promotions.labels(task=task).inc()
        elif rec.skipped is not None and str(rec.skipped).startswith("failed"):
            self.refusals.labels(task=task, reason="failed").inc()
        elif rec.skipped is None:
            self.refusals.labels(task=task, reason="gate").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


def serve(metrics: TrainerMetrics, port: int, addr: str = "0.0.0.0") -> Any:
    """Serve /metrics on `port` in a daemon thread (prometheus_client's server); returns the server."""
    from prometheus_client import start_http_server

    server, _thread = start_http_server(port, addr=addr, registry=metrics.registry)
    return server
