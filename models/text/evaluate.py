"""Text-task metrics and evaluation: sentiment AvgRec, rumour F1, veracity accuracy, baselines, speed."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from sklearn.metrics import f1_score, precision_score, recall_score

from seqsignal.models.core import metrics as M
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.datasets.sentiment import SentimentExample
from seqsignal.models.text.rumor import VERACITY_LABELS, RumorPredictor
from seqsignal.models.text.sentiment import SentimentPredictor
from seqsignal.models.text.sentiment_lexical import fuse
from seqsignal.schemas.events import SENTIMENT_LABELS

VERACITY4: tuple[str, ...] = ("non-rumor", "true", "false", "unverified")


def sentiment_metrics(gold: Sequence[str], pred: Sequence[str]) -> dict[str, float]:
    """SemEval-2017 4A: AvgRec (macro recall), accuracy, F1^PN (mean F1 of positive and negative), n."""
    f1 = f1_score(gold, pred, labels=["positive", "negative"], average=None, zero_division=0)
    return {
        "avg_recall": M.macro_recall(gold, pred, labels=list(SENTIMENT_LABELS)),
        "accuracy": M.accuracy(gold, pred),
        "f1_pn": float(np.mean(f1)),
        "n": float(len(gold)),
    }


def rumour_binary_metrics(
    gold: Sequence[bool], scores: np.ndarray, threshold: float = 0.5
) -> dict[str, Any]:
    """Rumour-class F1, precision, recall and accuracy at a score threshold."""
    y = np.asarray(gold, dtype=bool)
    p = np.asarray(scores) >= threshold
    return {
        "rumour_f1": float(f1_score(y, p, zero_division=0)),
        "rumour_precision": float(precision_score(y, p, zero_division=0)),
        "rumour_recall": float(recall_score(y, p, zero_division=0)),
        "accuracy": float(np.mean(y == p)) if len(y) else float("nan"),
        "n": float(len(y)),
    }


def multiclass_metrics(gold: Sequence[str], pred: Sequence[str], labels: Sequence[str]) -> dict[str, float]:
    return {
        "accuracy": M.accuracy(gold, pred),
        "macro_f1": M.macro_f1(gold, pred, labels=list(labels)),
        "n": float(len(gold)),
    }


def eval_sentiment(predictor: SentimentPredictor, examples: Sequence[SentimentExample]) -> dict[str, Any]:
    """The served model's metrics; for a fast tier with a lexical channel also each part alone
    (`parts.seq2seq`, `parts.lexical`) and the fusion weight."""
    texts, gold = [ex.text for ex in examples], [ex.label for ex in examples]

    def metrics(probs: np.ndarray) -> dict[str, float]:
        return sentiment_metrics(gold, [SENTIMENT_LABELS[i] for i in probs.argmax(axis=1)])

    lexical = getattr(predictor, "lexical", None)
    if lexical is None:
        return dict(metrics(predictor.predict(texts)))
    seq, lex = predictor.seq2seq_probs(texts), lexical.log_probs(texts)  # each half once, fused as served
    out: dict[str, Any] = dict(metrics(fuse(seq, lex, predictor.lexical_weight)))
    out["lexical_weight"] = predictor.lexical_weight
    out["parts"] = {"seq2seq": metrics(seq), "lexical": metrics(lex)}
    return out


def rumor_format_kind(fmt: str) -> str:
    """binary (PHEME, Weibo), veracity4 (Twitter15/16, bare TSV), veracity3 (RumourEval: all rumours)."""
    return {"pheme": "binary", "weibo": "binary", "rumoureval": "veracity3"}.get(fmt, "veracity4")


def rumor_predictions(
    predictor: RumorPredictor, examples: Sequence[RumorExample], kind: str
) -> tuple[list[str], list[str], np.ndarray]:
    """(gold, predicted, rumour score) in the label space of `kind`."""
    sources = [ex.text for ex in examples]
    replies = [list(ex.replies) for ex in examples]
    score = predictor.score(sources, replies)
    if kind == "binary":
        gold = ["rumour" if ex.is_rumour else "non-rumour" for ex in examples]
        return gold, ["rumour" if s >= 0.5 else "non-rumour" for s in score], score
    ver = predictor.veracity(sources, replies)  # (B, 3)
    if kind == "veracity3":
        return [str(ex.veracity) for ex in examples], [VERACITY_LABELS[i] for i in ver.argmax(1)], score
    joint = np.concatenate([(1 - score)[:, None], score[:, None] * ver], axis=1)  # (B, 4)
    return [str(ex.veracity) for ex in examples], [VERACITY4[i] for i in joint.argmax(1)], score


def eval_rumor(predictor: RumorPredictor, examples: Sequence[RumorExample], fmt: str) -> dict[str, Any]:
    kind = rumor_format_kind(fmt)
    gold, pred, score = rumor_predictions(predictor, examples, kind)
    if kind == "binary":
        out = rumour_binary_metrics([g == "rumour" for g in gold], score)
        out["macro_f1"] = M.macro_f1(gold, pred, labels=["rumour", "non-rumour"])
        thr = predictor.decision_threshold  # chosen at training time on the dev split
        out["at_decision_threshold"] = rumour_binary_metrics([g == "rumour" for g in gold], score, thr) | {
            "threshold": thr
        }
        return out
    labels = VERACITY_LABELS if kind == "veracity3" else VERACITY4
    own = [lab for lab in labels if lab in set(gold)]  # macro over the dataset's own label set (issue 10)
    scores: dict[str, Any] = dict(multiclass_metrics(gold, pred, own))
    return scores | {"macro_f1_labels": own}


def baseline_rumor(train: Sequence[RumorExample], test: Sequence[RumorExample], fmt: str) -> dict[str, Any]:
    """TF-IDF + LR on source texts (replies appended) trained on `train`, scored like the model."""
    from seqsignal.models.text.baselines import TfidfLR

    def text(ex: RumorExample) -> str:
        return " ".join((ex.text, *ex.replies))

    kind = rumor_format_kind(fmt)
    t0 = time.monotonic()
    if kind == "binary":
        lr = TfidfLR().fit(
            [text(ex) for ex in train], ["rumour" if ex.is_rumour else "non-rumour" for ex in train]
        )
        out = rumour_binary_metrics(
            [ex.is_rumour for ex in test], lr.score_of([text(ex) for ex in test], "rumour")
        )
    else:
        fit_on = [ex for ex in train if kind == "veracity4" or ex.is_rumour]
        labels = VERACITY_LABELS if kind == "veracity3" else VERACITY4
        gold = [str(ex.veracity) for ex in test]
        lr = TfidfLR().fit([text(ex) for ex in fit_on], [str(ex.veracity) for ex in fit_on])
        own = [x for x in labels if x in gold]
        out = multiclass_metrics(gold, lr.predict([text(ex) for ex in test]), own)
    out["seconds"] = time.monotonic() - t0
    return out


def baseline_sentiment(train: Sequence[SentimentExample], test: Sequence[SentimentExample]) -> dict[str, Any]:
    """VADER, TF-IDF word+char + LR and + LinearSVC (trained on `train`) on the same test tweets."""
    from seqsignal.models.text.baselines import TfidfLR, vader_labels

    gold = [ex.label for ex in test]
    texts = [ex.text for ex in test]
    out = {"vader": sentiment_metrics(gold, vader_labels(texts))}
    for name, svc in (("tfidf_lr", False), ("tfidf_wordchar_svc", True)):
        t0 = time.monotonic()
        model = TfidfLR(C=0.3 if svc else 1.0, svc=svc)
        model.fit([ex.text for ex in train], [ex.label for ex in train])
        out[name] = sentiment_metrics(gold, model.predict(texts)) | {"seconds": time.monotonic() - t0}
    return out


def throughput(fn: Any, batch: Sequence[Any], repeats: int = 3) -> dict[str, float]:
    """Speed of `fn(batch)` after one warm-up call, best of `repeats`: wall events/s, and events per CPU
    second of this process (all its threads), which a busy shared machine distorts much less."""
    fn(batch)
    wall, cpu = float("inf"), float("inf")
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn(batch)
        wall, cpu = min(wall, time.perf_counter() - t0), min(cpu, time.process_time() - c0)
    return {"events_per_s": len(batch) / wall, "events_per_cpu_s": len(batch) / max(cpu, 1e-9),
            "batch": float(len(batch)), "torch_threads": float(torch.get_num_threads())}
