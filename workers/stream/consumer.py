"""The worker's Kafka consumer: a rebalance hands partitions over only after their batches are committed.

faust-streaming 0.15.3 (read in its source) makes a graceful rebalance redo work in two ways:

1. `Consumer.on_partitions_revoked` first *forgets* the acks of the revoked partitions (`_acked`,
   `_acked_index`, `_committed_offset` popped) and only then lets the app wait for the in-flight batch and
   commit (`App._on_partitions_revoked` -> `wait_empty`). Everything acked since the last periodic commit
   (`broker_commit_interval`, 1 s) on a partition without an un-acked message at that moment is never
   committed, so the partition's next owner (or this worker, after the seek) processes it again.
2. The last commit of a drain (`commit_and_end_transactions`) returns without committing when the periodic
   commit is in flight (`maybe_wait_for_commit_to_finish`), and that commit may have collected its offsets
   before the last batch was acked.

`DrainingConsumer` drains first: stop fetching, clear the buffers, wait until every event that reached an
agent is acked (the batch in hand finishes and its outputs are acknowledged: agents.py), and commit, all
while the group generation and the assignment are still valid; then faust's own revocation runs with
nothing left to lose. Its last commit waits for a commit in flight and then commits every ack. The same
last commit runs at shutdown (SIGTERM), after the drain of `App.on_stop`.
"""

from __future__ import annotations

import logging
import time

from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP

from seqsignal.workers.stream.fetch import ShortPollConsumerThread

log = logging.getLogger(__name__)


class DrainingConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer that finishes and commits in-flight batches before giving partitions up."""

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return ShortPollConsumerThread(self, loop=self.loop, beacon=self.beacon)  # fetch long-poll: fetch.py

    async def on_partitions_revoked(self, revoked: set[TP]) -> None:
        if revoked and not self.app.should_stop:
            await self.drain()
        await super().on_partitions_revoked(revoked)

    async def drain(self) -> None:
        """Stop the flow, drop what the agents have not started, wait for the rest to be acked, commit."""
        t0 = time.monotonic()
        assignment = self.assignment()
        self.stop_flow()
        self.app.flow_control.suspend()
        if assignment:
            self.pause_partitions(assignment)
        self.app.flow_control.clear()  # buffered, not yet taken by an agent: re-fetched after the rebalance
        await self.wait_empty()  # ends with commit_and_end_transactions (below)
        log.info(
            "partitions drained and committed before the rebalance",
            extra={"partitions": len(assignment), "drain_s": round(time.monotonic() - t0, 3)},
        )

    async def commit_and_end_transactions(self) -> None:
        """The last commit of a drain: after any commit in flight, one commit of every acked offset."""
        while self._commit_fut is not None:
            await self.maybe_wait_for_commit_to_finish()
        await self.commit(start_new_transaction=False)
