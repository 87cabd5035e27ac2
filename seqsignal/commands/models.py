"""`seqsignal models list | promote VERSION | rollback`: operate the champions and announce changes."""

from __future__ import annotations

import json
from typing import Annotated, get_args

import typer

from seqsignal.models.core import registry
from seqsignal.schemas.events import Task
from seqsignal.workers.settings import Settings, load_settings

models_app = typer.Typer(
    help="List, promote and roll back model versions (announced to the workers).", no_args_is_help=True
)


def _task_of(settings: Settings, version: str, task: str | None) -> str:
    if task is not None:
        return task
    owners = [t for t in get_args(Task) if version in registry.list_versions(settings.model.registry_dir, t)]
    if len(owners) != 1:
        raise typer.BadParameter(
            f"version found under {owners or 'no task'}; pass --task", param_hint="VERSION"
        )
    return owners[0]


def _announce(settings: Settings, task: str, version: str) -> None:
    from seqsignal.workers.serving.model_updates import announce, make_update

    reg = settings.model.registry_dir
    metrics = registry.resolve(reg, task, version)[1].get("metrics", {})
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    announce(settings.kafka, make_update(task, version, reg, numeric))


@models_app.command("list")
def list_command(
    task: Annotated[str | None, typer.Option(help="Only this task")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Every version of every task, oldest first; the champion is marked."""
    reg = load_settings().model.registry_dir
    out = {
        t: {"champion": registry.champion(reg, t), "versions": registry.list_versions(reg, t)}
        for t in ([task] if task else get_args(Task))
    }
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for t, info in out.items():
        typer.echo(f"{t}:")
        for v in info["versions"] or []:
            typer.echo(f"  {'*' if v == info['champion'] else ' '} {v}")


@models_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Registry version to make champion")],
    task: Annotated[str | None, typer.Option(help="Task (default: the one holding VERSION)")] = None,
    no_announce: Annotated[bool, typer.Option("--no-announce")] = False,
) -> None:
    """Verify VERSION, make it champion, announce it on models.updates.v1."""
    settings = load_settings()
    task = _task_of(settings, version, task)
    registry.promote(task, version, settings.model.registry_dir)
    if not no_announce:
        _announce(settings, task, version)
    typer.echo(f"{task}: champion is now {version}" + ("" if no_announce else " (announced)"))


@models_app.command("rollback")
def rollback_command(
    task: Annotated[str, typer.Option(help="Task to roll back")],
    no_announce: Annotated[bool, typer.Option("--no-announce")] = False,
) -> None:
    """Restore the previous champion of TASK and announce it."""
    settings = load_settings()
    version = registry.rollback(task, settings.model.registry_dir)
    if not no_announce:
        _announce(settings, task, version)
    typer.echo(f"{task}: rolled back to {version}" + ("" if no_announce else " (announced)"))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
