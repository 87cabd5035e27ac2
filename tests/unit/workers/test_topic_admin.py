"""Topic specs: every topic of `Topics`, model updates and the replay ledger as one compacted partition each,
the rest as configured."""

from __future__ import annotations

from seqsignal.schemas.topics import Topics
from seqsignal.workers.topic_admin import COMPACTED, topic_specs


def test_every_topic_once_and_model_updates_compacted() -> None:
    topics = Topics(prefix="p.")
    specs = {spec.name: spec for spec in topic_specs(topics, partitions=6)}
    assert sorted(specs) == sorted(topics.all())
    updates = specs.pop(topics.model_updates)
    assert updates.partitions == 1 and updates.configs == COMPACTED
    assert updates.configs["cleanup.policy"] == "compact"
    ledger = specs.pop(topics.dead_letter_replays)
    assert ledger.partitions == 1 and ledger.configs == COMPACTED
    assert all(spec.partitions == 6 and spec.configs == {} for spec in specs.values())
