"""Next interaction targets ("whom"): candidates (the user's window targets, trending targets and, optionally,
reverse edges), their features, and a small scorer with a softmax over each user's candidates.

Features are pure functions of what the worker has when it emits a prediction: the user's window of
targeted actions (Redis), the trending snapshot (kept per worker) and the emission time (the user's latest
action). Reverse edges (who acted on the user) are an evaluation variant only: serving them needs a write to
the *target's* key on every action, owned by another partition.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from seqsignal.models.behavior.trending import TrendingConfig
from seqsignal.models.core.serving import TargetQuery, TrendingSnapshot
from seqsignal.schemas.events import ActionType

FEATURE_VERSION = 1  # bump when a feature changes meaning; loading checks it
TYPE_COLUMNS: tuple[ActionType, ...] = ("repost", "mention", "reply")  # per-type counts (others: total only)
_TYPE_COL = {a: i for i, a in enumerate(TYPE_COLUMNS)}
_DAY = 86400.0
_NONE_GAP = 14.0  # log1p(seconds) standing for "no such event" (~2 weeks)
CLIP = 4.0  # standardized inputs are clipped, so an unseen regime (a 10x busier day) cannot explode
Inbound = tuple[str, float, ActionType]  # (source user, unix ts, action): someone acted on this user


@dataclass(frozen=True)
class TargetConfig:
    """Candidate sources and scorer size (saved as targets/config.json)."""

    window: int = 64  # targeted actions of the user kept (the worker's window.max_actions)
    reverse_edges: bool = False  # evaluation variant: candidates and features from who acted on the user
    inbound: int = 16  # reverse edges kept per user when reverse_edges
    hidden: int = 32
    trending: TrendingConfig = field(default_factory=TrendingConfig)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @staticmethod
    def from_dict(d: dict[str, Any]) -> TargetConfig:
        return TargetConfig(**{**d, "trending": TrendingConfig(**d["trending"])})

    @property
    def user_dim(self) -> int:
        return 14 + (9 if self.reverse_edges else 0)

    @property
    def cand_dim(self) -> int:
        return 12 + (6 if self.reverse_edges else 0)


def lgap(dt: float) -> float:
    """log1p(seconds) / 10, or the 'none' value for NaN."""
    return (math.log1p(max(dt, 0.0)) if not math.isnan(dt) else _NONE_GAP) / 10.0


def pop_share(snap: TrendingSnapshot, target: str) -> float:
    """Popularity as a share of the decayed stream: a 10x busier day does not shift it."""
    return math.log1p(1000.0 * snap.pop.get(target, 0.0) / snap.total) / 5.0


def _onehot(action: ActionType | None) -> list[float]:
    out = [0.0] * len(TYPE_COLUMNS)
    if action in _TYPE_COL:
        out[_TYPE_COL[action]] = 1.0
    return out


def user_context(q: TargetQuery, snap: TrendingSnapshot) -> list[float]:
    """(14,) the user's context at emission time from its window alone."""
    w = q.window
    prev_gap = w[-1][1] - w[-2][1] if len(w) >= 2 else math.nan
    last_ts = w[-1][1] if w else math.nan
    recent = [0.0] * len(TYPE_COLUMNS)
    for _t, _ts, a in w[-5:]:
        if a in _TYPE_COL:
            recent[_TYPE_COL[a]] += 0.2
    angle = (q.now % _DAY) / _DAY * 2.0 * math.pi
    distinct = len({t for t, _s, _a in w}) / max(len(w), 1)
    return [math.log1p(len(w)) / 5.0, distinct, *_onehot(w[-1][2] if w else None), lgap(prev_gap),
            1.0 if prev_gap < 60 else 0.0, lgap(q.now - last_ts), math.sin(angle), math.cos(angle), *recent,
            pop_share(snap, w[-1][0]) if w else 0.0]


