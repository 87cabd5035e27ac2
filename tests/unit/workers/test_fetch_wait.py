"""The worker's aiokafka consumer long-polls a fetch for FETCH_MAX_WAIT_MS, not faust's hard-coded 1.5 s."""

from __future__ import annotations

from seqsignal.workers.settings import KafkaSettings, Settings
from seqsignal.workers.stream.app import create_app
from seqsignal.workers.stream.fetch import FETCH_MAX_WAIT_MS, ShortPollConsumerThread


async def test_worker_consumer_fetch_wait_is_short() -> None:
    app = create_app(Settings(_env_file=None, kafka=KafkaSettings(bootstrap_servers="h1:9092")))
    consumer = app.consumer
    thread = consumer._thread  # type: ignore[attr-defined]
    assert isinstance(thread, ShortPollConsumerThread)
    client = thread._create_worker_consumer(consumer.transport)
    try:
        assert client._fetch_max_wait_ms == FETCH_MAX_WAIT_MS <= 100  # was 1500 (faust's driver)
        assert client._max_poll_records == app.conf.broker_max_poll_records  # the rest is faust's
        assert client._enable_auto_commit is False
    finally:
        await client._client.close()
