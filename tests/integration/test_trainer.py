"""Trainer cycles on the real stack: stream -> buffer -> fine-tune -> gate -> registry + compacted topic."""

from __future__ import annotations

import json
from pathlib import Path

from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient
from support.trainer_harness import cycles, decent_behavior_champion, higgs_actions, run_cli, send_actions
from support.worker_harness import read_topic, tiny_model, worker_env

from seqsignal.models.core import registry
from seqsignal.schemas.codec import decode_as
from seqsignal.schemas.events import ModelUpdate
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings


def _updates(bootstrap: str, topics: Topics) -> list[ModelUpdate]:
    return [decode_as(ModelUpdate, r.value) for r in read_topic(bootstrap, topics.model_updates, timeout_s=20,
                                                                idle_s=3)]


def test_cycle_promotes_registers_and_announces(settings: Settings, topics: Topics, kafka_bootstrap: str,
                                                tmp_path: Path) -> None:
    reg, state = tmp_path / "registry", tmp_path / "trainer"
    champion = tiny_model(reg, "behavior")  # untrained: a refresh from the stream must beat it
    send_actions(settings, topics, higgs_actions(0, 4000))
    env = worker_env(settings, reg)
    r = run_cli(env, "trainer", "--once", "--tasks", "behavior", "--steps", "300", "--lr", "2e-3",
                "--state-dir", str(state))
    assert r.returncode == 0, r.stderr[-3000:]
    [rec] = cycles(state)
    assert rec["task"] == "behavior" and rec["champion"] == champion and rec["steps"] == 300
    assert rec["data"]["stream_actions"] == 4000  # every action of the stream was buffered
    assert set(rec["candidate"]) == {"dev", "recent"} and set(rec["champion_metrics"]) == {"dev", "recent"}
    print(f"\n[trainer] cycle {rec['duration_s']:.1f}s promoted={rec['promoted']} reasons={rec['reasons']}")
    assert rec["promoted"], rec["reasons"]
    assert registry.champion(reg, "behavior") == rec["version"] != champion
    manifest = registry.resolve(reg, "behavior", rec["version"])[1]
    assert manifest["parent"] == champion and manifest["data"]["source"] == "trainer"
    [update] = _updates(kafka_bootstrap, topics)
    assert (update.task, update.version) == ("behavior", rec["version"])
    assert update.manifest_sha256 == registry.manifest_sha256(reg, "behavior", rec["version"])
    admin = KafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    try:
        res = ConfigResource(ConfigResourceType.TOPIC, topics.model_updates, configs={"cleanup.policy": None})
        desc = admin.describe_configs([res], config_filter="all")
        assert "compact" in str(desc), desc
    finally:
        admin.close()
    assert (state / "tb" / "behavior").is_dir() and any((state / "tb" / "behavior").iterdir())


def test_shuffled_labels_candidate_is_not_promoted(settings: Settings, topics: Topics, kafka_bootstrap: str,
                                                   tmp_path: Path) -> None:
    reg, state = tmp_path / "registry", tmp_path / "trainer"
    champion = decent_behavior_champion(reg)
    send_actions(settings, topics, higgs_actions(0, 4000))
    env = worker_env(settings, reg)
    r = run_cli(env, "trainer", "--once", "--tasks", "behavior", "--steps", "300", "--lr", "3e-3",
                "--shuffle-labels", "--state-dir", str(state))
    assert r.returncode == 0, r.stderr[-3000:]
    [rec] = cycles(state)
    print(f"\n[trainer] sabotaged candidate: promoted={rec['promoted']} reasons={rec['reasons']}")
    assert rec["shuffle_labels"] and not rec["promoted"] and rec["version"] is None
    assert any("worse beyond tolerance" in reason for reason in rec["reasons"])
    assert registry.champion(reg, "behavior") == champion
    assert len(registry.list_versions(reg, "behavior")) == 2  # seed + champion, no new one
    assert _updates(kafka_bootstrap, topics) == []


def test_operator_promote_and_rollback_announce(settings: Settings, topics: Topics, kafka_bootstrap: str,
                                                tmp_path: Path) -> None:
    reg = tmp_path / "registry"
    v1 = tiny_model(reg, "behavior", seed=1)
    v2 = tiny_model(reg, "behavior", seed=2)
    env = worker_env(settings, reg)
    r = run_cli(env, "models", "promote", v1)
    assert r.returncode == 0, r.stderr[-2000:]
    assert registry.champion(reg, "behavior") == v1
    r = run_cli(env, "models", "rollback", "--task", "behavior")
    assert r.returncode == 0, r.stderr[-2000:]
    assert registry.champion(reg, "behavior") == v2
    r = run_cli(env, "models", "list", "--json")
    listed = json.loads(r.stdout)["behavior"]
    assert r.returncode == 0 and listed["champion"] == v2 and sorted(listed["versions"]) == sorted([v1, v2])
    announced = [(u.task, u.version) for u in _updates(kafka_bootstrap, topics)]
    assert announced == [("behavior", v1), ("behavior", v2)]
