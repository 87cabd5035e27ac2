"""The promotion gate: pure decisions from metrics (no I/O)."""

from __future__ import annotations

import math

from seqsignal.models.core.promotion import BEHAVIOR_GATE, GateConfig, MetricRule, decide

GATE = GateConfig(rules=(MetricRule("loss", higher_is_better=False, tolerance=0.05),
                         MetricRule("accuracy", higher_is_better=True, tolerance=0.01)), min_examples=10)


def sets(dev_loss: float, dev_acc: float, rec_loss: float = 1.0, rec_acc: float = 0.5, rec_n: float = 100
         ) -> dict[str, dict[str, float]]:
    return {"dev": {"loss": dev_loss, "accuracy": dev_acc, "n": 500},
            "recent": {"loss": rec_loss, "accuracy": rec_acc, "n": rec_n}}


def test_better_candidate_is_promoted() -> None:
    d = decide(sets(0.9, 0.6, 0.9, 0.6), sets(1.0, 0.5), GATE)
    assert d.promote
    assert math.isclose(d.deltas["dev.loss"], -0.1) and math.isclose(d.deltas["recent.accuracy"], 0.1)


def test_within_tolerance_is_promoted_beyond_is_not() -> None:
    assert decide(sets(1.04, 0.5), sets(1.0, 0.5), GATE).promote  # 0.04 worse, tolerance 0.05
    d = decide(sets(1.06, 0.5), sets(1.0, 0.5), GATE)
    assert not d.promote
    assert any("dev.loss" in r for r in d.reasons)


def test_worse_on_recent_slice_alone_blocks() -> None:
    d = decide(sets(0.9, 0.6, rec_loss=1.0, rec_acc=0.45), sets(1.0, 0.5), GATE)
    assert not d.promote and any(r.startswith("recent.accuracy") for r in d.reasons)


def test_small_recent_slice_is_skipped_not_gated() -> None:
    d = decide(sets(1.0, 0.5, rec_acc=0.0, rec_n=3), sets(1.0, 0.5), GATE)
    assert d.promote and any("recent.accuracy: skipped" in r for r in d.reasons)
    assert "recent.accuracy" not in d.deltas


def test_missing_dev_or_nan_blocks() -> None:
    assert not decide({"recent": sets(0.1, 0.9)["recent"]}, sets(1.0, 0.5), GATE).promote
    assert not decide(sets(math.nan, 0.9), sets(1.0, 0.5), GATE).promote


def test_no_champion_promotes_finite_candidate() -> None:
    d = decide(sets(2.0, 0.1), None, GATE)
    assert d.promote and d.deltas == {}


def test_champion_without_metric_is_no_bar() -> None:
    champ = sets(1.0, 0.5)
    del champ["dev"]["accuracy"]
    d = decide(sets(1.0, 0.2), champ, GATE)  # dev.accuracy dropped, but the champion has no value to beat
    assert d.promote and "dev.accuracy" not in d.deltas
    assert any("dev.accuracy: champion value missing" in r for r in d.reasons)


def test_behavior_gate_rejects_a_clearly_worse_loss_or_macro_f1() -> None:
    champ = {"dev": {"loss": 1.2, "accuracy": 0.5, "macro_f1": 0.40, "n": 1000.0}}
    worse_loss = {"dev": {"loss": 1.5, "accuracy": 0.5, "macro_f1": 0.40, "n": 1000.0}}
    assert not decide(worse_loss, champ, BEHAVIOR_GATE).promote
    assert decide(champ, worse_loss, BEHAVIOR_GATE).promote
    # The shuffled-labels pattern measured on Higgs: lower loss, same accuracy, macro-F1 collapsed.
    collapsed = {"dev": {"loss": 1.1, "accuracy": 0.5, "macro_f1": 0.30, "n": 1000.0}}
    d = decide(collapsed, champ, BEHAVIOR_GATE)
    assert not d.promote and [r.split(":")[0] for r in d.reasons] == ["dev.macro_f1"]


def test_per_metric_counts_gate_loss_on_tokens_even_when_few_users_qualify() -> None:
    loss = MetricRule("loss", higher_is_better=False, tolerance=0.02, count_metric="n_tokens")
    gate = GateConfig(rules=(loss, MetricRule("accuracy", higher_is_better=True, tolerance=0.01)),
                      min_examples=30)
    champ = {"dev": {"loss": 1.0, "accuracy": 0.5, "n": 500.0, "n_tokens": 2000.0},
             "recent": {"loss": 1.0, "accuracy": 0.9, "n": 12.0, "n_tokens": 900.0}}
    cand = {"dev": {"loss": 1.0, "accuracy": 0.5, "n": 500.0, "n_tokens": 2000.0},
            "recent": {"loss": 1.1, "accuracy": 0.1, "n": 12.0, "n_tokens": 900.0}}
    d = decide(cand, champ, gate)
    assert not d.promote and "recent.loss" in d.deltas and "recent.accuracy" not in d.deltas
    assert any(r.startswith("recent.accuracy: skipped (12 < 30") for r in d.reasons)
