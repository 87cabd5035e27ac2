"""The example consumers (examples/) against the real broker: records made by the worker's own emitter
(CloudEvents headers, ce_id), with the duplicates a worker crash causes and rumour re-emissions per reply;
the moderation feed keeps one latest flag per thread, the alerter pages once per thread."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from kafka import KafkaProducer

from seqsignal.schemas.events import RumorFlag, SentimentProbabilities, SentimentSignal
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.emitter import output_record

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
T0 = datetime(2024, 1, 31, 12, tzinfo=UTC)


@pytest.fixture
def examples_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(EXAMPLES))


def _flag(root: str, source: str, score: float, replies: int, at: int) -> RumorFlag:
    return RumorFlag(model_version="m1", source_event_id=source, event_time=T0 + timedelta(seconds=at),
                     emit_time=T0 + timedelta(seconds=at, milliseconds=5), root_id=root, score=score,
                     flagged=score >= 0.5, threshold=0.5, replies_seen=replies)


def _sentiment(post: str, root: str, at: int) -> SentimentSignal:
    return SentimentSignal(model_version="m1", source_event_id=post, event_time=T0 + timedelta(seconds=at),
                           emit_time=T0 + timedelta(seconds=at, milliseconds=5), post_id=post, root_id=root,
                           label="negative",
                           probabilities=SentimentProbabilities(negative=0.8, neutral=0.1, positive=0.1))


def _produce(bootstrap: str, topics: Topics) -> None:
    # thread r1 becomes a rumour at its 2nd reply, stays one; r2 flags, clears, flags again; r3 never flags
    flags = [
        _flag("r1", "r1", 0.2, 0, 0), _flag("r1", "r1-a", 0.4, 1, 1), _flag("r1", "r1-b", 0.7, 2, 2),
        _flag("r1", "r1-c", 0.9, 3, 3),
        _flag("r2", "r2", 0.6, 0, 0), _flag("r2", "r2-a", 0.3, 1, 1), _flag("r2", "r2-b", 0.8, 2, 2),
        _flag("r3", "r3", 0.1, 0, 0),
    ]
    records = [output_record(f, topics) for f in flags]
    # a crash redelivers r1's batch that held its 3rd flag: same ce_id again, after the newer flag
    records.append(records[2])
    # and a stale flag with a new id (an older batch re-run whose latest post differs) after the newest
    records.append(output_record(_flag("r1", "r1-x", 0.3, 1, 1), topics))
    posts = [output_record(_sentiment(f"p{i}", "r1", i), topics) for i in range(4)]
    records += posts + posts[:2]  # two duplicated sentiment records
    producer = KafkaProducer(bootstrap_servers=bootstrap, acks="all")
    for r in records:
        producer.send(r.topic, key=r.key, value=r.value, headers=r.headers)
    producer.flush()
    producer.close()


def test_moderation_feed_dedupes_and_keeps_the_latest_flag_per_thread(
    kafka_bootstrap: str, topics: Topics, examples_path: None
) -> None:
    import moderation_feed

    _produce(kafka_bootstrap, topics)
    out = io.StringIO()
    feed = moderation_feed.run(kafka_bootstrap, topics.prefix, f"{topics.prefix}feed", idle_exit_s=5, out=out)
    assert {root: f["replies_seen"] for root, f in feed.threads.items()} == {"r1": 3, "r2": 2, "r3": 0}
    assert feed.threads["r1"]["score"] == 0.9 and feed.flagged_threads() == ["r1", "r2"]
    assert feed.duplicates == 3 and feed.stale == 1
    assert sorted(feed.sentiment) == ["p0", "p1", "p2", "p3"]
    changes = [json.loads(line) for line in out.getvalue().splitlines()]
    thread_changes = [(c["thread"], c["flagged"]) for c in changes if "flagged" in c]
    assert thread_changes.count(("r1", True)) == 1  # moderators hear of r1 once, not per reply
    assert [c for c in thread_changes if c[0] == "r2"] == [("r2", True), ("r2", False), ("r2", True)]
    # committed: a restarted feed with the same group has nothing left to read
    again = moderation_feed.run(kafka_bootstrap, topics.prefix, f"{topics.prefix}feed", idle_exit_s=3,
                                out=io.StringIO())
    assert again.threads == {}


def test_rumor_alerter_pages_once_per_rumour_episode(
    kafka_bootstrap: str, topics: Topics, examples_path: None
) -> None:
    import rumor_alerts

    _produce(kafka_bootstrap, topics)
    sent: list[dict[str, object]] = []
    alerter = rumor_alerts.run(kafka_bootstrap, topics.prefix, f"{topics.prefix}alerts", min_replies=0,
                               idle_exit_s=5, send=sent.append)
    # threads are on different partitions (no order across them); within a thread, in order
    assert sorted((a["thread"], a["replies_seen"]) for a in sent) == [("r1", 2), ("r2", 0), ("r2", 2)]
    assert [a["replies_seen"] for a in sent if a["thread"] == "r2"] == [0, 2]
    assert alerter.open_alerts == {"r1", "r2"}


def test_example_consumers_run_as_scripts(kafka_bootstrap: str, topics: Topics) -> None:
    _produce(kafka_bootstrap, topics)
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "rumor_alerts.py"), "--bootstrap", kafka_bootstrap, "--prefix",
         topics.prefix, "--min-replies", "2", "--idle-exit", "5"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    alerts = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted((a["thread"], a["replies_seen"]) for a in alerts) == [("r1", 2), ("r2", 2)]
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / "moderation_feed.py"), "--bootstrap", kafka_bootstrap, "--prefix",
         topics.prefix, "--idle-exit", "5"],
        capture_output=True, text=True, timeout=120, check=True,
    )
    summary = json.loads(done.stderr.strip().splitlines()[-1])["summary"]
    assert summary["flagged"] == ["r1", "r2"] and summary["duplicates"] == 3 and summary["posts"] == 4
