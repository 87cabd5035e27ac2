"""Settings: env vars reach nested sections, stack.env is a fallback, and check-config redacts secrets."""

from __future__ import annotations

from pathlib import Path

import orjson
import pydantic
import pytest
from typer.testing import CliRunner

from seqsignal.cli import _register_all, app
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.settings import Settings, load_settings

SECRETS = {
    "SEQSIGNAL_KAFKA__SASL_PASSWORD": "kafka-s3cret-value",
    "SEQSIGNAL_REDIS__PASSWORD": "redis-s3cret-value",
    "SEQSIGNAL_PRIVACY__HMAC_KEY": "hmac-s3cret-value",
}


pytestmark = pytest.mark.usefixtures("isolated_env")


def test_env_vars_reach_nested_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS", "broker-a:9093,broker-b:9093")
    monkeypatch.setenv("SEQSIGNAL_KAFKA__SECURITY_PROTOCOL", "SASL_SSL")
    monkeypatch.setenv("SEQSIGNAL_REDIS__KEY_PREFIX", "tenant7:")
    monkeypatch.setenv("SEQSIGNAL_WINDOW__MAX_ACTIONS", "17")
    monkeypatch.setenv("SEQSIGNAL_ACTIONS_BATCH__MAX_WAIT_S", "0.2")
    monkeypatch.setenv("SEQSIGNAL_WORKER_ID", "w-9")
    s = Settings()
    assert s.kafka.bootstrap_servers == "broker-a:9093,broker-b:9093"
    assert kafka_python_kwargs(s.kafka)["bootstrap_servers"] == ["broker-a:9093", "broker-b:9093"]
    assert s.kafka.security_protocol == "SASL_SSL"
    assert s.redis.key_prefix == "tenant7:"
    assert s.window.max_actions == 17
    assert s.actions_batch.max_wait_s == pytest.approx(0.2)
    assert s.posts_batch.max_size == 256  # untouched sections keep their defaults
    assert s.worker_id == "w-9"


def test_invalid_env_value_is_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSIGNAL_WINDOW__MAX_ACTIONS", "0")
    with pytest.raises(pydantic.ValidationError):
        Settings()


def test_settings_are_frozen() -> None:
    s = Settings()
    with pytest.raises(pydantic.ValidationError):
        s.worker_id = "other"  # type: ignore[misc]


def test_stack_env_is_a_fallback_and_env_wins(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    stack_dir = tmp_path / "stack"
    stack_dir.mkdir()
    (stack_dir / "stack.env").write_text("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:41111\n"
                                         "SEQSIGNAL_REDIS__URL=redis://127.0.0.1:42222/0\n")
    monkeypatch.setenv("SEQSIGNAL_STACK_DIR", str(stack_dir))
    s = load_settings()
    assert (s.kafka.bootstrap_servers, s.redis.url) == ("127.0.0.1:41111", "redis://127.0.0.1:42222/0")
    monkeypatch.setenv("SEQSIGNAL_REDIS__URL", "redis://elsewhere:6379/1")
    assert load_settings().redis.url == "redis://elsewhere:6379/1"


def test_check_config_redacts_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SEQSIGNAL_KAFKA__SASL_MECHANISM", "PLAIN")
    monkeypatch.setenv("SEQSIGNAL_KAFKA__SASL_USERNAME", "svc-user")
    s = load_settings()
    # The secrets did arrive (clients need them) ...
    assert s.kafka.sasl_password is not None and s.kafka.sasl_password.get_secret_value() == SECRETS[
        "SEQSIGNAL_KAFKA__SASL_PASSWORD"]
    assert kafka_python_kwargs(s.kafka)["sasl_plain_password"] == SECRETS["SEQSIGNAL_KAFKA__SASL_PASSWORD"]
    # ... and check-config never prints them.
    _register_all()
    result = CliRunner().invoke(app, ["check-config"])
    assert result.exit_code == 0, result.output
    for value in SECRETS.values():
        assert value not in result.output
    shown = orjson.loads(result.stdout)
    assert shown["kafka"]["sasl_username"] == "svc-user"
    assert shown["kafka"]["sasl_password"] == "**********"
    assert shown["redis"]["password"] == "**********"
    assert shown["privacy"]["hmac_key"] == "**********"
