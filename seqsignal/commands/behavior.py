"""`seqsignal train behavior` and `seqsignal eval behavior`: the behavior model's offline commands."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from seqsignal.commands import groups


def _ts(value: str | None) -> float | None:
    """Unix seconds or an ISO-8601 time (naive = UTC)."""
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return (dt if dt.tzinfo else dt.replace(tzinfo=UTC)).timestamp()


def train_behavior(
    data: Annotated[Path | None, typer.Option(help="Higgs activity.txt.gz (default: shared data)")] = None,
    out: groups.Out = groups.REGISTRY_DIR,
    runs: groups.Runs = groups.RUNS_DIR,
    promote: Annotated[bool, typer.Option(help="Make the new version champion even if one exists")] = False,
    hidden_size: Annotated[int, typer.Option(min=4, max=512)] = 64,
    horizon: Annotated[int, typer.Option(min=1, max=16, help="k, the predicted actions")] = 3,
    max_epochs: Annotated[int, typer.Option(min=1)] = 40,
    patience: Annotated[int, typer.Option(min=1)] = 5,
    lr: float = 3e-3,
    dev_hours: Annotated[float, typer.Option(help="Dev = the last hours before the split")] = 12.0,
    refit: Annotated[bool, typer.Option(help="Retrain on all pre-split data for the best epochs")] = True,
    split_at: Annotated[str | None, typer.Option(help="Train before this time (default 2012-07-04)")] = None,
    seed: int = 0,
    threads: Annotated[int, typer.Option(min=1, help="torch threads")] = 1,
    time_budget_s: Annotated[float, typer.Option(help="Training time budget (fit + refit), seconds")] = 420.0,
    targets: Annotated[bool, typer.Option(help="Also train the next-target ranker (same version)")] = True,
    target_reverse_edges: Annotated[bool, typer.Option(
        help="Ranker variant with reverse edges (who acted on the user): eval only, not served")] = False,
    target_epochs: Annotated[int, typer.Option(min=1)] = 30,
) -> None:
    """Train the behavior Seq2Seq on Higgs before 2012-07-04 and register it (champion if none)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

    from seqsignal.models.behavior.data import SPLIT_TS
    from seqsignal.models.behavior.job import train_and_register
    from seqsignal.models.behavior.train import TrainConfig

    cfg = TrainConfig(hidden_size=hidden_size, horizon=horizon, max_epochs=max_epochs, patience=patience,
                      lr=lr, dev_hours=dev_hours, refit=refit, seed=seed, threads=threads,
                      time_budget_s=time_budget_s, split_ts=_ts(split_at) or SPLIT_TS, targets=targets,
                      target_reverse_edges=target_reverse_edges, target_epochs=target_epochs)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[info]}"))
    with Progress(*columns, transient=False) as progress:
        bars: dict[str, TaskID] = {}

        def on_epoch(stage: str, epoch: int, row: dict[str, float]) -> None:
            if stage not in bars:
                total = cfg.max_epochs if stage == "fit" else None  # refit: the best epoch count
                bars[stage] = progress.add_task(stage, total=total, info="")
            info = " ".join(f"{k.replace('train_', '').replace('dev_macro_', 'dev_')}={v:.3f}"
                            for k, v in row.items() if not math.isnan(v) and k != "dev_accuracy")
            progress.update(bars[stage], completed=epoch, info=info)

        summary = train_and_register(data, out, cfg, promote, runs, on_epoch)
    typer.echo(json.dumps(summary, indent=2, default=str))


def eval_behavior(
    history: Annotated[Path | None, typer.Option(help="Higgs-format history (default: shared data)")] = None,
    data: Annotated[Path | None, typer.Option(help="Higgs-format events to score (default: shared)")] = None,
    split_at: Annotated[str | None, typer.Option(help="history < t <= data; default 2012-07-04 if one file")
                        ] = None,
    until: Annotated[str | None, typer.Option(help="Score data events before this time only")] = None,
    model: Annotated[Path | None, typer.Option(help="A model version directory")] = None,
    registry: groups.Registry = groups.REGISTRY_DIR,
    version: groups.Version = None,
    horizon: Annotated[int, typer.Option(min=1, max=16)] = 3,
    beam_size: Annotated[int, typer.Option(min=1, max=16)] = 1,
    baseline: Annotated[bool, typer.Option("--baseline", help="Also score the behavior baselines")] = False,
    as_json: groups.AsJson = False,
    threads: Annotated[int, typer.Option(min=1)] = 1,
) -> None:
    """Prequential next-action evaluation (users with >= 5 prior actions), optionally with baselines; with a
    next-target ranker in the version: target_hr_at_10 and target_mrr (MRR@10), with --baseline also the
    target baselines (user's top-10 frequent, recent distinct, trending, mix) on the same scored events."""
    from seqsignal.models.behavior.job import evaluate_cli
    from seqsignal.models.core.registry import RegistryError

    try:
        out = evaluate_cli(history, data, _ts(split_at), model, registry, version, horizon, beam_size,
                           baseline, _ts(until), threads)
    except RegistryError as e:  # unknown/tampered model: a clear message, not a traceback
        typer.echo(f"error: {e}", err=True)
        raise typer.Exit(2) from e
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(json.dumps(out, indent=2))


def register(app: typer.Typer) -> None:
    groups.train_app.command("behavior")(train_behavior)
    groups.eval_app.command("behavior")(eval_behavior)
