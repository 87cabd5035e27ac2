"""Rumour fast tier (per-dataset heads): training job pieces, scoring with a file's own head, and the
per-dataset TF-IDF word+char LR / LinearSVC baselines trained on the same training data in the same run."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from seqsignal.models.core import metrics as M
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.evaluate import VERACITY4, multiclass_metrics, rumour_binary_metrics
from seqsignal.models.text.lexical import is_chinese, normalize
from seqsignal.models.text.rumor_heads import HEAD_LABELS, MASK_TOPICAL, HeadsPredictor

HEAD_OF_FORMAT = {"twitter15": "twitter15", "twitter16": "twitter16", "weibo": "weibo", "pheme": "pheme",
                  "tsv": "twitter15"}


def head_of(fmt: str, heads: Sequence[str]) -> str | None:
    """The head that scores a format (None: RumourEval, scored by the Twitter heads' veracity)."""
    head = HEAD_OF_FORMAT.get(fmt)
    if head is None:
        return None
    if head not in heads:
        raise ValueError(f"the model has no {head} head (heads: {', '.join(heads)})")
    return head


def gold_of(head: str, ex: RumorExample) -> str:
    return str(ex.veracity) if HEAD_LABELS[head] == HEAD_LABELS["twitter15"] else ex.label


def score_head(predictor: HeadsPredictor, head: str, examples: Sequence[RumorExample],
               threshold: float | None = None) -> dict[str, Any]:
    """Accuracy and macro F1 over the head's labels present in gold; binary heads also rumour F1 at 0.5
    and at the head's own threshold (`at_decision_threshold`)."""
    p = predictor.head_probs(head, [ex.text for ex in examples], [list(ex.replies) for ex in examples])
    labels = HEAD_LABELS[head]
    gold = [gold_of(head, ex) for ex in examples]
    pred = [labels[i] for i in p.argmax(1)]
    if len(labels) == 2:
        y = [g == "rumour" for g in gold]
        out = rumour_binary_metrics(y, p[:, 1])
        out["macro_f1"] = M.macro_f1(gold, pred, labels=list(labels))
        thr = predictor.thresholds.get(head, 0.5) if threshold is None else threshold
        out["at_decision_threshold"] = rumour_binary_metrics(y, p[:, 1], thr) | {"threshold": thr}
        return out | {"head": head}
    own = [lab for lab in VERACITY4 if lab in set(gold)]
    return dict(multiclass_metrics(gold, pred, own)) | {"macro_f1_labels": own, "head": head}


def score_veracity3(predictor: HeadsPredictor, examples: Sequence[RumorExample]) -> dict[str, Any]:
    """RumourEval (all rumours): veracity accuracy from the Twitter heads."""
    from seqsignal.models.text.rumor_heads import VERACITY_ORDER

    v = predictor.veracity([ex.text for ex in examples], [list(ex.replies) for ex in examples])
    gold = [str(ex.veracity) for ex in examples]
    pred = [VERACITY_ORDER[i] for i in v.argmax(1)]
    own = [x for x in VERACITY_ORDER if x in set(gold)]
    return dict(multiclass_metrics(gold, pred, own)) | {"macro_f1_labels": own, "head": "twitter15+16"}


def baseline_predictions(train: Sequence[RumorExample], test: Sequence[RumorExample],
                         head: str) -> dict[str, list[str]]:
    """Per-dataset TF-IDF (sublinear) word 1-2-grams + char n-grams (char 1-3 Chinese, char_wb 2-5
    otherwise) of the source text, with the head's own input normalisation, -> LR (C=10) and LinearSVC
    (C=1) trained on `train`; predicted labels of `test` (argmax: P >= 0.5 / margin >= 0 for rumour)."""
    from scipy.sparse import hstack
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.svm import LinearSVC

    mask = MASK_TOPICAL.get(head, False)
    tr = [normalize(ex.text, mask) for ex in train]
    te = [normalize(ex.text, mask) for ex in test]
    zh = bool(tr) and float(np.mean([is_chinese(t) for t in tr])) > 0.5
    words = r"(?u)[\u3400-\u9fff]|#?\b\w+\b"
    vecs = [TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=words),
            TfidfVectorizer(analyzer="char" if zh else "char_wb", ngram_range=(1, 3) if zh else (2, 5),
                            sublinear_tf=True)]
    xtr = hstack([v.fit_transform(tr) for v in vecs]).tocsr()
    xte = hstack([v.transform(te) for v in vecs]).tocsr()
    ytr = [gold_of(head, ex) for ex in train]
    out = {}
    for name, clf in (("tfidf_wordchar_lr_dataset", LogisticRegression(C=10.0, max_iter=2000)),
                      ("tfidf_wordchar_svc_dataset", LinearSVC(C=1.0))):
        out[name] = [str(x) for x in clf.fit(xtr, ytr).predict(xte)]
    return out


