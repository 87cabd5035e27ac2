"""`seqsignal check-config`: print the effective settings with secrets redacted."""

from __future__ import annotations

import orjson
import typer

from seqsignal.workers.settings import load_settings, redacted


def check_config() -> None:
    """Print the effective settings (env vars, stack.env, defaults) as JSON, secrets redacted."""
    typer.echo(orjson.dumps(redacted(load_settings()), option=orjson.OPT_INDENT_2).decode())


def register(app: typer.Typer) -> None:
    app.command("check-config")(check_config)
