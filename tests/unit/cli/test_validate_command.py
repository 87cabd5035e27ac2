"""`seqsignal validate`: a verdict per raw line, a summary, exit 0 for bad lines, 2 for an unreadable file."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import orjson
import typer
from typer.testing import CliRunner

from seqsignal.cli import COMMAND_MODULES
from seqsignal.commands import validate
from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action

ACTION = encode(Action(event_id="a-1", user_id="u1", action="like",
                       created_at=datetime(2024, 1, 1, tzinfo=UTC)))
LINES = [
    ACTION,
    b'{"event_id": "a-2"',  # truncated
    ACTION.replace(b"u1", b"u\xff"),  # bad UTF-8, seen because lines are read as bytes
    ACTION.replace(b'"like"', b'"retweet"'),
    b"",
    ACTION.replace(b'"schema_version":1', b'"schema_version":2'),
    ACTION,
]


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """test root"""

    validate.register(app)
    return app


def _run(args: list[str], stdin: bytes | None = None) -> tuple[int, list[dict[str, object]], str]:
    result = CliRunner().invoke(_app(), args, input=stdin)
    lines = [orjson.loads(line) for line in result.stdout_bytes.splitlines()]
    return result.exit_code, lines, result.stderr


def test_registered_in_the_cli() -> None:
    assert "seqsignal.commands.validate" in COMMAND_MODULES


def test_one_verdict_per_line_and_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "actions.jsonl"
    path.write_bytes(b"\n".join(LINES[:-1]) + b"\r\n" + LINES[-1] + b"\n")
    code, out, _ = _run(["validate", "--topic", "actions", str(path)])
    assert code == 0
    verdicts, summary = out[:-1], out[-1]
    assert [v["line"] for v in verdicts] == [1, 2, 3, 4, 5, 6, 7]
    assert [v["ok"] for v in verdicts] == [True, False, False, False, False, False, True]
    assert [v["reason"] for v in verdicts] == [None, "not_json", "invalid_utf8", "schema", "empty",
                                               "unsupported_version", None]
    assert "detail" not in verdicts[0] and verdicts[3]["field"] == "action" and verdicts[3]["detail"]
    assert summary == {"summary": True, "topic": "actions", "lines": 7, "ok": 2, "invalid": 5,
                       "by_reason": {"empty": 1, "invalid_utf8": 1, "not_json": 1, "schema": 1,
                                     "unsupported_version": 1}}


def test_stdin_only_invalid_and_size_limit() -> None:
    code, out, _ = _run(["validate", "-t", "actions", "--only-invalid", "--max-bytes", "100", "-"],
                        stdin=ACTION + b"\n" + b"[]\n")
    assert code == 0
    assert len(ACTION) > 100
    assert [(v.get("line"), v.get("reason")) for v in out[:-1]] == [(1, "too_large"), (2, "not_object")]
    assert out[-1]["invalid"] == 2 and out[-1]["ok"] == 0


def test_wrong_topic_is_checked_against_that_contract(tmp_path: Path) -> None:
    path = tmp_path / "a.jsonl"
    path.write_bytes(ACTION + b"\n")
    code, out, _ = _run(["validate", "--topic", "posts", str(path)])
    assert code == 0 and out[0]["reason"] == "schema" and out[-1]["by_reason"] == {"schema": 1}


def test_empty_file_gives_only_a_summary(tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_bytes(b"")
    code, out, _ = _run(["validate", "--topic", "labels", str(path)])
    assert code == 0 and out == [{"summary": True, "topic": "labels", "lines": 0, "ok": 0, "invalid": 0,
                                  "by_reason": {}}]


def test_usage_errors_exit_non_zero(tmp_path: Path) -> None:
    code, out, err = _run(["validate", "--topic", "posts", str(tmp_path / "missing.jsonl")])
    assert code == 2 and out == [] and "cannot read" in err
    code, _, _ = _run(["validate", "--topic", "posts", str(tmp_path)])  # a directory
    assert code == 2
    code, _, _ = _run(["validate", "--topic", "tweets", str(tmp_path)])
    assert code == 2
    code, _, _ = _run(["validate", str(tmp_path)])  # --topic is required
    assert code == 2
