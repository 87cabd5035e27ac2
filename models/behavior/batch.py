"""How the behavior model serves a batch: the cached-state byte format and the batched job runner.

The worker decides *when* a user's cached state is advanced and when the window is re-encoded (`UserJob`);
this module knows *how*: one encode call for the rebuilt windows (one more for per-event prefixes), one
advance call per step, one predict call.
"""

from __future__ import annotations

import numpy as np

from seqsignal.models.behavior.features import NUM_STATS
from seqsignal.models.core.serving import ActionRecord, BehaviorModel, UserJob, UserResult

STATE_DTYPE = np.float32  # a state in memory is its (S,) float32 row: [GRU hidden (H) | statistics]
# Cached bytes, compact (what state_to_bytes writes): tag, the hidden as float16 little-endian (2H bytes; the
# GRU hidden is in (-1, 1), so the rounding error is <= 2**-11 relative, <= 2.5e-4 absolute), then the
# statistics, integer counts, as LEB128 varints (1 byte each below 128: a 64-action window's counts fit).
# A state whose statistics are not integers in [0, 2**32) is cached as plain float32 (S * 4 bytes), the
# format before, which is still read.
COMPACT_TAG = 0xC1
_MAX_COUNT = 2**32 - 1


def _varints(values: np.ndarray) -> bytes:
    if int(values.max(initial=0)) < 128:
        return values.astype(np.uint8).tobytes()  # the usual case: one byte each
    out = bytearray()
    for v in values.tolist():
        while v >= 128:
            out.append((v & 127) | 128)
            v >>= 7
        out.append(v)
    return bytes(out)


def _read_varints(blob: bytes, n: int) -> list[int] | None:
    """n varints filling `blob` exactly, or None."""
    values: list[int] = []
    v = shift = 0
    for b in blob:
        v |= (b & 127) << shift
        if b < 128:
            values.append(v)
            v = shift = 0
        else:
            shift += 7
    return values if len(values) == n and shift == 0 else None


def state_to_bytes(state: np.ndarray) -> bytes:
    """The bytes the worker caches for a (S,) state: compact (float16 hidden, varint counts) when the
    statistics are integer counts, else plain float32."""
    row = np.asarray(state, dtype=STATE_DTYPE)
    stats = row[row.shape[0] - NUM_STATS:]
    counts = np.rint(stats)
    if row.shape[0] <= NUM_STATS or not np.array_equal(counts, stats) or counts.min(initial=0) < 0 \
            or counts.max(initial=0) > _MAX_COUNT:
        return row.tobytes()
    hidden = row[: row.shape[0] - NUM_STATS].astype("<f2")
    return bytes([COMPACT_TAG]) + hidden.tobytes() + _varints(counts.astype(np.int64))


def states_to_bytes(states: np.ndarray) -> list[bytes]:
    """`state_to_bytes` of every (S,) row of a (B, S) matrix, the same bytes, vectorised for the usual rows
    (integer counts below 128: one byte each); the others row by row."""
    rows = np.asarray(states, dtype=STATE_DTYPE)
    n, size = rows.shape
    if n == 0 or size <= NUM_STATS:
        return [state_to_bytes(r) for r in rows]
    stats = rows[:, size - NUM_STATS:]
    counts = np.rint(stats)
    usual = (counts == stats).all(axis=1) & (counts.min(axis=1) >= 0) & (counts.max(axis=1) < 128)
    packed = np.empty((n, 1 + 2 * (size - NUM_STATS) + NUM_STATS), dtype=np.uint8)
    packed[:, 0] = COMPACT_TAG
    packed[:, 1 : packed.shape[1] - NUM_STATS] = (
        np.ascontiguousarray(rows[:, : size - NUM_STATS].astype("<f2")).view(np.uint8)
    )
    packed[:, packed.shape[1] - NUM_STATS :] = np.where(usual[:, None], counts, 0).astype(np.uint8)
    return [packed[i].tobytes() if usual[i] else state_to_bytes(rows[i]) for i in range(n)]


def state_from_bytes(blob: bytes | None, state_size: int) -> np.ndarray | None:
    """A cached state as a (S,) float32 array (either format), or None when absent or not of this size."""
    if blob is None:
        return None
    if len(blob) == np.dtype(STATE_DTYPE).itemsize * state_size:
        return np.frombuffer(blob, dtype=STATE_DTYPE).copy()
    hidden = state_size - NUM_STATS
    if hidden <= 0 or len(blob) < 1 + 2 * hidden + NUM_STATS or blob[0] != COMPACT_TAG:
        return None
    counts = _read_varints(blob[1 + 2 * hidden:], NUM_STATS)
    if counts is None:
        return None
    out = np.empty(state_size, dtype=STATE_DTYPE)
    out[:hidden] = np.frombuffer(blob, dtype="<f2", count=hidden, offset=1)
    out[hidden:] = counts
    return out


def run_jobs(model: BehaviorModel, jobs: list[UserJob], horizon: int, beam_size: int) -> list[UserResult]:
    """All behavior work of one batch: batched encodes, one advance call per step and one predict call."""
    n = len(jobs)
    states = np.zeros((n, int(model.state_size)), dtype=STATE_DTYPE)  # (B, S)
    points: list[tuple[int, np.ndarray, ActionRecord]] = []
    rebuild = [i for i, j in enumerate(jobs) if j.state is None]
    if rebuild:
        states[rebuild] = model.encode_windows([jobs[i].window for i in rebuild])
        prefixes = [(i, p) for i in rebuild for p in jobs[i].each_at if 0 <= p < len(jobs[i].window) - 1]
        if prefixes:
            enc = model.encode_windows([jobs[i].window[: p + 1] for i, p in prefixes])
            points += [(i, enc[k], jobs[i].window[p]) for k, (i, p) in enumerate(prefixes)]
    advance = [i for i, j in enumerate(jobs) if j.state is not None]
    for i in advance:
        states[i] = jobs[i].state
    prev_ts = np.array([jobs[i].prev_ts for i in range(n)], dtype=np.float64)
    steps = max((len(jobs[i].new) for i in advance), default=0)
    for step in range(steps):
        rows = [i for i in advance if len(jobs[i].new) > step]
        new = [jobs[i].new[step] for i in rows]
        states[rows] = model.advance(states[rows], prev_ts[rows], new)
        prev_ts[rows] = [a.ts for a in new]
        points += [
            (i, states[i].copy(), jobs[i].new[step])
            for i in rows
            if jobs[i].each_at and step < len(jobs[i].new) - 1
        ]
    points += [(i, states[i], jobs[i].window[-1]) for i in range(n)]
    outputs = model.predict(np.stack([p[1] for p in points]), [p[2] for p in points], horizon, beam_size)
    blobs = states_to_bytes(states)  # here, in the inference thread and at once, not per user on the loop
    results = [UserResult(states[i], jobs[i].state is None, [], blobs[i]) for i in range(n)]
    for (i, _, last), out in zip(points, outputs, strict=True):
        results[i].predictions.append((last, out))
    return results
