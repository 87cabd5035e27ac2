"""Behavior predictor: a user's recent actions -> the next k actions with probabilities (serving API)."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Literal

import numpy as np
import torch

from seqsignal.models.behavior.batch import STATE_DTYPE, run_jobs, state_from_bytes, state_to_bytes
from seqsignal.models.behavior.features import (
    NUM_ACTIONS,
    NUM_FEATURES,
    NUM_STATS,
    padded_window_features,
    step_features,
)
from seqsignal.models.behavior.target_model import TargetRanker, load_ranker
from seqsignal.models.behavior.trending import Trending
from seqsignal.models.core.checkpoint import CONFIG, WEIGHTS, load_into
from seqsignal.models.core.registry import register_loader
from seqsignal.models.core.seq2seq import Seq2Seq, Seq2SeqConfig
from seqsignal.models.core.serving import (
    ActionRecord,
    BehaviorOutput,
    TargetQuery,
    TrendingSnapshot,
    TrendingTracker,
    UserJob,
    UserResult,
)
from seqsignal.schemas.events import ACTION_TYPES, ActionType

TASK: Final = "behavior"
BOS = 0  # decoder token ids: 0 = BOS, 1 + ACTION_INDEX[a] = action a
FEATURE_VERSION = 4  # bump when models.features changes meaning; loading checks it


def behavior_config(hidden_size: int = 64, emb_dim: int = 16, dropout: float = 0.1,
                    horizon: int = 3) -> Seq2SeqConfig:
    """The Seq2Seq config of the behavior model (one GRU layer: the served state is the encoder output)."""
    return Seq2SeqConfig(tgt_vocab_size=NUM_ACTIONS + 1, input_dim=NUM_FEATURES, hidden_size=hidden_size,
                         num_layers=1, emb_dim=emb_dim, dropout=dropout, bos_id=BOS, max_len=horizon,
                         never_emit=(BOS,))


class BehaviorPredictor:
    """The behavior model behind the serving contract (`models.core.serving.BehaviorModel`).

    A state row is [GRU hidden (H) | the user's running statistics (features.NUM_STATS)]: the statistics
    feed the habit features exactly, however long the history; the GRU carries order and timing. Both start
    at zero (h0 = 0, no counts), so advancing the zero state over a window equals encoding the window.
    """

    task: Literal["behavior"] = TASK

    def __init__(self, model: Seq2Seq, version: str, device: str = "cpu",
                 decision_bias: Sequence[float] | None = None, targets: TargetRanker | None = None) -> None:
        if model.config.num_layers != 1:
            raise ValueError("the behavior predictor serves one-layer encoders")
        self.model = model.to(device).eval()
        self.version = version
        self.device = torch.device(device)
        self.hidden_size = model.config.hidden_size
        self.state_size = self.hidden_size + NUM_STATS
        # (V,) added to log-probs when choosing actions (prior correction tuned on dev for macro-F1);
        # reported probabilities are the model's own
        self.bias = None if not decision_bias else torch.tensor(list(decision_bias), dtype=torch.float32,
                                                                device=self.device)
        self.targets = targets  # the next-target ranker (CPU; None in versions trained without one)

    @property
    def has_targets(self) -> bool:
        return self.targets is not None

    def new_trending(self) -> TrendingTracker:
        """An empty trending tracker with the ranker's settings (defaults without a ranker)."""
        return self.targets.new_trending() if self.targets else Trending()

    def predict_targets(self, queries: Sequence[TargetQuery], trending: TrendingSnapshot, k: int
                        ) -> list[list[tuple[str, float]]]:
        """Top-k next targets per query with probabilities (empty lists without a ranker)."""
        if self.targets is None:
            return [[] for _ in queries]
        with torch.inference_mode():
            return self.targets.predict(queries, trending, k)

    def _to_h(self, states: np.ndarray) -> torch.Tensor:
        """(B, S) states -> GRU hidden (1, B, H)."""
        h = np.ascontiguousarray(states[:, : self.hidden_size], dtype=np.float32)
        return torch.from_numpy(h).to(self.device).unsqueeze(0)  # (1, B, H)

    def start_state(self) -> np.ndarray:
        """(S,) the state before any action: advancing it over a window equals `encode_windows`."""
        return np.zeros(self.state_size, dtype=STATE_DTYPE)

    def state_to_bytes(self, state: np.ndarray) -> bytes:
        return state_to_bytes(state)

    def state_from_bytes(self, blob: bytes | None) -> np.ndarray | None:
        return state_from_bytes(blob, self.state_size)

    def run(self, jobs: list[UserJob], horizon: int, beam_size: int) -> list[UserResult]:
        """One batch of user jobs (see `batch.run_jobs`)."""
        return run_jobs(self, jobs, horizon, beam_size)

    def warm_up(self) -> None:
        """Encode, advance and predict one action (first-call latency off the serving path)."""
        now = [ActionRecord("post", time.time())]
        states = self.encode_windows([now])
        self.predict(self.advance(states, np.array([now[0].ts]), now), now, 1)
        trending = self.new_trending()
        trending.observe("0", now[0].ts)
        self.predict_targets([TargetQuery("1", [("0", now[0].ts, "reply")], now[0].ts)],
                             trending.current(now[0].ts), 1)

    @staticmethod
    def _state(h: torch.Tensor, stats: np.ndarray) -> np.ndarray:
        return np.concatenate([h[0].cpu().numpy(), stats.astype(np.float32)], axis=1)  # (B, S)

    @torch.inference_mode()
    def encode_windows(self, windows: list[list[ActionRecord]]) -> np.ndarray:
        """Full re-encode of each window (oldest first) -> (B, S); an empty window gives the zero state."""
        feats, lengths, stats = padded_window_features(windows)  # (B, T, F), (B,), (B, NUM_STATS)
        out = np.zeros((len(windows), self.state_size), dtype=np.float32)  # (B, S)
        nz = np.nonzero(lengths)[0]
        if len(nz):
            x = torch.from_numpy(feats[nz]).to(self.device)
            _, h = self.model.encode(x, torch.from_numpy(lengths[nz]))  # (1, B', H)
            out[nz] = self._state(h, stats[nz])
        return out

    @torch.inference_mode()
    def advance(self, states: np.ndarray, prev_ts: np.ndarray, new: list[ActionRecord]) -> np.ndarray:
        """One incremental encoder step per row; prev_ts (B,) is NaN where there is no previous action."""
        feats, stats = step_features(new, prev_ts, states[:, self.hidden_size:])  # (B, F), (B, NUM_STATS)
        h = self.model.encode_step(torch.from_numpy(feats).to(self.device), self._to_h(states))  # (1, B, H)
        return self._state(h, stats)  # (B, S)

    @torch.inference_mode()
    def predict_arrays(self, states: np.ndarray, horizon: int, beam_size: int = 1
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Action indices (B, k), per-step probabilities (B, k), sequence probabilities (B,)."""
        h = self._to_h(states)  # (L, B, H)
        if beam_size <= 1:
            d = self.model.greedy(h, horizon, bias=self.bias)
        else:
            d = self.model.beam_search(h, beam_size, horizon, bias=self.bias)
        return ((d.tokens - 1).cpu().numpy(), d.token_logprobs.exp().cpu().numpy(),
                d.seq_logprob.exp().cpu().numpy())

    def predict(self, states: np.ndarray, last: list[ActionRecord], horizon: int,
                beam_size: int = 1) -> list[BehaviorOutput]:
        """Next `horizon` actions per row. `last` (each row's latest action) is part of the interface; this
        model's state already holds it, so it is only checked for length."""
        if len(last) != len(states):
            raise ValueError(f"{len(last)} last actions for {len(states)} states")
        idx, probs, seq = self.predict_arrays(states, horizon, beam_size)
        return [BehaviorOutput([(ACTION_TYPES[i], p) for i, p in zip(row, prow, strict=True)], s)
                for row, prow, s in zip(idx.tolist(), probs.tolist(), seq.tolist(), strict=True)]

    @torch.inference_mode()
    def sequence_nll(self, states: np.ndarray, targets: np.ndarray) -> np.ndarray:
        """Teacher-forced NLL (nats) of observed next actions. targets: (B, k), -1 = absent -> (B, k)."""
        h = self._to_h(states)  # (L, B, H)
        tgt = torch.from_numpy(np.where(targets >= 0, targets + 1, -100)).to(self.device)  # (B, k)
        logits = self.model.decode_teacher(h, tgt)  # (B, k, V)
        logp = torch.log_softmax(logits, dim=-1).gather(2, tgt.clamp(min=0).unsqueeze(2)).squeeze(2)  # (B, k)
        return (-logp).masked_fill(tgt < 0, 0.0).cpu().numpy()


def config_dict(model: Seq2Seq, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """config.json of a behavior model: the Seq2Seq config plus what serving must check. A decision bias
    attached by `model_from_files` (or the trainer) travels on, so fine-tuned copies keep it."""
    out: dict[str, Any] = {"task": TASK, "feature_version": FEATURE_VERSION, "actions": list(ACTION_TYPES),
                           "seq2seq": model.config.to_dict()}
    bias = getattr(model, "decision_bias", None)
    if bias:
        out["decision_bias"] = [float(x) for x in bias]
    return out | (extra or {})


def model_from_files(config: dict[str, Any], weights: bytes, device: str = "cpu") -> Seq2Seq:
    if config.get("feature_version") != FEATURE_VERSION or config.get("actions") != list(ACTION_TYPES):
        raise ValueError("behavior checkpoint was trained with other features or action types")
    model = Seq2Seq(Seq2SeqConfig.from_dict(config["seq2seq"]))
    load_into(model, weights, device)
    attach_decision_bias(model, config.get("decision_bias"))
    return model.eval()


def attach_decision_bias(model: Seq2Seq, bias: Sequence[float] | None) -> None:
    """Attach the dev-tuned decision bias as a plain attribute (carried by deepcopy into fine-tuned copies,
    written back to config.json by `config_dict`)."""
    model.__dict__["decision_bias"] = [float(x) for x in bias] if bias else None


@register_loader(TASK)
def load(version_dir: Path, manifest: dict[str, Any], device: str = "cpu") -> BehaviorPredictor:
    """Registry loader (files already verified by the registry)."""
    config = json.loads((version_dir / CONFIG).read_text())
    model = model_from_files(config, (version_dir / WEIGHTS).read_bytes(), device)
    return BehaviorPredictor(model, str(manifest["version"]), device, config.get("decision_bias"),
                             load_ranker(version_dir))


def records(actions: Sequence[ActionType], ts: Sequence[float]) -> list[ActionRecord]:
    return [ActionRecord(a, float(t)) for a, t in zip(actions, ts, strict=True)]
