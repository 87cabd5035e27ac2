"""`seqsignal replay <dataset>`: send a real dataset to Kafka as a paced event stream, with a progress bar."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from seqsignal.models.datasets.streams import DATASET_NAMES, iter_dataset_events
from seqsignal.schemas.topics import Topics
from seqsignal.workers.replay import ReplayStats, make_producer, replay
from seqsignal.workers.settings import load_settings
from seqsignal.workers.topic_admin import ensure_topics


def replay_command(
    dataset: Annotated[str, typer.Argument(help=f"One of: {', '.join(DATASET_NAMES)}")],
    rate: Annotated[float | None, typer.Option(help="Send at most N events/s")] = None,
    speedup: Annotated[float | None, typer.Option(help="Replay event time X times faster")] = None,
    limit: Annotated[int | None, typer.Option(help="Send at most N events")] = None,
    data: Annotated[Path | None, typer.Option(help="Data root (default: the shared data dir)")] = None,
    topic_prefix: Annotated[str | None, typer.Option(help="Topic prefix (default: settings)")] = None,
    labels: Annotated[bool, typer.Option("--labels", help="Also send labels to the labels topic")] = False,
    invalid_fraction: Annotated[float, typer.Option(help="Extra invalid records per event (0..1)")] = 0.0,
    seed: Annotated[int, typer.Option(help="Seed of the invalid-record injection")] = 0,
) -> None:
    """Replay a dataset: posts to the posts topic, actions to the actions topic (labels with --labels)."""
    if dataset not in DATASET_NAMES:
        raise typer.BadParameter(f"choose one of {', '.join(DATASET_NAMES)}", param_hint="DATASET")
    if rate is not None and speedup is not None:
        raise typer.BadParameter("give --rate or --speedup, not both")
    settings = load_settings()
    topics = Topics(prefix=settings.kafka.topic_prefix if topic_prefix is None else topic_prefix)
    events = iter_dataset_events(dataset, data or settings.data_dir, labels=labels)
    console = Console(stderr=True)
    kafka = settings.kafka.model_copy(update={"topic_prefix": topics.prefix})
    ensure_topics(kafka)  # the input topics with the configured partitions, not the broker's defaults
    producer = make_producer(settings)
    columns = (TextColumn(f"replay {dataset}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("{task.fields[speed]}"))
    try:
        with Progress(*columns, console=console, transient=False) as progress:
            task = progress.add_task("replay", total=limit, speed="")

            def on_progress(stats: ReplayStats) -> None:
                elapsed = progress.tasks[task].elapsed or 0.0
                speed = f"{stats.sent / elapsed:,.0f} ev/s" if elapsed > 0 else ""
                progress.update(task, completed=stats.sent, speed=speed)

            stats = replay(events, producer, topics, rate=rate, speedup=speedup, limit=limit,
                           invalid_fraction=invalid_fraction, seed=seed, on_progress=on_progress)
    finally:
        producer.close(timeout=30)
    per_topic = ", ".join(f"{topic}={n}" for topic, n in sorted(stats.by_topic.items()))
    typer.echo(f"sent {stats.sent} events ({per_topic}); invalid injected {stats.invalid}; "
               f"{stats.elapsed_s:.2f} s, {stats.events_per_s:,.0f} events/s")


def register(app: typer.Typer) -> None:
    app.command("replay")(replay_command)
