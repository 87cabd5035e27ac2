"""The faust app factory: idempotent acks=all producer, broker URLs, SASL/SSL; no secrets in logs."""

from __future__ import annotations

import logging
from pathlib import Path

from faust.auth import SASLCredentials

from seqsignal.workers.settings import KafkaSettings, Settings
from seqsignal.workers.stream.app import broker_credentials, broker_urls, create_app
from seqsignal.workers.stream.logs import JsonFormatter


def test_producer_is_idempotent_with_acks_all() -> None:
    app = create_app(Settings(_env_file=None, kafka=KafkaSettings(bootstrap_servers="h1:9092,h2:9093")))
    producer = app.producer
    config = {**producer._settings_default(), **producer._settings_extra()}
    assert config["enable_idempotence"] is True
    assert config["acks"] in ("all", -1)
    assert app.conf.stream_wait_empty is True
    assert app.conf.consumer_auto_offset_reset == "earliest"
    assert [str(u) for u in app.conf.broker] == ["kafka://h1:9092", "kafka://h2:9093"]


def test_broker_urls_and_plaintext_has_no_credentials() -> None:
    k = KafkaSettings(bootstrap_servers=" a:1 , b:2 ")
    assert broker_urls(k) == ["kafka://a:1", "kafka://b:2"]
    assert broker_credentials(k) is None


def test_sasl_ssl_credentials_and_no_secret_in_repr(tmp_path: Path) -> None:
    k = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2-secret",
    )
    creds = broker_credentials(k)
    assert isinstance(creds, SASLCredentials)
    assert creds.ssl_context is not None and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.password == "hunter2-secret"
    assert "hunter2" not in repr(creds)


def test_json_logs_drop_payload_and_secret_fields() -> None:
    rec = logging.makeLogRecord(
        {
            "msg": "batch",
            "levelname": "INFO",
            "name": "w",
            "stream": "posts",
            "text": "a private post",
            "user_id": "u123",
            "sasl_password": "x",
        }
    )
    line = JsonFormatter().format(rec)
    assert '"stream":"posts"' in line
    assert "private post" not in line and "u123" not in line and "sasl_password" not in line
