"""The local stack for real: readiness, Redis and Kafka round trips, idempotent up, and a clean down."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer

from seqsignal.deploy.local import process
from seqsignal.deploy.local.stack import StackSettings, StackState, down, load_state, status, up
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings, load_settings

pytestmark = pytest.mark.integration

SEQSIGNAL = str(Path(sys.executable).parent / "seqsignal")


def test_stack_is_ready_and_reports_start_time(stack: StackState) -> None:
    assert stack.broker_ready_s is not None and 0 < stack.broker_ready_s < 120
    health = status(Path(stack.run_dir))
    assert health.healthy, health
    env_lines = (Path(stack.run_dir) / "stack.env").read_text().splitlines()
    assert f"SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS=127.0.0.1:{stack.kafka_port}" in env_lines
    assert f"SEQSIGNAL_REDIS__URL=redis://127.0.0.1:{stack.redis_port}/0" in env_lines


def test_up_again_reports_the_running_stack(stack: StackState) -> None:
    again, already = up(StackSettings(dir=Path(stack.run_dir)))
    assert already
    assert (again.kafka_pid, again.redis_pid, again.kafka_port) == (stack.kafka_pid, stack.redis_pid,
                                                                    stack.kafka_port)


def test_load_settings_falls_back_to_stack_env(stack: StackState, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEQSIGNAL_STACK_DIR", stack.run_dir)
    monkeypatch.delenv("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS", raising=False)
    monkeypatch.delenv("SEQSIGNAL_REDIS__URL", raising=False)
    loaded = load_settings()
    assert loaded.kafka.bootstrap_servers == stack.bootstrap_servers
    assert loaded.redis.url == stack.redis_url


def test_settings_fixture_points_at_the_stack(settings: Settings, topics: Topics, stack: StackState,
                                              redis_prefix: str) -> None:
    assert settings.kafka.bootstrap_servers == stack.bootstrap_servers
    assert settings.kafka.topic_prefix == topics.prefix != ""
    assert settings.redis.url == stack.redis_url
    assert settings.redis.key_prefix == redis_prefix


def test_redis_round_trip(redis_client: redis.Redis, redis_prefix: str) -> None:
    key = f"{redis_prefix}greeting"
    assert redis_client.set(key, b"hello", ex=60)
    assert redis_client.get(key) == b"hello"
    pipe = redis_client.pipeline(transaction=True)
    for i in range(100):
        pipe.rpush(f"{redis_prefix}list", i)
        pipe.hincrby(f"{redis_prefix}hash", "n", 1)
    pipe.lrange(f"{redis_prefix}list", 0, -1)
    pipe.hget(f"{redis_prefix}hash", "n")
    *_, values, count = pipe.execute()
    assert [int(v) for v in values] == list(range(100))
    assert int(count) == 100
    assert sorted(redis_client.scan_iter(match=f"{redis_prefix}*")) == sorted(
        k.encode() for k in (key, f"{redis_prefix}list", f"{redis_prefix}hash"))


def test_kafka_round_trip(kafka_bootstrap: str, topics: Topics) -> None:
    n, users = 300, 7
    producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all", linger_ms=5)
    for i in range(n):
        producer.send(topics.actions, key=f"user-{i % users}".encode(), value=f"{i}".encode())
    producer.flush(timeout=30)
    producer.close()

    consumer = KafkaConsumer(topics.actions, bootstrap_servers=kafka_bootstrap,
                             group_id=f"rt-{uuid.uuid4().hex}", auto_offset_reset="earliest",
                             enable_auto_commit=False, consumer_timeout_ms=1000)
    got: dict[bytes, list[int]] = defaultdict(list)
    partitions_of: dict[bytes, set[int]] = defaultdict(set)
    deadline = time.monotonic() + 90
    try:
        while sum(map(len, got.values())) < n and time.monotonic() < deadline:
            for msg in consumer:
                got[msg.key].append(int(msg.value))
                partitions_of[msg.key].add(msg.partition)
    finally:
        consumer.close()
    assert sum(map(len, got.values())) == n
    assert sorted(v for vs in got.values() for v in vs) == list(range(n))
    for key, values in got.items():
        assert values == sorted(values), f"order lost for {key!r}"  # one key, one partition, in order
        assert len(partitions_of[key]) == 1
    assert len({p for ps in partitions_of.values() for p in ps}) > 1  # keys spread over the 3 partitions


def _run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    cmd = [SEQSIGNAL, "stack", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300, check=False)


def _port_free(port: int) -> bool:
    return not process.port_open(port)


@pytest.mark.slow
def test_cli_up_restart_and_down_leave_nothing_behind(tmp_path: Path) -> None:
    """A second stack in its own run dir, through the console script, so the session stack is untouched."""
    run_dir = tmp_path / "second"
    try:
        done = _run_cli("up", "--dir", str(run_dir))
        assert done.returncode == 0, done.stderr
        assert re.search(r"ready \d+\.\d s after broker start", done.stderr), done.stderr
        first = load_state(run_dir)
        assert first is not None
        assert f"export SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS={first.bootstrap_servers}" in done.stdout
        assert status(run_dir).healthy

        # A dead broker makes the stack unhealthy; `up` then replaces the whole stack.
        os.kill(first.kafka_pid, 9)
        deadline = time.monotonic() + 10
        while process.alive(first.kafka_pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _run_cli("status", "--dir", str(run_dir)).returncode == 1
        again = _run_cli("up", "--dir", str(run_dir))
        assert again.returncode == 0, again.stderr
        second = load_state(run_dir)
        assert second is not None and second.kafka_pid != first.kafka_pid
        assert not process.alive(first.redis_pid)

        stopped = _run_cli("down", "--dir", str(run_dir))
        assert stopped.returncode == 0, stopped.stderr
        for pid in (second.kafka_pid, second.redis_pid):
            assert not process.alive(pid), f"pid {pid} survived down"
        for port in (second.kafka_port, second.controller_port, second.redis_port):
            assert _port_free(port), f"port {port} still listening"
        assert not list((run_dir / "pids").glob("*.pid"))
        assert not (run_dir / "stack.json").exists() and not (run_dir / "stack.env").exists()
        assert not status(run_dir).healthy
        assert down(run_dir).stopped == []  # idempotent
    finally:
        down(run_dir)
