"""Next-target ranker: trending tracker, candidates and features, the walk's emission point, and train ->
register -> load -> predict targets -> eval keys on a tiny slice of real Higgs data."""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsignal.models.behavior import target_walk as tw
from seqsignal.models.behavior.data import default_higgs_path
from seqsignal.models.behavior.job import evaluate_cli, train_and_register
from seqsignal.models.behavior.predictor import BehaviorPredictor
from seqsignal.models.behavior.target_model import TargetFit, TargetRanker, fit_scorer, load_ranker
from seqsignal.models.behavior.targets import TargetConfig, query_features
from seqsignal.models.behavior.train import TrainConfig
from seqsignal.models.behavior.trending import Trending, TrendingConfig
from seqsignal.models.core import registry
from seqsignal.models.core.serving import TargetQuery

T0 = 1_341_100_800.0  # 2012-07-01 00:00 UTC


def test_trending_snapshots_hold_only_observed_and_refresh_every_period() -> None:
    tr = Trending(TrendingConfig(tau_s=3600, top=2, refresh_s=60))
    assert tr.current(T0).top == ()
    for t, dt in (("a", 0), ("b", 1), ("b", 2), ("c", 3)):
        tr.observe(t, T0 + dt)
    snap = tr.current(T0 + 10)
    assert snap.top == ("b", "a") or snap.top == ("b", "c")
    assert math.isclose(sum(snap.pop.values()), snap.total, rel_tol=1e-6)
    tr.observe("c", T0 + 20)
    assert tr.current(T0 + 30) is snap  # not refreshed before 60 s of stream time
    assert tr.current(T0 + 75).top[0] in ("b", "c")


@pytest.mark.parametrize("reverse_edges", [False, True])
def test_candidates_are_window_then_trending_with_fixed_width(reverse_edges: bool) -> None:
    cfg = TargetConfig(reverse_edges=reverse_edges)
    tr = Trending(cfg.trending)
    for t in ("x", "x", "y"):
        tr.observe(t, T0)
    snap = tr.current(T0 + 100)
    q = TargetQuery("me", [("a", T0, "repost"), ("b", T0 + 5, "reply"), ("a", T0 + 9, "mention")], T0 + 9)
    inbound = [("z", T0 + 7, "reply")]
    ids, x, u = query_features(q, snap, snap.rank, cfg, inbound)
    expected = ["b", "a", "z", "x", "y"] if reverse_edges else ["b", "a", "x", "y"]
    assert sorted(ids[:2]) == ["a", "b"] and ids == [*ids[:2], *expected[2:]]
    assert x.shape == (len(ids), cfg.cand_dim) and u.shape == (cfg.user_dim,)
    assert x[ids.index("a"), 0] == 1.0 and x[ids.index("x"), 0] == 0.0  # in-window flag
    assert np.isfinite(x).all() and np.isfinite(u).all()


def test_walk_emits_before_the_event_is_seen() -> None:
    events = [("u", "a", T0, "repost"), ("u", "b", T0 + 1, "reply"), ("u", "c", T0 + 2, "reply")]
    rows = list(tw.walk(events, TargetConfig(), lambda _i, _ts, n: n >= 1, baselines=True))
    assert [r.prior for r in rows] == [1, 2]
    assert rows[0].ids == ["a"] and rows[0].pos == -1  # "b" was not known before it happened
    assert rows[1].base_ranks["user_top10_recent"] == 0 and set(rows[1].ids) == {"a", "b"}


def test_ranker_files_round_trip(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = TargetConfig(hidden=4)
    events = [("u", t, T0 + i, "repost") for i, t in enumerate("ababcabcab")]
    rows = list(tw.walk(events, cfg, lambda _i, _ts, n: n >= 1))
    ranker = TargetRanker(cfg, fit_scorer(rows, cfg, TargetFit(epochs=2, batch=4)), 0.5)
    for name, blob in ranker.files().items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(blob)
    again = load_ranker(tmp_path)
    assert again is not None
    q = [TargetQuery("u", [("a", T0, "repost"), ("b", T0 + 1, "repost")], T0 + 1)]
    snap = ranker.new_trending().current(T0)
    assert again.predict(q, snap, 3) == ranker.predict(q, snap, 3)


needs_data = pytest.mark.skipif(not default_higgs_path().exists(), reason="shared Higgs data not available")
SPLIT = datetime(2012, 7, 2, tzinfo=UTC).timestamp()  # a tiny slice: 2012-07-01 only


@needs_data
def test_train_register_load_predict_targets_eval(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = TrainConfig(hidden_size=8, emb_dim=4, max_epochs=2, patience=1, dev_hours=6, split_ts=SPLIT,
                      time_budget_s=60, target_epochs=3)
    summary = train_and_register(None, tmp_path / "reg", cfg)
    v = summary["version"]
    manifest = json.loads((tmp_path / "reg" / "behavior" / v / "manifest.json").read_text())
    assert {"targets/config.json", "targets/model.safetensors"} <= set(manifest["files"])
    assert summary["metrics"]["target_train_rows"] > 0

    pred = registry.load_predictor("behavior", tmp_path / "reg")
    assert isinstance(pred, BehaviorPredictor) and pred.has_targets
    pred.warm_up()
    trending = pred.new_trending()
    trending.observe("42", SPLIT)
    q = TargetQuery("7", [("1", SPLIT, "repost"), ("2", SPLIT + 5, "reply"), ("1", SPLIT + 9, "repost")],
                    SPLIT + 9)
    out = pred.predict_targets([q], trending.current(SPLIT + 60), k=2)[0]
    assert len(out) == 2 and {t for t, _ in out} <= {"1", "2", "42"}
    assert out[0][1] >= out[1][1] > 0 and sum(p for _, p in out) <= 1.0 + 1e-6

    res = evaluate_cli(None, None, SPLIT, None, tmp_path / "reg", None, 3, 1, True, SPLIT + 6 * 3600, 1)
    assert res["target_n"] == res["n"] > 0 and 0.0 <= res["target_mrr"] <= res["target_hr_at_10"] <= 1.0
    assert set(res["target_baselines"]) == set(tw.BASELINES)
    assert set(res["baselines"]) == {"global_majority", "user_majority", "markov"}  # unchanged keys
