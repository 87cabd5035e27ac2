"""JSON log lines for the worker: one object per record, with `extra=` fields; no payloads are ever logged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "color_message"}
_SECRET_WORDS = ("password", "secret", "token", "hmac_key", "text", "user_id")


class JsonFormatter(logging.Formatter):
    """A record as compact JSON: ts, level, logger, msg, extra fields (secret-looking ones dropped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key in _STANDARD or key.startswith("_"):
                continue
            if any(word in key.lower() for word in _SECRET_WORDS):
                continue
            out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return orjson.dumps(out, default=str).decode()


# Loggers whose warnings and errors repeat once per attempt while a neighbour is away (aiokafka's
# "Unable connect to node with id %s" ran at ~8,000 lines/s during a broker restart; our own retries).
RATE_LIMITED = (
    "aiokafka",
    "kafka",
    "faust",
    "mode",
    "redis",
    "seqsignal.workers.retry",
    "seqsignal.workers.pipelines.delivery",
)
RATE_LIMIT_INTERVAL_S = 10.0


class RateLimitFilter(logging.Filter):
    """One line per error class per interval: of WARNING+ records from `RATE_LIMITED` loggers with the same
    (logger, message template, exception class), the first of each interval passes and the rest are counted;
    the next line that passes carries `repeated` (how many were dropped since the last one). Everything else
    (INFO, other loggers) passes untouched."""

    def __init__(
        self,
        interval_s: float = RATE_LIMIT_INTERVAL_S,
        prefixes: tuple[str, ...] = RATE_LIMITED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.interval_s, self.prefixes, self.clock = interval_s, prefixes, clock
        self._last: dict[tuple[str, str, str], float] = {}
        self._dropped: dict[tuple[str, str, str], int] = {}

    def _limited(self, name: str) -> bool:
        return any(name == p or name.startswith(p + ".") for p in self.prefixes)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING or not self._limited(record.name):
            return True
        exc = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        cls = str(getattr(record, "error_class", "")) or exc
        if not cls and record.args and isinstance(record.args, tuple) and isinstance(record.args[0], str):
            cls = record.args[0]  # "transient %s, retry ..." names its class first
        key = (record.name, str(record.msg), cls)
        now = self.clock()
        last = self._last.get(key)
        if last is not None and now - last < self.interval_s:
            self._dropped[key] = self._dropped.get(key, 0) + 1
            return False
        self._last[key] = now
        dropped = self._dropped.pop(key, 0)
        if dropped:
            record.repeated = dropped
        if len(self._last) > 10_000:  # bounded memory whatever the messages
            self._last.clear()
        return True


def logging_config(level: str) -> dict[str, Any]:
    """A logging.dictConfig that sends every logger (faust, aiokafka included) through JsonFormatter."""
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JsonFormatter}},
        "filters": {"rate_limit": {"()": RateLimitFilter}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "json",
                "stream": "ext://sys.stderr",
                "filters": ["rate_limit"],
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {"aiokafka": {"level": "WARNING"}, "kafka": {"level": "WARNING"}},
    }
