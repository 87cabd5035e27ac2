"""The consumer loop both examples share: at-least-once polling of signal topics, a ce_id dedupe window."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any


class RecentIds:
    """A bounded set of recently seen ids (LRU): the dedupe window."""

    def __init__(self, capacity: int = 100_000) -> None:
        self.capacity = capacity
        self._ids: OrderedDict[bytes, None] = OrderedDict()

    def seen(self, ce_id: bytes) -> bool:
        """True when `ce_id` was seen before; remembers it otherwise."""
        if ce_id in self._ids:
            self._ids.move_to_end(ce_id)
            return True
        self._ids[ce_id] = None
        if len(self._ids) > self.capacity:
            self._ids.popitem(last=False)
        return False


def consume(bootstrap: str, group: str, topics: list[str], handle: Callable[[Any], None], *,
            idle_exit_s: float | None = None, before_commit: Callable[[], None] | None = None) -> None:
    """Poll `topics` until interrupted (or `idle_exit_s` without records), `handle(record)` each record,
    and commit after each batch is handled (`before_commit` runs first): at least once."""
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, group_id=group, enable_auto_commit=False,
                             auto_offset_reset="earliest")
    last = time.monotonic()
    try:
        while idle_exit_s is None or time.monotonic() - last < idle_exit_s:
            batch = consumer.poll(timeout_ms=500, max_records=1000)
            if not consumer.assignment():  # still joining the group: not idle yet
                last = time.monotonic()
            for records in batch.values():
                for r in records:
                    handle(r)
                last = time.monotonic()
            if batch:
                if before_commit is not None:
                    before_commit()
                consumer.commit()
    finally:
        consumer.close()
