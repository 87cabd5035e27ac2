"""Shared command groups (`seqsignal train <task>`, `seqsignal eval <task>`) that task modules add to."""

from __future__ import annotations

import typer

train_app = typer.Typer(help="Train a model on real data and register it.", no_args_is_help=True)
eval_app = typer.Typer(help="Evaluate a model (and baselines) on real data; --json prints one object.",
                       no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(train_app, name="train")
    app.add_typer(eval_app, name="eval")
