"""`seqsignal worker`: run the streaming worker (faust app) until SIGTERM/SIGINT, which drains and leaves."""

from __future__ import annotations

from typing import Any

import typer

from seqsignal.workers.settings import load_settings


def worker(
    web_port: int | None = typer.Option(None, help="Port of /livez, /readyz, /metrics (default: settings)"),
    log_level: str | None = typer.Option(None, help="DEBUG, INFO, WARNING or ERROR (default: settings)"),
) -> None:
    """Consume posts and actions, emit behavior, sentiment and rumour signals (at least once)."""
    from seqsignal.workers.stream.memory import limit_malloc_arenas

    limit_malloc_arenas()  # before torch, faust and their threads start
    import faust  # heavy imports only for this command

    from seqsignal.workers.serving.model_updates import attach_model_updates
    from seqsignal.workers.stream.agents import attach_agents
    from seqsignal.workers.stream.app import create_app
    from seqsignal.workers.stream.health import attach_health
    from seqsignal.workers.stream.logs import logging_config
    from seqsignal.workers.stream.runtime import Runtime
    from seqsignal.workers.topic_admin import ensure_topics

    overrides = {"web_port": web_port} if web_port is not None else {}
    settings = load_settings(**overrides)
    ensure_topics(settings.kafka)  # subscribe to topics that exist, or the group is assigned nothing
    level = (log_level or settings.log_level).upper()
    app = create_app(settings)
    runtime = Runtime(settings)
    attach_agents(app, runtime)
    attach_health(app, runtime)
    attach_model_updates(app, runtime)  # hot reload on `models.updates.v1` announcements (broadcast)

    @app.on_before_shutdown.connect  # type: ignore[arg-type]  # faust types a coroutine receiver oddly
    async def _close_runtime(sender: Any, *args: Any, **kwargs: Any) -> None:
        # Runs after the consumer drained (every fetched event acked, offsets committed).
        await runtime.stop()

    faust.Worker(
        app,
        loglevel=level,
        logging_config=logging_config(level),
        redirect_stdouts=False,
        quiet=True,
    ).execute_from_commandline()


def register(app: typer.Typer) -> None:
    app.command("worker")(worker)
