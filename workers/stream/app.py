"""The faust App factory: an idempotent acks=all producer and consumer tuning (connection: kafka.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, cast

import faust
from faust.transport.drivers import aiokafka as aiokafka_driver
from faust.types import TransportT

from seqsignal.workers.kafka import faust_kwargs
from seqsignal.workers.settings import Settings
from seqsignal.workers.stream.consumer import DrainingConsumer

# Consumer and commit knobs, kept in one place. Offsets are committed every COMMIT_INTERVAL_S (and on
# rebalance / shutdown) but only up to the highest *acked* offset, see workers/stream/agents.py.
COMMIT_INTERVAL_S = 1.0
MAX_POLL_RECORDS = 2000
STREAM_BUFFER_MAXSIZE = 8192
# aiokafka keeps one produce request in flight per broker, carrying at most one batch per partition: with
# its 16 KiB default a 500-event batch's outputs took ~16 sequential round trips to be acknowledged.
PRODUCER_MAX_BATCH_BYTES = 1024 * 1024


class IdempotentProducer(aiokafka_driver.Producer):
    """faust's aiokafka producer with idempotence on: retried sends never duplicate, order is kept.

    It also offers aiokafka's batch interface (`delivery.BatchSender`), which the worker's outputs use:
    records go into one closed batch per partition, each partition chosen as `send()` chooses it
    (aiokafka's partitioner: murmur2 of the key)."""

    def _settings_extra(self) -> dict[str, Any]:
        return {"acks": "all", "enable_idempotence": True}

    async def partitioner_for(self, topic: str) -> Callable[[bytes | None], int]:
        assert self.partitioner is not None  # set by faust's __post_init__ (aiokafka's DefaultPartitioner)
        producer = self._ensure_producer()
        await producer.partitions_for(topic)  # the topic's metadata, fetched if not known yet
        return key_partitioner(producer, self.partitioner, topic)

    def create_batch(self) -> Any:
        return self._ensure_producer().create_batch()

    async def send_batch(self, batch: Any, topic: str, partition: int) -> Awaitable[Any]:
        future = await self._ensure_producer().send_batch(batch, topic, partition=partition)
        return cast(Awaitable[Any], future)


def key_partitioner(producer: Any, partitioner: Callable[..., int], topic: str
                    ) -> Callable[[bytes | None], int]:
    """key -> partition of `topic` as an aiokafka producer's `send()` picks it (`_partition`: `partitioner`
    over the topic's partitions and available ones), with the metadata read once instead of per record."""
    cluster = producer.client.cluster
    every = list(cluster.partitions_for_topic(topic))
    available = list(cluster.available_partitions_for_topic(topic))
    return lambda key: partitioner(key, every, available)


class IdempotentTransport(aiokafka_driver.Transport):
    """The aiokafka transport whose producers are idempotent and whose consumer drains before a rebalance
    (workers/stream/consumer.py)."""

    Producer = IdempotentProducer
    Consumer = DrainingConsumer


class SeqsignalApp(faust.App):
    """faust.App using IdempotentTransport for both consuming and producing."""

    def _new_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_consumer, self)

    def _new_producer_transport(self) -> TransportT:
        return IdempotentTransport(self.conf.broker_producer, self)


def create_app(settings: Settings) -> SeqsignalApp:
    """The faust app for `seqsignal worker`; agents are attached by workers.agents.attach_agents."""
    kafka = settings.kafka
    return SeqsignalApp(
        settings.worker_id,
        **faust_kwargs(kafka),
        autodiscover=False,
        store="memory://",
        producer_acks=-1,
        producer_linger_ms=5,
        producer_max_request_size=4 * 1024 * 1024,
        producer_max_batch_size=PRODUCER_MAX_BATCH_BYTES,
        producer_compression_type=None,
        consumer_auto_offset_reset="earliest",
        broker_commit_interval=COMMIT_INTERVAL_S,
        broker_max_poll_records=MAX_POLL_RECORDS,
        broker_session_timeout=kafka.session_timeout_s,
        broker_max_poll_interval=kafka.max_poll_interval_s,
        stream_buffer_maxsize=STREAM_BUFFER_MAXSIZE,
        stream_wait_empty=True,  # shutdown waits until every fetched event is acked (the drain)
        topic_partitions=kafka.partitions,
        topic_replication_factor=kafka.replication_factor,
        web_enabled=settings.web_port > 0,
        web_port=settings.web_port or 6066,
        web_bind="0.0.0.0",
        web_host="127.0.0.1",
        table_cleanup_interval=3600.0,
    )
