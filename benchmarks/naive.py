"""The naive pipeline the founding article implies: one event at a time, batch size 1, no cached state.

Per action: decode, one Redis round trip (a MULTI: RPUSH + LTRIM to the window + EXPIRE + LRANGE), a full
re-encode of the whole window with the same `BehaviorPredictor`, greedy decode, the same record builder and
schema check as the worker, and a produce to the behavior topic. Generous to the naive side: the producer
is asynchronous (no wait per record), offsets are auto-committed (at most once, not at least once), and torch
runs on 1 thread (batch-1 calls gain nothing from more, and 2 threads make them erratic on a busy 2-core box).
Run: `python -m benchmarks.naive` with the same SEQSIGNAL_* environment as `seqsignal worker`.
"""

from __future__ import annotations

import signal
import sys
from typing import Any

import redis
import torch
from kafka import KafkaConsumer, KafkaProducer

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.core.registry import load_predictor
from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.pipelines.actions import behavior_record
from seqsignal.workers.pipelines.emitter import output_record
from seqsignal.workers.settings import Settings, load_settings


def handle(action: Any, r: redis.Redis, predictor: Any, s: Settings, topics: Topics) -> Any:
    """One action -> one output record (the whole naive path, minus Kafka)."""
    key = f"{s.redis.key_prefix}naive:u:{action.user_id}"
    pipe = r.pipeline(transaction=True)
    pipe.rpush(key, f"{action.action}|{action.created_at.timestamp():.3f}|{action.event_id}")
    pipe.ltrim(key, -s.window.max_actions, -1)
    pipe.expire(key, s.window.idle_ttl_s)
    pipe.lrange(key, 0, -1)
    items = pipe.execute()[-1]  # one round trip per event
    window = []
    for raw in items:
        a, ts, _ = raw.decode().split("|", 2)
        window.append(ActionRecord(a, float(ts)))
    state = predictor.encode_windows([window])  # the whole window re-encoded, batch size 1
    out = predictor.predict(state, [window[-1]], s.model.behavior_horizon, s.model.beam_size)[0]
    signal_ = behavior_record(action.user_id, [action], out, str(predictor.version), s.model.behavior_horizon,
                              len(window))
    return output_record(signal_, topics)


def main() -> None:
    s = load_settings()
    torch.set_num_threads(1)
    topics = Topics(prefix=s.kafka.topic_prefix)
    predictor = load_predictor("behavior", s.model.registry_dir, device="cpu")
    r = redis.Redis.from_url(s.redis.url)
    kw = kafka_python_kwargs(s.kafka)
    consumer = KafkaConsumer(topics.actions, group_id=s.worker_id, auto_offset_reset="earliest",
                             enable_auto_commit=True, **kw)
    producer = KafkaProducer(acks="all", enable_idempotence=True, linger_ms=5, **kw)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    try:
        while not stop:
            for records in consumer.poll(timeout_ms=200, max_records=1).values():
                for msg in records:  # one event at a time
                    try:
                        action = decode("actions", msg.value)
                    except InvalidEvent:
                        continue
                    rec = handle(action, r, predictor, s, topics)
                    producer.send(rec.topic, key=rec.key, value=rec.value, headers=rec.headers)
    finally:
        producer.flush(10)
        producer.close(5)
        consumer.close()
    sys.exit(0)


if __name__ == "__main__":
    main()
