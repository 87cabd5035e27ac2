"""Behavior predictor CPU throughput: predictions/s at batch B, incremental step vs full-window re-encode.

Usage: python benchmarks/bench_models_behavior.py [--registry artifacts/registry] [--threads 2] [--batch 256]
Loads the registry's behavior champion (an untrained model of the default size if there is none) and
prints one JSON object. `bench(predictor, ...)` is importable for the benchmark suite.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.behavior.predictor import BehaviorPredictor, behavior_config
from seqsignal.models.core import registry
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.schemas.events import ACTION_TYPES


def _time(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Median wall seconds and median process CPU seconds of one call (after two warm-up calls).

    CPU time is what the call costs when it has its cores to itself (the dev box is shared)."""
    fn()
    fn()
    wall, cpu = [], []
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    return statistics.median(wall), statistics.median(cpu)


def _windows(batch: int, window: int, seed: int = 0) -> list[list[ActionRecord]]:
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(batch):
        ts = 1341300000 + np.cumsum(rng.exponential(600, window))
        ids = rng.choice(3, size=window, p=[0.6, 0.3, 0.1])
        out.append([ActionRecord(ACTION_TYPES[(1, 4, 3)[i]], float(t)) for i, t in zip(ids, ts, strict=True)])
    return out


def bench(pred: BehaviorPredictor, batch: int = 256, window: int = 64, horizon: int = 3,
          repeats: int = 20) -> dict[str, Any]:
    """Per-batch timings and rates; `speedup` = full re-encode of `window` actions / one incremental step."""
    wins = _windows(batch, window + 1)
    states = pred.encode_windows([w[:-1] for w in wins])  # (B, S)
    prev = np.array([w[-2].ts for w in wins])
    new = [w[-1] for w in wins]
    last = [w[-1] for w in wins]
    t_step = _time(lambda: pred.advance(states, prev, new), repeats)
    t_full = _time(lambda: pred.encode_windows([w[1:] for w in wins]), max(3, repeats // 4))
    t_pred = _time(lambda: pred.predict(states, last, horizon), repeats)
    t_beam = _time(lambda: pred.predict(states, last, horizon, beam_size=3), repeats)
    t_event = _time(lambda: pred.predict(pred.advance(states, prev, new), last, horizon), repeats)
    out: dict[str, Any] = {"batch": batch, "window": window, "horizon": horizon,
                           "threads": torch.get_num_threads(), "state_size": pred.state_size,
                           "model_version": pred.version}
    for i, clock in enumerate(("wall", "cpu")):
        out[clock] = {
            "incremental_step_ms": round(t_step[i] * 1e3, 3), "full_reencode_ms": round(t_full[i] * 1e3, 3),
            "incremental_speedup": round(t_full[i] / max(t_step[i], 1e-9), 1),
            "predict_greedy_per_s": round(batch / t_pred[i]), "predict_beam3_per_s": round(batch / t_beam[i]),
            "events_per_s_advance_plus_predict": round(batch / t_event[i]),
            "events_per_s_reencode_plus_predict": round(batch / (t_full[i] + t_pred[i])),
        }
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--registry", type=Path, default=Path("artifacts/registry"))
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--window", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if registry.champion(args.registry, "behavior"):
        pred = registry.load_predictor("behavior", args.registry)
    else:
        pred = BehaviorPredictor(Seq2Seq(behavior_config()), "untrained")
    with torch.inference_mode():
        print(json.dumps(bench(pred, args.batch, args.window, repeats=args.repeats)))


if __name__ == "__main__":
    main()
