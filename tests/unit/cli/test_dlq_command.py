"""`seqsignal dlq`: registered in the CLI; replay refuses to run without saying what to replay (no broker
needed for either). The round trip on the real stack: tests/integration/test_dlq_redrive.py."""

from __future__ import annotations

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
