"""The sentiment fast tier's recipe: BPE + one-label-token Seq2Seq, then the lexical channel fused with it.

Protocol: a stable 5% of the training tweets (`data.selection_split`) is held out as the *selection* split.
The Seq2Seq trains on the other 95% and stops early on selection AvgRec; the lexical channel
(`sentiment_lexical.LexicalHead`) fits on the same 95%; the fusion weight is the one with the lowest
class-balanced log-loss on the selection split. The dev set passed in (TweetEval val) is only scored, after
every choice is made, so its figures are held out (`dev_*` = the served fusion; `dev_seq2seq_*`,
`dev_lexical_*` = each part alone).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqsignal.models.core import plots
from seqsignal.models.datasets.sentiment import SentimentExample
from seqsignal.models.text.data import selection_split
from seqsignal.models.text.recipes import (
    Reporting,
    TextOptions,
    Trained,
    _config,
    _fit,
    _trained,
    make_tokenizer,
)
from seqsignal.models.text.sentiment import SentimentPredictor, sentiment_config
from seqsignal.models.text.sentiment_lexical import LexicalHead, balanced_nll, choose_weight, fuse
from seqsignal.schemas.events import SENTIMENT_LABELS


@dataclass
class Distill:
    """A teacher's soft labels (negative, neutral, positive probabilities) for the training tweets and for
    unlabelled texts, which join the training rows with the KL term only (`train.distill_loss`)."""

    train_probs: np.ndarray  # (N, 3), aligned with the training examples
    texts: list[str]  # unlabelled
    probs: np.ndarray  # (M, 3)


def _avg_recall(gold: Sequence[str], probs: np.ndarray) -> float:
    from seqsignal.models.text.evaluate import sentiment_metrics

    return sentiment_metrics(gold, [SENTIMENT_LABELS[i] for i in probs.argmax(1)])["avg_recall"]


def _prefixed(prefix: str, gold: Sequence[str], probs: np.ndarray) -> dict[str, float]:
    from seqsignal.models.text.evaluate import sentiment_metrics

    pred = [SENTIMENT_LABELS[i] for i in probs.argmax(1)]
    return {f"{prefix}{k}": v for k, v in sentiment_metrics(gold, pred).items()}


def _fit_lexical(predictor: SentimentPredictor, fit_on: Sequence[SentimentExample],
                 select: Sequence[SentimentExample], select_probs: np.ndarray) -> dict[str, float]:
    """Fit the lexical channel on `fit_on`, choose its fusion weight on `select`, attach it to `predictor`."""
    c0 = time.process_time()
    labels = np.array([SENTIMENT_LABELS.index(ex.label) for ex in fit_on])
    head = LexicalHead.fit([ex.text for ex in fit_on], labels, len(SENTIMENT_LABELS))
    gold = [ex.label for ex in select]
    y = np.array([SENTIMENT_LABELS.index(g) for g in gold])
    lex = head.log_probs([ex.text for ex in select])
    weight, losses = choose_weight(select_probs, lex, lambda p: balanced_nll(y, p))
    predictor.with_lexical(head, weight)
    return {"lexical_weight": weight, "lexical_cpu_seconds": time.process_time() - c0,
            "select_balanced_nll": losses[weight], "select_seq2seq_balanced_nll": losses[0.0],
            "select_avg_recall": _avg_recall(gold, fuse(select_probs, lex, weight)),
            "select_seq2seq_avg_recall": _avg_recall(gold, select_probs),
            "select_lexical_avg_recall": _avg_recall(gold, lex)}


def train_sentiment(
    train: Sequence[SentimentExample],
    dev: Sequence[SentimentExample],
    opts: TextOptions,
    report: Reporting | None = None,
    distill: Distill | None = None,
) -> Trained:
    """The fast tier (module docstring); with `distill`, the Seq2Seq also learns the teacher's soft labels
    (the unlabelled texts have no hard label)."""
    fit_idx, sel_idx = selection_split(train)
    fit_on, select = [train[i] for i in fit_idx], [train[i] for i in sel_idx]
    tok = make_tokenizer(opts, [ex.text for ex in fit_on])
    cfg = _config(sentiment_config, tok, opts)
    rows = tok.encode_ids([ex.text for ex in fit_on])
    targets = np.array([[cfg.label_id(ex.label)] for ex in fit_on], dtype=np.int64)
    soft = None
    if distill is not None:
        rows = rows + tok.encode_ids(distill.texts)
        targets = np.concatenate([targets, np.full((len(distill.texts), 1), -100, dtype=np.int64)])
        soft = np.concatenate([distill.train_probs[fit_idx], distill.probs]).astype(np.float32)
    sel_rows = tok.encode_ids([ex.text for ex in select])
    sel_targets = np.array([[cfg.label_id(ex.label)] for ex in select], dtype=np.int64)
    sel_gold = [ex.label for ex in select]
    res = _fit(cfg, tok, lambda rng: (rows, targets), sel_rows, sel_targets,
               lambda p: _avg_recall(sel_gold, p), opts, report, soft)
    assert res.dev_probs is not None
    predictor = SentimentPredictor(res.model, tok, cfg, "unsaved")
    metrics = _fit_lexical(predictor, fit_on, select, res.dev_probs) if opts.lexical else {}
    metrics |= {"n_fit": float(len(fit_on)), "n_select": float(len(select))}
    texts, gold = [ex.text for ex in dev], [ex.label for ex in dev]
    seq = predictor.seq2seq_probs(texts)
    served = seq
    if predictor.lexical is not None:
        lex = predictor.lexical.log_probs(texts)
        served = fuse(seq, lex, predictor.lexical_weight)
        metrics |= _prefixed("dev_lexical_", gold, lex)
    metrics |= _prefixed("dev_", gold, served) | _prefixed("dev_seq2seq_", gold, seq)
    pred = [SENTIMENT_LABELS[i] for i in served.argmax(1)]
    pr = {"pr_negative.png": plots.pr_curve(np.array([g == "negative" for g in gold]), served[:, 0],
                                            "negative vs rest")}
    trained = _trained(predictor, res, metrics, gold, pred, SENTIMENT_LABELS, pr)
    trained.files |= predictor.extra_files()
    return trained
