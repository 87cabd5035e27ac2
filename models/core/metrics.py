"""Shared evaluation metrics: accuracy, macro F1/recall, confusion matrix, sequence BLEU, perplexity."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from sacrebleu.metrics import BLEU
from sklearn.metrics import confusion_matrix as _confusion
from sklearn.metrics import f1_score, recall_score


def accuracy(y_true: Sequence[str], y_pred: Sequence[str]) -> float:
    if not len(y_true):
        return float("nan")
    return float(np.mean(np.asarray(y_true, dtype=object) == np.asarray(y_pred, dtype=object)))


def macro_f1(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    """Macro F1 over `labels` (default: every label in the gold data; predicted-only labels are ignored);
    NaN when there is nothing to score."""
    if not len(y_true):
        return float("nan")
    labels = sorted(set(y_true)) if labels is None else list(labels)
    return float(f1_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def macro_recall(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str] | None = None) -> float:
    if not len(y_true):
        return float("nan")
    labels = sorted(set(y_true)) if labels is None else list(labels)
    return float(recall_score(y_true, y_pred, labels=labels, average="macro", zero_division=0))


def confusion(y_true: Sequence[str], y_pred: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """(C, C) counts, rows = gold, columns = predicted."""
    return np.asarray(_confusion(y_true, y_pred, labels=list(labels)))


def sequence_bleu(hyps: Sequence[Sequence[str]], refs: Sequence[Sequence[str]], max_order: int = 4) -> float:
    """Corpus BLEU (sacrebleu, whitespace tokens = action names, no re-tokenisation), n-grams up to
    min(max_order, longest reference) so that k=3 sequences are not scored on 4-grams they cannot have."""
    if not hyps:
        return float("nan")
    order = max(1, min(max_order, max(len(r) for r in refs)))
    bleu = BLEU(tokenize="none", max_ngram_order=order)
    return float(bleu.corpus_score([" ".join(h) for h in hyps], [[" ".join(r) for r in refs]]).score)


def perplexity(total_nll: float, n_tokens: int) -> float:
    """exp of the mean negative log-likelihood per token (natural log)."""
    return math.exp(total_nll / n_tokens) if n_tokens else float("nan")