def dataset_baselines(train: Sequence[RumorExample], test: Sequence[RumorExample],
                      head: str) -> dict[str, Any]:
    """`baseline_predictions` trained on the dataset's training data in this run, scored like the head."""
    t0 = time.monotonic()
    gold = [gold_of(head, ex) for ex in test]
    out: dict[str, Any] = {}
    for name, pred in baseline_predictions(train, test, head).items():
        if len(HEAD_LABELS[head]) == 2:
            flags = np.array([p == "rumour" for p in pred], dtype=float)
            m = rumour_binary_metrics([g == "rumour" for g in gold], flags)
        else:
            m = dict(multiclass_metrics(gold, pred, [lab for lab in VERACITY4 if lab in set(gold)]))
        out[name] = m | {"n_train": len(train), "trained_on": f"{head} training data",
                         "seconds": time.monotonic() - t0}
    return out


LOEO_BASELINES = ("tfidf_wordchar_lr_dataset", "tfidf_wordchar_svc_dataset", "majority", "all_rumour")


def _loeo_baseline_fold(train: Sequence[RumorExample], test: Sequence[RumorExample], fold: dict[str, Any],
                        base: dict[str, list[float]]) -> None:
    """Every baseline on one held-out event: TF-IDF LR / SVC (own dataset), the training events' majority
    class, and flagging every tweet; rumour F1 into `fold`, flags and fold F1 into `base`."""
    y = [ex.is_rumour for ex in test]
    preds = baseline_predictions(train, test, "pheme")
    flags = {name: [p == "rumour" for p in pred] for name, pred in preds.items()}
    major = 2 * sum(ex.is_rumour for ex in train) > len(train)
    flags |= {"majority": [major] * len(test), "all_rumour": [True] * len(test)}
    for name in LOEO_BASELINES:
        fold[f"{name}_rumour_f1"] = rumour_binary_metrics(y, np.array(flags[name], float))["rumour_f1"]
        base.setdefault(name, []).append(fold[f"{name}_rumour_f1"])
        base.setdefault(f"{name}_flags", []).extend(float(x) for x in flags[name])


def pheme_loeo_heads(all_ex: Sequence[RumorExample], events: Sequence[str], opts: Any,
                     baseline: bool, on_fold: Callable[[str, dict[str, Any]], None] | None = None
                     ) -> dict[str, Any]:
    """Leave-one-event-out for the PHEME head (the same held-out events as the seq2seq protocol): per
    fold a PHEME-only network on the other events (topical cues masked), its threshold from event-grouped
    inner folds of those events (`rumor_heads.pheme_threshold`). Pre-declared figure: pooled rumour F1 at
    that threshold; at 0.5 beside it. Baselines (same fold, same training events): per-dataset TF-IDF
    word+char LR / LinearSVC at 0.5 / margin 0, the training events' majority class, all rumour."""
    from seqsignal.models.text.rumor_heads import HeadsPredictor, fit_group, pheme_threshold

    t0 = time.monotonic()
    gold: list[bool] = []
    scores: list[float] = []
    flags: list[bool] = []
    base: dict[str, list[float]] = {}
    folds: dict[str, Any] = {}
    for event in events:
        test = [ex for ex in all_ex if ex.event == event]
        train = [ex for ex in all_ex if ex.event != event]
        group = fit_group(train, ("pheme",), opts, opts.epochs_per_dataset.get("pheme", 6))
        thr, _ = pheme_threshold(train, opts)
        pred = HeadsPredictor({"pheme": group}, {"pheme": thr})
        y = [ex.is_rumour for ex in test]
        s = pred.head_probs("pheme", [ex.text for ex in test], [list(ex.replies) for ex in test])[:, 1]
        gold += y
        scores += s.tolist()
        flags += (s >= thr).tolist()
        fold = {"rumour_f1": rumour_binary_metrics(y, s)["rumour_f1"], "threshold": thr,
                "rumour_f1_at_threshold": rumour_binary_metrics(y, s, thr)["rumour_f1"], "n": len(y)}
        if baseline:
            _loeo_baseline_fold(train, test, fold, base)
        folds[event] = fold
        if on_fold:
            on_fold(event, fold)
    out: dict[str, Any] = {"task": "rumor", "protocol": "pheme-loeo", "recipe": "heads",
                           "averaging": "pooled (micro) over folds"}
    out |= rumour_binary_metrics(gold, np.array(scores))
    out["rumour_f1_macro_over_folds"] = float(np.mean([f["rumour_f1"] for f in folds.values()]))
    out["at_threshold"] = rumour_binary_metrics(gold, np.array(flags, dtype=float)) | {
        "rumour_f1_macro_over_folds": float(np.mean([f["rumour_f1_at_threshold"] for f in folds.values()])),
        "note": "pre-declared: per-fold threshold maximising rumour F1 over out-of-fold scores of "
                "event-grouped inner folds of the training events"}
    if baseline:
        out["baselines"] = {name: rumour_binary_metrics(gold, np.array(base[f"{name}_flags"], dtype=float))
                            | {"rumour_f1_macro_over_folds": float(np.mean(base[name]))}
                            for name in LOEO_BASELINES}
    return out | {"folds": folds, "seconds": time.monotonic() - t0}
