"""`seqsignal dlq inspect | export | replay`: the dead-letter topic read back, summarised and redriven
(workers/dlq.py; docs/operations.md, "Dead letters")."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Annotated, Any

import typer

from seqsignal.workers.settings import load_settings

dlq_app = typer.Typer(help="Dead letters: inspect, export and replay them to their input topic.",
                      no_args_is_help=True)

StageOpt = Annotated[
    list[str] | None,
    typer.Option("--stage", help="Only this stage: decode, window, inference, emit (repeatable)"),
]
SinceOpt = Annotated[
    str | None, typer.Option(help="Only dead letters that failed since: 2h, 30m, 7d or an RFC 3339 time")
]
TopicOpt = Annotated[
    str | None, typer.Option("--topic", help="Only dead letters from this input topic (full name)")
]
TimeoutOpt = Annotated[float, typer.Option(help="Seconds to read the dead-letter topic to its end")]


def _read(stage: list[str] | None, since: str | None, topic: str | None, timeout: float) -> Any:
    from seqsignal.workers import dlq

    settings = load_settings()
    try:
        when = dlq.parse_since(since)
    except ValueError:
        typer.echo(f"--since {since!r}: use 2h, 30m, 7d or an RFC 3339 time", err=True)
        raise typer.Exit(2) from None
    records = dlq.read_dead_letters(settings.kafka, since=when, stages=stage or (), source_topic=topic,
                                    timeout_s=timeout)
    return settings, records


def inspect_command(
    stage: StageOpt = None,
    since: SinceOpt = None,
    topic: TopicOpt = None,
    samples: Annotated[int, typer.Option(help="Samples shown per stage and error")] = 3,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Count dead letters by stage, error and origin topic, with a few samples of each error."""
    from seqsignal.workers import dlq

    settings, records = _read(stage, since, topic, timeout)
    replayed = dlq.replayed_positions(settings.kafka, timeout)
    summary = dlq.summarize(records, samples=samples, replayed=replayed)
    if as_json:
        typer.echo(json.dumps(summary, default=str, ensure_ascii=False))
        return
    typer.echo(f"{summary['total']} dead letters ({summary['replayed']} replayed)"
               + (f", {summary['first_failed_at']} .. {summary['last_failed_at']}" if records else ""))
    for title, key in (("stage", "by_stage"), ("error", "by_error"), ("topic", "by_topic")):
        if summary[key]:
            typer.echo(f"by {title}: " + ", ".join(f"{k}={v}" for k, v in summary[key].items()))
    for group, items in summary["samples"].items():
        typer.echo(f"\n{group}")
        for s in items:
            typer.echo(f"  {s['dead_letter']} from {s['origin']}: {s['message']}")
            typer.echo(f"    {s['value']}")


def export_command(
    stage: StageOpt = None,
    since: SinceOpt = None,
    topic: TopicOpt = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="JSONL file (default: stdout)")
    ] = None,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Write the dead letters as JSONL (DeadLetter view plus `value` as text): edit `value`, then
    `seqsignal dlq replay --values FILE` replays exactly those lines with the corrected bytes."""
    from seqsignal.workers import dlq

    _, records = _read(stage, since, topic, timeout)
    lines = b"".join(dlq.export_line(r) + b"\n" for r in records)
    if output is None:
        sys.stdout.buffer.write(lines)
    else:
        output.write_bytes(lines)
        typer.echo(f"{len(records)} dead letters written to {output}", err=True)


def replay_command(
    stage: StageOpt = None,
    since: SinceOpt = None,
    topic: TopicOpt = None,
    fix: Annotated[
        str | None,
        typer.Option(help="Fix hook module:function or file.py:function, fn(value: bytes, dead_letter) -> "
                     "bytes | None (None: skip it)"),
    ] = None,
    values: Annotated[
        Path | None,
        typer.Option(help="An edited `dlq export` file: replay only its lines, with their values"),
    ] = None,
    force: Annotated[bool, typer.Option(help="Replay dead letters the ledger says were replayed")] = False,
    dry_run: Annotated[bool, typer.Option(help="Only say what would be replayed")] = False,
    timeout: TimeoutOpt = 60.0,
) -> None:
    """Replay dead letters to the input topic they came from (original key and headers), once each."""
    from seqsignal.workers import dlq

    if stage is None and since is None and values is None and not force:
        typer.echo("say what to replay: --stage, --since or --values (or --force for everything)", err=True)
        raise typer.Exit(2)
    settings, records = _read(stage, since, topic, timeout)
    hook = dlq.load_fix(fix) if fix else None
    wanted = dlq.load_values(values) if values else None
    report = dlq.replay(settings.kafka, records, fix=hook, values=wanted, force=force, dry_run=dry_run,
                        timeout_s=timeout)
    typer.echo(json.dumps(asdict(report)))


def register(app: typer.Typer) -> None:
    dlq_app.command("inspect")(inspect_command)
    dlq_app.command("export")(export_command)
    dlq_app.command("replay")(replay_command)
    app.add_typer(dlq_app, name="dlq")
