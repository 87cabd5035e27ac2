"""Behavior features shared by the trainer and the worker: per-step feature vectors of `ActionRecord`s."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from seqsignal.models.core.serving import ActionRecord
from seqsignal.schemas.events import ACTION_TYPES, ActionType

ACTION_INDEX: dict[ActionType, int] = {a: i for i, a in enumerate(ACTION_TYPES)}
A = NUM_ACTIONS = len(ACTION_TYPES)
# Per-user running statistics kept next to the GRU state, exact however long the history:
# action counts (A) | transition counts prev -> next (A*A, row = prev) | last action index + 1 (0 = none)
NUM_STATS = A + A * A + 1
# Feature columns: one-hot action (A) | log1p(gap s)/10 | no-previous flag | sin, cos hour of day |
# gap < 60 s | the user's action shares so far (A, smoothed log) | log1p(actions so far)/5 |
# the user's own transition shares out of this action type (A, smoothed log) | log1p(transitions out of it)/5
NUM_FEATURES = A + 5 + A + 1 + A + 1
_DAY = 86400.0
_LOG_SCALE = 10.0  # log1p(a week in seconds) ~ 13.3, so the gap feature stays near [0, 1.4]


def action_ids(actions: Sequence[ActionType]) -> np.ndarray:
    """Action types -> int64 indices into ACTION_TYPES."""
    return np.fromiter((ACTION_INDEX[a] for a in actions), dtype=np.int64, count=len(actions))


def _shares(counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Log posterior-mean shares under a Dirichlet(0.5) prior, /5: near-uniform for a short history and sharp
    for a long one, so one linear weight fits both (raw shares make 1-action users look certain)."""
    total = counts.sum(axis=1, keepdims=True)  # (N, 1)
    return np.log((counts + 0.5) / (total + 0.5 * A)) / 5.0, np.log1p(total[:, 0]) / 5.0


def features_from_arrays(ids: np.ndarray, ts: np.ndarray, prev_ts: np.ndarray, stats: np.ndarray
                         ) -> np.ndarray:
    """Vectorised features. ids, ts, prev_ts: (N,) (prev_ts NaN = no previous action); stats: (N, NUM_STATS)
    the user's running statistics *after* this action -> (N, F) float32."""
    n = ids.shape[0]
    rows = np.arange(n)
    out = np.zeros((n, NUM_FEATURES), dtype=np.float32)  # (N, F)
    out[rows, ids] = 1.0
    has_prev = ~np.isnan(prev_ts)
    gap = np.where(has_prev, np.maximum(ts - np.where(has_prev, prev_ts, ts), 0.0), 0.0)  # (N,)
    out[:, A] = np.log1p(gap) / _LOG_SCALE
    out[:, A + 1] = ~has_prev
    angle = (np.mod(ts, _DAY) / _DAY) * 2.0 * math.pi  # hour of day (UTC) on a circle
    out[:, A + 2] = np.sin(angle)
    out[:, A + 3] = np.cos(angle)
    out[:, A + 4] = has_prev & (gap < 60.0)  # bursts (same-minute actions) behave differently
    c = A + 5
    out[:, c: c + A], out[:, c + A] = _shares(stats[:, :A])  # the user's habits
    trans_row = stats[:, A: A + A * A].reshape(n, A, A)[rows, ids]  # (N, A) the user's own next-given-this
    c += A + 1
    out[:, c: c + A], out[:, c + A] = _shares(trans_row)
    return out


def update_stats(stats: np.ndarray, ids: np.ndarray) -> np.ndarray:
    """Running statistics after one more action per row: stats (B, NUM_STATS), ids (B,) -> (B, NUM_STATS)."""
    after = np.asarray(stats, dtype=np.float32).copy()
    rows = np.arange(len(ids))
    after[rows, ids] += 1.0
    last = after[:, -1].astype(np.int64) - 1  # (B,) -1 = none
    has = last >= 0
    after[rows[has], A + last[has] * A + ids[has]] += 1.0
    after[:, -1] = ids + 1
    return after


def step_features(new: Sequence[ActionRecord], prev_ts: np.ndarray, stats: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One new action per row, given the previous action's time (NaN if none) and the user's statistics so
    far (B, NUM_STATS) -> features (B, F) and the updated statistics (B, NUM_STATS)."""
    ids = action_ids([r.action for r in new])
    ts = np.fromiter((r.ts for r in new), dtype=np.float64, count=len(new))
    after = update_stats(stats, ids)
    return features_from_arrays(ids, ts, np.asarray(prev_ts, dtype=np.float64), after), after


def sequence_stats(ids: np.ndarray) -> np.ndarray:
    """Running statistics after each action of one user's sequence -> (T, NUM_STATS), vectorised."""
    T = len(ids)
    ev = np.zeros((T, NUM_STATS), dtype=np.float32)  # per-step increments
    ev[np.arange(T), ids] = 1.0
    if T > 1:
        ev[np.arange(1, T), A + ids[:-1] * A + ids[1:]] = 1.0
    out = np.cumsum(ev, axis=0)  # (T, NUM_STATS)
    out[:, -1] = ids + 1
    return out


def sequence_features(ids: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of one user's sequence, oldest first -> (T, F), and the final statistics (NUM_STATS,)."""
    prev = np.concatenate([[np.nan], ts[:-1]]) if len(ids) else ts
    stats = sequence_stats(ids)
    final = stats[-1] if len(ids) else np.zeros(NUM_STATS, np.float32)
    return features_from_arrays(ids, ts, prev, stats), final


def window_features(window: Sequence[ActionRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Features of a whole window -> (T, F) and its final statistics (NUM_STATS,)."""
    ts = np.fromiter((r.ts for r in window), dtype=np.float64, count=len(window))
    return sequence_features(action_ids([r.action for r in window]), ts)


def padded_window_features(windows: Sequence[Sequence[ActionRecord]]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-padded features (B, T, F), lengths (B,) and final statistics (B, NUM_STATS) of windows.

    A per-window loop: measured faster than one segmented-cumsum pass over the batch (16 vs 23 ms CPU for
    256 windows of 64 actions)."""
    lengths = np.array([len(w) for w in windows], dtype=np.int64)
    T = int(lengths.max()) if len(windows) else 0
    out = np.zeros((len(windows), max(T, 1), NUM_FEATURES), dtype=np.float32)  # (B, T, F)
    stats = np.zeros((len(windows), NUM_STATS), dtype=np.float32)  # (B, NUM_STATS)
    for b, w in enumerate(windows):
        if len(w):
            out[b, : len(w)], stats[b] = window_features(w)
    return out, lengths, stats
