"""Rumour fast tier's linear lexical channel: fused per dataset inside the recipe (weight on the grid,
chosen on a hash selection split), registry files round trip (loaded == saved), older versions without the
lexical files load and serve the head alone, probabilities sum to 1, n-gram spec per language."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.core import registry
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import rumor_heads as rh
from seqsignal.models.text import rumor_lexical as rl
from seqsignal.models.text.data import read_rumor, selection_split
from seqsignal.models.text.sentiment_lexical import WEIGHT_GRID, LexicalHead, NgramSpec, fuse
from seqsignal.workers.settings import default_data_dir

ROOT = default_data_dir()
pytestmark = pytest.mark.skipif(not (ROOT / "rumor/twitter15").is_dir(), reason="shared data not available")
TINY = rh.HeadsOptions(epochs=1, emb_dim=8, hidden_size=8, lex_buckets=1 << 12, threshold_folds=0,
                       channel_buckets=1 << 12, channel_share=0.25,
                       epochs_per_dataset={"twitter15": 1, "weibo": 1, "pheme": 1})


@pytest.fixture(scope="module")
def examples() -> list[RumorExample]:
    _, tw = read_rumor(ROOT / "rumor/twitter15")
    _, wb = read_rumor(ROOT / "rumor/weibo")
    tw = [replace(ex, dataset="twitter15") for ex in tw[:80]]
    ph = [replace(ex, dataset="pheme", event=f"e{i % 3}") for i, ex in enumerate(tw[:30])]
    return tw + [replace(ex, dataset="weibo") for ex in wb[:80]] + ph


@pytest.fixture(scope="module")
def predictor(examples: list[RumorExample]) -> rh.HeadsPredictor:
    groups, _ = rh.fit_heads(examples, TINY)
    return rh.HeadsPredictor(groups, {"twitter15": 0.5, "weibo": 0.5, "pheme": 0.5})


def _threads(examples: list[RumorExample], dataset: str) -> tuple[list[str], list[list[str]]]:
    ex = [e for e in examples if e.dataset == dataset][:20]
    return [e.text for e in ex], [list(e.replies) for e in ex]


def test_selection_split_is_stable_and_about_the_share(examples: list[RumorExample]) -> None:
    fit, sel = selection_split(examples, 0.25)
    assert sorted(fit + sel) == list(range(len(examples))) and not set(fit) & set(sel)
    assert 0.1 < len(sel) / len(examples) < 0.4
    assert selection_split(list(reversed(examples)), 0.25)[1] == [len(examples) - 1 - i for i in sel[::-1]]


def test_channels_on_the_chosen_datasets_with_a_grid_weight(predictor: rh.HeadsPredictor) -> None:
    lexical = {d: lex for g in predictor.groups.values() for d, lex in g.lexical.items()}
    assert set(lexical) == {"twitter15", "weibo"}  # PHEME keeps its threshold protocol: no channel
    for d, lex in lexical.items():
        assert lex.weight in {float(w) for w in WEIGHT_GRID}, d
        assert lex.choice["n_select"] > 0 and len(lex.choice["losses"]) == len(WEIGHT_GRID)
        assert min(lex.choice["losses"].values()) == lex.choice["losses"][f"{lex.weight:.2f}"]
    assert lexical["weibo"].head.features.spec.char_analyzer == "char"  # Chinese: char 1-3
    assert lexical["twitter15"].head.features.spec.char_analyzer == "char_wb"


def test_served_probabilities_are_the_fusion_and_sum_to_one(predictor: rh.HeadsPredictor,
                                                            examples: list[RumorExample]) -> None:
    for d in ("twitter15", "weibo", "pheme"):
        src, rep = _threads(examples, d)
        parts = predictor.parts(d, src, rep)
        p = predictor.head_probs(d, src, rep)
        assert p.shape == (len(src), len(rh.HEAD_LABELS[d]))
        assert np.allclose(p.sum(axis=1), 1.0, atol=1e-5) and (p >= 0).all()
        if d == "pheme":
            assert set(parts) == {"head", "served"} and np.array_equal(p, parts["head"])
            continue
        assert np.allclose(parts["lexical"].sum(axis=1), 1.0, atol=1e-5)
        lex = predictor._of[d].lexical[d]
        assert np.allclose(p, fuse(parts["head"], np.log(parts["lexical"]), lex.weight), atol=1e-5)
    v = predictor.veracity(*_threads(examples, "twitter15"))
    assert np.allclose(v.sum(axis=1), 1.0, atol=1e-5)


def test_files_round_trip_loaded_equals_saved(predictor: rh.HeadsPredictor, examples: list[RumorExample],
                                              tmp_path: Path) -> None:
    files = predictor.files()
    assert {"twitter15.lexical.safetensors", "weibo.lexical.safetensors"} <= set(files)
    assert not any(name.endswith((".pt", ".pkl", ".bin")) for name in files)
    cfg = json.loads(files["config.json"])
    assert set(cfg["lexical"]) == {"twitter15", "weibo"}
    registry.save_version(tmp_path, "rumor", files, metrics={}, make_champion_if_none=True)
    loaded = registry.load_predictor("rumor", tmp_path)
    assert isinstance(loaded, rh.HeadsPredictor)
    for d in ("twitter15", "weibo"):
        src, rep = _threads(examples, d)
        assert loaded._of[d].lexical[d].weight == predictor._of[d].lexical[d].weight
        assert np.allclose(loaded.head_probs(d, src, rep), predictor.head_probs(d, src, rep), atol=1e-5)
    src = [ex.text for ex in examples[:5]] + ["警方称这是谣言"]
    reps = [list(ex.replies) for ex in examples[:5]] + [[]]
    assert np.allclose(loaded.score(src, reps), predictor.score(src, reps), atol=1e-5)


def test_an_older_version_without_lexical_files_serves_the_head_alone(
        predictor: rh.HeadsPredictor, examples: list[RumorExample], tmp_path: Path) -> None:
    files = {k: v for k, v in predictor.files().items() if not k.endswith(".lexical.safetensors")}
    cfg = json.loads(files["config.json"])
    del cfg["lexical"]
    files["config.json"] = json.dumps(cfg).encode()
    registry.save_version(tmp_path, "rumor", files, metrics={}, make_champion_if_none=True)
    old = registry.load_predictor("rumor", tmp_path)
    assert isinstance(old, rh.HeadsPredictor)
    src, rep = _threads(examples, "weibo")
    head = predictor.parts("weibo", src, rep)["head"]
    assert np.allclose(old.head_probs("weibo", src, rep), head, atol=1e-5)
    assert not np.allclose(predictor.head_probs("weibo", src, rep), head, atol=1e-5) or \
        predictor._of["weibo"].lexical["weibo"].weight == 0.0


def test_the_channel_can_be_switched_off(examples: list[RumorExample]) -> None:
    groups, _ = rh.fit_heads([e for e in examples if e.dataset == "weibo"],
                             replace(TINY, lexical_channel=False))
    assert groups["weibo"].lexical == {}
    assert "lexical" not in json.loads(rh.HeadsPredictor(groups, {}).files()["config.json"])


def test_lexical_file_keeps_its_ngram_spec_and_old_files_read_as_sentiment() -> None:
    from safetensors.numpy import save

    texts = ["警方称这是谣言", "这是真的消息", "谣言不可信", "官方确认消息"]
    head = rl.fit_lexical(texts, np.array([1, 0, 1, 0]), 2, False, 10.0, 1 << 16)
    again = LexicalHead.from_bytes(head.to_bytes())
    assert again.features.spec == head.features.spec == NgramSpec(rl.WORDS, "char", 1, 3, False, True)
    assert np.allclose(again.log_probs(texts), head.log_probs(texts))
    assert (head.features.idf == 0).sum() > 0  # unseen buckets carry no weight
    assert np.allclose(head.log_probs(["谣言"]), head.log_probs(["谣言 乙丙丁"]))
    old = save({"idf": head.features.idf, "coef": head.coef, "intercept": head.intercept})  # no metadata
    assert LexicalHead.from_bytes(old).features.spec == NgramSpec()


def test_the_head_can_be_refit_on_every_training_thread(examples: list[RumorExample]) -> None:
    weibo = [e for e in examples if e.dataset == "weibo"]
    groups, _ = rh.fit_heads(weibo, TINY)  # the default
    choice = groups["weibo"].lexical["weibo"].choice
    assert choice["head_refit_on"] == choice["lr_refit_on"] == len(weibo) > choice["n_fit"]
    once = rh.fit_heads(weibo, replace(TINY, channel_refit_head=False))[0]["weibo"]
    assert "head_refit_on" not in once.lexical["weibo"].choice
