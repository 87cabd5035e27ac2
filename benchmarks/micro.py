"""Model micro-benchmarks on CPU: predictions/s against batch size, incremental vs re-encode, beam."""

from __future__ import annotations

import functools
import random
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np
import torch

from benchmarks import fixtures
from seqsignal.models.behavior.features import ActionRecord
from seqsignal.schemas.events import ACTION_TYPES

WINDOW = 64  # WindowSettings.max_actions default
HORIZON = 3  # ModelSettings.behavior_horizon default


def per_call_s(fn: Callable[[], Any], min_s: float) -> float:
    """Seconds per call of fn, over a window of at least min_s (after one warm-up call)."""
    fn()
    n, t0 = 0, time.perf_counter()
    while True:
        fn()
        n += 1
        dt = time.perf_counter() - t0
        if dt >= min_s:
            return dt / n


def side_by_side(fns: dict[str, Callable[[], Any]], reps: int, min_s: float) -> dict[str, list[float]]:
    """Interleave the variants rep by rep (same noise for each), seconds per call of every rep."""
    out: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(reps):
        for name, fn in fns.items():
            out[name].append(per_call_s(fn, min_s))
    return out


def ratio(slow: list[float], fast: list[float]) -> float:
    """Median of per-rep ratios (each rep's pair ran back to back)."""
    return statistics.median(s / f for s, f in zip(slow, fast, strict=True))


def windows(batch: int, length: int, seed: int = 0) -> list[list[ActionRecord]]:
    """Synthetic windows with realistic gaps (feature cost does not depend on the values)."""
    rng = random.Random(seed)
    out = []
    for _ in range(batch):
        ts = 1_341_100_000.0
        w = []
        for _ in range(length):
            ts += rng.expovariate(1 / 600.0)
            w.append(ActionRecord(rng.choice(ACTION_TYPES), ts))
        out.append(w)
    return out


def behavior_bench(p: Any, sizes: list[int], reps: int, min_s: float) -> dict[str, Any]:
    """Per batch size: warm users (advance one step + greedy k=3) and cold users (re-encode 64 + decode)."""
    rows, rows_full = [], []
    for b in sizes:
        ws = windows(b, WINDOW + 1, seed=b)
        states = p.encode_windows([w[:-1] for w in ws])
        prev = np.array([w[-2].ts for w in ws])
        new, full = [w[-1] for w in ws], [w[1:] for w in ws]

        def warm(states: Any = states, prev: Any = prev, new: Any = new) -> Any:
            return p.predict(p.advance(states, prev, new), new, HORIZON)

        def cold(full: Any = full, new: Any = new) -> Any:
            return p.predict(p.encode_windows(full), new, HORIZON)

        t = side_by_side({"warm": warm, "cold": cold}, reps, min_s)
        rows.append({"batch": b, "predictions_per_s": round(b / statistics.median(t["warm"]))})
        rows_full.append({"batch": b, "predictions_per_s": round(b / statistics.median(t["cold"]))})
        print(f"[micro] behavior B={b}: incremental {rows[-1]['predictions_per_s']:,}/s, "
              f"re-encode {rows_full[-1]['predictions_per_s']:,}/s", file=sys.stderr)
    return {"incremental": rows, "full_reencode": rows_full}


def incremental_vs_full(p: Any, batch: int, reps: int, min_s: float) -> dict[str, Any]:
    """Encoder work only (advance one step vs encode the 64-action window), and with the decode added."""
    ws = windows(batch, WINDOW + 1, seed=7)
    states = p.encode_windows([w[:-1] for w in ws])
    prev = np.array([w[-2].ts for w in ws])
    new, full = [w[-1] for w in ws], [w[1:] for w in ws]
    enc = side_by_side({"full": lambda: p.encode_windows(full), "step": lambda: p.advance(states, prev, new)},
                       reps, min_s)
    both = side_by_side({"full": lambda: p.predict(p.encode_windows(full), new, HORIZON),
                         "step": lambda: p.predict(p.advance(states, prev, new), new, HORIZON)}, reps, min_s)
    # the incremental state equals the full re-encode (what makes the shortcut legal)
    max_diff = float(np.abs(p.advance(states, prev, new) - p.encode_windows(ws)).max())
    return {"batch": batch, "window": WINDOW,
            "encoder_ms": {k: round(1000 * statistics.median(v), 3) for k, v in enc.items()},
            "encoder_speedup": round(ratio(enc["full"], enc["step"]), 2),
            "with_decode_ms": {k: round(1000 * statistics.median(v), 3) for k, v in both.items()},
            "with_decode_speedup": round(ratio(both["full"], both["step"]), 2),
            "state_max_abs_diff": max_diff}


def new_users(p: Any, batch: int, reps: int, min_s: float) -> dict[str, Any]:
    """A user's first action (most users of a Higgs batch): today a packed re-encode of the 1-action window;
    the alternative is one `advance` from the zero state with prev_ts NaN, which gives the same state."""
    ws = windows(batch, 1, seed=11)
    zeros = np.zeros((batch, int(p.state_size)), dtype=np.float32)
    nan = np.full(batch, np.nan)
    first = [w[0] for w in ws]
    t = side_by_side({"reencode": lambda: p.encode_windows(ws),
                      "advance": lambda: p.advance(zeros, nan, first)}, reps, min_s)
    return {"batch": batch, "reencode_ms": round(1000 * statistics.median(t["reencode"]), 3),
            "advance_from_zero_ms": round(1000 * statistics.median(t["advance"]), 3),
            "speedup": round(ratio(t["reencode"], t["advance"]), 2),
            "state_max_abs_diff": float(np.abs(p.encode_windows(ws) - p.advance(zeros, nan, first)).max())}


