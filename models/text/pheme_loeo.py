"""PHEME leave-one-event-out protocol for the Seq2Seq rumor recipe (`eval rumor --protocol pheme-loeo`)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import data as td
from seqsignal.models.text import evaluate as te
from seqsignal.models.text.recipes import TextOptions, train_rumor, tune_threshold
from seqsignal.models.text.rumor import RumorPredictor
from seqsignal.models.text.train import FitConfig

PHEME_LOEO_EVENTS = td.PHEME_LOEO_EVENTS


@dataclass
class _Pooled:
    """Held-out predictions of every fold, pooled: scores, and flags at the fold's two thresholds."""

    scores: list[float] = field(default_factory=list)
    tuned: list[bool] = field(default_factory=list)  # at each fold's own training-side threshold
    tuned_pheme: list[bool] = field(default_factory=list)  # threshold chosen on the PHEME part of dev only

    def add(self, scores: np.ndarray, threshold: float, pheme_threshold: float) -> None:
        self.scores += scores.tolist()
        self.tuned += (scores >= threshold).tolist()
        self.tuned_pheme += (scores >= pheme_threshold).tolist()

    def metrics(self, gold: list[bool], folds: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        """Pooled rumour metrics, with the macro over folds, at 0.5 and at both thresholds."""

        def macro(key: str) -> float:
            return float(np.mean([f[prefix + key] for f in folds.values()]))

        out = te.rumour_binary_metrics(gold, np.array(self.scores))
        out["rumour_f1_macro_over_folds"] = macro("rumour_f1")
        for name, flags, key in (("at_threshold", self.tuned, "rumour_f1_at_threshold"),
                                 ("at_pheme_threshold", self.tuned_pheme, "rumour_f1_at_pheme_threshold")):
            out[name] = te.rumour_binary_metrics(gold, np.array(flags, dtype=float)) | {
                "rumour_f1_macro_over_folds": macro(key)}
        return out


def _rumour_fold(y: list[bool], s: np.ndarray, thr: float, pthr: float, prefix: str = "") -> dict[str, float]:
    """One fold's held-out rumour F1 at 0.5, at the fold's threshold and at its PHEME-dev threshold."""
    return {
        f"{prefix}rumour_f1": te.rumour_binary_metrics(y, s)["rumour_f1"],
        f"{prefix}threshold": thr,
        f"{prefix}rumour_f1_at_threshold": te.rumour_binary_metrics(y, s, thr)["rumour_f1"],
        f"{prefix}threshold_pheme_dev": pthr,
        f"{prefix}rumour_f1_at_pheme_threshold": te.rumour_binary_metrics(y, s, pthr)["rumour_f1"],
    }


def _model_fold(train: list[RumorExample], dev: list[RumorExample], test: list[RumorExample],
                opts: TextOptions, pooled: _Pooled) -> dict[str, Any]:
    """Train on `train` (early-stopped and thresholded on `dev`, training side), score `test`."""
    trained = train_rumor(train, dev, opts)
    predictor = cast(RumorPredictor, trained.predictor)
    thr = predictor.decision_threshold  # chosen on `dev` (training side), never on `test`
    y = [ex.is_rumour for ex in test]
    s = predictor.score([ex.text for ex in test], [list(ex.replies) for ex in test])
    pdev = [ex for ex in dev if ex.dataset == "pheme"]  # alternative rule: PHEME part of dev only
    pthr = tune_threshold(
        [ex.is_rumour for ex in pdev],
        predictor.score([ex.text for ex in pdev], [list(ex.replies) for ex in pdev]),
    )
    pooled.add(s, thr, pthr)
    fold: dict[str, Any] = te.rumour_binary_metrics(y, s) | {"epochs": float(trained.result.best_epoch)}
    return fold | _rumour_fold(y, s, thr, pthr)


def _baseline_fold(train: list[RumorExample], dev: list[RumorExample], test: list[RumorExample],
                   pooled: _Pooled) -> dict[str, float]:
    """The same rule with TF-IDF + LR: fit on `train`, thresholds on `dev`, score `test`."""
    from seqsignal.models.text.baselines import TfidfLR

    labels = ["rumour" if ex.is_rumour else "non-rumour" for ex in train]
    lr = TfidfLR().fit([ex.text for ex in train], labels)
    dev_b = lr.score_of([ex.text for ex in dev], "rumour")
    bthr = tune_threshold([ex.is_rumour for ex in dev], dev_b)
    isp = np.array([ex.dataset == "pheme" for ex in dev])
    bpthr = tune_threshold(np.array([ex.is_rumour for ex in dev])[isp], dev_b[isp])
    b = lr.score_of([ex.text for ex in test], "rumour")
    pooled.add(b, bthr, bpthr)
    return _rumour_fold([ex.is_rumour for ex in test], b, bthr, bpthr, prefix="tfidf_lr_")


def pheme_examples(
    root_or_pheme: Path, extra: tuple[str, ...]
) -> tuple[list[RumorExample], list[RumorExample]]:
    """PHEME's examples (from its directory, a file in it, or the data root) and the `extra` datasets'."""
    from seqsignal.models.datasets import pheme

    pdir = root_or_pheme.parent if root_or_pheme.is_file() else root_or_pheme
    if not (pdir / "source_tweets.tsv").is_file():
        pdir = root_or_pheme / pheme.PHEME_REL
    data_root = pdir.parent.parent  # <root>/rumor/pheme
    others = [ex for part in td.rumor_train_dev(data_root, extra) for ex in part] if extra else []
    return list(pheme.iter_pheme(pdir)), others


def pheme_loeo(
    root_or_pheme: Path,
    opts: TextOptions,
    baseline: bool,
    extra: tuple[str, ...] = (),
    on_fold: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-event-out over the 5 PHEME events with both classes (charliehebdo, ebola-essien always
    train). Per fold: a fresh tokenizer and model on the other events (+ `extra` datasets minus any tweet of
    the held-out event), early-stopped on a 10% hash split of that training data. Reports pooled (micro)
    rumour-class F1 over all held-out tweets, and the macro over folds."""
    all_ex, others = pheme_examples(root_or_pheme, extra)
    gold: list[bool] = []
    model, base = _Pooled(), _Pooled()
    folds: dict[str, Any] = {}
    t0 = time.monotonic()
    for event in td.PHEME_LOEO_EVENTS:
        test = [ex for ex in all_ex if ex.event == event]
        held = {ex.id for ex in test}
        pool = [ex for ex in all_ex if ex.event != event] + [ex for ex in others if ex.id not in held]
        train = [ex for ex in pool if not td._split_of(ex, 0.1)]
        dev = [ex for ex in pool if td._split_of(ex, 0.1)]
        fold = _model_fold(train, dev, test, opts, model)
        if baseline:
            fold |= _baseline_fold(train, dev, test, base)
        gold += [ex.is_rumour for ex in test]
        folds[event] = fold
        if on_fold:
            on_fold(event, fold)
    out: dict[str, Any] = {"task": "rumor", "protocol": "pheme-loeo"}
    out["averaging"] = "pooled (micro) over folds"
    out |= model.metrics(gold, folds)
    rule = "per-fold threshold maximising rumour F1 on"
    out["at_threshold"]["note"] = f"{rule} the fold's 10% training-side dev split"
    out["at_pheme_threshold"]["note"] = f"{rule} the PHEME tweets of the fold's dev split"
    out |= {"folds": folds, "extra_training_data": list(extra), "seconds": time.monotonic() - t0}
    if baseline:
        bm = base.metrics(gold, folds, prefix="tfidf_lr_")
        bm["trained_on"] = "the fold's training split (the model's dev split only picks the threshold)"
        out["baselines"] = {"tfidf_lr": bm}
    return out


def loeo_options(init: str = "minilm", freeze_embeddings: bool = False) -> TextOptions:
    """Small, fast per-fold models for the LOEO protocol."""
    fit = FitConfig(
        max_epochs=6,
        patience=2,
        batch_size=32,
        time_budget_s=240,
        threads=1,
        freeze_embeddings=freeze_embeddings,
    )
    return TextOptions(vocab_size=4000, emb_dim=128, hidden_size=128, max_len=64, init=init, fit=fit)
