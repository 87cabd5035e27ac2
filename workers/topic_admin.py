"""Create the pipeline's topics (inputs, signals, dead letters, model updates) before anything uses them.

A consumer that subscribes before its topics exist is assigned nothing and only notices them at the next
metadata refresh (minutes), and production clusters usually disable auto-creation; so the worker and the
replay create what is missing, with the configured partitions and replication factor, and leave existing
topics as they are.
"""

from __future__ import annotations

import logging

from kafka import KafkaAdminClient
from kafka.admin import NewTopic
from kafka.errors import TopicAlreadyExistsError

from seqsignal.schemas.topics import Topics
from seqsignal.workers.serving.model_updates import ensure_topic as ensure_model_updates_topic
from seqsignal.workers.settings import KafkaSettings

log = logging.getLogger(__name__)


def pipeline_topics(topics: Topics) -> list[str]:
    """Every topic the worker reads or writes, except the compacted model-updates topic (made apart)."""
    return [name for name in topics.all() if name != topics.model_updates]


def ensure_topics(kafka: KafkaSettings, timeout_s: float = 60.0) -> list[str]:
    """Create the missing pipeline topics (and the model-updates topic); returns the names created."""
    topics = Topics(prefix=kafka.topic_prefix)
    wanted = pipeline_topics(topics)
    admin = KafkaAdminClient(client_id="seqsignal-topic-admin", **kafka.kafka_python_kwargs())
    created: list[str] = []
    try:
        missing = [t for t in wanted if t not in set(admin.list_topics())]
        for name in missing:
            try:
                admin.create_topics([NewTopic(name, num_partitions=kafka.partitions,
                                              replication_factor=kafka.replication_factor)])
                created.append(name)
            except TopicAlreadyExistsError:  # created meanwhile by another worker or the broker
                pass
        admin.wait_for_topics(wanted, timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()
    ensure_model_updates_topic(kafka)
    if created:
        log.info("topics created", extra={"topics": created})
    return created
