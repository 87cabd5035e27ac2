"""Labels from the labels topic train the text models: sentiment and rumour cycles on the real stack."""

from __future__ import annotations

import itertools
from pathlib import Path

import torch
from support.worker_harness import tiny_model

from seqsignal.models.core import registry
from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.schemas.events import Label
from seqsignal.schemas.topics import Topics
from seqsignal.workers.replay import make_producer, replay
from seqsignal.workers.settings import ModelSettings, Settings
from seqsignal.workers.trainer.service import Trainer, TrainerConfig


def _labels(dataset: str, n: int) -> list[Label]:
    return [e for e in itertools.islice(iter_dataset_events(dataset, labels=True), 40_000)
            if isinstance(e, Label)][:n]


def test_label_stream_refreshes_text_models(settings: Settings, topics: Topics, tmp_path: Path) -> None:
    torch.set_num_threads(1)
    reg = tmp_path / "registry"
    champions = {task: tiny_model(reg, task) for task in ("sentiment", "rumor")}
    labels = _labels("semeval", 600) + _labels("pheme", 400)
    producer = make_producer(settings)
    try:
        assert replay(iter(labels), producer, topics).sent == len(labels)
    finally:
        producer.close()
    s = settings.model_copy(update={"model": ModelSettings(registry_dir=reg, device="cpu")})
    trainer = Trainer(s, TrainerConfig(state_dir=tmp_path / "trainer", tasks=("sentiment", "rumor"), steps=60,
                                       min_rows=100, announce=False))
    try:
        trainer.catch_up(timeout_s=120)
        assert trainer.buffer.count("sentiment") == 600 and trainer.buffer.count("rumor") == 400
        records = {r.task: r for r in trainer.cycle()}
    finally:
        trainer.close()
    for task, rec in records.items():
        print(f"\n[trainer-labels] {task}: promoted={rec.promoted} steps={rec.steps} "
              f"dev={rec.candidate.get('dev')} vs {rec.champion_metrics.get('dev')}")
        assert rec.skipped is None and rec.steps == 60
        assert rec.candidate["recent"]["n"] == rec.champion_metrics["recent"]["n"] > 0  # same held-back slice
        assert rec.candidate["dev"]["n"] == rec.champion_metrics["dev"]["n"] >= 400  # same fixed dev set
        assert registry.champion(reg, task) == (rec.version if rec.promoted else champions[task])
    # An untrained champion predicts near-uniformly; 60 steps on real labels must move sentiment's dev loss.
    sent = records["sentiment"]
    assert sent.candidate["dev"]["loss"] < sent.champion_metrics["dev"]["loss"]
