"""Next targets through the action pipeline on real Redis (no broker): a behavior version with a ranker puts
`targets` in signals.behavior.v1, pseudonymised like the actor ids; the window keeps each action's target."""

from __future__ import annotations

from pathlib import Path

import orjson
import torch

from seqsignal.models.behavior.predictor import behavior_config, config_dict
from seqsignal.models.behavior.target_model import TargetRanker
from seqsignal.models.behavior.targets import TargetConfig, TargetScorer
from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import model_files
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.schemas.codec import encode
from seqsignal.schemas.events import Action, BehaviorPrediction
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.actions import ActionPipeline
from seqsignal.workers.pipelines.records import RawEvent
from seqsignal.workers.serving.inference import InferenceEngine
from seqsignal.workers.settings import ModelSettings, RedisSettings, Settings
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore
from seqsignal.workers.stream.metrics import WorkerMetrics


def _registry_with_ranker(reg: Path) -> None:
    torch.manual_seed(0)
    model = Seq2Seq(behavior_config(hidden_size=8, emb_dim=4, dropout=0.0))
    cfg = TargetConfig(hidden=4)
    ranker = TargetRanker(cfg, TargetScorer(cfg.cand_dim, cfg.user_dim, cfg.hidden), 0.5)
    files = {**model_files(model, config_dict(model)), **ranker.files()}
    registry.save_version(reg, "behavior", files, data="untrained tiny model", make_champion_if_none=True)


def _action(i: int, user: str, target: str) -> Action:
    return Action.model_validate({"event_id": f"e{i}", "user_id": user, "action": "reply",
                                  "target_id": target, "created_at": f"2012-07-01T00:{i:02d}:00Z"})


async def test_targets_are_ranked_emitted_and_pseudonymised(redis_url: str, redis_prefix: str,
                                                             tmp_path: Path) -> None:
    _registry_with_ranker(tmp_path / "reg")
    metrics = WorkerMetrics()
    engine = InferenceEngine(ModelSettings(registry_dir=tmp_path / "reg", device="cpu"), metrics)
    await engine.ensure("behavior")
    settings = Settings(_env_file=None, redis=RedisSettings(url=redis_url, key_prefix=redis_prefix))
    client = async_client(settings.redis)
    try:
        store = WindowStore(client, settings.window, redis_prefix)
        topics = Topics()
        pipeline = ActionPipeline(store, engine, settings, topics, metrics, user_key=lambda u: f"p{u}")
        acts = [_action(0, "u1", "a"), _action(1, "u1", "b"), _action(2, "u1", "a"), _action(3, "u2", "a")]
        raws = [RawEvent(topics.actions, 0, i, b"k", encode(a)) for i, a in enumerate(acts)]
        result = await pipeline.process(raws)
        signals = {s.user_id: s for s in (BehaviorPrediction.model_validate(orjson.loads(r.value))
                                          for r in result.outputs if r.task == "behavior")}
        assert set(signals) == {"pu1", "pu2"}
        u1 = signals["pu1"].targets
        assert u1 is not None and {t.user_id for t in u1} == {"pa", "pb"}
        assert all(0 < t.probability <= 1 for t in u1) and u1[0].probability >= u1[-1].probability
        assert [w.target for w in await store.read_window("pu1")] == ["pa", "pb", "pa"]
        no_targets = settings.model_copy(update={"model": ModelSettings(behavior_targets=0)})
        pipeline = ActionPipeline(store, engine, no_targets, topics, metrics, user_key=lambda u: f"p{u}")
        off = await pipeline.process([RawEvent(topics.actions, 0, 9, b"k", encode(_action(9, "u1", "c")))])
        records = [orjson.loads(r.value) for r in off.outputs if r.task == "behavior"]
        assert records and all(r.get("targets") is None for r in records)  # switched off: absent
    finally:
        await client.aclose()
        engine.close()
