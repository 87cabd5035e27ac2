"""`seqsignal dlq`: registered in the CLI; replay refuses to run without saying what to replay (no broker
needed for either). The round trip on the real stack: tests/integration/test_dlq_redrive.py."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from seqsignal.cli import COMMANDS, _register_all, app


def test_dlq_is_a_command_with_inspect_export_and_replay() -> None:
    assert COMMANDS["dlq"] == ("seqsignal.commands.dlq",)
    _register_all()
    result = CliRunner().invoke(app, ["dlq", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for sub in ("inspect", "export", "replay"):
        assert sub in result.output


def test_replay_needs_a_selection(isolated_env: None) -> None:
    _register_all()
    result = CliRunner().invoke(app, ["dlq", "replay"])
    assert result.exit_code == 2
    assert "--stage, --since or --values" in result.output


def test_since_must_parse(isolated_env: None) -> None:
    _register_all()
    result = CliRunner().invoke(app, ["dlq", "inspect", "--since", "yesterday"])
    assert result.exit_code == 2 and "--since" in result.output


def test_inspect_prints_counts_and_samples(isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from seqsignal.schemas.codec import InvalidEvent
    from seqsignal.workers import dlq
    from seqsignal.workers.pipelines.dead_letter import build_dead_letter
    from seqsignal.workers.pipelines.records import RawEvent

    def record(offset: int) -> dlq.DeadLetterRecord:
        raw = RawEvent("events.posts.v1", 1, offset, b"k", b'{"post_id": 1}', [])
        rec = build_dead_letter(raw, "decode", InvalidEvent("schema", "post_id: wrong type"), "dl")
        parsed = dlq.view_of(0, offset, 1_700_000_000_000, rec.key, rec.value, rec.headers)
        assert parsed is not None
        return dlq.DeadLetterRecord(parsed[0], rec.key, rec.value, parsed[1])

    monkeypatch.setattr(dlq, "read_dead_letters", lambda *a, **k: [record(5), record(6)])
    monkeypatch.setattr(dlq, "replayed_positions", lambda *a, **k: {"0/5"})
    _register_all()
    result = CliRunner().invoke(app, ["dlq", "inspect"])
    assert result.exit_code == 0, result.output
    assert "2 dead letters (1 replayed)" in result.output
    assert "by stage: decode=2" in result.output and "InvalidEvent:schema=2" in result.output
    assert "0/5 from events.posts.v1/1/5: schema: post_id: wrong type" in result.output
