"""`seqsignal train|eval sentiment|rumor`: the text models' offline commands, added to the groups."""

from __future__ import annotations

import typer

from seqsignal.commands import groups
from seqsignal.commands.text_evaluation import eval_rumor, eval_sentiment
from seqsignal.commands.text_options import (
    HEADS_GROUPS,
    MASK_TOPICAL_DEFAULT,
    RUMOR_DATASETS,
    Baseline,
    Data,
    EvalTier,
    Init,
    MaskTopical,
    Model,
    TrainData,
)
from seqsignal.commands.text_training import train_rumor, train_sentiment


def register(app: typer.Typer) -> None:
    groups.train_app.command("sentiment")(train_sentiment)
    groups.train_app.command("rumor")(train_rumor)
    groups.eval_app.command("sentiment")(eval_sentiment)
    groups.eval_app.command("rumor")(eval_rumor)


__all__ = [
    "HEADS_GROUPS",
    "MASK_TOPICAL_DEFAULT",
    "RUMOR_DATASETS",
    "Baseline",
    "Data",
    "EvalTier",
    "Init",
    "MaskTopical",
    "Model",
    "TrainData",
    "eval_rumor",
    "eval_sentiment",
    "register",
    "train_rumor",
    "train_sentiment",
]
