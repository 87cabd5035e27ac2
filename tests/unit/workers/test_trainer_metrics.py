"""The trainer's metrics (issue 13): one observation per task and cycle, from the cycle record."""

from __future__ import annotations

import urllib.request
from pathlib import Path

import pytest

from seqsignal.deploy.local import process
from seqsignal.workers.trainer.metrics import TrainerMetrics, serve
from seqsignal.workers.trainer.service import CycleRecord


def _rec(task: str, *, promoted: bool = False, skipped: str | None = None) -> CycleRecord:
    return CycleRecord(cycle=1, task=task, started_at="2026-01-01T00:00:00+00:00", duration_s=42.0,
                       champion="v1", promoted=promoted, skipped=skipped,
                       candidate={"stream": {"hr_at_1": 0.5, "nll": float("nan")}},
                       champion_metrics={"stream": {"hr_at_1": 0.4}})


def _v(m: TrainerMetrics, name: str, **labels: str) -> float | None:
    return m.registry.get_sample_value(name, labels)


def test_cycles_promotions_refusals_and_scores() -> None:
    m = TrainerMetrics(tasks=("behavior", "rumor", "sentiment"))
    assert _v(m, "seqsignal_trainer_promotions_total", task="rumor") == 0  # present from the start
    m.observe(_rec("behavior", promoted=True), now=1000.0)
    m.observe(_rec("rumor"), now=1001.0)  # gated: not promoted, not skipped
    m.observe(_rec("sentiment", skipped="failed: ValueError: corrupt"), now=1002.0)
    m.observe(_rec("sentiment", skipped="not enough labels (3 < 20)"), now=1003.0)
    assert _v(m, "seqsignal_trainer_promotions_total", task="behavior") == 1
    assert _v(m, "seqsignal_trainer_refusals_total", task="rumor", reason="gate") == 1
    assert _v(m, "seqsignal_trainer_refusals_total", task="sentiment", reason="failed") == 1
    assert _v(m, "seqsignal_trainer_refusals_total", task="sentiment", reason="gate") == 0  # skipped: neither
    assert _v(m, "seqsignal_trainer_last_cycle_timestamp_seconds", task="sentiment") == 1003.0
    assert _v(m, "seqsignal_trainer_cycle_duration_seconds_count", task="behavior") == 1
    assert _v(m, "seqsignal_trainer_candidate_score", task="behavior", metric="stream_hr_at_1") == 0.5
    assert _v(m, "seqsignal_trainer_champion_score", task="behavior", metric="stream_hr_at_1") == 0.4
    assert _v(m, "seqsignal_trainer_candidate_score", task="behavior", metric="stream_nll") is None  # NaN


def test_served_over_http() -> None:
    m = TrainerMetrics(tasks=("behavior",))
    m.observe(_rec("behavior"))
    port = process.free_port()
    server = serve(m, port, addr="127.0.0.1")
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            body = r.read().decode()
    finally:
        server.shutdown()
    assert 'seqsignal_trainer_refusals_total{reason="gate",task="behavior"} 1.0' in body
    assert "seqsignal_build_info{" in body


def test_every_cycle_of_the_trainer_is_observed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqsignal.workers.settings import Settings, TrainerSettings
    from seqsignal.workers.trainer import service

    def broken(task: str, inputs: object) -> None:
        raise RuntimeError("corrupt champion")

    monkeypatch.setattr(service, "run_task", broken)
    cfg = TrainerSettings(state_dir=tmp_path / "trainer", tasks=("rumor",), announce=False)
    trainer = service.Trainer(Settings(_env_file=None), cfg)
    try:
        [rec] = trainer.cycle()
    finally:
        trainer.close()
    assert rec.skipped is not None and rec.skipped.startswith("failed")
    m = trainer.metrics
    assert _v(m, "seqsignal_trainer_refusals_total", task="rumor", reason="failed") == 1
    assert _v(m, "seqsignal_trainer_cycle_duration_seconds_count", task="rumor") == 1
    assert (_v(m, "seqsignal_trainer_last_cycle_timestamp_seconds", task="rumor") or 0) > 0
