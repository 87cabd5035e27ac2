"""Behavior features shared by the trainer and the worker: `ActionRecord` and per-step feature vectors."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from seqsignal.schemas.events import ACTION_TYPES, ActionType

ACTION_INDEX: dict[ActionType, int] = {a: i for i, a in enumerate(ACTION_TYPES)}
NUM_ACTIONS = len(ACTION_TYPES)
# columns: one-hot action (6) | log1p(gap s)/10 | no-previous flag | sin, cos hour of day | gap < 60 s
#          | the user's action-type shares so far, this action included (6) | log1p(actions so far)/5
NUM_FEATURES = NUM_ACTIONS + 5 + NUM_ACTIONS + 1
_DAY = 86400.0
_LOG_SCALE = 10.0  # log1p(a week in seconds) ~ 13.3, so the gap feature stays near [0, 1.4]


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action as the behavior model sees it: its type and unix time in seconds."""

    action: ActionType
    ts: float


def action_ids(actions: Sequence[ActionType]) -> np.ndarray:
    """Action types -> int64 indices into ACTION_TYPES."""
    return np.fromiter((ACTION_INDEX[a] for a in actions), dtype=np.int64, count=len(actions))


def features_from_arrays(ids: np.ndarray, ts: np.ndarray, prev_ts: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Vectorised features. ids, ts, prev_ts: (N,) (prev_ts NaN = no previous action); counts: (N, A) the
    user's action counts after this action -> (N, F) float32."""
    n = ids.shape[0]
    out = np.zeros((n, NUM_FEATURES), dtype=np.float32)  # (N, F)
    out[np.arange(n), ids] = 1.0
    has_prev = ~np.isnan(prev_ts)
    gap = np.where(has_prev, np.maximum(ts - np.where(has_prev, prev_ts, ts), 0.0), 0.0)  # (N,)
    out[:, NUM_ACTIONS] = np.log1p(gap) / _LOG_SCALE
    out[:, NUM_ACTIONS + 1] = ~has_prev
    angle = (np.mod(ts, _DAY) / _DAY) * 2.0 * math.pi  # hour of day (UTC) on a circle
    out[:, NUM_ACTIONS + 2] = np.sin(angle)
    out[:, NUM_ACTIONS + 3] = np.cos(angle)
    out[:, NUM_ACTIONS + 4] = has_prev & (gap < 60.0)  # bursts (same-minute actions) behave differently
    total = counts.sum(axis=1, keepdims=True)  # (N, 1)
    c0 = NUM_ACTIONS + 5
    out[:, c0: c0 + NUM_ACTIONS] = counts / np.maximum(total, 1.0)  # the user's habits, exactly
    out[:, c0 + NUM_ACTIONS] = np.log1p(total[:, 0]) / 5.0
    return out


def step_features(new: Sequence[ActionRecord], prev_ts: np.ndarray, counts: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One new action per row, given the previous action's time (NaN if none) and the user's counts so
    far (B, A) -> features (B, F) and the updated counts (B, A)."""
    ids = action_ids([r.action for r in new])
    ts = np.fromiter((r.ts for r in new), dtype=np.float64, count=len(new))
    after = np.asarray(counts, dtype=np.float32).copy()  # (B, A)
    after[np.arange(len(new)), ids] += 1.0
    return features_from_arrays(ids, ts, np.asarray(prev_ts, dtype=np.float64), after), after


def sequence_features(ids: np.ndarray, ts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Features of one user's sequence, oldest first -> (T, F), and the final counts (A,)."""
    prev = np.concatenate([[np.nan], ts[:-1]]) if len(ids) else ts
    onehot = np.zeros((len(ids), NUM_ACTIONS), dtype=np.float32)
    onehot[np.arange(len(ids)), ids] = 1.0
    counts = np.cumsum(onehot, axis=0)  # (T, A) counts after each action
    final = counts[-1] if len(ids) else np.zeros(NUM_ACTIONS, np.float32)
    return features_from_arrays(ids, ts, prev, counts), final


def window_features(window: Sequence[ActionRecord]) -> tuple[np.ndarray, np.ndarray]:
    """Features of a whole window -> (T, F) and its action counts (A,)."""
    ts = np.fromiter((r.ts for r in window), dtype=np.float64, count=len(window))
    return sequence_features(action_ids([r.action for r in window]), ts)


def padded_window_features(windows: Sequence[Sequence[ActionRecord]]
                           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-padded features (B, T, F), lengths (B,) and action counts (B, A) of a batch of windows."""
    lengths = np.array([len(w) for w in windows], dtype=np.int64)
    T = int(lengths.max()) if len(windows) else 0
    out = np.zeros((len(windows), max(T, 1), NUM_FEATURES), dtype=np.float32)  # (B, T, F)
    counts = np.zeros((len(windows), NUM_ACTIONS), dtype=np.float32)  # (B, A)
    for b, w in enumerate(windows):
        if len(w):
            out[b, : len(w)], counts[b] = window_features(w)
    return out, lengths, counts
