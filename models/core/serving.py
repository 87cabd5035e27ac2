"""The serving contract between `models` and `workers`: what every predictor offers, typed per task.

Workers load a predictor with `models.core.registry.load_predictor(task, registry_dir, version=None,
device="cpu", tier=None)` (the champion of a tier, or the named version; every file's sha256 verified, nothing
unpickled) and call only what is declared here. Both tiers of a task implement the same Protocol: `fast` (the
GRU Seq2Seq, the CPU default) and `quality` (a pretrained encoder with the GRU decoder, served with bf16 on
CUDA); the tier is a registry property (the version's manifest), not a predictor attribute the worker
needs. Every call is synchronous and batched, numpy in / numpy out; the worker runs it in its inference
thread under `torch.inference_mode`.

- Every predictor (`ServedModel`): `task` (one of `schemas.events.Task`), `version: str`, and `warm_up()`,
  one tiny call through the model that takes first-call latency off the serving path and fails early on a
  broken model. It is the only warm-up: the worker calls it once after each load, before serving.
- `BehaviorModel` (`models.behavior.predictor.BehaviorPredictor`): a user's state is a (S,) float32 row,
  S = `state_size`. `encode_windows(windows) -> (B, S)` re-encodes whole windows (`ActionRecord`s, oldest
  first); `advance(states, prev_ts, new) -> (B, S)` is one incremental step per row (prev_ts NaN: no
  previous action); `start_state()` is the state before any action, and advancing it over a window's actions
  gives the state `encode_windows` gives for that window; `predict(states, last, horizon, beam_size) ->
  list[BehaviorOutput]`. `run(jobs, horizon, beam_size)` does one batch of `UserJob`s (rebuild or advance,
  planned by the worker) with batched calls: one encode of the rebuilt windows (and one of their per-event
  prefixes), one advance per step, one predict. `state_to_bytes` /
  `state_from_bytes` are the byte format of a cached state (None when absent or of another size).
  Next interaction targets ("whom"), optional per version (`has_targets`): `new_trending()` gives a tracker
  of decayed target popularity (the worker keeps one per process and `observe`s every action with a target:
  per worker, approximate across partitions); `predict_targets(queries, trending, k)` ranks, per user, the
  targets of the user's window and the trending ones -> top-k (target id, probability).
- `SentimentModel`: `predict(texts) -> (B, 3)` probabilities in the order negative, neutral, positive.
- `RumorModel`: `score(sources, replies) -> (B,)` rumour probability of each thread (source text and its
  replies so far, earliest first); `decision_threshold` (the flag threshold chosen on the dev split at
  training time); `veracity(sources, replies) -> (B, 3)` P(true, false, unverified | rumour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

import numpy as np

from seqsignal.schemas.events import ActionType, Task


@dataclass(frozen=True, slots=True)
class ActionRecord:
    """One action as the behavior model sees it: its type and unix time in seconds."""

    action: ActionType
    ts: float


@dataclass(frozen=True, slots=True)
class BehaviorOutput:
    """Predicted next actions, each with its (conditional) probability, and the sequence's probability."""

    actions: list[tuple[ActionType, float]]
    sequence_probability: float


@dataclass
class UserJob:
    """One user's behavior work in a batch: re-encode `window` (state None) or advance `state` by `new`."""

    window: list[ActionRecord]  # the user's window after this batch, oldest first
    state: np.ndarray | None  # a valid cached encoder state (S,), or None to rebuild from the window
    prev_ts: float = math.nan  # ts of the action the cached state ends at (NaN: none)
    new: list[ActionRecord] = field(default_factory=list)  # actions to advance by, in order
    each_at: list[int] = field(default_factory=list)  # window indices to predict at besides the end


@dataclass
class UserResult:
    """Final encoder state of one user and its predictions: (last action, output) per prediction point."""

    state: np.ndarray
    rebuilt: bool
    predictions: list[tuple[ActionRecord, BehaviorOutput]]
    state_bytes: bytes | None = None  # `state` as the model caches it, when the batch runner encoded it


