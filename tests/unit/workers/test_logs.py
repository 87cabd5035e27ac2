"""Repeated connection errors are rate-limited in the log: one line per error class per interval, counted."""

from __future__ import annotations

import io
import logging
import logging.config

import orjson

from seqsignal.workers.stream.logs import RateLimitFilter, logging_config


def _record(
    name: str, msg: str, *args: object, level: int = logging.ERROR, **extra: object
) -> logging.LogRecord:
    record = logging.LogRecord(name, level, __file__, 1, msg, args, None)
    record.__dict__.update(extra)
    return record


def test_one_line_per_class_per_interval_with_a_count() -> None:
    now = [0.0]
    f = RateLimitFilter(interval_s=10.0, clock=lambda: now[0])
    passed = [
        f.filter(_record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused"))
        for _ in range(5000)
    ]
    assert passed.count(True) == 1
    # another class (message template or error class) has its own line
    assert f.filter(_record("aiokafka.conn", "Connection reset"))
    assert f.filter(
        _record(
            "seqsignal.workers.retry",
            "transient %s, retry %d/%s",
            "TimeoutError",
            1,
            "inf",
            level=logging.WARNING,
        )
    )
    assert f.filter(
        _record(
            "seqsignal.workers.retry",
            "transient %s, retry %d/%s",
            "ConnectionError",
            1,
            "inf",
            level=logging.WARNING,
        )
    )
    assert not f.filter(
        _record(
            "seqsignal.workers.retry",
            "transient %s, retry %d/%s",
            "ConnectionError",
            2,
            "inf",
            level=logging.WARNING,
        )
    )
    now[0] = 10.5
    record = _record("aiokafka", "Unable connect to node with id %s: %s", 1, "refused")
    assert f.filter(record) and record.repeated == 4999  # type: ignore[attr-defined]
    # INFO and other loggers are never limited
    assert all(f.filter(_record("aiokafka", "joined", level=logging.INFO)) for _ in range(3))
    assert all(f.filter(_record("seqsignal.workers.stream.agents", "batch handler failed")) for _ in range(3))


def test_the_worker_logging_config_applies_it() -> None:
    stream = io.StringIO()
    config = logging_config("INFO")
    config["handlers"]["stderr"]["stream"] = stream
    logging.config.dictConfig(config)
    try:
        log = logging.getLogger("aiokafka")
        for _ in range(20_000):
            log.error("Unable connect to node with id %s: %s", 1, "[Errno 111] Connect call failed")
        lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
        assert len(lines) == 1 and lines[0]["logger"] == "aiokafka"
    finally:
        logging.config.dictConfig({"version": 1, "disable_existing_loggers": False})
