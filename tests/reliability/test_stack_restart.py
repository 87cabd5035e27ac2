"""`seqsignal stack kill` and `stack restart`: a service comes back on the same port with the same data."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from kafka import KafkaConsumer, KafkaProducer, TopicPartition

from seqsignal.deploy.local.stack import down, load_state, status

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
SEQSIGNAL = str(Path(sys.executable).parent / "seqsignal")


def _cli(*args: str, run_dir: Path) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([SEQSIGNAL, "stack", *args, "--dir", str(run_dir)], capture_output=True, text=True,
                          timeout=240, check=False)
    assert done.returncode == 0, done.stderr
    return done


def _read_all(bootstrap: str, topic: str) -> list[bytes]:
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        consumer.seek_to_beginning(tp)
        records = consumer.poll(timeout_ms=10_000, max_records=100).get(tp, [])
        return [r.value for r in records]
    finally:
        consumer.close()


def test_kill_then_restart_keeps_ports_and_data(tmp_path: Path) -> None:
    run_dir = tmp_path / "stack"
    try:
        _cli("up", run_dir=run_dir)
        before = load_state(run_dir)
        assert before is not None
        producer = KafkaProducer(bootstrap_servers=before.bootstrap_servers, acks="all")
        producer.send("restart-test", b"before", partition=0).get(30)
        producer.close()
        r = redis.Redis.from_url(before.redis_url)
        r.set("restart-test", b"kept")
        r.close()
        time.sleep(1.5)  # appendfsync everysec: a SIGKILL loses at most the last second

        t0 = time.monotonic()
        _cli("kill", "redis", run_dir=run_dir)
        _cli("kill", "kafka", run_dir=run_dir)
        st = status(run_dir)
        assert not st.redis_alive and not st.kafka_alive and st.state is not None  # records kept
        redis_out = _cli("restart", "redis", run_dir=run_dir)
        kafka_out = _cli("restart", "kafka", run_dir=run_dir)
        back_s = time.monotonic() - t0
        after = load_state(run_dir)
        assert after is not None and status(run_dir).healthy
        assert (after.kafka_port, after.controller_port, after.redis_port, after.cluster_id) == (
            before.kafka_port, before.controller_port, before.redis_port, before.cluster_id)
        assert after.kafka_pid != before.kafka_pid and after.redis_pid != before.redis_pid
        r = redis.Redis.from_url(after.redis_url)
        assert r.get("restart-test") == b"kept"
        r.close()
        assert _read_all(after.bootstrap_servers, "restart-test") == [b"before"]

        # a frozen broker (SIGSTOP) is restarted too (thawed, stopped, started)
        _cli("kill", "kafka", "--signal", "STOP", run_dir=run_dir)
        _cli("restart", "kafka", run_dir=run_dir)
        assert status(run_dir).healthy
        assert _read_all(after.bootstrap_servers, "restart-test") == [b"before"]
        out = json.loads(_cli("status", "--json", run_dir=run_dir).stdout)
        assert out["healthy"] and out["state"]["kafka_port"] == before.kafka_port
        print(f"\n[stack restart] both killed and back in {back_s:.1f}s; {redis_out.stderr.strip()}; "
              f"{kafka_out.stderr.strip()}")
    finally:
        down(run_dir)
