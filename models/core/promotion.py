"""The promotion gate: candidate vs champion on the same evaluation sets; promote only if not worse beyond a
tolerance. Pure (no I/O): metrics in, a decision with its reasons out."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field

Metrics = Mapping[str, float]  # metric name -> value, on one evaluation set
EvalSets = Mapping[str, Metrics]  # evaluation set name ("dev", "recent") -> metrics


@dataclass(frozen=True)
class MetricRule:
    """One gated metric: which direction is better and how much worse the candidate may be (absolute)."""

    name: str
    higher_is_better: bool
    tolerance: float = 0.0
    count_metric: str | None = None  # examples behind this metric (default: the gate's count_metric)


@dataclass(frozen=True)
class GateConfig:
    """Which metrics are gated on which sets; a set with fewer than `min_examples` examples is skipped,
    except the `required` sets, which must be present."""

    rules: tuple[MetricRule, ...]
    required: tuple[str, ...] = ("dev",)
    optional: tuple[str, ...] = ("recent",)
    min_examples: int = 30
    count_metric: str = "n"


@dataclass(frozen=True)
class Decision:
    """The outcome: `promote`, the reasons (one per failed or skipped check) and each gated delta
    (`<set>.<metric>`: candidate minus champion, in the metric's own direction)."""

    promote: bool
    reasons: tuple[str, ...] = ()
    deltas: dict[str, float] = field(default_factory=dict)


# Behavior: loss alone is not enough. Measured: a candidate trained on shuffled targets collapses towards the
# class marginal and can *lower* the dev loss of a champion miscalibrated for the dev window, while its
# accuracy and macro-F1 drop (0.536 -> 0.35 macro-F1); so all three are gated. Loss counts every scored
# token (`n_tokens`); accuracy and macro-F1 only users with >= 5 earlier actions (`n`), often few in a slice.
BEHAVIOR_GATE = GateConfig(
    rules=(
        MetricRule("loss", higher_is_better=False, tolerance=0.02, count_metric="n_tokens"),
        MetricRule("accuracy", higher_is_better=True, tolerance=0.01),
        MetricRule("macro_f1", higher_is_better=True, tolerance=0.01),
    )
)
TEXT_GATE = GateConfig(
    rules=(
        MetricRule("loss", higher_is_better=False, tolerance=0.02),
        MetricRule("macro_f1", higher_is_better=True, tolerance=0.01),
    )
)


def _bad(x: float | None) -> bool:
    return x is None or not math.isfinite(x)


def decide(candidate: EvalSets, champion: EvalSets | None, config: GateConfig) -> Decision:
    """Promote when, on every gated set and metric, the candidate is at most `tolerance` worse than the
    champion. With no champion, a candidate with finite metrics on the required sets is promoted."""
    reasons: list[str] = []
    deltas: dict[str, float] = {}
    for name in config.required:
        if name not in candidate:
            reasons.append(f"candidate has no metrics on required set {name!r}")
    sets = [*config.required, *config.optional]
    ok = not reasons
    for set_name in sets:
        cand = candidate.get(set_name)
        if cand is None:
            continue
        champ = champion.get(set_name) if champion is not None else None
        for rule in config.rules:
            n = cand.get(rule.count_metric or config.count_metric)
            if set_name in config.optional and (n is None or n < config.min_examples):
                reasons.append(
                    f"{set_name}.{rule.name}: skipped ({n or 0:.0f} < {config.min_examples} examples)"
                )
                continue
            c = cand.get(rule.name)
            if _bad(c):
                ok = False
                reasons.append(f"{set_name}.{rule.name}: candidate value missing or not finite")
                continue
            if champ is None:
                continue
            h = champ.get(rule.name)
            if _bad(h):  # a champion that cannot be scored is no bar to clear
                reasons.append(f"{set_name}.{rule.name}: champion value missing; not gated")
                continue
            assert c is not None and h is not None
            gain = (c - h) if rule.higher_is_better else (h - c)  # > 0: candidate better
            deltas[f"{set_name}.{rule.name}"] = c - h
            if gain < -rule.tolerance:
                ok = False
                reasons.append(
                    f"{set_name}.{rule.name}: candidate {c:.4f} vs champion {h:.4f} is worse "
                    f"beyond tolerance {rule.tolerance}"
                )
    if champion is None and ok:
        reasons.append("no champion: first version")
    return Decision(ok, tuple(reasons), deltas)
