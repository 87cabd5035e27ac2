"""Unit tests of the behavior features, predictor, baselines and metrics (no data files)."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from seqsignal.models.behavior.baselines import GlobalMajority, MarkovChain, UserMajority
from seqsignal.models.behavior.features import (
    NUM_FEATURES,
    NUM_STATS,
    ActionRecord,
    sequence_features,
    step_features,
    window_features,
)
from seqsignal.models.behavior.predictor import (
    BehaviorPredictor,
    behavior_config,
    config_dict,
    model_from_files,
)
from seqsignal.models.core import metrics as M
from seqsignal.models.core.checkpoint import weights_bytes
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.models.core.serving import BehaviorModel
from seqsignal.schemas.events import ACTION_TYPES, ActionType

torch.set_num_threads(1)


def _window(n: int, seed: int) -> list[ActionRecord]:
    rng = np.random.default_rng(seed)
    ts = 1341100000 + np.cumsum(rng.exponential(300, n))
    return [ActionRecord(ACTION_TYPES[int(rng.integers(6))], float(t)) for t in ts]


@pytest.fixture(scope="module")
def pred() -> BehaviorPredictor:
    torch.manual_seed(0)
    return BehaviorPredictor(Seq2Seq(behavior_config(hidden_size=16, emb_dim=8, dropout=0.0)), "v-test")


def test_step_features_equal_window_features() -> None:
    w = _window(12, 1)
    full, final = window_features(w)
    assert full.shape == (12, NUM_FEATURES) and final.shape == (NUM_STATS,)
    stats = np.zeros((1, NUM_STATS), np.float32)
    prev = np.array([np.nan])
    for t, r in enumerate(w):
        f, stats = step_features([r], prev, stats)
        np.testing.assert_array_equal(f[0], full[t])
        prev = np.array([r.ts])
    np.testing.assert_array_equal(stats[0], final)
    ids = np.array([0, 1, 0, 0])
    f2, st = sequence_features(ids, np.array([0.0, 5.0, 10.0, 1e5]))
    assert st[:6].tolist() == [3, 1, 0, 0, 0, 0] and st[-1] == 1  # counts; last action index + 1
    assert f2[0, 7] == 1.0 and f2[1, 6] == pytest.approx(math.log1p(5) / 10)  # no-previous flag; log gap


def test_incremental_advance_equals_full_reencode(pred: BehaviorPredictor) -> None:
    windows = [_window(n, s) for s, n in enumerate([64, 1, 17, 40])]
    full = pred.encode_windows(windows)
    assert full.shape == (4, pred.state_size) and full.dtype == np.float32
    states = pred.encode_windows([w[:-1] for w in windows])  # includes an empty window -> zero state
    assert not states[1].any()
    prev = np.array([w[-2].ts if len(w) > 1 else np.nan for w in windows])
    stepped = pred.advance(states, prev, [w[-1] for w in windows])
    np.testing.assert_allclose(stepped, full, atol=1e-5)


def test_advancing_the_start_state_over_a_window_equals_encoding_it(pred: BehaviorPredictor) -> None:
    windows = [_window(n, s) for s, n in enumerate([6, 1, 11])]
    states = np.stack([pred.start_state()] * len(windows))
    assert states.shape == (3, pred.state_size) and not states.any()
    prev = np.full(len(windows), np.nan)
    for t in range(max(len(w) for w in windows)):
        rows = [i for i, w in enumerate(windows) if len(w) > t]
        states[rows] = pred.advance(states[rows], prev[rows], [windows[i][t] for i in rows])
        prev[rows] = [windows[i][t].ts for i in rows]
    np.testing.assert_allclose(states, pred.encode_windows(windows), atol=1e-5)


def test_state_bytes_round_trip_and_refuse_other_sizes(pred: BehaviorPredictor) -> None:
    state = pred.encode_windows([_window(7, 3)])[0]
    blob = state.astype(np.float32).tobytes()  # float32 rows: the format before the compact one, still read
    np.testing.assert_array_equal(pred.state_from_bytes(blob), state)
    assert pred.state_from_bytes(None) is None
    assert pred.state_from_bytes(blob[:-4]) is None and pred.state_from_bytes(blob + b"\0" * 4) is None
    assert pred.state_from_bytes(b"\0" * len(blob)) is not None
    compact = pred.state_to_bytes(state)  # float16 hidden + varint counts: test_state_bytes.py
    assert len(compact) < len(blob) and pred.state_from_bytes(compact) is not None


def test_serving_contract(pred: BehaviorPredictor) -> None:
    served: BehaviorModel = pred  # checked by mypy against the Protocol
    assert served.task == "behavior" and served.version == "v-test"
    served.warm_up()


def test_predict_outputs(pred: BehaviorPredictor) -> None:
    windows = [_window(n, s) for s, n in enumerate([5, 9, 30])]
    states = pred.encode_windows(windows)
    outs = pred.predict(states, [w[-1] for w in windows], horizon=4)
    assert len(outs) == 3
    for o in outs:
        assert len(o.actions) == 4 and all(a in ACTION_TYPES for a, _ in o.actions)
        assert all(0.0 < p <= 1.0 for _, p in o.actions)
        assert o.sequence_probability == pytest.approx(math.prod(p for _, p in o.actions), rel=1e-4)
    beam1 = pred.predict(states, [w[-1] for w in windows], horizon=4, beam_size=1)
    assert [o.actions for o in beam1] == [o.actions for o in outs]
    beam = pred.predict(states, [w[-1] for w in windows], horizon=4, beam_size=4)
    for b, g in zip(beam, outs, strict=True):
        assert b.sequence_probability >= g.sequence_probability - 1e-6
    with pytest.raises(ValueError):
        pred.predict(states, [], horizon=2)


def test_decision_bias_survives_config_round_trip(pred: BehaviorPredictor) -> None:
    model = pred.model
    model.decision_bias = [0.0, 0.0, 0.0, 5.0, 0.0, 0.0, 0.0]
    cfg = config_dict(model)
    again = model_from_files(cfg, weights_bytes(model))
    assert config_dict(again)["decision_bias"] == cfg["decision_bias"]
    biased = BehaviorPredictor(again, "b", decision_bias=cfg["decision_bias"])
    outs = biased.predict(pred.encode_windows([_window(6, 3)]), [ActionRecord("post", 0.0)], horizon=2)
    assert [a for a, _ in outs[0].actions] == [ACTION_TYPES[2]] * 2  # token 3 = action index 2
    del model.decision_bias
    with pytest.raises(ValueError):
        model_from_files(cfg | {"feature_version": -1}, weights_bytes(model))


def test_baselines() -> None:
    g, u, m = GlobalMajority(), UserMajority(), MarkovChain()
    seq: list[tuple[str, ActionType]] = [("a", "repost"), ("a", "reply"), ("a", "reply"), ("b", "repost"),
                                         ("b", "repost"), ("a", "repost"), ("a", "reply")]
    for user, act in seq:
        for b in (g, u, m):
            b.update(user, act)
    assert g.predict("x", 2) == ["repost", "repost"]
    assert u.predict("a", 1) == ["reply"] and u.predict("new", 1) == ["repost"]
    # a: repost->reply x2, reply->reply x1, reply->repost x1, last = reply: the tie out of reply falls back to
    # the global chain (also tied), then to the name; each predicted action is the next step's state
    assert m.predict("a", 3) == ["repost", "reply", "repost"]
    m.update("a", "repost")  # reply->repost now x2
    assert m.predict("a", 3) == ["reply", "repost", "reply"]
    assert m.predict("b", 2) == ["repost", "repost"]
    assert m.predict("new", 1) == ["repost"]


def test_metrics() -> None:
    assert M.sequence_bleu([["a", "b", "c"]], [["a", "b", "c"]]) == pytest.approx(100.0)
    assert M.sequence_bleu([["a", "a", "a"]], [["b", "c", "d"]]) == pytest.approx(0.0)
    assert M.macro_f1(["x", "y"], ["x", "x"]) == pytest.approx((2 / 3 + 0) / 2)
    assert M.accuracy(["x", "y"], ["x", "x"]) == 0.5
    assert M.perplexity(2 * math.log(3), 2) == pytest.approx(3.0)


def test_padded_window_features_equal_per_window() -> None:
    from seqsignal.models.behavior.features import padded_window_features

    windows = [_window(n, s) for s, n in enumerate([7, 0, 1, 30, 2])]
    feats, lengths, stats = padded_window_features(windows)
    assert feats.shape == (5, 30, NUM_FEATURES) and lengths.tolist() == [7, 0, 1, 30, 2]
    for b, w in enumerate(windows):
        if not w:
            assert not feats[b].any() and not stats[b].any()
            continue
        f, st = window_features(w)
        np.testing.assert_allclose(feats[b, : len(w)], f, rtol=1e-6, atol=1e-6)
        assert not feats[b, len(w):].any()
        np.testing.assert_array_equal(stats[b], st)


def test_metrics_of_an_empty_set_are_nan_not_an_error() -> None:
    # A held-back stream slice can have no user with enough history; the trainer must still decide.
    import math

    from seqsignal.models.core import metrics as M

    assert math.isnan(M.macro_f1([], []))
    assert math.isnan(M.accuracy([], []))
    assert math.isnan(M.macro_recall([], []))


def test_by_class_recall_and_precision_for_the_error_analysis() -> None:
    from seqsignal.models.behavior.evaluate import _by_class

    out = _by_class(["like", "like", "reply", "post"], ["like", "reply", "reply", "like"])
    assert out["like"] == {"share": 0.5, "recall": 0.5, "precision": 0.5}
    assert out["reply"] == {"share": 0.25, "recall": 1.0, "precision": 0.5}
    assert out["post"]["recall"] == 0.0 and out["post"]["precision"] is None
    assert out["follow"] == {"share": 0.0, "recall": None, "precision": None}
