"""Trainer test helpers: Higgs actions to Kafka, a decent behavior champion, the CLI as a process."""

from __future__ import annotations

import itertools
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from support.worker_harness import ROOT, SEQSIGNAL, tiny_model

from seqsignal.models import finetune as ft
from seqsignal.models.behavior import data as bd
from seqsignal.models.behavior.predictor import config_dict, model_from_files
from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, model_files
from seqsignal.models.datasets.higgs import iter_higgs_actions
from seqsignal.schemas.events import Action
from seqsignal.schemas.topics import Topics
from seqsignal.workers.replay import make_producer, replay
from seqsignal.workers.settings import Settings


def higgs_actions(start: int, n: int) -> list[Action]:
    return list(itertools.islice(iter_higgs_actions(), start, start + n))


def send_actions(settings: Settings, topics: Topics, actions: list[Action],
                 rate: float | None = None) -> None:
    producer = make_producer(settings)
    try:
        stats = replay(iter(actions), producer, topics, rate=rate)
    finally:
        producer.close()
    assert stats.sent == len(actions) and stats.failed == 0


def decent_behavior_champion(registry_dir: Path, steps: int = 500) -> str:
    """A tiny behavior model trained briefly on Higgs (before the dev window), registered as champion: a bar
    that a sabotaged candidate must fail to clear."""
    torch.set_num_threads(1)
    v0 = tiny_model(registry_dir, "behavior")
    vdir, _ = registry.resolve(registry_dir, "behavior", v0)
    model = model_from_files(json.loads((vdir / CONFIG).read_text()), (vdir / WEIGHTS).read_bytes())
    events = list(bd.iter_events(until=bd.SPLIT_TS - 6 * 3600))
    batches = ft.behavior_batches(events, model.config.max_len, 4096)
    res = ft.finetune_behavior(model, [], 0.0, batches, bd.SPLIT_TS, ft.FinetuneConfig(steps=steps, lr=3e-3))
    v = registry.save_version(registry_dir, "behavior", model_files(res.model, config_dict(res.model)),
                              data="test champion: tiny model, short Higgs training")
    registry.promote("behavior", v, registry_dir)
    return v


def run_cli(env: dict[str, str], *args: str, timeout_s: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["nice", "-n", "5", str(SEQSIGNAL), *args], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout_s)


def cycles(state_dir: Path) -> list[dict[str, Any]]:
    path = state_dir / "cycles.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
