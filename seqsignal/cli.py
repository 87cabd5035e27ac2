"""The `seqsignal` console script: one typer app, one module per command group under seqsignal.commands."""

from __future__ import annotations

import importlib
import sys
from typing import Annotated

import typer

app = typer.Typer(
    name="seqsignal",
    help="Real-time Seq2Seq signals (behavior, sentiment, rumor) for social-media streams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print settings (secrets) in a traceback
)


def version() -> str:
    """The installed distribution's version (the package's own when run from a checkout without install)."""
    from importlib.metadata import PackageNotFoundError
    from importlib.metadata import version as dist_version

    try:
        return dist_version("seqsignal")
    except PackageNotFoundError:
        from seqsignal import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"seqsignal {version()}")
        raise typer.Exit()


@app.callback()
def _root(
    show_version: Annotated[
        bool,
        typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """seqsignal command line."""


# Each module defines `register(app: typer.Typer) -> None`. Add a module here to add its commands, under
# the top-level command names it registers: only the modules of the command being run are imported, so
# `seqsignal stack up` does not pay for importing torch.
COMMANDS: dict[str, tuple[str, ...]] = {
    "check-config": ("seqsignal.commands.config",),
    "validate": ("seqsignal.commands.validate",),
    "watch": ("seqsignal.commands.watch",),
    "stack": ("seqsignal.commands.stack",),
    "replay": ("seqsignal.commands.replay",),
    "worker": ("seqsignal.commands.worker",),
    "trainer": ("seqsignal.commands.trainer",),
    "models": ("seqsignal.commands.models",),
    "forget": ("seqsignal.commands.forget",),
    "dlq": ("seqsignal.commands.dlq",),
    "bench": ("seqsignal.commands.bench",),
    "chaos": ("seqsignal.commands.chaos",),
    # `train` and `eval` groups; the task modules add their commands to them
    "train": ("seqsignal.commands.groups", "seqsignal.commands.behavior", "seqsignal.commands.text_tasks"),
    "eval": ("seqsignal.commands.groups", "seqsignal.commands.behavior", "seqsignal.commands.text_tasks"),
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(m for mods in COMMANDS.values() for m in mods))


_registered: set[str] = set()


def _register(argv: list[str]) -> None:
    """Import the modules of the command in argv (all of them for --help or an unknown command)."""
    first = next((a for a in argv if not a.startswith("-")), None)
    if first is None and "--version" in argv:
        return  # answered by the root callback: no command module needed
    modules = COMMANDS.get(first, COMMAND_MODULES) if first else COMMAND_MODULES
    for name in modules:
        if name not in _registered:
            _registered.add(name)
            importlib.import_module(name).register(app)


def _register_all() -> None:
    """Register every command (tests, --help)."""
    _register([])


def main() -> None:
    """Entry point of the console script."""
    _register(sys.argv[1:])
    app()
