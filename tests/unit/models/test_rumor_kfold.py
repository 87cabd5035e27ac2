"""Rumour grouped k-fold protocol on tiny synthetic data: near-duplicate similarity and clusters, folds that
never split a cluster, out-of-fold predictions covering each example once, the figures and the whole run."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import rumor_kfold as rk
from seqsignal.models.text import rumor_kfold_report as rr
from seqsignal.models.text.rumor_heads_training import HeadsOptions

TINY = HeadsOptions(emb_dim=8, hidden_size=8, lex_buckets=1 << 12, epochs_per_dataset={"twitter15": 1})
LABELS = ("true", "false", "unverified", "non-rumor")
WORDS = {"true": "confirmed", "false": "hoax", "unverified": "reportedly", "non-rumor": "weather"}


def _rows(n_stories: int = 24, copies: int = 3) -> list[tuple[str, str, str]]:
    """(id, text, label): each story (three words of its own and its class's word) told `copies` times with
    other URLs, handles and numbers."""
    rows = []
    for s in range(n_stories):
        label, code = LABELS[s % 4], chr(97 + s % 26) + chr(97 + s // 26)
        for c in range(copies):
            text = f"x{code}a x{code}b x{code}c {WORDS[label]} {c * 7} @who{c} http://t.co/{c}"
            rows.append((f"{1000 + s * copies + c}", text, label))
    return rows


def _examples(rows: list[tuple[str, str, str]]) -> list[RumorExample]:
    return [RumorExample(id=i, text=t, label="non-rumour" if lab == "non-rumor" else "rumour",
                         veracity=lab, dataset="twitter15") for i, t, lab in rows]  # type: ignore[arg-type]


def test_similarity_ignores_urls_handles_digits_and_reads_chinese_as_bigrams() -> None:
    s = rk.jaccard_matrix(["Police confirm 2 dead @cnn http://t.co/a", "police CONFIRM 17 dead http://x.y/b",
                           "police deny everything", "警方称这是谣言", "警方称这是真的", ""])
    assert s[0, 1] == pytest.approx(1.0)
    assert s[0, 2] == pytest.approx(1 / 5)  # {police} / {police, confirm, dead, deny, everything}
    assert s[3, 4] == pytest.approx(4 / 8)  # 警方 方称 称这 这是 shared, 2 + 2 bigrams differ
    assert s[5, 5] == 0.0 and s[0, 5] == 0.0
    assert rk.claim_set("警方称") == {"警方", "方称"}


def test_clusters_chain_pairs_above_the_threshold() -> None:
    sims = np.array([[1, .6, .1, 0], [.6, 1, .55, 0], [.1, .55, 1, .49], [0, 0, .49, 1]], dtype=np.float32)
    c = rk.near_duplicate_clusters(sims)
    assert c[0] == c[1] == c[2] and c[3] != c[0]


def test_grouped_folds_never_split_a_cluster_and_random_folds_do() -> None:
    ex = _examples(_rows())
    sims = rk.jaccard_matrix([e.text for e in ex])
    clusters = rk.near_duplicate_clusters(sims)
    assert len(set(clusters.tolist())) == 24  # the three copies of a story are one cluster
    grouped, rand = rk.fold_of(len(ex), clusters, 4, 0), rk.fold_of(len(ex), None, 4, 0)
    assert sorted(set(grouped.tolist())) == [0, 1, 2, 3] and (grouped >= 0).all()
    assert rr.split_clusters(clusters, grouped) == 0
    assert rr.split_clusters(clusters, rand) > 0
    assert (rr.max_train_similarity(sims, grouped) < rk.NEAR_DUP_JACCARD).all()
    assert (rr.max_train_similarity(sims, rand) > 0.99).sum() > 0
    assert np.array_equal(grouped, rk.fold_of(len(ex), clusters, 4, 0))  # fixed seed


def test_out_of_fold_predictions_cover_each_example_once() -> None:
    ex = _examples(_rows(12, 2))
    sims = rk.jaccard_matrix([e.text for e in ex])
    folds = rk.fold_of(len(ex), rk.near_duplicate_clusters(sims), 3, 0)
    seen: list[int] = []
    oof = rk.run_folds(ex, "twitter15", folds, sims, TINY, True, lambda f, acc: seen.append(f))
    assert seen == [0, 1, 2]
    assert set(oof.pred) == {"heads", "heads_head_alone", "heads_lexical_alone", "tfidf_wordchar_lr_dataset",
                             "tfidf_wordchar_svc_dataset", "majority", "nearest_neighbour_jaccard"}
    assert len(oof.fusion_weights) == 3 and all(0.0 <= w <= 1.0 for w in oof.fusion_weights)
    for model, pred in oof.pred.items():
        assert (oof.times[model] == 1).all() and all(p in LABELS for p in pred), model
    oof.put("heads", np.array([0]), ["true"])
    with pytest.raises(AssertionError, match="exactly once"):
        oof.check()


def test_reference_predictions_majority_and_nearest_neighbour() -> None:
    sims = np.array([[1, .9, .1], [.9, 1, .2], [.1, .2, 1]], dtype=np.float32)
    gold = ["false", "true", "true"]
    out = rk.reference_predictions(np.array([1, 2]), np.array([0]), gold, sims, list(LABELS))
    assert out == {"majority": ["true"], "nearest_neighbour_jaccard": ["true"]}
    out = rk.reference_predictions(np.array([0, 1]), np.array([2]), gold, sims, list(LABELS))
    assert out["majority"] == ["true"]  # a 1-1 tie goes to the first label of the head's order
    assert out["nearest_neighbour_jaccard"] == ["true"]


def test_model_report_and_versus_count_right() -> None:
    gold = ["a", "a", "b", "b"]
    folds = np.array([0, 0, 1, 1])
    buckets = rr.bucket_of(np.array([0.1, 0.6, 1.0, 0.5]))
    assert buckets == ["[0,0.2)", "[0.5,0.8)", "[0.8,1]", "[0.5,0.8)"]
    r = rr.model_report(gold, ["a", "b", "b", "b"], folds, buckets, ["a", "b"])
    assert r["accuracy"] == 0.75 and r["confusion"]["matrix"] == [[1, 1], [0, 2]]
    assert [f["accuracy"] for f in r["folds"]] == [0.5, 1.0]
    assert r["over_folds"]["accuracy"]["mean"] == 0.75
    assert r["over_folds"]["accuracy"]["sd"] == pytest.approx(np.std([0.5, 1.0], ddof=1))
    assert r["by_class"]["a"]["accuracy"] == 0.5
    assert r["by_bucket"]["[0.5,0.8)"] == {"n": 2.0, "accuracy": 0.5}
    v = rr.versus(gold, ["a", "b", "b", "b"], ["b", "a", "b", "a"], buckets, ["a", "b"])
    assert (v["only_model_right"], v["only_baseline_right"]) == (2, 1)
    assert v["accuracy_diff"] == 0.25 and v["by_class"] == {"a": 0.0, "b": 0.5}


def test_the_whole_protocol_reads_train_only(tmp_path: Path) -> None:
    d = tmp_path / "twitter15"
    d.mkdir()
    rows = _rows(12, 2)
    (d / "train.tsv").write_text("".join(f"{i}\t{t}\t{lab}\n" for i, t, lab in rows), encoding="utf-8")
    (d / "dev.tsv").write_text("999\tnever read\ttrue\n", encoding="utf-8")
    out = rr.rumor_kfold(d, TINY, k=3, seed=0, baseline=True)
    assert out["n"] == len(rows) and out["dataset"] == "twitter15" and out["grouping"]["clusters"] == 12
    assert out["grouped"]["clusters_split_across_folds"] == 0
    heads = out["grouped"]["models"]["heads"]
    assert sum(f["n"] for f in heads["folds"]) == len(rows)
    assert np.sum(heads["confusion"]["matrix"]) == len(rows)
    assert set(out["leakage"]) == set(out["grouped"]["models"])
    lookup = out["random"]["models"]["nearest_neighbour_jaccard"]
    assert lookup["by_bucket"]["[0.8,1]"]["accuracy"] == 1.0  # the copy in training gives the label away
    (tmp_path / "twitter16").mkdir()
    (tmp_path / "twitter16" / "dev.tsv").write_text("999\tdev only\ttrue\n", encoding="utf-8")
    with pytest.raises(ValueError, match="kfold takes a Twitter15/16 or Weibo dir with train"):
        rk.kfold_examples(tmp_path / "twitter16")


def test_pheme_loeo_carries_every_baseline() -> None:
    from dataclasses import replace

    from seqsignal.models.text.rumor_eval import LOEO_BASELINES, pheme_loeo_heads

    ex = [replace(e, dataset="pheme", event=f"e{i % 3}") for i, e in enumerate(_examples(_rows(12, 3)))]
    opts = replace(TINY, epochs_per_dataset={"pheme": 1})
    out = pheme_loeo_heads(ex, ("e0", "e1"), opts, baseline=True)
    assert set(out["baselines"]) == set(LOEO_BASELINES) and out["n"] == 24
    rumours = sum(e.is_rumour for e in ex if e.event in ("e0", "e1"))
    everything = out["baselines"]["all_rumour"]
    assert everything["rumour_recall"] == 1.0 and everything["rumour_precision"] == rumours / 24
    assert out["baselines"]["majority"] == everything  # 3 of 4 labels are rumours: the majority flags all
    assert all("majority_rumour_f1" in f for f in out["folds"].values())
