"""`seqsignal replay` end to end on the real broker: topics, keys, labels, invalid records, pacing."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaConsumer, TopicPartition

from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import default_data_dir

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(not (default_data_dir() / "sentiment").exists(), reason="shared datasets not found"),
]
CLI = Path(sys.executable).with_name("seqsignal")


def _read_all(bootstrap: str, topic: str) -> list[tuple[bytes | None, bytes | None]]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False, consumer_timeout_ms=3000)
    try:
        parts = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or ())]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        end = consumer.end_offsets(parts)
        out: list[tuple[bytes | None, bytes | None]] = []
        while any(consumer.position(tp) < end[tp] for tp in parts):
            for records in consumer.poll(timeout_ms=1000).values():
                out.extend((r.key, r.value) for r in records)
        return out
    finally:
        consumer.close()


def test_replay_command_sends_posts_labels_and_invalid_records(kafka_bootstrap: str, topics: Topics) -> None:
    env = {**os.environ, "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS": kafka_bootstrap}
    cmd = [str(CLI), "replay", "tweeteval", "--limit", "300", "--labels", "--rate", "1000",
           "--invalid-fraction", "0.05", "--seed", "3", "--topic-prefix", topics.prefix]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=120, check=True)
    m = re.search(r"sent (\d+) events .*invalid injected (\d+); ([\d.]+) s", done.stdout)
    assert m, done.stdout + done.stderr
    sent, invalid, seconds = int(m[1]), int(m[2]), float(m[3])
    assert sent == 300 and invalid > 0
    assert seconds >= 0.29  # --rate 1000: 300 events take at least 0.3 s

    valid = {"posts": 0, "labels": 0}
    bad = 0
    for kind, topic in (("posts", topics.posts), ("labels", topics.labels)):
        for key, value in _read_all(kafka_bootstrap, topic):
            try:
                event = decode(kind, value)
            except InvalidEvent:
                bad += 1
                continue
            valid[kind] += 1
            assert key == (event.root_id if kind == "posts" else event.post_id).encode()
    assert valid == {"posts": 150, "labels": 150}  # a label follows each post
    assert bad == invalid
    assert _read_all(kafka_bootstrap, topics.actions) == []
