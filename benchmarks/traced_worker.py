"""`seqsignal worker` with per-batch timestamps: where an event's latency goes (fetch, buffer, handler).

Each batch appends one JSON line to $BENCH_TRACE_OUT: for every event its CreateTime (the producer's stamp),
the time faust turned the fetched record into a message on the loop thread (`_to_message`: the fetch is
done), the handler's start (`process_batch`), the loop thread's CPU time while it processed (all its tasks:
wall minus CPU is time waiting for Redis or for a core) and the time its outputs were acknowledged
(`finish_batch`).
Summarised by `python -m benchmarks.stall_trace`.
"""

from __future__ import annotations

import json
import os
import sys
import time
from typing import Any


def install(out_path: str) -> None:
    """Wrap faust's record -> message conversion and the batch handler with wall-clock stamps."""
    from seqsignal.workers.stream import agents, consumer

    arrived: dict[tuple[str, int, int], float] = {}
    base_to_message = consumer.DrainingConsumer._to_message

    def to_message(self: Any, tp: Any, record: Any) -> Any:
        arrived[(tp.topic, tp.partition, record.offset)] = time.time()
        return base_to_message(self, tp, record)

    consumer.DrainingConsumer._to_message = to_message  # type: ignore[method-assign]
    base_process, base_finish = agents.process_batch, agents.finish_batch
    out = open(out_path, "a", buffering=1)  # noqa: SIM115 - open for the process's life

    async def process_batch(runtime: Any, stream: str, events: Any) -> Any:
        start, cpu = time.time(), time.thread_time()
        processed = await base_process(runtime, stream, events)
        processed.traced_start, processed.traced_processed = start, time.time()
        processed.traced_cpu = time.thread_time() - cpu  # the loop thread's CPU meanwhile (all its tasks)
        return processed

    async def finish_batch(app: Any, runtime: Any, processed: Any) -> None:
        deliver_start = time.time()  # after the delivery before it finished (one in flight)
        await base_finish(app, runtime, processed)
        end = time.time()
        rows = []
        for e in processed.events:
            m = e.message
            rows.append([m.timestamp, arrived.pop((m.topic, m.partition, m.offset), None)])
        line = {"stream": processed.stream, "start": processed.traced_start,
                "processed": processed.traced_processed, "process_cpu": processed.traced_cpu,
                "deliver_start": deliver_start, "end": end,
                "events": rows}
        out.write(json.dumps(line) + "\n")

    agents.process_batch = process_batch
    agents.finish_batch = finish_batch
    _trace_gc(out)


def _trace_gc(out: Any) -> None:
    """One line per garbage collection over 10 ms (generation, ms): the loop stands still meanwhile."""
    import gc

    began = [0.0]

    def on_gc(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            began[0] = time.perf_counter()
            return
        ms = (time.perf_counter() - began[0]) * 1000.0
        if ms > 10.0:
            out.write(json.dumps({"gc": info["generation"], "ms": round(ms, 1), "at": time.time()}) + "\n")

    gc.callbacks.append(on_gc)


def main() -> None:
    install(os.environ.get("BENCH_TRACE_OUT", "worker-trace.jsonl"))
    from seqsignal import cli

    sys.argv = ["seqsignal", "worker"]
    cli.main()


if __name__ == "__main__":
    main()
