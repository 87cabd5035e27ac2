"""`seqsignal trainer`: buffer the stream, fine-tune from the champions, gate, promote and announce."""

from __future__ import annotations

import json
import logging.config
import os
from pathlib import Path
from typing import Annotated

import typer

from seqsignal.workers.settings import load_settings


def trainer_command(
    once: Annotated[
        bool, typer.Option("--once", help="Catch up with the stream, run one cycle, exit")
    ] = False,
    interval: Annotated[float, typer.Option(help="Seconds between cycles at most")] = 3600.0,
    min_new: Annotated[
        int, typer.Option(help="Start a cycle as soon as this many new rows are buffered")
    ] = 5000,
    steps: Annotated[int, typer.Option(help="Fine-tune steps per task and cycle")] = 200,
    lr: Annotated[float, typer.Option(help="Fine-tune learning rate")] = 1e-3,
    tasks: Annotated[str, typer.Option(help="Comma-separated tasks to refresh")] = "behavior,sentiment,rumor",
    state_dir: Annotated[Path, typer.Option(help="Buffer, cycles.jsonl and TensorBoard logs")] = Path(
        "artifacts/trainer"
    ),
    bootstrap_weight: Annotated[
        float, typer.Option(help="Share of steps on bootstrap data (shared/data)")
    ] = 0.2,
    holdout_fraction: Annotated[float, typer.Option(help="Most recent share of the stream held back")] = 0.2,
    min_rows: Annotated[int, typer.Option(help="Buffered actions a behavior cycle needs")] = 200,
    max_rows: Annotated[int, typer.Option(help="Rows the buffer keeps at most (oldest dropped)")] = 500_000,
    shuffle_labels: Annotated[
        bool,
        typer.Option(
            "--shuffle-labels", help="Sabotage drill: train on shuffled targets (must not be promoted)"
        ),
    ] = False,
    no_announce: Annotated[bool, typer.Option("--no-announce", help="Promote without announcing")] = False,
    threads: Annotated[int, typer.Option(help="torch threads")] = 1,
    niceness: Annotated[int, typer.Option("--nice", help="Lower the process priority by N")] = 10,
) -> None:
    """Periodically refresh the models from the stream (every --interval or --min-new rows)."""
    import torch

    from seqsignal.workers.stream.logs import logging_config
    from seqsignal.workers.trainer.service import Trainer, TrainerConfig

    if niceness:
        os.nice(niceness)
    torch.set_num_threads(threads)
    settings = load_settings()
    logging.config.dictConfig(logging_config(settings.log_level))
    cfg = TrainerConfig(
        state_dir=state_dir,
        interval_s=interval,
        min_new=min_new,
        steps=steps,
        lr=lr,
        tasks=tuple(t.strip() for t in tasks.split(",") if t.strip()),
        bootstrap_weight=bootstrap_weight,
        holdout_fraction=holdout_fraction,
        min_rows=min_rows,
        max_rows=max_rows,
        shuffle_labels=shuffle_labels,
        announce=not no_announce,
    )
    trainer = Trainer(settings, cfg)
    try:
        for rec in trainer.run(once=once):
            typer.echo(
                json.dumps(
                    {
                        "cycle": rec.cycle,
                        "task": rec.task,
                        "promoted": rec.promoted,
                        "version": rec.version,
                        "skipped": rec.skipped,
                        "reasons": rec.reasons,
                        "duration_s": round(rec.duration_s, 2),
                    }
                )
            )
    except KeyboardInterrupt:
        pass
    finally:
        trainer.close()


def register(app: typer.Typer) -> None:
    app.command("trainer")(trainer_command)
