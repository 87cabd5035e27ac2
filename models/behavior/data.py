"""Behavior data: Higgs rows -> per-user action sequences and padded training batches (features shared)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from seqsignal.models.behavior.features import ACTION_INDEX, NUM_FEATURES, sequence_features
from seqsignal.models.datasets._common import default_data_dir
from seqsignal.models.datasets.higgs import HIGGS_REL, TYPE_TO_ACTION, iter_higgs

SPLIT_TS = datetime(2012, 7, 4, tzinfo=UTC).timestamp()  # train before, evaluate on 2012-07-04

Event = tuple[str, int, float]  # (user, action index, unix ts), time-ordered


def default_higgs_path() -> Path:
    return default_data_dir() / HIGGS_REL


def iter_events(path: str | Path | None = None, since: float | None = None,
                until: float | None = None) -> Iterator[Event]:
    """Merged Higgs events (one per tweet) in time order within [since, until)."""
    for user, _target, ts, typ in iter_higgs(path):
        if until is not None and ts >= until:
            break
        if since is not None and ts < since:
            continue
        yield str(user), ACTION_INDEX[TYPE_TO_ACTION[typ]], float(ts)


@dataclass
class UserSequences:
    """Each user's actions in time order: ids (N,) int64 and ts (N,) float64 per user."""

    users: list[str]
    ids: list[np.ndarray]
    ts: list[np.ndarray]


def group_by_user(events: Iterable[Event], min_len: int = 1) -> UserSequences:
    ids: defaultdict[str, list[int]] = defaultdict(list)
    ts: defaultdict[str, list[float]] = defaultdict(list)
    for u, a, t in events:
        ids[u].append(a)
        ts[u].append(t)
    users = [u for u in ids if len(ids[u]) >= min_len]
    return UserSequences(users, [np.asarray(ids[u], np.int64) for u in users],
                         [np.asarray(ts[u], np.float64) for u in users])


@dataclass
class Batch:
    """Users padded to T steps; targets[b, t] are the k actions after step t (-1 = none)."""

    feats: np.ndarray  # (B, T, F) float32
    lengths: np.ndarray  # (B,) int64
    targets: np.ndarray  # (B, T, k) int64, action indices, -1 = absent
    target_ts: np.ndarray  # (B, T) float64, time of the first target (inf = none)


def make_batches(seqs: UserSequences, horizon: int, max_tokens: int = 4096) -> list[Batch]:
    """Length-bucketed batches of whole user sequences (users with >= 2 actions)."""
    keep = (i for i in range(len(seqs.users)) if len(seqs.ids[i]) >= 2)
    order = sorted(keep, key=lambda i: len(seqs.ids[i]))
    batches: list[Batch] = []
    group: list[int] = []
    for i in [*order, -1]:
        if i >= 0 and (not group or (len(group) + 1) * len(seqs.ids[i]) <= max_tokens):
            group.append(i)
            continue
        if group:
            batches.append(_batch(seqs, group, horizon))
        group = [i]
    return batches


def _batch(seqs: UserSequences, group: list[int], horizon: int) -> Batch:
    T = max(len(seqs.ids[i]) for i in group)
    B = len(group)
    feats = np.zeros((B, T, NUM_FEATURES), np.float32)
    targets = np.full((B, T, horizon), -1, np.int64)
    target_ts = np.full((B, T), np.inf)
    lengths = np.zeros(B, np.int64)
    for b, i in enumerate(group):
        ids, ts = seqs.ids[i], seqs.ts[i]
        n = len(ids)
        lengths[b] = n
        feats[b, :n] = sequence_features(ids, ts)[0]
        for j in range(horizon):
            targets[b, : max(n - 1 - j, 0), j] = ids[1 + j:]
        target_ts[b, : n - 1] = ts[1:]
    return Batch(feats, lengths, targets, target_ts)
