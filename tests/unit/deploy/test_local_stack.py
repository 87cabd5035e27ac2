"""The local stack's pure parts and process safety: config, cluster ids, ports, sparing strangers."""

from __future__ import annotations

import base64
import subprocess
import sys
from pathlib import Path

import pytest

from seqsignal.deploy.local import kafka, process
from seqsignal.deploy.local.stack import StackSettings, down, load_state, status


def _props(path: Path) -> dict[str, str]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_server_properties_single_node_kraft(tmp_path: Path) -> None:
    cfg = kafka.write_config(tmp_path / "conf", tmp_path / "data", port=41001, controller_port=41002)
    props = _props(cfg)
    assert props["process.roles"] == "broker,controller"
    assert props["controller.quorum.voters"] == f"{kafka.NODE_ID}@127.0.0.1:41002"
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:41001,CONTROLLER://127.0.0.1:41002"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:41001"
    assert props["log.dirs"] == str(tmp_path / "data")
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr", "default.replication.factor"):
        assert props[key] == "1", key
    assert props["group.initial.rebalance.delay.ms"] == "0"
    assert props["auto.create.topics.enable"] == "true"
    assert (tmp_path / "conf" / "log4j2.xml").read_text().count("kafka.logs.dir") >= 1


def test_cluster_id_is_a_kafka_uuid() -> None:
    ids = {kafka.random_cluster_id() for _ in range(200)}
    assert len(ids) == 200
    for cid in ids:
        assert len(cid) == 22 and not cid.startswith("-")
        assert len(base64.urlsafe_b64decode(cid + "==")) == 16


def test_heap_is_small() -> None:
    assert "-Xmx512m" in kafka.HEAP_OPTS


def test_free_port_is_free() -> None:
    port = process.free_port()
    assert 0 < port < 65536
    assert not process.port_open(port)


def test_stack_settings_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("SEQSIGNAL_STACK_DIR", str(tmp_path))
    monkeypatch.setenv("SEQSIGNAL_STACK_KAFKA_VERSION", kafka.FALLBACK_VERSION)
    cfg = StackSettings()
    assert (cfg.dir, cfg.kafka_version) == (tmp_path, kafka.FALLBACK_VERSION)


def test_status_of_an_empty_dir_is_down(tmp_path: Path) -> None:
    st = status(tmp_path)
    assert st.state is None and not st.healthy
    assert load_state(tmp_path) is None


def test_down_never_kills_a_process_it_did_not_start(tmp_path: Path) -> None:
    """A stale pid file whose pid now belongs to someone else: down drops the file, spares the process."""
    # Its command line even says redis-server, as another user's Redis would.
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "redis-server"])
    try:
        (tmp_path / "pids").mkdir()
        for name in ("kafka", "redis"):
            (tmp_path / "pids" / f"{name}.pid").write_text(f"{stranger.pid}\n")
        report = down(tmp_path)
        assert report.stopped == [] and report.leftovers == []
        assert stranger.poll() is None, "down killed a process that was not ours"
        assert not list((tmp_path / "pids").glob("*.pid"))
    finally:
        stranger.kill()
        stranger.wait()


def test_stop_terminates_a_tracked_process_group(tmp_path: Path) -> None:
    pid = process.spawn([sys.executable, "-c", "import time; time.sleep(60)"], tmp_path / "p.log",
                        tmp_path / "p.pid")
    assert process.read_pid(tmp_path / "p.pid") == pid
    assert process.alive(pid, "time.sleep(60)")
    assert process.stop(pid, "time.sleep(60)", term_wait_s=5)
    assert not process.alive(pid)
