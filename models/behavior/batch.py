"""How the behavior model serves a batch: the cached-state byte format and the batched job runner.

The worker decides *when* a user's cached state is advanced and when the window is re-encoded (`UserJob`);
this module knows *how*: one encode call for the rebuilt windows (one more for per-event prefixes), one
advance call per step, one predict call.
"""

from __future__ import annotations

import numpy as np

from seqsignal.models.core.serving import ActionRecord, BehaviorModel, UserJob, UserResult

STATE_DTYPE = np.float32  # a cached state is its (S,) float32 row, native byte order, nothing else


def state_to_bytes(state: np.ndarray) -> bytes:
    """The bytes the worker caches for a (S,) state."""
    return np.asarray(state, dtype=STATE_DTYPE).tobytes()


def state_from_bytes(blob: bytes | None, state_size: int) -> np.ndarray | None:
    """A cached state (float32 bytes) as a (S,) array, or None when absent or of the wrong size."""
    if blob is None or len(blob) != np.dtype(STATE_DTYPE).itemsize * state_size:
        return None
    return np.frombuffer(blob, dtype=STATE_DTYPE).copy()


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
    results = [UserResult(states[i], jobs[i].state is None, []) for i in range(n)]
    for (i, _, last), out in zip(points, outputs, strict=True):
        results[i].predictions.append((last, out))
    return results
