"""`seqsignal_consumer_lag{topic,partition}`: what this worker's consumer group still has to read on each
input partition it owns, sampled every `LAG_INTERVAL_S` by a faust timer.

Lag is the log end offset (asked from the broker) minus the group's committed offset (faust keeps the offset
it last committed, the next one to read, in `Consumer._committed_offset`; before the first commit of a
partition, the offset after the last one read). The same figure KEDA scales on, per partition; a revoked
partition's series disappears at the next sample. faust 0.15's internals are read, not changed.
"""

from __future__ import annotations

import logging
from collections.abc import Collection
from typing import Any

from seqsignal.workers.stream.metrics import WorkerMetrics

log = logging.getLogger(__name__)
LAG_INTERVAL_S = 10.0


def _next_offset(consumer: Any, tp: Any) -> int | None:
    committed = getattr(consumer, "_committed_offset", {}).get(tp)
    if committed is not None:
        return int(committed)
    read = getattr(consumer, "_read_offset", {}).get(tp)
    return int(read) + 1 if read is not None else None


async def sample_lag(
    consumer: Any, metrics: WorkerMetrics, topics: Collection[str]
) -> dict[tuple[str, int], int]:
    """Set the lag gauge for every assigned partition of `topics`; returns {(topic, partition): lag}."""
    tps = sorted((tp for tp in consumer.assignment() if tp.topic in topics),
                 key=lambda t: (t.topic, t.partition))
    ends = await consumer.highwaters(*tps) if tps else {}
    starts = {tp: _next_offset(consumer, tp) for tp in tps}
    unread = [tp for tp, start in starts.items() if start is None]
    if unread:  # nothing read nor committed yet: everything from the earliest offset is lag
        starts.update(await consumer.earliest_offsets(*unread))
    out: dict[tuple[str, int], int] = {}
    for tp in tps:
        end, start = ends.get(tp), starts.get(tp)
        if end is not None and start is not None:
            out[(tp.topic, tp.partition)] = max(0, int(end) - int(start))
    metrics.consumer_lag.clear()
    for (topic, partition), lag in out.items():
        metrics.consumer_lag.labels(topic=topic, partition=str(partition)).set(lag)
    return out


def attach_lag_sampler(app: Any, metrics: WorkerMetrics, topics: Collection[str]) -> None:
    """A faust timer that samples the lag of the input partitions this worker owns."""

    @app.timer(interval=LAG_INTERVAL_S)
    async def _consumer_lag() -> None:
        try:
            await sample_lag(app.consumer, metrics, topics)
        except Exception as exc:  # a metric must never hurt the worker
            log.warning("consumer lag sample failed", extra={"error_class": type(exc).__name__})
