"""Sentiment predictor: post text -> (negative, neutral, positive) probabilities; registry loader."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from seqsignal.models.core.registry import register_loader, tier_of
from seqsignal.models.core.serving import SentimentModel
from seqsignal.models.text.model import TextModelConfig, TextPredictor, load_text_predictor
from seqsignal.models.text.sentiment_lexical import LEXICAL_FILE, LexicalHead, fuse
from seqsignal.schemas.events import SENTIMENT_LABELS

TASK: Final = "sentiment"


def sentiment_config(vocab_size: int, **kw: Any) -> TextModelConfig:
    """The sentiment formulation: the decoder emits one label token (negative / neutral / positive)."""
    return TextModelConfig(
        task=TASK, labels=tuple(SENTIMENT_LABELS), vocab_size=vocab_size, target_len=1, **kw
    )


class SentimentPredictor(TextPredictor):
    """`predict(texts) -> (B, 3)` probabilities in the order negative, neutral, positive
    (`models.core.serving.SentimentModel`): the Seq2Seq's label distribution, fused with the lexical channel
    (`sentiment_lexical`) when the version has one (`config.extra["lexical_weight"]`)."""

    task: Literal["sentiment"] = TASK
    lexical: LexicalHead | None = None

    @property
    def lexical_weight(self) -> float:
        return float(self.config.extra.get("lexical_weight", 0.0)) if self.lexical is not None else 0.0

    def with_lexical(self, head: LexicalHead | None, weight: float) -> SentimentPredictor:
        """This predictor with a lexical channel fused at `weight` (recorded in the config)."""
        from dataclasses import replace

        self.lexical = head
        self.config = replace(self.config, extra={**self.config.extra, "lexical_weight": float(weight)})
        return self

    def extra_files(self) -> dict[str, bytes]:
        """Registry files beyond the Seq2Seq's own (kept when the trainer fine-tunes the Seq2Seq)."""
        return {LEXICAL_FILE: self.lexical.to_bytes()} if self.lexical is not None else {}

    def seq2seq_probs(self, texts: Sequence[str]) -> np.ndarray:
        """(B, 3) of the Seq2Seq alone."""
        ids, lengths = self.encode(texts)
        return self.label_probs_of(ids, lengths)[0]

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Token ids (B, T) and lengths (B,) as the model reads them."""
        return self.tokenizer.encode_batch(list(texts), self.config.max_len)

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        if not len(texts):
            return np.zeros((0, 3), dtype=np.float32)
        probs = self.seq2seq_probs(texts)  # (B, 3)
        if self.lexical is None or self.lexical_weight == 0.0:
            return probs
        return fuse(probs, self.lexical.log_probs(texts), self.lexical_weight)

    def warm_up(self) -> None:
        self.predict(["warm up"])

    def predict_labels(self, texts: Sequence[str]) -> list[str]:
        return [SENTIMENT_LABELS[i] for i in self.predict(texts).argmax(axis=1)]


@register_loader(TASK)
def load(version_dir: Path, manifest: dict[str, Any], device: str = "cpu") -> SentimentModel:
    """Registry loader (files already verified by the registry): the manifest's tier picks the model."""
    if tier_of(manifest) == "quality":
        from seqsignal.models.text.quality import load_quality_sentiment

        return load_quality_sentiment(version_dir, manifest, device)
    labels = tuple(SENTIMENT_LABELS)
    predictor = load_text_predictor(SentimentPredictor, TASK, labels, version_dir, manifest, device)
    if "lexical_weight" in predictor.config.extra:  # versions before the lexical channel have none
        predictor.lexical = LexicalHead.from_bytes((version_dir / LEXICAL_FILE).read_bytes())
    return predictor