def inbound_context(q: TargetQuery, inbound: Sequence[Inbound]) -> list[float]:
    """(9,) reverse-edge context: inbound counts by type, time since and type of the last one, whether it came
    after the user's last action (pending), whether the user has acted on its source (reciprocity)."""
    counts = [0.0] * len(TYPE_COLUMNS)
    for _s, _ts, a in inbound:
        if a in _TYPE_COL:
            counts[_TYPE_COL[a]] += 1.0
    last = inbound[-1] if inbound else None
    last_ts = q.window[-1][1] if q.window else math.nan
    pending = 1.0 if last and not math.isnan(last_ts) and last[1] >= last_ts else 0.0
    recip = 1.0 if last and any(t == last[0] for t, _s, _a in q.window) else 0.0
    return [*(math.log1p(c) / 5.0 for c in counts), lgap(q.now - last[1] if last else math.nan),
            *_onehot(last[2] if last else None), pending, recip]


def _window_stats(window: Sequence[tuple[str, float, ActionType]]) -> dict[str, list[float]]:
    """Per target: [count, count per TYPE_COLUMNS..., last ts, recency rank among distinct targets]."""
    n = len(TYPE_COLUMNS)
    out: dict[str, list[float]] = {}
    for t, ts, a in window:
        s = out.setdefault(t, [0.0] * (n + 3))
        s[0] += 1.0
        if a in _TYPE_COL:
            s[1 + _TYPE_COL[a]] += 1.0
        s[n + 1] = ts
    for r, t in enumerate(sorted(out, key=lambda k: -out[k][n + 1])):
        out[t][n + 2] = float(r)
    return out


def _inbound_stats(inbound: Sequence[Inbound]) -> dict[str, list[float]]:
    """Per source: [count, last ts, last was a reply, last was a mention, recency rank]."""
    out: dict[str, list[float]] = {}
    for s, ts, a in inbound:
        v = out.setdefault(s, [0.0] * 5)
        v[0] += 1.0
        v[1:4] = [ts, float(a == "reply"), float(a == "mention")]
    for r, s in enumerate(sorted(out, key=lambda k: -out[k][1])):
        out[s][4] = float(r)
    return out


def _window_row(w: list[float] | None, now: float, cap: int) -> list[float]:
    n = len(TYPE_COLUMNS)
    if w is None:
        return [0.0, 0.0, *([0.0] * n), math.log1p(cap), _NONE_GAP / 10]
    return [1.0, math.log1p(w[0]), *(math.log1p(x) for x in w[1: n + 1]), math.log1p(w[n + 2]),
            lgap(now - w[n + 1])]


def _inbound_row(i: list[float] | None, now: float, cap: int) -> list[float]:
    if i is None:
        return [0.0, 0.0, _NONE_GAP / 10, 0.0, 0.0, math.log1p(cap)]
    return [1.0, math.log1p(i[0]), lgap(now - i[1]), i[2], i[3], math.log1p(i[4])]


def candidates(q: TargetQuery, snap: TrendingSnapshot, rank: dict[str, int], cfg: TargetConfig,
               inbound: Sequence[Inbound] = ()) -> tuple[list[str], np.ndarray]:
    """Candidate ids (window targets, reverse edges if cfg.reverse_edges, trending) and features (C, D)."""
    ws = _window_stats(q.window)
    ins = _inbound_stats(inbound) if cfg.reverse_edges else {}
    ids = list(dict.fromkeys([*ws, *ins, *snap.top]))
    last_t = q.window[-1][0] if q.window else None
    rows = []
    for c in ids:
        r = rank.get(c)
        row = _window_row(ws.get(c), q.now, cfg.window)
        if cfg.reverse_edges:
            row += _inbound_row(ins.get(c), q.now, cfg.inbound)
        trend = [1.0, pop_share(snap, c), math.log1p(r) / 5.0] if r is not None else [
            0.0, pop_share(snap, c), math.log1p(100.0) / 5.0]
        rows.append([*row, *trend, float(c == last_t), float(c == q.user_id)])
    return ids, np.asarray(rows, dtype=np.float32).reshape(len(ids), cfg.cand_dim)


