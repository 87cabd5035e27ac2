"""Text commands' shared options: typer option types and their defaults."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

RUMOR_DATASETS = "pheme,twitter15,twitter16,rumoureval,weibo"
Data = Annotated[Path | None, typer.Option(help="Data root or dataset path (default: SEQSIGNAL_DATA_DIR)")]
Init = Annotated[str, typer.Option(help="Embedding init: minilm (all-MiniLM-L6-v2 word pieces) or random")]
MaskTopical = Annotated[bool, typer.Option(help="rumor: BPE normaliser masks hashtags and numbers")]
HEADS_GROUPS = "per-dataset"  # joint training hurt Weibo and PHEME dev (docs/text_models.md)
MASK_TOPICAL_DEFAULT = True  # LOEO: pooled rumour F1 0.619 vs 0.577 unmasked (threshold on dev)
Model = Annotated[Path | None, typer.Option(help="A model version directory (default: registry champion)")]
Baseline = Annotated[bool, typer.Option("--baseline", help="Also score VADER / TF-IDF+LR on the same data")]
TrainData = Annotated[Path | None, typer.Option(help="Data root the baselines train on (default: shared)")]
EvalTier = Annotated[str | None, typer.Option(
    help="Registry tier whose champion is scored: fast (the default) or quality (runs on CPU too, slowly)")]