@dataclass(frozen=True, slots=True)
class TargetQuery:
    """What the target ranker sees of a user: its id, its window's targeted actions (target id, unix ts,
    action; oldest first, actions without a target left out) and the emission time (its latest action)."""

    user_id: str
    window: Sequence[tuple[str, float, ActionType]]
    now: float


@dataclass(frozen=True)
class TrendingSnapshot:
    """Trending targets at `ts`: the top ones (most popular first), decayed popularity of the most popular
    ones and the decayed total of all observed actions (popularity is used as a share of it)."""

    ts: float
    top: tuple[str, ...]
    pop: dict[str, float]
    total: float

    @property
    def rank(self) -> dict[str, int]:
        return {t: i for i, t in enumerate(self.top)}


class TrendingTracker(Protocol):
    """Decayed popularity of targets; a snapshot at most every refresh period of stream time."""

    def observe(self, target: str, ts: float) -> None:
        """Count one action on `target` at unix time `ts`."""

    def current(self, ts: float) -> TrendingSnapshot:
        """The snapshot to use at `ts` (refreshed when the period passed; it holds only observed actions)."""


class ServedModel(Protocol):
    """What every predictor offers."""

    @property
    def task(self) -> Task: ...

    @property
    def version(self) -> str: ...

    def warm_up(self) -> None:
        """One tiny call through the model (first-call latency off the serving path; fails early)."""


class BehaviorModel(ServedModel, Protocol):
    """A user's recent actions -> the next k actions, with an incrementally advanced per-user state."""

    @property
    def task(self) -> Literal["behavior"]: ...

    @property
    def state_size(self) -> int: ...

    def start_state(self) -> np.ndarray:
        """(S,) the state before any action; advancing it over a window equals encoding the window."""

    def encode_windows(self, windows: list[list[ActionRecord]]) -> np.ndarray:
        """Full re-encode of each window (oldest first) -> (B, S)."""

    def advance(self, states: np.ndarray, prev_ts: np.ndarray, new: list[ActionRecord]) -> np.ndarray:
        """One incremental encoder step per row -> (B, S); prev_ts (B,) is NaN where there is none."""

    def predict(
        self, states: np.ndarray, last: list[ActionRecord], horizon: int, beam_size: int = 1
    ) -> list[BehaviorOutput]:
        """Next `horizon` actions per state row; `last` is each row's latest action."""

    def run(self, jobs: list[UserJob], horizon: int, beam_size: int) -> list[UserResult]:
        """One batch of user jobs: final states and predictions, in job order."""

    def state_to_bytes(self, state: np.ndarray) -> bytes:
        """A (S,) state as the bytes the worker caches."""

    def state_from_bytes(self, blob: bytes | None) -> np.ndarray | None:
        """A cached state back as (S,), or None when absent or not a state of this model's size."""

    @property
    def has_targets(self) -> bool:
        """Whether this version ranks next interaction targets."""

    def new_trending(self) -> TrendingTracker:
        """An empty trending tracker with this version's settings (decay, list length, refresh)."""

    def predict_targets(
        self, queries: Sequence[TargetQuery], trending: TrendingSnapshot, k: int
    ) -> list[list[tuple[str, float]]]:
        """Top-k next targets per query with probabilities (empty lists when `has_targets` is False)."""


class SentimentModel(ServedModel, Protocol):
    """Post text -> (negative, neutral, positive) probabilities."""

    @property
    def task(self) -> Literal["sentiment"]: ...

    def predict(self, texts: Sequence[str]) -> np.ndarray:
        """(B, 3) probabilities in the order negative, neutral, positive."""


class RumorModel(ServedModel, Protocol):
    """A thread (source post and replies so far) -> rumour probability, flag threshold, veracity."""

    @property
    def task(self) -> Literal["rumor"]: ...

    @property
    def decision_threshold(self) -> float: ...

    def score(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B,) rumour probability of each thread."""

    def veracity(self, sources: Sequence[str], replies: Sequence[Sequence[str]]) -> np.ndarray:
        """(B, 3) P(true, false, unverified | rumour)."""


Predictor = BehaviorModel | SentimentModel | RumorModel
