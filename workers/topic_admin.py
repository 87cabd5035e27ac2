"""Create the pipeline's topics (inputs, signals, dead letters, model updates): the one place that does.

A consumer that subscribes before its topics exist is assigned nothing and only notices them at the next
metadata refresh (minutes), and production clusters usually disable auto-creation; so the worker, replay and
the model announcer create what is missing, with the configured partitions and replication factor, and leave
existing topics as they are. The model-updates topic is the exception in shape: one partition, compacted
(the latest announcement per task survives, and is what a starting worker replays); so is the ledger of
replayed dead letters (`seqsignal dlq replay`).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field

from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import admin_client
from seqsignal.workers.settings import KafkaSettings

log = logging.getLogger(__name__)
COMPACTED = {"cleanup.policy": "compact", "min.compaction.lag.ms": "0", "segment.ms": "3600000"}


@dataclass(frozen=True)
class TopicSpec:
    """One topic as the app creates it."""

    name: str
    partitions: int
    configs: dict[str, str] = field(default_factory=dict)


def topic_specs(topics: Topics, partitions: int) -> list[TopicSpec]:
    """Every topic of `Topics`: `partitions` each, except model updates and the dead-letter replay ledger
    (one partition, compacted: the latest record per key is what is read back)."""
    compacted = {topics.model_updates, topics.dead_letter_replays}
    return [
        TopicSpec(name, 1, dict(COMPACTED)) if name in compacted else TopicSpec(name, partitions)
        for name in topics.all()
    ]


def ensure_topics(
    kafka: KafkaSettings,
    only: Collection[str] | None = None,
    *,
    partitions: int | None = None,
    timeout_s: float = 60.0,
) -> list[str]:
    """Create the missing topics of `Topics` under the settings' prefix (or just those named in `only`),
    make an existing model-updates topic compacted, and wait until all exist; returns the names created."""
    from kafka.admin import ConfigResource, ConfigResourceType
    from kafka.errors import TopicAlreadyExistsError

    specs = topic_specs(Topics(prefix=kafka.topic_prefix), partitions or kafka.partitions)
    wanted = [spec for spec in specs if only is None or spec.name in only]
    admin = admin_client(kafka, "seqsignal-topic-admin")
    created: list[str] = []
    try:
        existing = set(admin.list_topics())
        for spec in wanted:
            if spec.name in existing:
                if spec.configs:  # e.g. made by auto-creation before us: compaction is what it needs
                    resource = ConfigResource(ConfigResourceType.TOPIC, spec.name, configs=spec.configs)
                    admin.alter_configs([resource])
                continue
            options = {"num_partitions": spec.partitions, "replication_factor": kafka.replication_factor,
                       "configs": spec.configs}
            try:
                admin.create_topics({spec.name: options}, timeout_ms=int(timeout_s * 1000))
                created.append(spec.name)
            except TopicAlreadyExistsError:  # created meanwhile by another worker or the broker
                pass
        admin.wait_for_topics([spec.name for spec in wanted], timeout_ms=int(timeout_s * 1000))
    finally:
        admin.close()
    if created:
        log.info("topics created", extra={"topics": created})
    return created


@contextlib.contextmanager
def scratch_topics(kafka: KafkaSettings, partitions: int, client_id: str = "seqsignal-scratch"
                   ) -> Iterator[Topics]:
    """Every topic under the settings' prefix, created for one run (a test, a benchmark) and deleted after."""
    topics = Topics(prefix=kafka.topic_prefix)
    ensure_topics(kafka, partitions=partitions, timeout_s=30.0)
    try:
        yield topics
    finally:
        admin = admin_client(kafka, client_id)
        try:
            admin.delete_topics(topics.all(), timeout_ms=30_000, raise_errors=False)
        except Exception as exc:  # cleanup only: never hide the run's own outcome
            log.warning("scratch topics not deleted", extra={"error_class": type(exc).__name__})
        finally:
            admin.close()
