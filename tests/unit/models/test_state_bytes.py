"""The compact cached behavior state: float16 hidden + varint counts, checked against float32 rebuilds."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from seqsignal.models.behavior.batch import COMPACT_TAG, state_from_bytes, state_to_bytes, states_to_bytes
from seqsignal.models.behavior.features import NUM_STATS, ActionRecord
from seqsignal.models.behavior.predictor import BehaviorPredictor, behavior_config
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.schemas.events import ACTION_TYPES

torch.set_num_threads(1)
HIDDEN_ATOL = 2.5e-4  # float16 of a GRU hidden in (-1, 1): <= 2**-12 absolute
PROB_ATOL = 2e-3  # stated tolerance: next-action probabilities from a cached float16 state vs float32


def _window(n: int, seed: int) -> list[ActionRecord]:
    rng = np.random.default_rng(seed)
    ts = 1341100000 + np.cumsum(rng.exponential(300, n))
    return [ActionRecord(ACTION_TYPES[int(rng.integers(6))], float(t)) for t in ts]


@pytest.fixture(scope="module")
def pred() -> BehaviorPredictor:
    torch.manual_seed(0)  # the served sizes (hidden 64): the bytes measured are the bytes stored
    return BehaviorPredictor(Seq2Seq(behavior_config(dropout=0.0)), "v-test")


def test_compact_round_trip_sizes_and_the_old_format(pred: BehaviorPredictor) -> None:
    hidden = pred.state_size - NUM_STATS
    state = pred.encode_windows([_window(64, 1)])[0]
    blob = state_to_bytes(state)
    assert blob[0] == COMPACT_TAG and len(blob) == 1 + 2 * hidden + NUM_STATS  # 64-action counts: 1 byte each
    back = state_from_bytes(blob, pred.state_size)
    assert back is not None and back.dtype == np.float32
    np.testing.assert_array_equal(back[hidden:], state[hidden:])  # counts exact
    assert np.abs(back[:hidden] - state[:hidden]).max() <= HIDDEN_ATOL
    old = state.astype(np.float32).tobytes()  # what workers cached before: read as it was
    np.testing.assert_array_equal(state_from_bytes(old, pred.state_size), state)
    assert state_from_bytes(blob[:-1], pred.state_size) is None  # a count short
    assert state_from_bytes(blob + b"\x01", pred.state_size) is None
    assert state_from_bytes(bytes([0]) + blob[1:], pred.state_size) is None  # not the tag


def test_large_counts_take_more_bytes_and_non_counts_stay_float32() -> None:
    row = np.zeros(64 + NUM_STATS, dtype=np.float32)
    row[64:] = [70_000, 129, 2**32 - 1] + [3] * (NUM_STATS - 3)
    back = state_from_bytes(state_to_bytes(row), row.shape[0])
    assert back is not None
    np.testing.assert_array_equal(back[64:].astype(np.int64), row[64:].astype(np.int64))
    row[64] = 0.5  # not a count: kept as float32, exactly
    assert len(state_to_bytes(row)) == 4 * row.shape[0]
    row[64] = -1.0
    assert len(state_to_bytes(row)) == 4 * row.shape[0]


def test_predictions_from_float16_states_within_tolerance(pred: BehaviorPredictor) -> None:
    """A state cached compactly and advanced step by step (rounded again at every step, as the worker
    caches it after each batch) predicts what the float32 rebuild predicts, within PROB_ATOL."""
    windows = [_window(n, seed) for seed, n in enumerate((1, 5, 17, 40, 64, 64, 33, 2))]
    exact = pred.encode_windows(windows)
    states = np.stack([pred.start_state() for _ in windows])
    prev = np.full(len(windows), np.nan)
    for t in range(max(len(w) for w in windows)):
        rows = [i for i, w in enumerate(windows) if len(w) > t]
        states[rows] = pred.advance(states[rows], prev[rows], [windows[i][t] for i in rows])
        prev[rows] = [windows[i][t].ts for i in rows]
        for i in rows:  # through the cache after every step
            cached = state_from_bytes(state_to_bytes(states[i]), pred.state_size)
            assert cached is not None
            states[i] = cached
    hidden = pred.state_size - NUM_STATS
    assert np.abs(states[:, :hidden] - exact[:, :hidden]).max() < 5e-3
    np.testing.assert_array_equal(states[:, hidden:], exact[:, hidden:])
    last = [w[-1] for w in windows]
    _, p16, _ = pred.predict_arrays(states, 3)
    _, p32, _ = pred.predict_arrays(exact, 3)
    i16 = [[a for a, _ in o.actions] for o in pred.predict(states, last, 3)]
    i32 = [[a for a, _ in o.actions] for o in pred.predict(exact, last, 3)]
    assert i16 == i32  # same greedy actions
    assert np.abs(p16 - p32).max() <= PROB_ATOL, np.abs(p16 - p32).max()


def test_batched_bytes_equal_the_per_state_bytes(pred: BehaviorPredictor) -> None:
    """`states_to_bytes` (what the batch runner caches) writes exactly what `state_to_bytes` writes per row,
    the unusual rows included (large counts, non-counts, negatives)."""
    states = pred.encode_windows([_window(n, seed) for seed, n in enumerate((1, 5, 64, 40, 3, 64))])
    hidden = pred.state_size - NUM_STATS
    states[3, hidden] = 70_000.0  # a varint of three bytes
    states[4, hidden] = 0.5  # not a count: float32
    states[5, hidden] = -1.0
    blobs = states_to_bytes(states)
    assert blobs == [state_to_bytes(r) for r in states]
    assert {len(b) for b in blobs[:3]} == {1 + 2 * hidden + NUM_STATS}
    assert len(blobs[4]) == 4 * pred.state_size
    assert states_to_bytes(states[:0]) == []
