"""`seqsignal trainer`: Settings.trainer (SEQSIGNAL_TRAINER__*) is the default of every option, an option
given on the command line wins; `--version`; `train`/`eval` read the registry root from the model setting."""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, get_args

import pytest
import typer
from typer.testing import CliRunner

from seqsignal.cli import _register_all, app, version
from seqsignal.commands import trainer as trainer_cmd
from seqsignal.schemas.events import Task
from seqsignal.workers.settings import Settings, TrainerSettings


@pytest.fixture(autouse=True)
def _env(isolated_env: None, monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings from defaults plus what a test sets (tests/conftest.py), and never renice the test run."""
    monkeypatch.setenv("SEQSIGNAL_TRAINER__NICE", "0")


class FakeTrainer:
    """Stands in for the service: records the settings it was built with, runs no cycle."""

    built: ClassVar[list[TrainerSettings]] = []

    def __init__(self, settings: Settings, cfg: TrainerSettings) -> None:
        FakeTrainer.built.append(cfg)

    def run(self, once: bool = False) -> list[Any]:
        return []

    def close(self) -> None:
        pass


def _run(monkeypatch: pytest.MonkeyPatch, *args: str) -> TrainerSettings:
    import seqsignal.workers.trainer.service as service

    monkeypatch.setattr(service, "Trainer", FakeTrainer)
    monkeypatch.setattr("torch.set_num_threads", lambda n: None)
    monkeypatch.setattr("logging.config.dictConfig", lambda cfg: None)
    FakeTrainer.built.clear()
    cli = typer.Typer()
    trainer_cmd.register(cli)
    cli.command("noop")(lambda: None)  # two commands: the trainer is addressed by name
    result = CliRunner().invoke(cli, ["trainer", "--once", *args])
    assert result.exit_code == 0, result.output
    [cfg] = FakeTrainer.built
    return cfg


def test_defaults_are_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = _run(monkeypatch)
    assert cfg == Settings().trainer
    assert cfg.tasks == get_args(Task)  # one task list: schemas.events.Task


def test_env_sets_and_options_override(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQSIGNAL_TRAINER__STEPS", "7")
    monkeypatch.setenv("SEQSIGNAL_TRAINER__LR", "0.5")
    monkeypatch.setenv("SEQSIGNAL_TRAINER__TASKS", '["behavior"]')
    monkeypatch.setenv("SEQSIGNAL_TRAINER__ANNOUNCE", "false")
    cfg = _run(monkeypatch)
    assert (cfg.steps, cfg.lr, cfg.tasks, cfg.announce) == (7, 0.5, ("behavior",), False)
    cfg = _run(monkeypatch, "--steps", "9", "--tasks", "sentiment, rumor", "--announce", "--interval", "60",
               "--state-dir", str(tmp_path), "--shuffle-labels")
    assert (cfg.steps, cfg.lr, cfg.tasks, cfg.announce) == (9, 0.5, ("sentiment", "rumor"), True)
    assert (cfg.interval_s, cfg.state_dir, cfg.shuffle_labels) == (60.0, tmp_path, True)
    assert _run(monkeypatch, "--no-announce").announce is False


def test_invalid_override_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(typer.BadParameter, match="tasks"):
        trainer_cmd.trainer_settings(Settings(), tasks="behavior,weather")
    with pytest.raises(typer.BadParameter):
        trainer_cmd.trainer_settings(Settings(), holdout_fraction=1.5)


def test_help_names_the_setting_behind_each_option() -> None:
    _register_all()
    result = CliRunner().invoke(app, ["trainer", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    for field in ("STEPS", "INTERVAL_S", "MIN_NEW", "TASKS", "STATE_DIR"):
        assert f"SEQSIGNAL_TRAINER__{field}" in result.output


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.output.strip() == f"seqsignal {version()}"


def test_registry_root_of_train_and_eval_reads_the_model_setting(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """`eval behavior` on an empty registry named by SEQSIGNAL_MODEL__REGISTRY_DIR: the error names it."""
    monkeypatch.setenv("SEQSIGNAL_MODEL__REGISTRY_DIR", str(tmp_path / "reg"))
    _register_all()
    result = CliRunner().invoke(app, ["eval", "behavior", "--json"])
    assert result.exit_code == 2
    assert str(tmp_path / "reg") in result.output
