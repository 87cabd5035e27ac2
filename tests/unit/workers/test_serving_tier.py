"""Unit tests of the served tier: `model.tier` auto|fast|quality against the registry's champions."""

from __future__ import annotations

from pathlib import Path

from seqsignal.models.core import registry
from seqsignal.workers.serving.inference import pick_tier
from seqsignal.workers.serving.model_updates import update_key
from seqsignal.workers.settings import ModelSettings


def _version(reg: Path, tier: str) -> str:
    files: dict[str, bytes | Path] = {"config.json": b"{}"}
    return registry.save_version(reg, "sentiment", files, make_champion_if_none=True, tier=tier)


def test_pick_tier(tmp_path: Path) -> None:
    assert ModelSettings().tier == "auto"
    _version(tmp_path, "fast")
    assert pick_tier("auto", "cuda", tmp_path, "sentiment") == "fast"  # no quality champion yet
    assert pick_tier("quality", "cpu", tmp_path, "sentiment") == "fast"
    _version(tmp_path, "quality")
    assert pick_tier("auto", "cuda", tmp_path, "sentiment") == "quality"
    assert pick_tier("auto", "cpu", tmp_path, "sentiment") == "fast"
    assert pick_tier("quality", "cpu", tmp_path, "sentiment") == "quality"  # asked for: served on CPU too
    assert pick_tier("fast", "cuda", tmp_path, "sentiment") == "fast"
    assert pick_tier("auto", "cuda", tmp_path, "behavior") == "fast"


def test_update_key_per_tier() -> None:
    assert update_key("sentiment") == b"sentiment"  # the fast tier keeps the pre-tier key
    assert update_key("sentiment", "quality") == b"sentiment.quality"


class _Engine:
    """What the listener needs of an InferenceEngine: serves the fast tier of sentiment."""

    device = "cpu"

    def __init__(self, version: str) -> None:
        from seqsignal.workers.stream.metrics import WorkerMetrics

        self.metrics = WorkerMetrics()
        self.served = version
        self.swapped: list[str] = []

    def loaded(self, task: str) -> bool:
        return True

    def version(self, task: str) -> str:
        return self.served

    def tier(self, task: str) -> str:
        return "fast"

    def swap(self, task: str, predictor: object) -> None:
        self.swapped.append(task)


def test_hot_swap_keeps_the_served_tier(tmp_path: Path) -> None:
    """An announced quality-tier version is skipped by a worker serving fast (no load, no failure)."""
    import asyncio

    from seqsignal.workers.serving.model_updates import ModelUpdateListener, make_update
    from seqsignal.workers.settings import Settings

    fast = _version(tmp_path, "fast")
    quality = _version(tmp_path, "quality")
    settings = Settings().model_copy(update={"model": ModelSettings(registry_dir=tmp_path)})
    engine = _Engine(fast)
    listener = ModelUpdateListener(settings, engine)
    assert asyncio.run(listener.apply(make_update("sentiment", quality, tmp_path))) is False
    failures = engine.metrics.registry.get_sample_value(
        "seqsignal_model_reload_failures_total", {"task": "sentiment"})
    assert not failures and not listener.applied and not engine.swapped
