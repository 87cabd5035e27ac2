"""The quality tier of a text task: its predictor, registry files (no pickle), loader and sentiment training.

The network is pretrained all-MiniLM-L6-v2 fine-tuned with a GRU label decoder (`quality_model`); the
fine-tuning loop is `quality_training`. Registry files: model.safetensors (fine-tuned MiniLM + decoder),
config.json (`{"quality": QualityConfig}`), tokenizer.json (MiniLM's WordPiece).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np

from seqsignal.models.text.loaded_model import LoadedModel
from seqsignal.models.text.quality_model import (
    BOS_ID,
    LabelDecoder,
    QualityConfig,
    QualitySeq2Seq,
    WordPiece,
    autocast,
    build_quality_model,
    label_probs,
    length_batches,
    light_normalize,
    pad_rows,
)
from seqsignal.models.text.quality_training import QualityFit, QualityOptions, fit_quality, pick_device

TIER: Final = "quality"


class QualityPredictor(LoadedModel[QualitySeq2Seq, WordPiece, QualityConfig]):
    """A trained quality-tier model with its WordPiece tokenizer; batched, inference mode."""

    tier: Literal["quality"] = TIER
    DEFAULT_BATCH_SIZE = 64

    def probs(self, texts: Sequence[str]) -> np.ndarray:
        """(B, n_labels) label probabilities."""
        if not len(texts):
            return np.zeros((0, len(self.config.labels)), dtype=np.float32)
        return label_probs(self.model, self.tokenizer.encode(texts, self.config.max_len), self.device,
                           self.batch_size)


class QualitySentimentPredictor(QualityPredictor):
    """`predict(texts) -> (B, 3)` negative / neutral / positive (`models.core.serving.SentimentModel`)."""

    task: Literal["sentiment"] = "sentiment"

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        return self.probs(texts)

    def warm_up(self) -> None:
        self.predict(["warm up"])

    def predict_labels(self, texts: Sequence[str]) -> list[str]:
        return [self.config.labels[i] for i in self.predict(texts).argmax(axis=1)]


def quality_files(model: QualitySeq2Seq, config: QualityConfig, tokenizer: WordPiece) -> dict[str, bytes]:
    """model.safetensors, config.json, tokenizer.json of a quality-tier version."""
    from seqsignal.models.core.checkpoint import model_files

    files = model_files(model, {"quality": config.to_dict()})
    files["tokenizer.json"] = tokenizer.json.encode("utf-8")
    return files


def load_quality(version_dir: Path, manifest: dict[str, Any], device: str, task: str,
                 labels: tuple[str, ...]) -> tuple[QualitySeq2Seq, WordPiece, QualityConfig]:
    """Rebuild a quality-tier model from a (verified) version directory; never unpickles."""
    from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, load_into

    raw = json.loads((version_dir / CONFIG).read_text(encoding="utf-8"))
    config = QualityConfig.from_dict(raw["quality"])
    if config.task != task or config.labels != labels:
        raise ValueError(f"{version_dir} holds a {config.task} model with labels {config.labels}")
    model = build_quality_model(config, pretrained=False)
    load_into(model, (version_dir / WEIGHTS).read_bytes(), device)
    return model.eval(), WordPiece((version_dir / "tokenizer.json").read_text(encoding="utf-8")), config


@dataclass
class QualityTrained:
    predictor: QualitySentimentPredictor
    fit: QualityFit
    dev_metrics: dict[str, float]
    files: dict[str, bytes]


def train_quality_sentiment(train: Sequence[Any], dev: Sequence[Any], o: QualityOptions,
                            on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                            progress: Any = None) -> QualityTrained:
    """Sentiment quality tier: MiniLM WordPiece, early selection on dev AvgRec; `train`/`dev` are
    SentimentExamples (text, label)."""
    from seqsignal.models.core import metrics as M
    from seqsignal.models.core import plots
    from seqsignal.models.text.evaluate import sentiment_metrics
    from seqsignal.schemas.events import SENTIMENT_LABELS

    labels = tuple(SENTIMENT_LABELS)
    if o.max_examples and o.max_examples < len(train):  # a seeded random subset, in the original order
        keep = np.sort(np.random.default_rng(o.seed).permutation(len(train))[: o.max_examples])
        train = [train[i] for i in keep]
    cfg = QualityConfig("sentiment", labels, o.hidden_size, o.dropout, o.max_len)
    tok = WordPiece.pretrained()
    rows = tok.encode([ex.text for ex in train], o.max_len)
    targets = np.array([labels.index(ex.label) for ex in train], dtype=np.int64)
    dev_rows = tok.encode([ex.text for ex in dev], o.max_len)
    gold = [ex.label for ex in dev]

    def score(probs: np.ndarray) -> float:
        return sentiment_metrics(gold, [labels[i] for i in probs.argmax(1)])["avg_recall"]

    res = fit_quality(cfg, rows, targets, dev_rows, score, o, on_epoch, progress)
    pred = [labels[i] for i in res.dev_probs.argmax(1)]
    metrics = {f"dev_{k}": v for k, v in sentiment_metrics(gold, pred).items()} | {
        "best_epoch": float(res.best_epoch), "epochs": float(len(res.history["train_loss"])),
        "train_seconds": res.seconds, "n_train": float(len(rows))}
    pngs = {"loss.png": plots.loss_curves({"train_loss": res.history["train_loss"]}),
            "confusion.png": plots.confusion_matrix(M.confusion(gold, pred, list(labels)), list(labels))}
    predictor = QualitySentimentPredictor(res.model.to("cpu"), tok, cfg, "unsaved")
    return QualityTrained(predictor, res, metrics, quality_files(res.model, cfg, tok) | pngs)


def load_quality_sentiment(version_dir: Path, manifest: dict[str, Any], device: str = "cpu"
                           ) -> QualitySentimentPredictor:
    """The sentiment loader's quality-tier branch (files already verified by the registry)."""
    from seqsignal.schemas.events import SENTIMENT_LABELS

    model, tok, cfg = load_quality(version_dir, manifest, device, "sentiment", tuple(SENTIMENT_LABELS))
    return QualitySentimentPredictor(model, tok, cfg, str(manifest["version"]), device)


# The names importers use, those kept here for them included.
__all__ = [
    "BOS_ID", "TIER", "LabelDecoder", "QualityConfig", "QualityFit", "QualityOptions", "QualityPredictor",
    "QualitySentimentPredictor", "QualitySeq2Seq", "QualityTrained", "WordPiece", "autocast",
    "build_quality_model", "fit_quality", "label_probs", "length_batches", "light_normalize", "load_quality",
    "load_quality_sentiment", "pad_rows", "pick_device", "quality_files", "train_quality_sentiment",
]
