"""`seqsignal models list | promote VERSION | rollback`: operate the champions and announce changes."""

from __future__ import annotations

import json
from typing import Annotated, Any, get_args

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
    manifest = registry.resolve(reg, task, version)[1]
    metrics = manifest.get("metrics", {})
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float)}
    announce(settings.kafka, make_update(task, version, reg, numeric), tier=registry.tier_of(manifest))


@models_app.command("list")
def list_command(
    task: Annotated[str | None, typer.Option(help="Only this task")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object")] = False,
) -> None:
    """Every version of every task, oldest first, with its tier; each tier's champion is marked
    (`champion` is the fast tier's, `champions` has one per tier)."""
    reg = load_settings().model.registry_dir
    out: dict[str, dict[str, Any]] = {
        t: {"champion": registry.champion(reg, t), "versions": registry.list_versions(reg, t),
            "champions": {tier: registry.champion(reg, t, tier) for tier in registry.TIERS}}
        for t in ([task] if task else get_args(Task))
    }
    for t, info in out.items():
        info["tiers"] = {v: registry.version_tier(reg, t, v) for v in info["versions"]}
    if as_json:
        typer.echo(json.dumps(out, indent=2))
        return
    for t, info in out.items():
        typer.echo(f"{t}:")
        for v in info["versions"] or []:
            tier = info["tiers"][v]
            typer.echo(f"  {'*' if v == info['champions'][tier] else ' '} {v} ({tier})")


@models_app.command("promote")
def promote_command(
    version: Annotated[str, typer.Argument(help="Registry version to make champion")],
    task: Annotated[str | None, typer.Option(help="Task (default: the one holding VERSION)")] = None,
    no_announce: Annotated[bool, typer.Option("--no-announce")] = False,
) -> None:
    """Verify VERSION, make it champion of its tier, announce it on models.updates.v1."""
    settings = load_settings()
    task = _task_of(settings, version, task)
    registry.promote(task, version, settings.model.registry_dir)
    if not no_announce:
        _announce(settings, task, version)
    tier = registry.version_tier(settings.model.registry_dir, task, version)
    typer.echo(f"{task}: {tier}-tier champion is now {version}" + ("" if no_announce else " (announced)"))


@models_app.command("rollback")
def rollback_command(
    task: Annotated[str, typer.Option(help="Task to roll back")],
    tier: Annotated[str, typer.Option(help="Tier to roll back: fast or quality")] = "fast",
    no_announce: Annotated[bool, typer.Option("--no-announce")] = False,
) -> None:
    """Restore the previous champion of TASK's tier and announce it."""
    settings = load_settings()
    version = registry.rollback(task, settings.model.registry_dir, tier)
    if not no_announce:
        _announce(settings, task, version)
    typer.echo(f"{task}: rolled back to {version}" + ("" if no_announce else " (announced)"))


def register(app: typer.Typer) -> None:
    app.add_typer(models_app, name="models")
