"""Prequential walk for next-target training and evaluation: one time-ordered pass over the events keeps what
the worker keeps (each user's window of targeted actions, the trending tracker; reverse edges only in that
variant) and, before each selected event, emits the features of the prediction made at the user's previous
emission (its last action, or a later inbound event in the reverse-edge variant) and baseline top-10 lists."""

from __future__ import annotations

import math
from collections import Counter, deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from seqsignal.models.behavior.targets import Inbound, TargetConfig, query_features
from seqsignal.models.behavior.trending import EMPTY, Trending
from seqsignal.models.core.serving import TargetQuery, TrendingSnapshot
from seqsignal.models.datasets.higgs import TYPE_TO_ACTION, iter_higgs
from seqsignal.schemas.events import ActionType

K = 10
TargetEvent = tuple[str, str, float, ActionType]  # (user, target, unix ts, action), time-ordered
BASELINES = ("user_top10_frequent", "user_top10_recent", "global_trending_top10",
             "mix_recent_frequent_trending")


def iter_target_events(path: str | Path | None = None, since: float | None = None,
                       until: float | None = None) -> Iterator[TargetEvent]:
    """Merged Higgs events with their target, in time order within [since, until)."""
    for user, target, ts, typ in iter_higgs(path):
        if until is not None and ts >= until:
            break
        if since is None or ts >= since:
            yield str(user), str(target), float(ts), TYPE_TO_ACTION[typ]


class UserTargets:
    """What is kept per user: the window of targeted actions, reverse edges (variant), the emission point."""

    __slots__ = ("history", "inbound", "n", "now", "snap", "window")

    def __init__(self, cfg: TargetConfig) -> None:
        self.n = 0
        self.window: deque[tuple[str, float, ActionType]] = deque(maxlen=cfg.window)
        self.inbound: deque[Inbound] = deque(maxlen=cfg.inbound)
        self.history: Counter[str] = Counter()  # full target counts: the frequent-targets baseline only
        self.now = math.nan
        self.snap: TrendingSnapshot = EMPTY


@dataclass
class Example:
    """One scored event: candidate ids and features, user context, the true target's candidate position
    (-1: not a candidate), the user's prior actions, its time, and the baselines' ranks (1..10, 0 = miss)."""

    ids: list[str]
    cand: np.ndarray
    user: np.ndarray
    pos: int
    prior: int
    ts: float
    base_ranks: dict[str, int] = field(default_factory=dict)


def _recent(u: UserTargets) -> list[str]:
    return list(dict.fromkeys(t for t, _s, _a in reversed(u.window)))


def _fill(*lists: list[str]) -> list[str]:
    out: list[str] = []
    for lst in lists:
        out += [t for t in lst if t not in out][: K - len(out)]
    return out[:K]


def baseline_lists(u: UserTargets, snap: TrendingSnapshot) -> dict[str, list[str]]:
    """Top-10 lists: the user's most frequent targets (full history; recency breaks ties), recent distinct
    (window), trending, and a mix (recent/frequent interleaved, 6 slots, then recent, frequent, trending)."""
    recent_all = _recent(u)
    order = {t: r for r, t in enumerate(recent_all)}
    freq = sorted(u.history, key=lambda t: (-u.history[t], order.get(t, 10**9)))[:K]
    recent = recent_all[:K]
    mix = [t for pair in zip(recent, freq, strict=False) for t in pair]
    lists = (freq, recent, list(snap.top[:K]), _fill(mix[:6], recent, freq, list(snap.top)))
    return dict(zip(BASELINES, lists, strict=True))


def _example(me: str, u: UserTargets, target: str, ts: float, cfg: TargetConfig, baselines: bool) -> Example:
    q = TargetQuery(me, list(u.window), u.now)
    ids, x, ctx = query_features(q, u.snap, u.snap.rank, cfg, u.inbound)
    pos = ids.index(target) if target in ids else -1
    ex = Example(ids, x, ctx, pos, u.n, ts)
    if baselines:
        for name, lst in baseline_lists(u, u.snap).items():
            ex.base_ranks[name] = lst.index(target) + 1 if target in lst else 0
    return ex


def walk(events: Iterable[TargetEvent], cfg: TargetConfig, select: Callable[[int, float, int], bool],
         baselines: bool = False) -> Iterator[Example]:
    """One pass; `select(index, ts, prior)` marks the events to emit an example for (users with >= 1 prior
    action)."""
    users: dict[str, UserTargets] = {}
    trending = Trending(cfg.trending)
    for i, (me, target, ts, action) in enumerate(events):
        trending.snapshot(ts)  # refreshed before the event is counted: it holds only earlier events
        u = users.get(me) or users.setdefault(me, UserTargets(cfg))
        if u.n and select(i, ts, u.n):
            yield _example(me, u, target, ts, cfg, baselines)
        u.n += 1
        u.window.append((target, ts, action))
        u.now, u.snap = ts, trending.last
        if baselines:
            u.history[target] += 1
        if cfg.reverse_edges and target != me:
            v = users.get(target) or users.setdefault(target, UserTargets(cfg))
            v.inbound.append((me, ts, action))
            v.now, v.snap = ts, trending.last
        trending.observe(target, ts)


def ranks(probs: list[np.ndarray], pos: list[int]) -> np.ndarray:
    """1-based rank of the true target among each row's candidates (ties count against it), 0 = not one."""
    return np.array([1 + int((p > p[i]).sum()) if i >= 0 else 0 for p, i in zip(probs, pos, strict=True)],
                    dtype=np.int64)


def rank_scores(r: np.ndarray, k: int = K) -> dict[str, float]:
    """HR@k and MRR@k (reciprocal rank, 0 beyond rank k) of 1-based ranks (0 = miss)."""
    hit = (r > 0) & (r <= k)
    n = max(len(r), 1)
    rr = np.where(hit, 1.0 / np.maximum(r, 1), 0.0)
    return {"hr_at_10": float(hit.sum() / n), "mrr": float(rr.sum() / n)}
