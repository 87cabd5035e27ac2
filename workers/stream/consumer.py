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

It also hands fetched records to the streams one fetch at a time instead of one record at a time
(`_drain_messages`, below): faust wraps every record's hand-over in `Service.wait_first`, four asyncio
tasks and an `asyncio.wait` per record, the largest per-event cost between Kafka and the handler.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TP, Message
from mode import Service, ServiceT

from seqsignal.workers.stream.fetch import ShortPollConsumerThread

log = logging.getLogger(__name__)


class DrainingConsumer(aiokafka_driver.Consumer):
    """faust's aiokafka consumer that finishes and commits in-flight batches before giving partitions up."""

    def _new_consumer_thread(self) -> aiokafka_driver.AIOKafkaConsumerThread:
        return ShortPollConsumerThread(self, loop=self.loop, beacon=self.beacon)  # fetch long-poll: fetch.py

    async def _drain_messages(self, fetcher: ServiceT) -> None:
        """faust's fetch loop (`Consumer._drain_messages`, 0.15.3) with one `wait_first` per fetch.

        faust races each record's hand-over (`callback`: the conductor's flow control, decode and queue)
        against `suspend_flow` (a task per record, plus the `stopped` / `crashed` waiters `wait_first`
        adds); here one task hands the whole fetch over (`_hand_over`, identical per record) and races it
        once. A suspension (a rebalance or shutdown starting) cancels it inside the callback it is in, where
        faust's per-record race would have, and the rest of the fetch is dropped, as `getmany` drops it once
        the flow is inactive. Dropped records were never acked; the flow resumes only after faust seeks
        every assigned partition to its committed offset, so they are fetched again.

        The fetch itself (`getmany`, which checks each record's generation) runs outside the race, as in
        faust: cancelling it could abandon records that the consumer thread already took from aiokafka
        (its position past them) after the rebalance's seek, and faust commits the first consecutive run of
        acked offsets whatever lies below it (`Consumer._new_offset`): a skipped record would be committed
        unprocessed (a first version lost 22 actions in tests/reliability/test_rebalance.py).
        """
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                ait = self.getmany(timeout=1.0)
                await self.sleep(0)  # getmany can return at once in a loop: let the loop run
                if not self.should_stop:
                    records = [item async for item in ait]
                    if records:
                        await self.wait_first(self._hand_over(records), self.suspend_flow.wait())
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                return
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _hand_over(self, records: list[tuple[TP, Message]], yield_every: int = 100) -> None:
        """One fetch's records to the conductor, in order: faust's per-record body of `_drain_messages`
        (read-offset check, gap tracking, `commit_every`, the callback, the read offset after it)."""
        read_offset = self._read_offset
        acks_enabled_for = self.app.topics.acks_enabled_for
        for i, (tp, message) in enumerate(records):
            if not self.flow_active:
                return  # as getmany stops yielding: the rest is fetched again after the seek
            if i and i % yield_every == 0:
                await asyncio.sleep(0)
            offset = message.offset
            r_offset = read_offset[tp]
            if r_offset is None or offset >= r_offset:
                if offset - (r_offset or 0) > 1 and r_offset and acks_enabled_for(message.topic):
                    await self._add_gap(tp, r_offset + 1, offset)
                if self._commit_every is not None and self._n_acked >= self._commit_every:
                    self._n_acked = 0
                    await self.commit()
                await self.callback(message)
                read_offset[tp] = offset

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
