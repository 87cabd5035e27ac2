"""The `seqsignal` console script: one typer app, one module per command group under seqsignal.commands."""

from __future__ import annotations

import importlib

import typer

app = typer.Typer(
    name="seqsignal",
    help="Real-time Seq2Seq signals (behavior, sentiment, rumor) for social-media streams.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,  # never print settings (secrets) in a traceback
)



@app.callback()
def _root() -> None:
    """seqsignal command line."""


# Each module defines `register(app: typer.Typer) -> None`. Add a module here to add its commands.
COMMAND_MODULES: tuple[str, ...] = (
    "seqsignal.commands.config",
    "seqsignal.commands.validate",
    "seqsignal.commands.watch",
    "seqsignal.commands.stack",
    "seqsignal.commands.replay",
    "seqsignal.commands.worker",
    "seqsignal.commands.trainer",
    "seqsignal.commands.models",
    "seqsignal.commands.forget",
    "seqsignal.commands.groups",  # `train` and `eval` groups; task modules below add their commands
    "seqsignal.commands.behavior",
    "seqsignal.commands.text_tasks",
)


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def main() -> None:
    """Entry point of the console script."""
    _register_all()
    app()
