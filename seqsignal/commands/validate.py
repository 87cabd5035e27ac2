"""`seqsignal validate --topic posts FILE`: one JSON verdict per input line, then a summary."""

from __future__ import annotations

from collections import Counter
from enum import StrEnum
from pathlib import Path
from typing import IO, Annotated

import orjson
import typer

from seqsignal.schemas.codec import DEFAULT_MAX_BYTES, InvalidEvent, decode


class TopicKind(StrEnum):
    """Input topics a file can be checked against."""

    posts = "posts"
    actions = "actions"
    labels = "labels"


def check_stream(kind: str, stream: IO[bytes], out: IO[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES,
                 only_invalid: bool = False) -> dict[str, object]:
    """Write one verdict per line of `stream` to `out` and return the summary (also written last).

    Lines are raw bytes (bad UTF-8 is seen as such); only the line ending (LF or CRLF) is removed.
    """
    by_reason: Counter[str] = Counter()
    lines = valid = 0
    for lines, line in enumerate(stream, start=1):  # `lines` is the count after the loop
        raw = line[:-2] if line.endswith(b"\r\n") else line[:-1] if line.endswith(b"\n") else line
        verdict: dict[str, object]
        try:
            decode(kind, raw, max_bytes=max_bytes)
        except InvalidEvent as exc:
            by_reason[exc.reason] += 1
            verdict = {"line": lines, "ok": False, "reason": exc.reason, "detail": exc.detail}
            if exc.field is not None:
                verdict["field"] = exc.field
        else:
            valid += 1
            if only_invalid:
                continue
            verdict = {"line": lines, "ok": True, "reason": None}
        out.write(orjson.dumps(verdict) + b"\n")
    summary: dict[str, object] = {"summary": True, "topic": kind, "lines": lines, "ok": valid,
                                  "invalid": lines - valid, "by_reason": dict(sorted(by_reason.items()))}
    out.write(orjson.dumps(summary) + b"\n")
    return summary


def validate(
    file: Annotated[str, typer.Argument(metavar="FILE", help="One raw event per line; - for stdin.")],
    topic: Annotated[TopicKind, typer.Option("--topic", "-t", help="Which input contract to check.")],
    max_bytes: Annotated[int, typer.Option(min=1, help="Per-event size limit.")] = DEFAULT_MAX_BYTES,
    only_invalid: Annotated[bool, typer.Option("--only-invalid", help="Print bad lines only.")] = False,
) -> None:
    """Check raw event lines against an input contract: prints {"line", "ok", "reason"[, "detail"]} per
    line and a final {"summary": true, ...}. Exit 0 even when lines are invalid; 2 if FILE is unreadable."""
    out = typer.get_binary_stream("stdout")
    if file == "-":
        check_stream(topic.value, typer.get_binary_stream("stdin"), out, max_bytes=max_bytes,
                     only_invalid=only_invalid)
        return
    try:
        stream = Path(file).open("rb")  # noqa: SIM115 - closed below; open errors are usage errors
    except OSError as exc:
        typer.echo(f"error: cannot read {file}: {exc.strerror or exc}", err=True)
        raise typer.Exit(2) from None
    with stream:
        check_stream(topic.value, stream, out, max_bytes=max_bytes, only_invalid=only_invalid)
    out.flush()


def register(app: typer.Typer) -> None:
    app.command("validate")(validate)
