"""The retained records of one input partition, read by time by a group-less aiokafka consumer (rebuild)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

from seqsignal.workers.kafka import aiokafka_kwargs
from seqsignal.workers.settings import KafkaSettings
from seqsignal.workers.state.window_rebuild import HistoryRead, RebuildUnavailable, Records


class TopicHistory:
    """Reads [first record at or after a time, end) of a partition; no group, no commits (`History`)."""

    def __init__(self, kafka: KafkaSettings, chunk: int = 2000, stall_s: float = 30.0) -> None:
        self._kafka = kafka
        self._chunk = chunk
        self._stall_s = stall_s  # no progress for this long: RebuildUnavailable (the batch is retried)

    async def read(
        self, topic: str, partition: int, since_ms: int, end: int, sink: Callable[[Records], Awaitable[None]]
    ) -> HistoryRead:
        from aiokafka import AIOKafkaConsumer, TopicPartition
        from aiokafka.errors import KafkaError

        consumer = AIOKafkaConsumer(
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            client_id="seqsignal-window-rebuild",
            **aiokafka_kwargs(self._kafka),
        )
        tp = TopicPartition(topic, partition)
        try:
            await consumer.start()
            consumer.assign([tp])
            found = (await consumer.offsets_for_times({tp: since_ms}))[tp]
            log_start = (await consumer.beginning_offsets([tp]))[tp]
            if found is None or found.offset >= end:
                return HistoryRead(start=end, records=0)
            start = max(found.offset, log_start)
            # records before the log start were deleted (retention): the history may miss some of the lookback
            truncated = found.timestamp if start == log_start > 0 and found.timestamp > since_ms else 0
            consumer.seek(tp, start)
            records = await self._drain(consumer, tp, end, sink)
            return HistoryRead(start=start, records=records, truncated_ms=truncated)
        except KafkaError as exc:
            raise RebuildUnavailable(f"reading {topic}[{partition}]: {type(exc).__name__}") from exc
        finally:
            await consumer.stop()

    async def _drain(
        self, consumer: Any, tp: Any, end: int, sink: Callable[[Records], Awaitable[None]]
    ) -> int:
        """Feed `sink` chunk by chunk until the position reaches `end`; returns the records read."""
        count, last_progress = 0, time.monotonic()
        while await consumer.position(tp) < end:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=self._chunk)
            records = [(r.offset, r.value) for r in batch.get(tp, []) if r.offset < end]
            if records:
                await sink(records)
                count += len(records)
                last_progress = time.monotonic()
            elif time.monotonic() - last_progress > self._stall_s:
                raise RebuildUnavailable(f"no progress on {tp.topic}[{tp.partition}] for {self._stall_s}s")
        return count