def beam_vs_greedy(p: Any, batch: int, beam: int, reps: int, min_s: float) -> dict[str, Any]:
    ws = windows(batch, WINDOW, seed=3)
    states = p.encode_windows(ws)
    last = [w[-1] for w in ws]
    t = side_by_side({"greedy": lambda: p.predict(states, last, HORIZON, 1),
                      "beam": lambda: p.predict(states, last, HORIZON, beam)}, reps, min_s)
    return {"batch": batch, "beam_size": beam, "horizon": HORIZON,
            "greedy_per_s": round(batch / statistics.median(t["greedy"])),
            "beam_per_s": round(batch / statistics.median(t["beam"])),
            "beam_slowdown": round(ratio(t["beam"], t["greedy"]), 2)}


def text_bench(name: str, fn: Callable[[int], Any], sizes: list[int], reps: int, min_s: float
               ) -> list[dict[str, Any]]:
    rows = []
    for b in sizes:
        t = side_by_side({"x": functools.partial(fn, b)}, reps, min_s)["x"]
        rows.append({"batch": b, "predictions_per_s": round(b / statistics.median(t))})
        print(f"[micro] {name} B={b}: {rows[-1]['predictions_per_s']:,}/s", file=sys.stderr)
    return rows


def threads_compare(p: Any, sizes: list[int], reps: int, min_s: float) -> list[dict[str, Any]]:
    """The warm behavior path with 1 torch thread against torch's default (one per core), side by side."""
    default = torch.get_num_threads()
    rows = []
    for b in sizes:
        ws = windows(b, WINDOW + 1, seed=5)
        states, prev, new = p.encode_windows([w[:-1] for w in ws]), np.array([w[-2].ts for w in ws]), [
            w[-1] for w in ws]

        def at(n: int, states: Any = states, prev: Any = prev, new: Any = new) -> Callable[[], Any]:
            def fn() -> Any:
                torch.set_num_threads(n)
                return p.predict(p.advance(states, prev, new), new, HORIZON)
            return fn

        t = side_by_side({"one": at(1), "default": at(default)}, reps, min_s)
        rows.append({"batch": b, "default_threads": default,
                     "one_thread_per_s": round(b / statistics.median(t["one"])),
                     "default_threads_per_s": round(b / statistics.median(t["default"])),
                     "one_over_default": round(ratio(t["default"], t["one"]), 2)})
    torch.set_num_threads(default)
    return rows


def run(quick: bool) -> dict[str, Any]:
    """Every micro-benchmark at 1 torch thread (see threads_compare); quick: fewer sizes, shorter windows."""
    reps, min_s = (3, 0.2) if quick else (5, 0.5)
    p = fixtures.predictors()
    default_threads = torch.get_num_threads()
    thread_rows = threads_compare(p.behavior, [16, 1024] if quick else [1, 16, 256, 1024, 4096], reps, min_s)
    torch.set_num_threads(1)
    tw = [t.text for t in fixtures.tweets(2000)]
    posts = fixtures.threads(4600)
    roots = {q.post_id: q.text for q in posts if q.post_id == q.root_id}
    replies: dict[str, list[str]] = {r: [] for r in roots}
    for q in posts:
        if q.root_id in replies and q.post_id != q.root_id:
            replies[q.root_id].append(q.text)
    thread_list = list(roots)

    def sentiment(b: int) -> Any:
        return p.sentiment.predict([tw[i % len(tw)] for i in range(b)])

    def rumor(b: int) -> Any:
        ids = [thread_list[i % len(thread_list)] for i in range(b)]
        return p.rumor.score([roots[i] for i in ids], [replies[i] for i in ids])

    b_sizes = [1, 16, 256, 1024] if quick else [1, 4, 16, 64, 256, 1024, 4096]
    t_sizes = [1, 16, 128] if quick else [1, 8, 32, 128, 256]
    out: dict[str, Any] = {"torch_threads": 1, "threads_compare": thread_rows}
    out["behavior"] = behavior_bench(p.behavior, b_sizes, reps, min_s)
    out["incremental_vs_full"] = [incremental_vs_full(p.behavior, b, reps, min_s)
                                  for b in ([256] if quick else [64, 256, 1024])]
    out["new_users"] = new_users(p.behavior, 256, reps, min_s)
    out["beam_vs_greedy"] = beam_vs_greedy(p.behavior, 256, 4, reps, min_s)
    out["sentiment"] = text_bench("sentiment", sentiment, t_sizes, reps, min_s)
    out["rumor"] = text_bench("rumor", rumor, t_sizes, reps, min_s)
    from benchmarks import record_build  # imports this module's helpers

    out["records"] = record_build.run(256, reps, min_s)  # output records: pydantic vs dicts -> orjson
    torch.set_num_threads(default_threads)
    return out