def query_features(q: TargetQuery, snap: TrendingSnapshot, rank: dict[str, int], cfg: TargetConfig,
                   inbound: Sequence[Inbound] = ()) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Candidate ids, candidate features (C, D) and user context (U,) of one query."""
    ids, x = candidates(q, snap, rank, cfg, inbound)
    ctx = user_context(q, snap) + (inbound_context(q, inbound) if cfg.reverse_edges else [])
    return ids, x, np.asarray(ctx, dtype=np.float32)


class TargetScorer(nn.Module):
    """Raw candidate features (B, C, D), user context (B, U), mask (B, C) -> logits (B, C) (-inf masked).

    Inputs are standardized with the training statistics (buffers, saved with the weights) and clipped;
    a linear term on the candidate plus an MLP over [candidate | user context]."""

    cand_mu: Tensor
    cand_sd: Tensor
    user_mu: Tensor
    user_sd: Tensor

    def __init__(self, cand_dim: int, user_dim: int, hidden: int) -> None:
        super().__init__()
        for name, dim in (("cand", cand_dim), ("user", user_dim)):
            self.register_buffer(f"{name}_mu", torch.zeros(dim))
            self.register_buffer(f"{name}_sd", torch.ones(dim))
        self.linear = nn.Linear(cand_dim, 1)
        self.mlp = nn.Sequential(nn.Linear(cand_dim + user_dim, hidden), nn.ReLU(), nn.Dropout(0.1),
                                 nn.Linear(hidden, 1))

    def set_norm(self, cand: np.ndarray, user: np.ndarray) -> None:
        """Standardization statistics from training rows: cand (N, D), user (M, U)."""
        for name, x in (("cand", cand), ("user", user)):
            getattr(self, f"{name}_mu").copy_(torch.from_numpy(x.mean(0)))
            getattr(self, f"{name}_sd").copy_(torch.from_numpy(np.maximum(x.std(0), 1e-3)))

    def forward(self, cand: Tensor, user: Tensor, mask: Tensor) -> Tensor:
        c = ((cand - self.cand_mu) / self.cand_sd).clamp(-CLIP, CLIP)
        u = ((user - self.user_mu) / self.user_sd).clamp(-CLIP, CLIP)
        ctx = u.unsqueeze(1).expand(-1, c.size(1), -1)  # (B, C, U)
        s = self.linear(c).squeeze(-1) + self.mlp(torch.cat([c, ctx], -1)).squeeze(-1)  # (B, C)
        return s.masked_fill(~mask, float("-inf"))


def pad(cands: Sequence[np.ndarray], users: Sequence[np.ndarray]) -> tuple[Tensor, Tensor, Tensor]:
    """Variable-length (C_i, D) candidates -> (B, C, D), user contexts (B, U), mask (B, C)."""
    c = max([len(x) for x in cands] + [1])
    d = cands[0].shape[1] if cands else 1
    out = np.zeros((len(cands), c, d), np.float32)
    mask = np.zeros((len(cands), c), bool)
    for i, x in enumerate(cands):
        out[i, : len(x)] = x
        mask[i, : len(x)] = True
    u = np.stack(users) if users else np.zeros((0, 1), np.float32)
    return torch.from_numpy(out), torch.from_numpy(u), torch.from_numpy(mask)


@torch.inference_mode()
def candidate_probs(scorer: TargetScorer, cands: Sequence[np.ndarray], users: Sequence[np.ndarray],
                    chunk: int = 512) -> list[np.ndarray]:
    """Softmax over each row's candidates: one (C_i,) array per row (empty rows give empty arrays)."""
    out: list[np.ndarray] = []
    for lo in range(0, len(cands), chunk):
        c, u, m = pad(cands[lo: lo + chunk], users[lo: lo + chunk])
        p = torch.softmax(scorer(c, u, m), -1).nan_to_num(0.0).numpy()
        out += [p[j, : len(x)] for j, x in enumerate(cands[lo: lo + chunk])]
    return out
