"""`seqsignal watch`: a live terminal view of the signal topics (behavior, sentiment, rumor, dead letters)."""

from __future__ import annotations

import time
from collections import Counter, deque
from typing import Any

import orjson
import typer
from kafka import KafkaConsumer
from rich.console import Group
from rich.live import Live
from rich.table import Table

from seqsignal.schemas.topics import Topics
from seqsignal.workers.dead_letter_reader import view_of
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.settings import load_settings

_ROWS = 8


def _short(value: str, n: int = 14) -> str:
    return value if len(value) <= n else value[: n - 1] + "…"


def _line(kind: str, rec: dict[str, Any]) -> tuple[str, str, str]:
    """(key, what, model version) of one signal record, for display; never post text."""
    if kind == "behavior":
        acts = " → ".join(f"{a['action']} {a['probability']:.2f}" for a in rec["actions"])
        return _short(rec["user_id"]), acts, rec["model_version"]
    if kind == "sentiment":
        p = rec["probabilities"]
        return _short(rec["post_id"]), f"{rec['label']:<8} n={p['negative']:.2f} 0={p['neutral']:.2f} " \
            f"p={p['positive']:.2f}", rec["model_version"]
    if kind == "rumor":
        flag = "FLAGGED" if rec["flagged"] else "ok"
        what = f"score {rec['score']:.2f} {flag} after {rec['replies_seen']} replies"
        return _short(rec["root_id"]), what, rec["model_version"]
    return f"{rec['topic']}@{rec['offset']}", f"{rec['stage']}: {rec['error_class']}", "-"


def _row(kind: str, msg: Any) -> tuple[str, str, str]:
    """A display row of one consumed record: dead letters are the input's own bytes with context headers
    (read through their DeadLetter view), signals are JSON."""
    try:
        if kind == "dead letters":
            view = view_of(msg.partition, msg.offset, msg.timestamp, msg.key, msg.value, msg.headers or [])
            if view is None:
                raise KeyError("no dead-letter context headers")
            return _line(kind, view[0].model_dump(mode="json"))
        return _line(kind, orjson.loads(msg.value))
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
        return ("?", "unreadable record", "-")


def _render(counts: Counter[str], recent: dict[str, deque[tuple[str, str, str]]], started: float) -> Group:
    elapsed = max(time.monotonic() - started, 1e-6)
    head = Table(title="seqsignal — live signals", expand=True)
    for col in ("topic", "records", "records/s"):
        head.add_column(col)
    for kind in recent:
        head.add_row(kind, str(counts[kind]), f"{counts[kind] / elapsed:,.0f}")
    tables: list[Table] = [head]
    for kind, rows in recent.items():
        t = Table(title=f"latest {kind}", expand=True, show_header=False)
        t.add_column("key", style="cyan", no_wrap=True)
        t.add_column("signal")
        t.add_column("model", style="dim", no_wrap=True)
        for row in rows:
            t.add_row(*row)
        tables.append(t)
    return Group(*tables)


def watch(
    duration: float = typer.Option(30.0, help="Stop after this many seconds (0 = until Ctrl-C)"),
    from_beginning: bool = typer.Option(False, help="Read the topics from the start"),
    topic_prefix: str | None = typer.Option(None, help="Topic prefix (default: settings)"),
) -> None:
    """Show behavior, sentiment and rumor signals (and dead letters) as they arrive."""
    settings = load_settings()
    topics = Topics(prefix=settings.kafka.topic_prefix if topic_prefix is None else topic_prefix)
    by_topic = {topics.behavior: "behavior", topics.sentiment: "sentiment", topics.rumor: "rumor",
                topics.dead_letter: "dead letters"}
    consumer = KafkaConsumer(
        *by_topic,
        auto_offset_reset="earliest" if from_beginning else "latest",
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=250,
        **kafka_python_kwargs(settings.kafka),
    )
    counts: Counter[str] = Counter()
    recent: dict[str, deque[tuple[str, str, str]]] = {k: deque(maxlen=_ROWS) for k in by_topic.values()}
    started = time.monotonic()
    try:
        with Live(_render(counts, recent, started), refresh_per_second=4) as live:
            while duration <= 0 or time.monotonic() - started < duration:
                for batch in consumer.poll(timeout_ms=250, max_records=2000).values():
                    for msg in batch:
                        kind = by_topic[msg.topic]
                        counts[kind] += 1
                        recent[kind].append(_row(kind, msg))
                live.update(_render(counts, recent, started))
    except KeyboardInterrupt:
        pass
    finally:
        consumer.close()
    typer.echo(orjson.dumps(dict(counts)).decode())


def register(app: typer.Typer) -> None:
    app.command("watch")(watch)
