"""Trending targets: decayed popularity of the users acted on, bounded, snapshotted every `refresh_s` of
stream time. One class serves training, evaluation and the worker (which keeps one per process: per worker,
approximate across partitions)."""

from __future__ import annotations

import heapq
import math
from dataclasses import dataclass

from seqsignal.models.core.serving import TrendingSnapshot

EMPTY = TrendingSnapshot(-math.inf, (), {}, 1.0)


@dataclass(frozen=True)
class TrendingConfig:
    """Decay time constant, tracked targets (pruned to this many), list length, refresh period, kept pops."""

    tau_s: float = 3600.0
    cap: int = 2000
    top: int = 30
    refresh_s: float = 60.0
    keep: int = 200


class Trending:
    """Decayed counts per target (weights stored relative to a reference time, rebased now and then)."""

    def __init__(self, cfg: TrendingConfig | None = None) -> None:
        self.cfg = cfg or TrendingConfig()
        self.t0 = math.nan
        self.total = 0.0
        self.counts: dict[str, float] = {}
        self.last = EMPTY

    def _rebase(self, ts: float) -> None:
        f = math.exp(-(ts - self.t0) / self.cfg.tau_s)
        self.counts = {k: w * f for k, w in self.counts.items() if w * f > 1e-3}
        self.total *= f
        self.t0 = ts

    def observe(self, target: str, ts: float) -> None:
        """Count one action on `target` at unix time `ts`."""
        if math.isnan(self.t0):
            self.t0 = float(ts)
        if ts - self.t0 > 50 * self.cfg.tau_s:
            self._rebase(float(ts))
        w = math.exp(min(ts - self.t0, 50 * self.cfg.tau_s) / self.cfg.tau_s)
        self.total += w
        self.counts[target] = self.counts.get(target, 0.0) + w
        if len(self.counts) > 2 * self.cfg.cap:
            self.counts = dict(heapq.nlargest(self.cfg.cap, self.counts.items(), key=lambda kv: kv[1]))

    def snapshot(self, ts: float) -> TrendingSnapshot | None:
        """A new snapshot if `refresh_s` passed since the last one (it holds only what was observed)."""
        if ts - self.last.ts < self.cfg.refresh_s or not self.counts:
            return None
        f = math.exp(-(ts - self.t0) / self.cfg.tau_s)
        best = heapq.nlargest(self.cfg.keep, self.counts.items(), key=lambda kv: kv[1])
        top = tuple(k for k, _ in best[: self.cfg.top])
        self.last = TrendingSnapshot(float(ts), top, {k: w * f for k, w in best}, max(self.total * f, 1.0))
        return self.last

    def current(self, ts: float) -> TrendingSnapshot:
        """The snapshot to use at `ts` (refreshed first when due)."""
        self.snapshot(ts)
        return self.last
