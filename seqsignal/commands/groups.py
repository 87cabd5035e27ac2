"""Shared command groups (`seqsignal train <task>`, `seqsignal eval <task>`) that task modules add to, and the
options every task's commands share.

Their hyperparameters are command-line options only; the registry root reads SEQSIGNAL_MODEL__REGISTRY_DIR
(the setting the worker and the trainer serve from) and the data root SEQSIGNAL_DATA_DIR."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from seqsignal.workers.settings import ModelSettings

train_app = typer.Typer(help="Train a model on real data and register it.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate a model (and baselines) on real data; --json prints one object.",
                       no_args_is_help=True)

REGISTRY_ENV = "SEQSIGNAL_MODEL__REGISTRY_DIR"
REGISTRY_DIR: Path = ModelSettings.model_fields["registry_dir"].default
RUNS_DIR = Path("artifacts/runs")  # TensorBoard runs of `seqsignal train`: <runs>/<task>/<UTC time>/
Out = Annotated[Path, typer.Option("--out", envvar=REGISTRY_ENV, help="Model registry root")]
Registry = Annotated[Path, typer.Option(envvar=REGISTRY_ENV, help="Registry root (its champion by default)")]
Runs = Annotated[Path, typer.Option(help="TensorBoard log root (<runs>/<task>/<time>)")]
Version = Annotated[str | None, typer.Option(help="Registry version (default: champion)")]
AsJson = Annotated[bool, typer.Option("--json", help="Print one JSON object")]


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
