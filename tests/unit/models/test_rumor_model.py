"""Rumor Seq2Seq: thread composition, tiny train on real threads, registry round trip, replies count."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.core import registry
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.data import read_rumor, rumor_format
from seqsignal.models.text.evaluate import eval_rumor, rumour_binary_metrics
from seqsignal.models.text.recipes import TextOptions, train_rumor
from seqsignal.models.text.rumor import compose_thread
from seqsignal.models.text.train import FitConfig
from seqsignal.workers.settings import default_data_dir

ROOT = default_data_dir()
pytestmark = pytest.mark.skipif(not (ROOT / "rumor/twitter15").is_dir(), reason="shared data not available")
TINY = TextOptions(vocab_size=400, emb_dim=16, hidden_size=16, max_len=48, init="random",
                   fit=FitConfig(max_epochs=2, patience=2, batch_size=32, threads=1))


def test_compose_thread_keeps_source_then_earliest_replies() -> None:
    ids = compose_thread([1, 2, 3], [[4, 5], [6, 7, 8], [9]], max_len=8, sep_id=0)
    assert ids == [1, 2, 3, 0, 4, 5, 0, 6]
    assert compose_thread([1] * 100, [[2]], max_len=10, sep_id=0, max_source=10) == [1] * 10
    assert compose_thread([1], [], max_len=10, sep_id=0) == [1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, list[RumorExample]]:
    _, tw = read_rumor(ROOT / "rumor/twitter15")  # the dev split, with replies
    examples = [ex for ex in tw if ex.replies][:120]
    trained = train_rumor(examples[:90], examples[90:], TINY)
    reg = tmp_path_factory.mktemp("registry")
    version = registry.save_version(reg, "rumor", trained.files, metrics=trained.dev_metrics,
                                    make_champion_if_none=True)
    return reg, version, examples


def test_score_shape_and_replies_change_it(saved) -> None:
    reg, version, examples = saved
    pred = registry.load_predictor("rumor", reg)
    assert pred.version == version and pred.task == "rumor"
    pred.warm_up()
    sources = [ex.text for ex in examples[:20]]
    none = pred.score(sources, [[] for _ in sources])
    full = pred.score(sources, [list(ex.replies) for ex in examples[:20]])
    assert none.shape == full.shape == (20,) and none.dtype == np.float32
    assert ((none >= 0) & (none <= 1)).all()
    assert np.abs(none - full).max() > 1e-4  # replies reach the encoder
    one = pred.score(sources, [list(ex.replies[:1]) for ex in examples[:20]])  # the first reply arrives
    assert np.abs(none - one).max() > 1e-5
    ver = pred.veracity(sources, [[] for _ in sources])
    assert ver.shape == (20, 3) and np.allclose(ver.sum(axis=1), 1.0, atol=1e-5)
    assert pred.score([], []).shape == (0,)
    with pytest.raises(ValueError):
        pred.score(["a"], [])


def test_eval_keys_by_format(saved) -> None:
    reg, _, examples = saved
    pred = registry.load_predictor("rumor", reg)
    multi = eval_rumor(pred, examples[:30], "twitter15")
    assert {"accuracy", "macro_f1", "n"} <= set(multi) and multi["n"] == 30
    binary = eval_rumor(pred, examples[:30], "pheme")
    assert {"rumour_f1", "accuracy", "n"} <= set(binary)


def test_rumour_f1_is_the_positive_class() -> None:
    m = rumour_binary_metrics([True, True, False, False], np.array([0.9, 0.1, 0.8, 0.2]))
    assert m["rumour_precision"] == 0.5 and m["rumour_recall"] == 0.5 and m["rumour_f1"] == 0.5


def test_format_detection() -> None:
    assert rumor_format(ROOT / "rumor/pheme") == "pheme"
    assert rumor_format(ROOT / "rumor/pheme/source_tweets.tsv") == "pheme"
    assert rumor_format(ROOT / "rumor/twitter16") == "twitter16"
    assert rumor_format(ROOT / "rumor/weibo") == "weibo"
    assert rumor_format(ROOT / "rumor/rumoureval2017") == "rumoureval"
    assert rumor_format(ROOT / "rumor/twitter15/dev.tsv") == "twitter15"  # a split file of a dataset dir


def test_decision_threshold_is_tuned_on_dev_and_saved(saved) -> None:
    from seqsignal.models.text.recipes import THRESHOLD_GRID, tune_threshold

    reg, _, _ = saved
    pred = registry.load_predictor("rumor", reg)
    assert float(pred.decision_threshold) in set(THRESHOLD_GRID.tolist())  # stored in config.json
    y = np.array([0, 0, 1, 1, 1], dtype=bool)
    assert tune_threshold(y, np.array([0.1, 0.2, 0.3, 0.35, 0.4])) == pytest.approx(0.3, abs=0.03)
    assert tune_threshold(np.ones(3, dtype=bool), np.array([0.1, 0.2, 0.3])) == 0.5  # one class: default
