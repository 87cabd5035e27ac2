"""Rumour fast tier's linear lexical channel per dataset: a hashed TF-IDF word 1-2-gram + character n-gram
logistic regression over the thread's source text (`sentiment_lexical.LexicalHead`; Chinese: character
1-3-grams, as the TF-IDF baselines), fused log-linearly with the dataset's head,
p = softmax((1 - w) log p_head + w log p_lexical), `w` chosen on a selection split of that dataset's
training threads (a stable hash of the thread id), never on scored data.

Why: the heads squeeze the lexical features through a 32-dim EmbeddingBag; a full-width linear model keeps
them (grouped k-fold, docs/text_models.md: the TF-IDF LR beat the heads on Weibo, 0.869 vs 0.840).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import numpy as np

from seqsignal.models.text.lexical import is_chinese
from seqsignal.models.text.sentiment_lexical import (
    LexicalHead,
    NgramSpec,
    balanced_nll,
    choose_weight,
)

WORDS: Final = r"(?u)[\u3400-\u9fff]|#?\b\w+\b"  # the TF-IDF baselines' token pattern (rumor_eval)


@dataclass
class Lexical:
    """One dataset's channel: the LR, the fusion weight and how it was chosen (losses per weight)."""

    head: LexicalHead
    weight: float
    choice: dict[str, Any] = field(default_factory=dict)

    def log_probs(self, sources: Sequence[str]) -> np.ndarray:
        """(B, n_labels) log-probabilities of the LR alone (the head's label order)."""
        return self.head.log_probs(list(sources))


def spec_for(texts: Sequence[str], mask_topical: bool) -> NgramSpec:
    """Chinese (most texts CJK): word 1-2 over single characters + char 1-3; otherwise word 1-2 + char_wb
    2-5, the baselines' families; n-grams unseen in training dropped before the L2 norm, as the baselines'
    vocabularies do (kept, they diluted novel texts toward the prior: Weibo fold 1 0.833 vs 0.853)."""
    zh = bool(texts) and float(np.mean([is_chinese(t) for t in texts])) > 0.5
    if zh:
        return NgramSpec(WORDS, "char", 1, 3, mask_topical, drop_unseen=True)
    return NgramSpec(WORDS, "char_wb", 2, 5, mask_topical, drop_unseen=True)


def fit_lexical(texts: Sequence[str], labels: np.ndarray, n_labels: int, mask_topical: bool, c: float,
                buckets: int) -> LexicalHead:
    """The LR (C=c, not class-weighted, as the TF-IDF LR baseline) over the hashed blocks of `texts`."""
    return LexicalHead.fit(texts, labels, n_labels, c=c, buckets=buckets,
                           spec=spec_for(texts, mask_topical), balanced=False)


def choose(head_probs: np.ndarray, lexical_log_probs: np.ndarray,
           gold: np.ndarray) -> tuple[float, dict[str, Any]]:
    """The grid weight with the lowest class-balanced NLL on the selection split, and every weight's loss."""
    w, losses = choose_weight(head_probs, lexical_log_probs, lambda p: balanced_nll(gold, p))
    return w, {"rule": "min class-balanced NLL over the grid on the selection split",
               "losses": {f"{k:.2f}": v for k, v in losses.items()}, "n_select": len(gold)}
