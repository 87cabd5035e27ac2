"""Rumour fast tier (per-dataset heads): hashed lexical bags, tiny joint training on real threads, registry
round trip (safetensors + JSON), serving routes (English -> PHEME head, Chinese -> Weibo head), eval."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.core import registry
from seqsignal.models.core.serving import RumorModel
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import rumor_heads as rh
from seqsignal.models.text.data import read_rumor
from seqsignal.models.text.lexical import Hasher, Vocab, is_chinese, normalize
from seqsignal.models.text.rumor_eval import dataset_baselines, score_head
from seqsignal.workers.settings import default_data_dir

ROOT = default_data_dir()
needs_data = pytest.mark.skipif(not (ROOT / "rumor/twitter15").is_dir(), reason="shared data not available")
TINY = rh.HeadsOptions(epochs=1, emb_dim=8, hidden_size=8, lex_buckets=1 << 12, threshold_folds=2,
                       epochs_per_dataset={"pheme": 1})


def test_normalize_masks_topical_cues_and_detects_chinese() -> None:
    masked = normalize("BREAKING @cnn 12 dead #Ferguson http://t.co/x", True)
    assert masked == "breaking @user 0 dead #tag url"
    assert normalize("#Ferguson 12", False) == "#ferguson 12"
    assert is_chinese("警方称这是谣言") and not is_chinese("police say it is a rumour 谣")


def test_hasher_bags_are_l2_normalised_and_replies_change_them() -> None:
    h = Hasher(1 << 12)
    src = [normalize("police confirm two dead"), "警方称这是谣言"]
    h.fit(h.counts(src, [["is this true?"], []]))
    a, b = h.bags(src, [[], []]), h.bags(src, [["is this true?"], []])
    assert len(a.offsets) == 2 and a.ids.max() < 1 << 12
    for bags in (a, b):
        ends = np.append(bags.offsets[1:], len(bags.ids))
        for s, e in zip(bags.offsets, ends, strict=True):
            assert np.isclose(np.linalg.norm(bags.weights[s:e]), 1.0, atol=1e-5)
    assert len(b.ids) > len(a.ids)
    v = Vocab.build(["a b c", "a b"], min_count=1)
    assert v.thread("a b", ["c"], 4) == [v.stoi["a"], v.stoi["b"], 2, v.stoi["c"]]


@pytest.fixture(scope="module")
def examples() -> list[RumorExample]:
    _, tw = read_rumor(ROOT / "rumor/twitter15")  # dev.tsv, with replies
    _, wb = read_rumor(ROOT / "rumor/weibo")
    tw = [replace(ex, dataset="twitter15") for ex in tw[:60]]
    # PHEME-shaped threads (binary labels, three events) without reading the whole PHEME tree
    ph = [replace(ex, dataset="pheme", event=f"e{i % 3}") for i, ex in enumerate(tw)]
    return tw + [replace(ex, dataset="weibo") for ex in wb[:60]] + ph


@pytest.fixture(scope="module")
def saved(examples: list[RumorExample], tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    groups, _ = rh.fit_heads(examples, TINY)
    thr, _ = rh.pheme_threshold([ex for ex in examples if ex.dataset == "pheme"], TINY)
    pred = rh.HeadsPredictor(groups, {"twitter15": 0.5, "weibo": 0.4, "pheme": thr})
    files = pred.files()
    assert not any(name.endswith((".pt", ".pkl", ".bin")) for name in files)
    reg = tmp_path_factory.mktemp("registry")
    version = registry.save_version(reg, "rumor", files, metrics={}, make_champion_if_none=True)
    return reg, version


@needs_data
def test_heads_round_trip_and_serving_routes(saved: tuple[Path, str], examples: list[RumorExample]) -> None:
    reg, version = saved
    pred = registry.load_predictor("rumor", reg)
    assert isinstance(pred, rh.HeadsPredictor) and pred.version == version
    model: RumorModel = pred  # the serving contract
    model.warm_up()
    en = [ex for ex in examples if ex.dataset == "twitter15"][:10]
    zh = [ex for ex in examples if ex.dataset == "weibo"][:10]
    sources = [ex.text for ex in en + zh]
    replies = [list(ex.replies) for ex in en + zh]
    s = model.score(sources, replies)
    assert s.shape == (20,) and s.dtype == np.float32 and ((s >= 0) & (s <= 1)).all()
    assert np.allclose(s[:10], pred.head_probs("pheme", sources[:10], replies[:10])[:, 1], atol=1e-6)
    raw = pred.head_probs("weibo", sources[10:], replies[10:])[:, 1]
    assert ((raw >= 0.4) == (s[10:] >= pred.decision_threshold)).all()  # the Weibo threshold maps over
    assert np.abs(model.score(sources[:10], [[] for _ in range(10)]) - s[:10]).max() > 1e-5  # replies count
    v = model.veracity(sources, replies)
    assert v.shape == (20, 3) and np.allclose(v.sum(axis=1), 1.0, atol=1e-5)
    assert model.score([], []).shape == (0,)
    with pytest.raises(ValueError):
        model.score(["a"], [])


@needs_data
def test_score_head_and_dataset_baselines(saved: tuple[Path, str], examples: list[RumorExample]) -> None:
    pred = registry.load_predictor("rumor", saved[0])
    assert isinstance(pred, rh.HeadsPredictor)
    tw = [ex for ex in examples if ex.dataset == "twitter15"]
    m = score_head(pred, "twitter15", tw[40:])
    assert m["head"] == "twitter15" and 0 <= m["accuracy"] <= 1 and m["n"] == 20
    wb = [ex for ex in examples if ex.dataset == "weibo"]
    mb = score_head(pred, "weibo", wb[40:])
    assert mb["at_decision_threshold"]["threshold"] == 0.4 and "rumour_f1" in mb
    base = dataset_baselines(wb[:40], wb[40:], "weibo")
    assert set(base) == {"tfidf_wordchar_lr_dataset", "tfidf_wordchar_svc_dataset"}
    assert all(0 <= b["rumour_f1"] <= 1 and b["n_train"] == 40 for b in base.values())
    assert 0 <= dataset_baselines(tw[:40], tw[40:], "twitter15")["tfidf_wordchar_lr_dataset"]["accuracy"] <= 1


@needs_data
def test_embedded_seq2seq_scores_english(examples: list[RumorExample], tmp_path: Path) -> None:
    """`train rumor --english-from`: today's Seq2Seq scores English threads (and sets the threshold),
    the Weibo head Chinese ones; both survive the registry round trip."""
    from seqsignal.models.text.recipes import TextOptions, train_rumor
    from seqsignal.models.text.train import FitConfig

    tw = [ex for ex in examples if ex.dataset == "twitter15"]
    tiny = TextOptions(vocab_size=300, emb_dim=8, hidden_size=8, max_len=32, init="random",
                       fit=FitConfig(max_epochs=1, patience=1, batch_size=32, threads=1))
    english = train_rumor(tw[:40], tw[40:], tiny).predictor
    english.model.eval()
    groups, _ = rh.fit_heads([ex for ex in examples if ex.dataset == "weibo"], TINY)
    files = rh.HeadsPredictor(groups, {"weibo": 0.5}, english=english).files()
    assert {"english.model.safetensors", "english.config.json", "english.tokenizer.json"} <= set(files)
    registry.save_version(tmp_path, "rumor", files, metrics={}, make_champion_if_none=True)
    pred = registry.load_predictor("rumor", tmp_path)
    assert isinstance(pred, rh.HeadsPredictor) and pred.english is not None
    src = [ex.text for ex in tw[:5]] + ["警方称这是谣言"]
    reps = [list(ex.replies) for ex in tw[:5]] + [[]]
    s = pred.score(src, reps)
    assert np.allclose(s[:5], english.score(src[:5], reps[:5]), atol=1e-5)
    assert pred.decision_threshold == english.decision_threshold
