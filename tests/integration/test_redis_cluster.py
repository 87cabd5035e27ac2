"""The local Redis Cluster: 3 masters form and serve every slot; stop leaves no process and no port."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis

from seqsignal.deploy.local import process, redis_cluster
from seqsignal.deploy.local.stack import StackSettings, down, load_state, status, up

pytestmark = pytest.mark.integration

SEQSIGNAL = str(Path(sys.executable).parent / "seqsignal")


def _gone(state: redis_cluster.ClusterState) -> None:
    for pid in state.pids:
        assert not process.alive(pid), f"pid {pid} survived stop"
    for port in (*state.ports, *state.bus_ports):
        assert not process.port_open(port), f"port {port} still listening"


def test_session_cluster_serves_every_slot(redis_cluster_url: str) -> None:
    client: redis.RedisCluster[bytes] = redis.RedisCluster.from_url(redis_cluster_url)
    try:
        masters = {(n.host, n.port) for n in client.get_primaries()}
        assert len(masters) == redis_cluster.MASTERS
        keys = [f"test:rc:{i}" for i in range(60)]
        for key in keys:
            client.set(key, key, ex=60)
        ports = {getattr(client.get_node_from_key(k), "port", None) for k in keys}
        assert len(ports) == redis_cluster.MASTERS  # keys spread over every master
        assert [client.get(k) for k in keys] == [k.encode() for k in keys]
        client.delete(*keys)
    finally:
        client.close()


def test_cluster_starts_and_stops_leaving_nothing(tmp_path: Path) -> None:
    run_dir = tmp_path / "rc"
    try:
        state = redis_cluster.start(run_dir)
        assert state.ready_s is not None and 0 < state.ready_s < redis_cluster.READY_TIMEOUT_S
        assert len(set(state.ports) | set(state.bus_ports)) == 2 * redis_cluster.MASTERS
        assert redis_cluster.healthy(run_dir)
        assert all(redis_cluster.node_ok(port) for port in state.ports)
        assert redis_cluster.load_state(run_dir) == state
        assert redis_cluster.up(run_dir) == (state, True)  # idempotent on a healthy cluster
        assert sorted(p.name for p in (run_dir / "conf").iterdir()) == sorted(
            f"nodes-{port}.conf" for port in state.ports)

        report = redis_cluster.stop(run_dir)
        assert report.leftovers == [] and len(report.stopped) == redis_cluster.MASTERS
        _gone(state)
        assert redis_cluster.load_state(run_dir) is None and not list((run_dir / "pids").iterdir())
        assert redis_cluster.stop(run_dir).stopped == []  # idempotent

        # A node that dies hard makes the cluster unhealthy; stop still clears the rest.
        again = redis_cluster.start(run_dir)
        assert again.ports != state.ports
        os.kill(again.pids[1], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.alive(again.pids[1]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not redis_cluster.healthy(run_dir)
        assert redis_cluster.stop(run_dir).leftovers == []
        _gone(again)
    finally:
        redis_cluster.stop(run_dir)


@pytest.mark.slow
def test_stack_up_redis_cluster_records_and_stops_it(tmp_path: Path) -> None:
    """`seqsignal stack up --redis-cluster` in its own run dir; `down` stops the cluster with the stack."""
    run_dir = tmp_path / "stack"
    try:
        done = subprocess.run([SEQSIGNAL, "stack", "up", "--redis-cluster", "--dir", str(run_dir)],
                              capture_output=True, text=True, timeout=300, check=False)
        assert done.returncode == 0, done.stderr
        state = load_state(run_dir)
        cluster = redis_cluster.load_state(run_dir / "redis-cluster")
        assert state is not None and cluster is not None
        assert state.redis_cluster_url == cluster.url and state.redis_cluster_ready_s == cluster.ready_s
        assert f"export SEQSIGNAL_TEST_REDIS_CLUSTER_URL={cluster.url}" in done.stdout
        assert f"SEQSIGNAL_TEST_REDIS_CLUSTER_URL={cluster.url}" in (run_dir / "stack.env").read_text()
        health = status(run_dir)
        assert health.healthy and health.redis_cluster_ready is True

        # A dead cluster node: the stack is unhealthy, and `up` restarts the cluster only (not Kafka/Redis).
        os.kill(cluster.pids[0], signal.SIGKILL)
        deadline = time.monotonic() + 10
        while process.alive(cluster.pids[0]) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert status(run_dir).redis_cluster_ready is False and not status(run_dir).healthy
        state2, already = up(StackSettings(dir=run_dir))  # recorded cluster: restored without the flag
        assert not already and (state2.kafka_pid, state2.redis_pid) == (state.kafka_pid, state.redis_pid)
        _gone(cluster)
        cluster = redis_cluster.load_state(run_dir / "redis-cluster")
        assert cluster is not None and state2.redis_cluster_url == cluster.url and status(run_dir).healthy

        report = down(run_dir)
        assert report.leftovers == [], report
        assert sum("redis-cluster" in s for s in report.stopped) == redis_cluster.MASTERS
        _gone(cluster)
        assert redis_cluster.load_state(run_dir / "redis-cluster") is None
    finally:
        down(run_dir)
