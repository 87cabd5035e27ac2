"""`seqsignal trainer`: buffer the stream, fine-tune from the champions, gate, promote and announce.

Every knob is a field of `Settings.trainer` (SEQSIGNAL_TRAINER__*, workers/settings.py: the one home of its
default and description); an option given on the command line overrides it for this run."""

from __future__ import annotations

import json
import logging.config
import os
from pathlib import Path
from typing import Annotated, Any

import pydantic
import typer

from seqsignal.workers.settings import Settings, TrainerSettings, load_settings


def _opt(field: str, *names: str) -> Any:
    """The option that overrides Settings.trainer.<field>: its help and shown default come from the field."""
    info = TrainerSettings.model_fields[field]
    default = info.default
    if isinstance(default, tuple):  # tasks: comma-separated on the command line, a JSON list in the env
        default = ",".join(default)
    env = f"SEQSIGNAL_TRAINER__{field.upper()}"
    return typer.Option(*names, help=f"{info.description} (default: {env}, else {default})",
                        show_default=False)


def trainer_settings(settings: Settings, **options: Any) -> TrainerSettings:
    """settings.trainer with the options given on the command line (not None) on top, validated."""
    given = {k: v for k, v in options.items() if v is not None}
    if isinstance(given.get("tasks"), str):
        given["tasks"] = tuple(t.strip() for t in given["tasks"].split(",") if t.strip())
    try:
        return TrainerSettings.model_validate({**settings.trainer.model_dump(), **given})
    except pydantic.ValidationError as exc:
        raise typer.BadParameter(str(exc)) from exc


def trainer_command(
    once: Annotated[bool, typer.Option("--once", help="Catch up with the stream, run one cycle, exit")
                    ] = False,
    interval: Annotated[float | None, _opt("interval_s", "--interval")] = None,
    min_new: Annotated[int | None, _opt("min_new")] = None,
    steps: Annotated[int | None, _opt("steps")] = None,
    lr: Annotated[float | None, _opt("lr")] = None,
    tasks: Annotated[str | None, _opt("tasks")] = None,
    state_dir: Annotated[Path | None, _opt("state_dir")] = None,
    bootstrap_weight: Annotated[float | None, _opt("bootstrap_weight")] = None,
    holdout_fraction: Annotated[float | None, _opt("holdout_fraction")] = None,
    min_rows: Annotated[int | None, _opt("min_rows")] = None,
    max_rows: Annotated[int | None, _opt("max_rows")] = None,
    shuffle_labels: Annotated[bool | None, _opt("shuffle_labels", "--shuffle-labels/--no-shuffle-labels")
                              ] = None,
    announce: Annotated[bool | None, _opt("announce", "--announce/--no-announce")] = None,
    threads: Annotated[int | None, _opt("threads")] = None,
    nice: Annotated[int | None, _opt("nice")] = None,
    metrics_port: Annotated[int | None, _opt("metrics_port")] = None,
) -> None:
    """Periodically refresh the models from the stream (every --interval or --min-new rows)."""
    import torch

    from seqsignal.workers.stream.logs import logging_config
    from seqsignal.workers.trainer.service import Trainer

    settings = load_settings()
    cfg = trainer_settings(
        settings, interval_s=interval, min_new=min_new, steps=steps, lr=lr, tasks=tasks, state_dir=state_dir,
        bootstrap_weight=bootstrap_weight, holdout_fraction=holdout_fraction, min_rows=min_rows,
        max_rows=max_rows, shuffle_labels=shuffle_labels, announce=announce, threads=threads, nice=nice,
        metrics_port=metrics_port,
    )
    if cfg.nice:
        os.nice(cfg.nice)
    torch.set_num_threads(cfg.threads)
    logging.config.dictConfig(logging_config(settings.log_level))
    trainer = Trainer(settings, cfg)
    if cfg.metrics_port:
        from seqsignal.workers.trainer.metrics import serve

        serve(trainer.metrics, cfg.metrics_port)
    try:
        for rec in trainer.run(once=once):
            shown = {k: getattr(rec, k) for k in ("cycle", "task", "promoted", "version", "skipped")}
            typer.echo(json.dumps({**shown, "reasons": rec.reasons, "duration_s": round(rec.duration_s, 2)}))
    except KeyboardInterrupt:
        pass
    finally:
        trainer.close()


def register(app: typer.Typer) -> None:
    app.command("trainer")(trainer_command)
