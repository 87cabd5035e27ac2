"""The worker's fetch long-poll: faust 0.15.3 hard-codes 1.5 s, which stalls partitions that have input.

aiokafka sends one fetch request per broker for every assigned partition with no buffered records, and none
to a broker while one is in flight (`Fetcher._get_actions_per_node`). faust's worker consumer asks the broker
to hold that request up to `fetch_max_wait_ms=1500` (hard-coded in `_create_worker_consumer`) until any of
its partitions has data. When the request happens to name only idle partitions (the other input topic, the
models-update topic, or input partitions just drained), the partitions that get input meanwhile wait for
it to expire: up to 1.5 s of stall with input pending, which is the seconds-level tail of event-to-signal
latency at moderate load (docs/benchmarks.md, "Issue 11: pipelined batches and the fetch stall").
"""

from __future__ import annotations

from typing import Any

from faust.transport.drivers import aiokafka as aiokafka_driver

FETCH_MAX_WAIT_MS = 20  # the longest a fetch request waits for data (aiokafka's own default: 500)


class ShortPollConsumerThread(aiokafka_driver.AIOKafkaConsumerThread):
    """faust's consumer thread whose aiokafka consumer long-polls for FETCH_MAX_WAIT_MS at most."""

    def _create_worker_consumer(self, transport: Any) -> Any:
        consumer = super()._create_worker_consumer(transport)
        consumer._fetch_max_wait_ms = FETCH_MAX_WAIT_MS  # read by the fetcher it creates at start()
        return consumer
