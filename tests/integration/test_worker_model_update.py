"""A new behavior champion: cached encoder states are rebuilt, and predictions equal a fresh encode."""

from __future__ import annotations

import asyncio
import itertools
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pytest
from support.worker_acceptance import Inputs, collect, send
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.core.registry import load_predictor
from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.schemas.events import ACTION_TYPES, Action
from seqsignal.schemas.topics import Topics
from seqsignal.workers.serving.model_updates import announce, make_update
from seqsignal.workers.settings import Settings
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore


async def _users(settings: Settings, users: list[str]) -> list[Any]:
    client = async_client(settings.redis)
    store = WindowStore(client, settings.window, settings.redis.key_prefix)
    try:
        out: list[Any] = []
        for i in range(0, len(users), 50):
            out += await asyncio.gather(*(store.read_user(u) for u in users[i : i + 50]))
        return out
    finally:
        await client.aclose()


@pytest.mark.slow
def test_new_champion_rebuilds_states(
    settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    reg = tmp_path / "registry"
    v1 = tiny_model(reg, "behavior", seed=0)
    for task in ("sentiment", "rumor"):
        tiny_model(reg, task)
    env = worker_env(settings, reg)
    worker = WorkerProcess(env, tmp_path / "worker.log", settings.web_port).start()
    try:
        worker.wait_ready(timeout_s=180)
        higgs = [e for e in itertools.islice(iter_dataset_events("higgs"), 6000) if isinstance(e, Action)]
        before, after_all = higgs[:3000], higgs[3000:]
        send(settings, topics, before, [])
        collect(kafka_bootstrap, topics, Inputs(before, []), timeout_s=300, settle_s=0)
        seen = {a.user_id for a in before}
        after = [a for a in after_all if a.user_id in seen]  # only users that have a v1 state cached
        assert len(after) > 50
        v2 = tiny_model(reg, "behavior", seed=1)  # promoted and announced: the worker hears it
        announce(settings.kafka, make_update("behavior", v2, reg))
        deadline = time.monotonic() + 60
        while worker.metric("seqsignal_model_info", task="behavior", version=v2) != 1.0:
            assert time.monotonic() < deadline, worker.tail()
            time.sleep(0.3)
        send(settings, topics, after, [])
        out = collect(kafka_bootstrap, topics, Inputs(before + after, []), timeout_s=300, settle_s=1)
        after_ids = {a.event_id for a in after}
        last: dict[str, dict[str, Any]] = {}
        for rec in out.records["behavior"]:
            body = orjson.loads(rec.value)
            if body["source_event_id"] in after_ids:
                assert body["model_version"] == v2, "a prediction after the switch used the old model"
                last[body["user_id"]] = body
        users = sorted(last)
        stored = asyncio.run(_users(settings, users))
        predictor = load_predictor("behavior", reg, version=v2)
        total = {u: sum(1 for a in before + after if a.user_id == u) for u in users}
        checked = 0
        for user, window in zip(users, stored, strict=True):
            if total[user] > settings.window.max_actions:
                continue  # the incremental state also remembers actions that left the window
            assert window.state_version == v2 and window.state_version != v1
            records = [ActionRecord(ACTION_TYPES[r.code], r.ts_ms / 1000) for r in window.records]
            fresh = predictor.encode_windows([records])  # (1, S)
            cached = predictor.state_from_bytes(window.state)  # float16 hidden: models/behavior/batch.py
            assert cached is not None
            np.testing.assert_allclose(cached[None, :], fresh, atol=5e-4)
            [expected] = predictor.predict(fresh, records[-1:], last[user]["horizon"])
            got = last[user]["actions"]
            assert [a["action"] for a in got] == [a for a, _ in expected.actions]
            np.testing.assert_allclose(
                [a["probability"] for a in got], [p for _, p in expected.actions], atol=1e-4
            )
            checked += 1
        print(
            f"\n[model-update] {v1} -> {v2}: {checked} users with v1 states rebuilt; "
            "predictions equal a fresh encode"
        )
        assert checked >= 20
    finally:
        worker.stop_quietly()
