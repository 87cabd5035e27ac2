"""Sentiment quality tier (MiniLM + GRU decoder): a tiny fine-tune (64 tweets, 1 epoch, encoder frozen),
registry round trip as a quality-tier version, the SentimentModel contract, `eval sentiment --tier
quality`, distillation of the fast tier from it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsignal.models.core import registry
from seqsignal.models.datasets.sentiment import load_tweeteval_val
from seqsignal.models.text.quality import QualityOptions, QualitySentimentPredictor, train_quality_sentiment
from seqsignal.workers.settings import default_data_dir

DATA = default_data_dir() / "sentiment/tweeteval-val"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared data not available")
TINY = QualityOptions(epochs=1, max_examples=64, freeze_layers=6, batch_size=32, device="cpu", threads=1)


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, QualitySentimentPredictor]:
    torch.set_num_threads(1)
    val = load_tweeteval_val(DATA)
    trained = train_quality_sentiment(val[:200], val[200:232], TINY)  # max_examples: a random 64 of them
    assert trained.dev_metrics["n_train"] == 64 and trained.dev_metrics["dev_n"] == 32
    reg = tmp_path_factory.mktemp("registry")
    version = registry.save_version(reg, "sentiment", trained.files, metrics=trained.dev_metrics,
                                    make_champion_if_none=True, tier="quality")
    return reg, version, trained.predictor


def test_round_trip_through_the_registry(saved) -> None:
    reg, version, trained = saved
    assert registry.champion(reg, "sentiment") is None  # no fast champion: tiers are separate
    assert registry.champion(reg, "sentiment", "quality") == version
    pred = registry.load_predictor("sentiment", reg, tier="quality")
    assert isinstance(pred, QualitySentimentPredictor) and pred.version == version and pred.tier == "quality"
    texts = ["what a great day", "this is awful", "meeting at noon", "@someone http://t.co/x ok"]
    probs = pred.predict(texts)
    assert probs.shape == (4, 3) and np.allclose(probs.sum(1), 1.0, atol=1e-5)
    assert np.allclose(probs, trained.predict(texts), atol=1e-5)  # the saved weights are the trained ones
    assert np.allclose(pred.predict(texts[:1]), probs[:1], atol=1e-5)  # batch composition does not matter
    assert pred.predict([]).shape == (0, 3)
    pred.warm_up()
    files = registry.resolve(reg, "sentiment", version)[1]["files"]
    assert {"model.safetensors", "config.json", "tokenizer.json"} <= set(files)
    assert not any(f.endswith((".pt", ".bin", ".pkl")) for f in files)


def test_eval_command_scores_the_quality_tier(saved, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqsignal.cli import _register_all, app

    d = tmp_path / "tweeteval"
    d.mkdir()
    d.joinpath("test_text.txt").write_text("i love it\nthis is terrible\nmeeting at noon\n")
    d.joinpath("test_labels.txt").write_text("2\n0\n1\n")
    reg, version, _ = saved
    _register_all()
    res = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(d), "--registry", str(reg),
                                   "--tier", "quality", "--json", "--no-throughput"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["tier"] == "quality" and out["model_version"] == version and out["n"] == 3
    assert out["split"] == "tweeteval-test"
    res = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(d), "--registry", str(reg), "--json"])
    assert res.exit_code != 0  # no fast champion in this registry


def test_distillation_loss() -> None:
    from seqsignal.models.text.train import FitConfig, distill_loss

    logits = torch.randn(4, 4, requires_grad=True)  # BOS + 3 labels
    soft = torch.softmax(torch.randn(4, 3), dim=1)
    targets = torch.tensor([1, 3, -100, -100])
    fc = FitConfig(distill_weight=0.5)
    loss = distill_loss(logits, targets, torch.ones(4), soft, fc)
    loss.backward()
    assert torch.isfinite(loss) and logits.grad is not None and bool(logits.grad[2:].abs().sum() > 0)
    only_soft = distill_loss(logits, torch.full((4,), -100), torch.ones(4), soft, fc)  # no hard label at all
    assert torch.isfinite(only_soft)
    same = torch.log(torch.cat([torch.full((4, 1), 1e-9), soft], dim=1))  # the teacher itself: KL ~ 0
    assert float(distill_loss(same, torch.full((4,), -100), torch.ones(4), soft, fc)) < 1e-5


def test_fast_tier_distilled_from_the_quality_teacher(saved, tmp_path: Path) -> None:
    """`train sentiment --teacher`: the teacher labels training and unlabelled texts; the student trains."""
    from seqsignal.models.text.jobs import teacher_labels
    from seqsignal.models.text.recipes import TextOptions
    from seqsignal.models.text.sentiment_recipe import train_sentiment
    from seqsignal.models.text.train import FitConfig

    reg, version, _ = saved
    val = load_tweeteval_val(DATA)
    train, dev = val[:60], val[60:90]
    tw = tmp_path / "rumor" / "twitter15"  # a small data root: 30 sources with 1 reply each
    (tw / "replies").mkdir(parents=True)
    words = [f"{a}{b}" for a in "abcdef" for b in "ghijk"]  # 30 distinct tokens (numbers normalise away)
    rows = [f"{i}\tsource tweet {w} about town\t{'true' if i < 20 else 'false'}\n"
            for i, w in enumerate(words)]
    (tw / "train.tsv").write_text("".join(rows[:20]))
    (tw / "dev.tsv").write_text("".join(rows[20:]))
    for i, w in enumerate(words):
        (tw / "replies" / f"{i}.txt").write_text(f"reply {w} says hello\n")
    distill, info = teacher_labels(version, reg, tmp_path, train, dev, max_unlabelled=24)
    assert info["version"] == version and distill.train_probs.shape == (60, 3)
    assert len(distill.texts) == 24 and distill.probs.shape == (24, 3)
    opts = TextOptions(vocab_size=300, emb_dim=16, hidden_size=16, max_len=32, init="random",
                       fit=FitConfig(max_epochs=1, batch_size=32, threads=1))
    trained = train_sentiment(train, dev, opts, distill=distill)
    assert trained.predictor.predict(["good"]).shape == (1, 3)
