"""`seqsignal forget USER`: remove a user's window, cached encoder state and buffered training rows."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Annotated

import typer

from seqsignal.workers.settings import Settings, load_settings


async def _forget_redis(settings: Settings, key: str) -> int:
    from seqsignal.workers.state.redis_client import async_client
    from seqsignal.workers.state.window_store import WindowStore

    client = async_client(settings.redis)
    try:
        store = WindowStore(client, settings.window, settings.redis.key_prefix)
        return await store.forget_user(key)
    finally:
        await client.aclose()  # type: ignore[union-attr]  # redis-py's stubs lack aclose


def forget_user(settings: Settings, user_id: str, state_dir: Path) -> dict[str, int]:
    """Delete the user from Redis (keyed like the worker keys it) and from the trainer's buffer."""
    from seqsignal.workers.stream.runtime import user_key_function
    from seqsignal.workers.trainer.buffer import TrainingBuffer
    from seqsignal.workers.trainer.service import BUFFER_FILE

    key_of = user_key_function(settings)
    removed = {"redis_keys": asyncio.run(_forget_redis(settings, key_of(user_id))), "buffer_rows": 0}
    path = state_dir / BUFFER_FILE
    if path.exists():
        buf = TrainingBuffer(path, retention_s=settings.privacy.retention_s, user_key=key_of)
        try:
            removed["buffer_rows"] = buf.forget(user_id)
        finally:
            buf.close()
    return removed


def forget_command(
    user: Annotated[str, typer.Argument(help="The user id as it appears in the input events")],
    state_dir: Annotated[
        Path | None, typer.Option(help="The trainer's state dir (default: settings trainer.state_dir)")
    ] = None,
) -> None:
    """Remove every trace of USER from Redis and the training buffer (counts printed, never the id)."""
    settings = load_settings()
    typer.echo(json.dumps(forget_user(settings, user, state_dir or settings.trainer.state_dir)))


def register(app: typer.Typer) -> None:
    app.command("forget")(forget_command)
