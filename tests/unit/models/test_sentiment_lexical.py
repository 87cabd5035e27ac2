"""Sentiment's lexical channel: fusion arithmetic, weight choice, safetensors round trip, selection split."""

from __future__ import annotations

import numpy as np
import pytest

from seqsignal.models.datasets.sentiment import SentimentExample
from seqsignal.models.text.data import selection_split
from seqsignal.models.text.sentiment_lexical import LexicalHead, balanced_nll, choose_weight, fuse

TEXTS = ["i love this so much", "what a great day", "this is awful", "i hate mondays", "the bus is at noon",
         "meeting moved to friday"] * 5
LABELS = np.array([2, 2, 0, 0, 1, 1] * 5)


def test_fuse_ends_are_the_parts_and_rows_sum_to_one() -> None:
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8]], dtype=np.float32)
    lex = np.log(np.array([[0.1, 0.1, 0.8], [0.3, 0.4, 0.3]]))
    assert np.allclose(fuse(p, lex, 0.0), p, atol=1e-6)
    assert np.allclose(fuse(p, lex, 1.0), np.exp(lex), atol=1e-6)
    mid = fuse(p, lex, 0.5)
    assert np.allclose(mid.sum(1), 1.0, atol=1e-6)
    expected = np.sqrt(p * np.exp(lex)) / np.sqrt(p * np.exp(lex)).sum(1, keepdims=True)
    assert np.allclose(mid, expected, atol=1e-6)


def test_choose_weight_prefers_the_better_part_and_reports_the_grid() -> None:
    gold = np.array([0, 1, 2, 0])
    seq = np.full((4, 3), 1 / 3, dtype=np.float32)  # uninformative
    lex = np.log(np.eye(3)[gold] * 0.9 + 0.05)  # the lexical part is right on every row
    w, losses = choose_weight(seq, lex, lambda p: balanced_nll(gold, p))
    assert w == 1.0 and losses[1.0] < losses[0.5] < losses[0.0]
    w, losses = choose_weight(np.exp(lex).astype(np.float32), np.log(seq), lambda p: balanced_nll(gold, p))
    assert w == 0.0


def test_balanced_nll_weighs_each_class_the_same() -> None:
    gold = np.array([0, 0, 0, 1])
    probs = np.array([[0.9, 0.1], [0.9, 0.1], [0.9, 0.1], [0.5, 0.5]])
    # class 0: 3 rows of -log 0.9, weight 4/(2*3); class 1: one row of -log 0.5, weight 4/(2*1)
    expected = (3 * (4 / 6) * -np.log(0.9) + 2 * -np.log(0.5)) / 4
    assert balanced_nll(gold, probs) == pytest.approx(expected)


def test_lexical_head_learns_and_round_trips_through_safetensors() -> None:
    head = LexicalHead.fit(TEXTS, LABELS, 3, buckets=1 << 12)
    lp = head.log_probs(["i love it", "awful, i hate it"])
    assert lp.shape == (2, 3) and np.allclose(np.exp(lp).sum(1), 1.0)
    assert lp[0].argmax() == 2 and lp[1].argmax() == 0
    data = head.to_bytes()
    assert not data.startswith(b"\x80")  # safetensors, not a pickle
    again = LexicalHead.from_bytes(data)
    assert np.array_equal(again.log_probs(TEXTS), head.log_probs(TEXTS))


def test_a_label_missing_from_training_is_never_predicted() -> None:
    keep = LABELS != 1
    texts = [t for t, k in zip(TEXTS, keep, strict=True) if k]
    head = LexicalHead.fit(texts, LABELS[keep], 3, buckets=1 << 10)
    assert (head.log_probs(TEXTS).argmax(1) != 1).all()


@pytest.mark.parametrize("share", [0.05, 0.2])
def test_selection_split_is_stable_disjoint_and_near_its_share(share: float) -> None:
    train = [SentimentExample(id=str(10**17 + i * 7919), text=f"t{i}", label="neutral") for i in range(4000)]
    fit, sel = selection_split(train, share)
    assert sorted(fit + sel) == list(range(4000)) and not set(fit) & set(sel)
    assert abs(len(sel) / 4000 - share) < 0.03
    assert selection_split(list(reversed(train)), share)[1] == sorted(3999 - i for i in sel)
