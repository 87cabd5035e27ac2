"""Figures of the rumour k-fold protocol: pooled and per-fold accuracy / macro-F1, confusion matrices,
accuracy by class and by bucket of similarity to the fold's training threads, the heads against each
baseline, and grouped against random folds (`eval rumor --protocol kfold`)."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from seqsignal.models.core import metrics as M
from seqsignal.models.text import rumor_kfold as rk
from seqsignal.models.text.rumor_eval import HEAD_OF_FORMAT, gold_of
from seqsignal.models.text.rumor_heads_network import HEAD_LABELS

# buckets of max Jaccard to the fold's training threads (fixed a priori); the last edge includes 1.0
BUCKET_EDGES = (0.0, 0.2, 0.35, 0.5, 0.8, 1.0)
BUCKETS = tuple(f"[{a:g},{b:g}{']' if b == 1.0 else ')'}" for a, b in itertools.pairwise(BUCKET_EDGES))
COMPARED = ("tfidf_wordchar_lr_dataset", "tfidf_wordchar_svc_dataset", "nearest_neighbour_jaccard")


def max_train_similarity(sims: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Per example, its highest similarity to a training thread of the fold that holds it out."""
    out = np.zeros(len(folds), dtype=np.float32)
    for f in np.unique(folds):
        te, tr = np.flatnonzero(folds == f), np.flatnonzero(folds != f)
        out[te] = sims[np.ix_(te, tr)].max(axis=1) if len(tr) else 0.0
    return out


def bucket_of(maxsim: np.ndarray) -> list[str]:
    idx = np.clip(np.searchsorted(BUCKET_EDGES, maxsim, side="right") - 1, 0, len(BUCKETS) - 1)
    return [BUCKETS[i] for i in idx]


def _acc_by(keys: Sequence[str], right: np.ndarray, order: Sequence[str]) -> dict[str, dict[str, float]]:
    k = np.asarray(keys, dtype=object)
    return {b: {"n": float((k == b).sum()), "accuracy": float(right[k == b].mean()) if (k == b).any()
                else float("nan")} for b in order}


def model_report(gold: Sequence[str], pred: Sequence[str], folds: np.ndarray, buckets: Sequence[str],
                 labels: Sequence[str]) -> dict[str, Any]:
    """Pooled out-of-fold accuracy / macro-F1 (over the dataset's labels), mean and sd (ddof=1) over
    folds, the confusion matrix (rows gold, columns predicted, `labels` order), accuracy by class and by
    similarity bucket."""
    right = np.asarray(gold, dtype=object) == np.asarray(pred, dtype=object)
    per_fold = []
    for f in np.unique(folds):
        idx = np.flatnonzero(folds == f).tolist()
        g, p = [gold[i] for i in idx], [pred[i] for i in idx]
        per_fold.append({"accuracy": M.accuracy(g, p), "macro_f1": M.macro_f1(g, p, labels),
                         "n": float(len(idx))})
    spread = {key: {"mean": float(np.mean([f[key] for f in per_fold])),
                    "sd": float(np.std([f[key] for f in per_fold], ddof=1)) if len(per_fold) > 1 else 0.0}
              for key in ("accuracy", "macro_f1")}
    return {"accuracy": M.accuracy(gold, pred), "macro_f1": M.macro_f1(gold, pred, labels),
            "over_folds": spread, "folds": per_fold,
            "confusion": {"labels": list(labels), "matrix": M.confusion(gold, pred, labels).tolist()},
            "by_class": _acc_by(gold, right, labels), "by_bucket": _acc_by(buckets, right, BUCKETS)}


def versus(gold: Sequence[str], a: Sequence[str], b: Sequence[str], buckets: Sequence[str],
           labels: Sequence[str]) -> dict[str, Any]:
    """Model `a` against `b` on the same predictions: discordant counts with McNemar's exact p, and the
    accuracy difference (a - b) by class and by bucket."""
    from scipy.stats import binomtest

    g = np.asarray(gold, dtype=object)
    ra, rb = g == np.asarray(a, dtype=object), g == np.asarray(b, dtype=object)
    only_a, only_b = int((ra & ~rb).sum()), int((rb & ~ra).sum())
    p = binomtest(only_a, only_a + only_b).pvalue if only_a + only_b else 1.0
    k = np.asarray(buckets, dtype=object)

    def diff(mask: np.ndarray) -> float:
        return float(ra[mask].mean() - rb[mask].mean()) if mask.any() else float("nan")

    return {"only_model_right": only_a, "only_baseline_right": only_b, "mcnemar_p": float(p),
            "accuracy_diff": diff(np.ones(len(g), bool)),
            "by_class": {lab: diff(g == lab) for lab in labels},
            "by_bucket": {b_: {"n": float((k == b_).sum()), "diff": diff(k == b_)} for b_ in BUCKETS}}


