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
