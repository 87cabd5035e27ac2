"""What `seqsignal train|eval sentiment|rumor` do (old path): training_jobs, evaluation_jobs, pheme_loeo."""

from __future__ import annotations

from seqsignal.models.text.evaluation_jobs import eval_rumor_job, eval_sentiment_job, load
from seqsignal.models.text.pheme_loeo import PHEME_LOEO_EVENTS, loeo_options, pheme_examples, pheme_loeo
from seqsignal.models.text.pheme_loeo import pheme_examples as _pheme_examples
from seqsignal.models.text.training_jobs import (
    HEADS_DATASETS,
    OnEpoch,
    teacher_labels,
    train_rumor_heads_job,
    train_rumor_job,
    train_sentiment_job,
    train_sentiment_quality_job,
)

__all__ = [
    "HEADS_DATASETS",
    "PHEME_LOEO_EVENTS",
    "OnEpoch",
    "_pheme_examples",
    "eval_rumor_job",
    "eval_sentiment_job",
    "load",
    "loeo_options",
    "pheme_examples",
    "pheme_loeo",
    "teacher_labels",
    "train_rumor_heads_job",
    "train_rumor_job",
    "train_sentiment_job",
    "train_sentiment_quality_job",
]
