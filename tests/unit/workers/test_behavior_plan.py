"""Behavior planning: when the worker advances the cached state or rebuilds it, and that both agree."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pytest
import torch

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.behavior.predictor import BehaviorPredictor, behavior_config
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.schemas.events import Action
from seqsignal.workers.pipelines.actions import ActionPipeline, behavior_record, plan_user, target_query
from seqsignal.workers.settings import Settings
from seqsignal.workers.state.window_rules import WindowAction, event_hash
from seqsignal.workers.state.window_store import UserUpdate

ACTS = ["like", "reply", "repost", "mention", "like", "post"]


@pytest.fixture(scope="module")
def predictor() -> BehaviorPredictor:
    torch.manual_seed(0)
    return BehaviorPredictor(Seq2Seq(behavior_config(hidden_size=8, emb_dim=4, dropout=0.0)), "v1")


def _action(i: int) -> Action:
    return Action.model_validate(
        {
            "event_id": f"e{i}",
            "user_id": "u",
            "action": ACTS[i % len(ACTS)],
            "created_at": f"2012-07-01T00:{i:02d}:00Z",
        }
    )


def _update(
    actions: list[Action],
    added: list[Action],
    state: np.ndarray | None,
    version: str | None,
    state_ts: float | None,
) -> UserUpdate:
    window = [WindowAction(event_hash(a.event_id), a.action, a.created_at.timestamp()) for a in actions]
    return UserUpdate(
        "u",
        window,
        [a.event_id for a in added],
        state.astype(np.float32).tobytes() if state is not None else None,
        version,
        state_ts,
    )


def _records(actions: list[Action]) -> list[ActionRecord]:
    return [ActionRecord(a.action, a.created_at.timestamp()) for a in actions]


def test_advance_when_state_current_and_new_actions_end_window(predictor: BehaviorPredictor) -> None:
    acts = [_action(i) for i in range(6)]
    state = predictor.encode_windows([_records(acts[:4])])[0]
    upd = _update(acts, acts[4:], state, "v1", acts[3].created_at.timestamp())
    job = plan_user(upd, acts[4:], predictor, each=False)
    assert job.state is not None and len(job.new) == 2
    [res] = predictor.run([job], horizon=3, beam_size=1)
    fresh = predictor.encode_windows([_records(acts)])[0]
    np.testing.assert_allclose(res.state, fresh, atol=1e-5)  # incremental == full re-encode
    assert not res.rebuilt and len(res.predictions) == 1


@pytest.mark.parametrize("case", ["no_state", "stale_version", "state_elsewhere", "bad_size"])
def test_rebuild_when_state_missing_stale_or_misplaced(predictor: BehaviorPredictor, case: str) -> None:
    acts = [_action(i) for i in range(5)]
    state = predictor.encode_windows([_records(acts[:3])])[0]
    version, ts = "v1", acts[2].created_at.timestamp()
    if case == "no_state":
        state = None
    elif case == "stale_version":
        version = "v0"
    elif case == "state_elsewhere":
        ts = acts[1].created_at.timestamp()
    else:
        state = state[:3]
    upd = _update(acts, acts[3:], state, version, ts)
    job = plan_user(upd, acts[3:], predictor, each=False)
    assert job.state is None
    [res] = predictor.run([job], horizon=2, beam_size=1)
    assert res.rebuilt
    np.testing.assert_allclose(res.state, predictor.encode_windows([_records(acts)])[0], atol=1e-6)


def test_redelivery_reuses_up_to_date_state(predictor: BehaviorPredictor) -> None:
    acts = [_action(i) for i in range(3)]
    state = predictor.encode_windows([_records(acts)])[0]
    upd = _update(acts, [], state, "v1", acts[-1].created_at.timestamp())
    job = plan_user(upd, acts[1:], predictor, each=False)  # all redelivered
    assert job.state is not None and job.new == []
    [res] = predictor.run([job], horizon=2, beam_size=1)
    np.testing.assert_array_equal(res.state, state)


def test_batch_mixes_rebuild_and_advance_rows(predictor: BehaviorPredictor) -> None:
    a = [_action(i) for i in range(4)]
    b = [_action(i + 10) for i in range(3)]
    sa = predictor.encode_windows([_records(a[:2])])[0]
    jobs = [
        plan_user(
            _update(a, a[2:], sa, "v1", a[1].created_at.timestamp()),
            a[2:],
            predictor,
            each=False,
        ),
        plan_user(_update(b, b, None, None, None), b, predictor, each=False),
    ]
    results = predictor.run(jobs, horizon=3, beam_size=1)
    fresh = predictor.encode_windows([_records(a), _records(b)])
    np.testing.assert_allclose(np.stack([r.state for r in results]), fresh, atol=1e-5)
    out = results[0].predictions[0][1]
    direct = predictor.predict(fresh[:1], [_records(a)[-1]], 3)[0]
    assert [x for x, _ in out.actions] == [x for x, _ in direct.actions]


def test_per_event_mode_predicts_at_every_new_action(predictor: BehaviorPredictor) -> None:
    acts = [_action(i) for i in range(5)]
    state = predictor.encode_windows([_records(acts[:2])])[0]
    adv = plan_user(
        _update(acts, acts[2:], state, "v1", acts[1].created_at.timestamp()), acts[2:], predictor, each=True
    )
    reb = plan_user(_update(acts, acts[2:], None, None, None), acts[2:], predictor, each=True)
    r_adv, r_reb = predictor.run([adv, reb], horizon=2, beam_size=1)
    assert len(r_adv.predictions) == len(r_reb.predictions) == 3
    assert [last for last, _ in r_adv.predictions] == [last for last, _ in r_reb.predictions]


def test_behavior_record_covers_every_event_and_names_the_latest(predictor: BehaviorPredictor) -> None:
    acts = [_action(i) for i in range(3)]
    out = predictor.predict(predictor.encode_windows([_records(acts)]), [_records(acts)[-1]], 3)[0]
    rec = behavior_record("u", [*acts, acts[1]], out, "v1", 3, window_size=3)
    assert rec.covers == ["e0", "e1", "e2"]
    assert rec.source_event_id == "e1"  # the last in partition order (here a re-sent e1)
    assert rec.event_time == acts[1].created_at
    assert len(rec.actions) == 3 and all(0.0 <= a.probability <= 1.0 for a in rec.actions)


def test_new_user_advances_from_the_zero_state_to_the_re_encoded_state(predictor: BehaviorPredictor) -> None:
    acts = [_action(i) for i in range(4)]
    job = plan_user(_update(acts, acts, None, None, None), acts, predictor, each=False)
    assert job.state is not None and not job.state.any() and len(job.new) == 4  # the cheap path
    [res] = predictor.run([job], horizon=2, beam_size=1)
    assert not res.rebuilt
    np.testing.assert_allclose(res.state, predictor.encode_windows([_records(acts)])[0], atol=1e-5)


def _ranker_predictor() -> BehaviorPredictor:
    from seqsignal.models.behavior.target_model import TargetRanker
    from seqsignal.models.behavior.targets import TargetConfig, TargetScorer

    torch.manual_seed(0)
    cfg = TargetConfig(hidden=4)
    ranker = TargetRanker(cfg, TargetScorer(cfg.cand_dim, cfg.user_dim, cfg.hidden), 0.5)
    model = Seq2Seq(behavior_config(hidden_size=8, emb_dim=4, dropout=0.0))
    return BehaviorPredictor(model, "v1", targets=ranker)


def test_target_query_keeps_the_targeted_actions_and_emits_at_the_latest() -> None:
    window = [WindowAction(1, "post", 10.0), WindowAction(2, "reply", 20.0, "bob"),
              WindowAction(3, "like", 30.0)]
    q = target_query(UserUpdate("u", window, [], None, None, None))
    assert (q.user_id, list(q.window), q.now) == ("u", [("bob", 20.0, "reply")], 30.0)


class _Engine:
    """Runs inference calls inline."""

    async def run(self, task: str, fn: Any, *args: Any) -> Any:
        return fn(*args)

    run_inline = run


def test_pipeline_ranks_targets_from_its_own_trending_and_pseudonymises_them() -> None:
    pred = _ranker_predictor()
    pipe = ActionPipeline(None, _Engine(), Settings(), None, None, user_key=lambda u: f"p-{u}")
    acts = [pipe._keyed(Action(event_id=f"e{i}", user_id="u", action="reply", target_id=t,
                               created_at=datetime.fromtimestamp(100.0 + i, UTC)))
            for i, t in enumerate(["a", "b", "a"])]
    assert [a.target_id for a in acts] == ["p-a", "p-b", "p-a"] and acts[0].user_id == "p-u"
    window = [WindowAction(event_hash(a.event_id), a.action, a.created_at.timestamp(), a.target_id)
              for a in acts]
    updates = {"p-u": UserUpdate("p-u", window, [a.event_id for a in acts], None, None, None)}
    got = asyncio.run(pipe._targets(pred, [(a, 0, i) for i, a in enumerate(acts)], updates, ["p-u"]))
    assert {t for t, _ in got["p-u"]} == {"p-a", "p-b"} and all(0 < p <= 1 for _, p in got["p-u"])
    assert pipe.trending is not None and set(pipe.trending.current(200.0).top) == {"p-a", "p-b"}
    rec = behavior_record("p-u", acts, rec_output(pred, acts), "v1", 3, 3, got["p-u"])
    assert rec.targets is not None and [t.user_id for t in rec.targets] == [t for t, _ in got["p-u"]]
    assert behavior_record("p-u", acts, rec_output(pred, acts), "v1", 3, 3).targets is None


def rec_output(pred: BehaviorPredictor, acts: list[Action]) -> Any:
    return pred.predict(pred.encode_windows([_records(acts)]), [_records(acts)[-1]], 3)[0]