def protocol_report(gold: Sequence[str], folds: np.ndarray, sims: np.ndarray, oof: rk.OutOfFold,
                    labels: Sequence[str]) -> dict[str, Any]:
    """Every model's figures on one set of folds, and the heads against each lexical / lookup baseline."""
    buckets = bucket_of(max_train_similarity(sims, folds))
    out: dict[str, Any] = {
        "models": {m: model_report(gold, p, folds, buckets, labels) for m, p in oof.pred.items()},
        "cpu_s": oof.cpu_s, "fusion_weights": oof.fusion_weights,
    }
    out["heads_vs"] = {b: versus(gold, oof.pred["heads"], oof.pred[b], buckets, labels)
                       for b in (*COMPARED, "heads_head_alone", "heads_lexical_alone") if b in oof.pred}
    return out


def rumor_kfold(path: Path, opts: Any, k: int = 5, seed: int = 0, baseline: bool = True,
                on_fold: Callable[[str, int, dict[str, float]], None] | None = None,
                protocols: tuple[str, ...] = ("grouped", "random")) -> dict[str, Any]:
    """The protocol on a Twitter15/16 or Weibo dir: grouped folds (no near-duplicate cluster split) and
    random folds, the same models on both; `leakage` = random - grouped for each model."""
    t0 = time.monotonic()
    fmt, examples = rk.kfold_examples(path)
    head = HEAD_OF_FORMAT[fmt]
    labels = list(HEAD_LABELS[head])
    gold = [gold_of(head, ex) for ex in examples]
    sims = rk.jaccard_matrix([ex.text for ex in examples])
    clusters = rk.near_duplicate_clusters(sims)
    out: dict[str, Any] = {"task": "rumor", "protocol": "kfold", "dataset": fmt, "head": head,
                           "data": "train.tsv only; dev.tsv left out (earlier choices looked at it)",
                           "n": len(examples), "k": k, "seed": seed, "labels": labels,
                           "grouping": grouping_note(clusters, sims)}
    for name, groups in (("grouped", clusters), ("random", None)):
        if name not in protocols:
            continue
        folds = rk.fold_of(len(examples), groups, k, seed)
        cb = (lambda f, acc, _n=name: on_fold(_n, f, acc)) if on_fold else None
        oof = rk.run_folds(examples, head, folds, sims, opts, baseline, cb)
        out[name] = protocol_report(gold, folds, sims, oof, labels)
        out[name]["clusters_split_across_folds"] = split_clusters(clusters, folds)
    if "grouped" not in out or "random" not in out:
        return out | {"seconds": time.monotonic() - t0}
    out["leakage"] = {m: {key: out["random"]["models"][m][key] - r[key] for key in ("accuracy", "macro_f1")}
                      for m, r in out["grouped"]["models"].items()}
    return out | {"seconds": time.monotonic() - t0}


def grouping_note(clusters: np.ndarray, sims: np.ndarray) -> dict[str, Any]:
    sizes = np.bincount(clusters)
    return {"rule": "connected components of pairs with Jaccard >= threshold (words; Chinese: character "
                    "bigrams; URLs, handles, digits stripped)", "threshold": rk.NEAR_DUP_JACCARD,
            "clusters": len(sizes), "largest": int(sizes.max()),
            "in_multi_clusters": int(sizes[sizes > 1].sum()),
            "pairs": int(np.triu(sims >= rk.NEAR_DUP_JACCARD, 1).sum())}


def split_clusters(clusters: np.ndarray, folds: np.ndarray) -> int:
    """How many near-duplicate clusters have members in more than one fold (0 for grouped folds)."""
    return sum(len(set(folds[clusters == c].tolist())) > 1 for c in np.unique(clusters))
