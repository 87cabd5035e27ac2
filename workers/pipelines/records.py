"""The worker's in-flight record types: a consumed raw Kafka record and an output record to produce."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

Headers = list[tuple[str, bytes]]


@dataclass(frozen=True, slots=True)
class RawEvent:
    """One consumed Kafka record exactly as it arrived (bytes), with where it came from."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    headers: Headers = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class OutRecord:
    """One record to produce: the batch's input offsets are committed only after all of these are acked."""

    topic: str
    key: bytes | None
    value: bytes
    headers: Headers
    task: str  # 'behavior', 'sentiment', 'rumor' or 'dead_letter' (metrics)
    event_time: float | None = None  # unix seconds of the source event (end-to-end latency)


def normalize_headers(headers: Mapping[str, Any] | Iterable[tuple[str, Any]] | None) -> Headers:
    """Kafka headers (a mapping or a list of pairs, values bytes/str/None) as a list of (str, bytes)."""
    if not headers:
        return []
    items = headers.items() if isinstance(headers, Mapping) else headers
    out: Headers = []
    for k, v in items:
        if v is None:
            v = b""
        out.append(
            (k.decode() if isinstance(k, bytes) else str(k), v if isinstance(v, bytes) else str(v).encode())
        )
    return out
