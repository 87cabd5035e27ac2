"""The faust app factory: idempotent acks=all producer, consumer tuning; no secrets in logs."""

from __future__ import annotations

import logging

from seqsignal.workers.settings import KafkaSettings, Settings
from seqsignal.workers.stream.app import create_app
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
