"""Dead-letter redrive on the real stack (issue 13): malformed events in -> dead letters (original bytes,
Kafka Connect headers) -> `seqsignal dlq inspect` -> fixed by a `--fix` hook -> `seqsignal dlq replay` ->
signals out for every event, nothing lost; a second replay is a no-op (ledger), and a forced one is absorbed
by the worker's dedupe (same ce_id, windows not counted twice)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from support.worker_harness import SEQSIGNAL, WorkerProcess, read_topic, tiny_model, worker_env

from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.dead_letter import H_OFFSET, H_STAGE, H_TOPIC
from seqsignal.workers.settings import Settings

TASKS = ("behavior", "sentiment", "rumor")
FIXER = '''
import json
from datetime import datetime, timezone

def fix(value, dead_letter):
    try:
        doc = json.loads(value)
    except ValueError:
        return None  # not JSON: nothing to repair, stays dead
    if isinstance(doc.get("created_at"), int):  # a producer sent unix seconds
        doc["created_at"] = datetime.fromtimestamp(doc["created_at"], timezone.utc).isoformat()
    if "post_id" in doc and "root_id" not in doc:  # a producer forgot the thread root
        doc["root_id"] = doc.get("reply_to") or doc["post_id"]
    return json.dumps(doc).encode()
'''


def _action(i: int, user: str, *, unix: bool = False) -> dict[str, Any]:
    when: Any = 1_341_100_800 + i if unix else f"2012-07-01T00:00:{i % 60:02d}Z"
    return {"event_id": f"a{i}", "user_id": user, "action": "like", "target_id": None, "created_at": when,
            "source": "test"}


def _post(i: int, root: int, *, root_missing: bool = False) -> dict[str, Any]:
    doc = {"post_id": f"p{i}", "user_id": f"w{i}", "text": f"post number {i} about the bridge", "lang": "en",
           "created_at": f"2024-01-31T12:00:{i % 60:02d}Z", "reply_to": None if i == root else f"p{root}",
           "root_id": f"p{root}", "source": "test"}
    if root_missing:
        del doc["root_id"]
    return doc


def _cli(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([str(SEQSIGNAL), "dlq", *args], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


@pytest.fixture
def registry_dir(tmp_path: Path) -> Path:
    reg = tmp_path / "registry"
    for task in TASKS:
        tiny_model(reg, task)
    return reg


@pytest.mark.slow
def test_dead_letters_are_fixed_replayed_once_and_become_signals(
    settings: Settings, topics: Topics, kafka_bootstrap: str, registry_dir: Path, tmp_path: Path
) -> None:
    env = worker_env(settings, registry_dir, SEQSIGNAL_MODEL__RUMOR_STEP="0")
    worker = WorkerProcess(env, tmp_path / "worker.log", settings.web_port).start()
    try:
        worker.wait_ready(timeout_s=180)
        good_actions = [_action(i, f"u{i % 4}") for i in range(12)]
        bad_actions = [_action(i, f"u{i % 4}", unix=True) for i in range(12, 20)]  # schema: created_at
        good_posts = [_post(i, 100) for i in (100, 101, 102)]
        bad_posts = [_post(i, 200, root_missing=True) for i in (200, 201, 202)]  # schema: root_id missing
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        for a in good_actions + bad_actions:
            producer.send(topics.actions, key=a["user_id"].encode(), value=orjson.dumps(a),
                          headers=[("trace", b"t-" + a["event_id"].encode())])
        for p in good_posts + bad_posts:
            producer.send(topics.posts, key=p.get("root_id", p["post_id"]).encode(), value=orjson.dumps(p))
        producer.send(topics.posts, key=b"junk", value=b"\xff\xfe not even utf-8")  # not fixable
        producer.flush()
        producer.close()
        n_dead = len(bad_actions) + len(bad_posts) + 1

        deadline = time.monotonic() + 120
        while worker.metric("seqsignal_events_dead_lettered_total") < n_dead and time.monotonic() < deadline:
            time.sleep(0.5)
        assert worker.metric("seqsignal_events_dead_lettered_total", stage="decode") == n_dead, worker.tail()

        # the dead letters hold the original bytes, key and headers, and Kafka Connect's context headers
        dead = read_topic(kafka_bootstrap, topics.dead_letter, timeout_s=30, until=lambda r: len(r) >= n_dead)
        by_value = {r.value: r for r in dead}
        first_bad = orjson.dumps(bad_actions[0])
        rec = by_value[first_bad]
        h = dict(rec.headers)
        assert rec.key == b"u0" and h["trace"] == b"t-a12" and h[H_STAGE] == b"decode"
        assert h[H_TOPIC] == topics.actions.encode() and int(h[H_OFFSET]) >= 0

        summary = json.loads(_cli(env, "inspect", "--json"))
        assert summary["total"] == n_dead and summary["replayed"] == 0
        assert summary["by_stage"] == {"decode": n_dead}
        assert summary["by_error"] == {"InvalidEvent:schema": n_dead - 1, "InvalidEvent:invalid_utf8": 1}
        assert summary["by_topic"] == {topics.actions: len(bad_actions), topics.posts: len(bad_posts) + 1}

        fixer = tmp_path / "fixer.py"
        fixer.write_text(FIXER)
        dry = json.loads(_cli(env, "replay", "--stage", "decode", "--since", "1h", "--fix", f"{fixer}:fix",
                              "--dry-run"))
        assert dry["replayed"] == n_dead - 1 and dry["dropped"] == 1 and dry["dry_run"]
        report = json.loads(_cli(env, "replay", "--stage", "decode", "--since", "1h",
                                 "--fix", f"{fixer}:fix"))
        assert report["replayed"] == n_dead - 1 and report["dropped"] == 1 and report["already_replayed"] == 0
        assert report["by_topic"] == {topics.actions: len(bad_actions), topics.posts: len(bad_posts)}

        # nothing lost: every action is covered by a behavior signal, every post has its sentiment
        want_ids = {a["event_id"] for a in good_actions + bad_actions}
        want_posts = {p["post_id"] for p in good_posts + bad_posts}

        def complete(recs: list[Any]) -> bool:
            covered = {c for r in recs if r.topic == topics.behavior for c in orjson.loads(r.value)["covers"]}
            posts = {orjson.loads(r.value)["post_id"] for r in recs if r.topic == topics.sentiment}
            return covered >= want_ids and posts >= want_posts

        def signals(timeout_s: float) -> list[Any]:
            out: list[Any] = []
            for topic in (topics.behavior, topics.sentiment, topics.rumor):
                out += read_topic(kafka_bootstrap, topic, timeout_s=timeout_s, idle_s=3)
            return out

        deadline = time.monotonic() + 120
        out = signals(10)
        while not complete(out) and time.monotonic() < deadline:
            time.sleep(2)
            out = signals(10)
        assert complete(out), worker.tail()
        assert any(orjson.loads(r.value)["root_id"] == "p200" for r in out if r.topic == topics.rumor)
        replayed = [r for r in read_topic(kafka_bootstrap, topics.actions, timeout_s=30, idle_s=3)
                    if dict(r.headers or []).get("seqsignal.replay.of")]
        assert len(replayed) == len(bad_actions)
        assert all(dict(r.headers)["trace"].startswith(b"t-a") for r in replayed)  # original headers kept

        # a second replay is a no-op: the ledger names every replayed dead letter
        again = json.loads(_cli(env, "replay", "--stage", "decode", "--fix", f"{fixer}:fix"))
        assert again["replayed"] == 0 and again["already_replayed"] == n_dead - 1
        assert json.loads(_cli(env, "inspect", "--json"))["replayed"] == n_dead - 1

        # forced, the same events arrive twice: windows do not count them twice, outputs keep their ce_id
        sentiment_ids = {dict(r.headers)["ce_id"] for r in out if r.topic == topics.sentiment}
        seen_before = max(orjson.loads(r.value)["replies_seen"] for r in out
                          if r.topic == topics.rumor and orjson.loads(r.value)["root_id"] == "p200")
        n_before = worker.metric("seqsignal_events_processed_total", stream="posts")
        forced = json.loads(_cli(env, "replay", "--stage", "decode", "--fix", f"{fixer}:fix", "--force"))
        assert forced["replayed"] == n_dead - 1
        deadline = time.monotonic() + 60
        while (worker.metric("seqsignal_events_processed_total", stream="posts") < n_before + len(bad_posts)
               and time.monotonic() < deadline):
            time.sleep(0.5)
        after = signals(10)
        assert {dict(r.headers)["ce_id"] for r in after if r.topic == topics.sentiment} == sentiment_ids
        assert max(orjson.loads(r.value)["replies_seen"] for r in after
                   if r.topic == topics.rumor and orjson.loads(r.value)["root_id"] == "p200") == seen_before
        assert worker.terminate() == 0, worker.tail()
    finally:
        worker.stop_quietly()
