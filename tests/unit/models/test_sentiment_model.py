"""Sentiment Seq2Seq: tiny train on real tweets, registry round trip, predictor contract, eval JSON keys."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.core import registry
from seqsignal.models.datasets.sentiment import SentimentExample, load_tweeteval_val
from seqsignal.models.text.evaluate import baseline_sentiment, sentiment_metrics
from seqsignal.models.text.recipes import TextOptions
from seqsignal.models.text.sentiment_recipe import train_sentiment
from seqsignal.models.text.train import FitConfig
from seqsignal.workers.settings import default_data_dir

DATA = default_data_dir() / "sentiment/tweeteval-val"
pytestmark = pytest.mark.skipif(not DATA.is_dir(), reason="shared data not available")
TINY = TextOptions(vocab_size=300, emb_dim=16, hidden_size=16, max_len=32, init="random",
                   fit=FitConfig(max_epochs=2, patience=2, batch_size=32, threads=1))


@pytest.fixture(scope="module")
def slices() -> tuple[list[SentimentExample], list[SentimentExample]]:
    val = load_tweeteval_val(DATA)
    return val[:300], val[300:400]


@pytest.fixture(scope="module")
def saved(slices, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, object]:
    reg = tmp_path_factory.mktemp("registry")
    trained = train_sentiment(*slices, TINY)
    version = registry.save_version(reg, "sentiment", trained.files, metrics=trained.dev_metrics,
                                    make_champion_if_none=True)
    return reg, version, trained


def test_registry_round_trip_predicts_probabilities(saved, slices) -> None:
    reg, version, trained = saved
    pred = registry.load_predictor("sentiment", reg)
    assert pred.version == version and pred.task == "sentiment"
    pred.warm_up()
    texts = [ex.text for ex in slices[1][:37]]
    probs = pred.predict(texts)
    assert probs.shape == (37, 3) and probs.dtype == np.float32
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5) and (probs >= 0).all()
    # the loaded model is the trained one, bit for bit
    assert np.array_equal(probs, trained.predictor.predict(texts))
    assert pred.predict([]).shape == (0, 3)
    for name in ("tokenizer.json", "loss.png", "confusion.png", "model.safetensors", "config.json",
                 "lexical.safetensors"):
        assert (reg / "sentiment" / version / name).is_file()
    assert pred.lexical is not None and pred.lexical_weight == trained.dev_metrics["lexical_weight"]


def test_metrics_score_dev_only_after_the_selection_split_chose(saved) -> None:
    m = saved[2].dev_metrics
    for key in ("dev_avg_recall", "dev_seq2seq_avg_recall", "dev_lexical_avg_recall", "select_avg_recall",
                "select_seq2seq_avg_recall", "select_lexical_avg_recall", "lexical_weight", "n_select",
                "select_balanced_nll", "select_seq2seq_balanced_nll"):
        assert key in m, key
    assert m["n_select"] > 0 and m["n_fit"] + m["n_select"] == 300
    # the weight minimises the selection split's balanced log-loss: never above the Seq2Seq alone (weight 0)
    assert m["select_balanced_nll"] <= m["select_seq2seq_balanced_nll"]
    assert 0.0 <= m["lexical_weight"] <= 1.0


def test_prediction_does_not_depend_on_batch_composition(saved) -> None:
    pred = saved[2].predictor
    texts = ["what a great day", "this is awful and i hate it", "the meeting is at noon"]
    alone = np.stack([pred.predict([t])[0] for t in texts])
    assert np.allclose(pred.predict(texts), alone, atol=1e-5)


def test_metrics_follow_semeval_definitions() -> None:
    gold = ["positive", "negative", "neutral", "neutral"]
    pred = ["positive", "neutral", "neutral", "positive"]
    m = sentiment_metrics(gold, pred)
    assert m["avg_recall"] == pytest.approx((1 + 0 + 0.5) / 3)
    assert m["accuracy"] == pytest.approx(0.5)
    assert m["f1_pn"] == pytest.approx((2 / 3 + 0) / 2)
    assert m["n"] == 4


def test_baselines_report_the_same_keys(slices) -> None:
    out = baseline_sentiment(*slices)
    for name in ("vader", "tfidf_lr", "tfidf_wordchar_svc"):
        assert {"avg_recall", "accuracy", "f1_pn", "n"} <= set(out[name])
        assert out[name]["n"] == len(slices[1])


def test_eval_command_prints_one_json_object(saved, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqsignal.cli import _register_all, app

    d = tmp_path / "tweeteval"
    d.mkdir()
    d.joinpath("val_text.txt").write_text("i love it\nthis is terrible\nmeeting at noon\n")
    d.joinpath("val_labels.txt").write_text("2\n0\n1\n")
    reg, version, _ = saved
    _register_all()
    res = CliRunner().invoke(app, ["eval", "sentiment", "--data", str(d), "--model",
                                   str(reg / "sentiment" / version), "--json", "--no-throughput"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert {"avg_recall", "accuracy", "f1_pn", "n"} <= set(out) and out["n"] == 3
    assert out["model_version"] == version
