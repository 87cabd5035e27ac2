"""GPU inference benchmark (behavior step + greedy decode, sentiment) on CUDA vs CPU; needs only torch.

Self-contained on purpose: it runs on a machine that has a copy of the tree but not the project's venv, so it
loads the project's `models/core/seq2seq.py` by file path (torch is its only dependency) and builds untrained
models with the served configs (throughput does not depend on training). Prints one JSON object and
writes it to $OUT/gpu_bench.json when $OUT is set.

    python3 benchmarks/gpu_bench.py                  # CUDA modes + the CPU reference, < 8 minutes
    python3 benchmarks/gpu_bench.py --device cpu --quick
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

ROOT = Path(__file__).resolve().parent.parent
NUM_FEATURES, NUM_ACTIONS, HORIZON = 25, 6, 3  # models.features.NUM_FEATURES (a unit test checks), actions, k
BUDGET_S = 420.0  # stop starting new modes after this (the whole script stays under 8 minutes)


def load_seq2seq() -> Any:
    """The project's Seq2Seq module, loaded from models/core/seq2seq.py without the installed package."""
    path = ROOT / "models" / "core" / "seq2seq.py"
    spec = importlib.util.spec_from_file_location("seqsignal_seq2seq", path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


S2S = load_seq2seq()


def behavior_model() -> Any:
    """models.behavior.behavior_config() defaults: hidden 64, emb 16, one layer, 7 target ids."""
    cfg = S2S.Seq2SeqConfig(tgt_vocab_size=NUM_ACTIONS + 1, input_dim=NUM_FEATURES, hidden_size=64,
                            num_layers=1, emb_dim=16, dropout=0.0, bos_id=0, max_len=HORIZON, never_emit=(0,))
    return S2S.Seq2Seq(cfg).eval()


def sentiment_model(vocab: int = 8000) -> Any:
    """models.text_encoder.TextModelConfig defaults: emb 128, hidden 256, Luong attention, 4 target ids."""
    cfg = S2S.Seq2SeqConfig(tgt_vocab_size=4, hidden_size=256, src_vocab_size=vocab, emb_dim=128,
                            attention="luong", dropout=0.0, bos_id=0, max_len=1, never_emit=(0,))
    return S2S.Seq2Seq(cfg).eval()


def behavior_fn(model: Any) -> Callable[[torch.Tensor, torch.Tensor], tuple[torch.Tensor, ...]]:
    """(feats (B, F), h (1, B, H)) -> new state, next-k actions and their probabilities (the hot path)."""

    def fn(feats: torch.Tensor, h: torch.Tensor) -> tuple[torch.Tensor, ...]:
        h2 = model.encode_step(feats, h)  # (1, B, H)
        d = model.greedy(h2, HORIZON)  # tokens (B, k)
        return h2.float(), d.tokens, d.token_logprobs.float().exp()

    return fn


def sentiment_fn(model: Any) -> Callable[[torch.Tensor], tuple[torch.Tensor, ...]]:
    """ids (B, T), every row full length (a fixed-shape bucket) -> (B, 3) label probabilities."""

    def fn(ids: torch.Tensor) -> tuple[torch.Tensor, ...]:
        mem, h = model.encode(ids)  # (B, T, H), (1, B, H)
        y0 = torch.zeros(ids.size(0), dtype=torch.long, device=ids.device)
        logits, _ = model.decode_step(y0, h, mem, None)  # (B, V)
        return (torch.softmax(logits[:, 1:].float(), dim=1),)

    return fn


class Runner:
    """One timed configuration: host inputs -> (pinned) copy -> model -> copy back, or a CUDA graph of it."""

    def __init__(self, fn: Callable[..., tuple[torch.Tensor, ...]], host_inputs: list[torch.Tensor],
                 device: str, bf16: bool, graph: bool, pinned: bool, xfer: bool = True) -> None:
        self.fn, self.device, self.bf16, self.graph, self.xfer = fn, device, bf16, graph, xfer
        self.host = [t.pin_memory() if pinned else t for t in host_inputs]
        self.dev = [t.to(device) for t in self.host]
        self.pinned = pinned
        self.out_host: list[torch.Tensor] | None = None
        self.g: Any = None
        self.static_out: tuple[torch.Tensor, ...] = ()

    def _compute(self) -> tuple[torch.Tensor, ...]:
        with torch.inference_mode():
            if self.bf16:
                dev = "cuda" if self.device.startswith("cuda") else "cpu"
                with torch.autocast(dev, dtype=torch.bfloat16, cache_enabled=not self.graph):
                    return self.fn(*self.dev)
            return self.fn(*self.dev)

    def setup(self) -> None:
        if not self.graph:
            return
        s = torch.cuda.Stream()
        s.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(s):
            for _ in range(3):
                self._compute()
        torch.cuda.current_stream().wait_stream(s)
        self.g = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.g):
            self.static_out = self._compute()

    def step(self) -> tuple[torch.Tensor, ...]:
        if self.device != "cpu" and self.xfer:
            for h, d in zip(self.host, self.dev, strict=True):
                d.copy_(h, non_blocking=self.pinned)
        if self.g is not None:
            self.g.replay()
            out = self.static_out
        else:
            out = self._compute()
        if self.device == "cpu":
            return out
        if not self.xfer:  # device-only: what the transfers cost is the difference to the pinned row
            torch.cuda.synchronize()
            return out
        if self.out_host is None:
            self.out_host = [torch.empty(o.shape, dtype=o.dtype, pin_memory=self.pinned) for o in out]
        for o, hst in zip(out, self.out_host, strict=True):
            hst.copy_(o, non_blocking=self.pinned)
        torch.cuda.synchronize()
        return tuple(self.out_host)


def time_runner(r: Runner, batch: int, min_s: float, reps: int) -> dict[str, Any]:
    """Median over `reps` windows of at least min_s each (the machine is noisy; medians, not means)."""
    r.setup()
    for _ in range(3):
        r.step()
    rates = []
    for _ in range(reps):
        n, t0 = 0, time.perf_counter()
        while True:
            r.step()
            n += 1
            dt = time.perf_counter() - t0
            if dt >= min_s:
                break
        rates.append(n * batch / dt)
    med = statistics.median(rates)
    return {"batch": batch, "predictions_per_s": round(med), "ms_per_batch": round(1000 * batch / med, 3),
            "spread": round((max(rates) - min(rates)) / med, 3)}


def behavior_inputs(batch: int, seed: int = 0) -> list[torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return [torch.rand(batch, NUM_FEATURES, generator=g), torch.randn(1, batch, 64, generator=g) * 0.5]


def check_equal(model: Any, make_fn: Callable[[Any], Any], inputs: list[torch.Tensor], device: str
                ) -> dict[str, Any]:
    """CUDA fp32 vs bf16 vs graph on one batch against the CPU fp32 result (tokens agree, max |dp|)."""
    ref = Runner(make_fn(copy.deepcopy(model).to("cpu")), inputs, "cpu", False, False, False).step()
    fn = make_fn(model.to(device))
    out: dict[str, Any] = {}
    modes = [("fp32", False, False), ("bf16", True, False)]
    modes += [("bf16_graph", True, True)] if device != "cpu" else []
    for name, bf16, graph in modes:
        r = Runner(fn, inputs, device, bf16, graph, device != "cpu")
        r.setup()
        got = r.step()
        probs = got[-1].float()
        out[name] = {"max_abs_prob_diff": float((probs - ref[-1].float()).abs().max())}
        if len(got) == 3:
            out[name]["token_agreement"] = float((got[1] == ref[1]).float().mean())
    return out


def autocast_dtypes(device: str) -> dict[str, str]:
    """The dtypes under the worker's bf16 autocast: BehaviorPredictor._state turns the state into numpy."""
    m = behavior_model().to(device)
    feats, h = (t.to(device) for t in behavior_inputs(8))
    x, lengths = torch.rand(8, 5, NUM_FEATURES, device=device), torch.tensor([5, 4, 3, 2, 1, 5, 5, 1])
    out: dict[str, str] = {}
    with torch.inference_mode(), torch.autocast(device, dtype=torch.bfloat16):
        states = {"encode_step": m.encode_step(feats, h), "encode_packed": m.encode(x, lengths)[1]}
        out["greedy_logprobs"] = str(m.greedy(states["encode_step"], HORIZON).token_logprobs.dtype)
    for name, st in states.items():
        out[name] = str(st.dtype)
        try:
            st[0].cpu().numpy()
            out[f"{name}_to_numpy"] = "ok"
        except Exception as exc:  # what BehaviorPredictor._state does with the state
            out[f"{name}_to_numpy"] = f"{type(exc).__name__}: {exc}"[:120]
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--quick", action="store_true", help="small batches, short windows (a smoke test)")
    ap.add_argument("--out", default=None, help="JSON path (default $OUT/gpu_bench.json when $OUT is set)")
    args = ap.parse_args()
    start = time.perf_counter()
    cuda = args.device != "cpu" and torch.cuda.is_available()
    if args.device == "cuda" and not cuda:
        print("CUDA requested but torch.cuda.is_available() is False", file=sys.stderr)
        return 2
    torch.manual_seed(0)
    min_s, reps = (0.2, 3) if args.quick else (0.6, 5)
    result = header(cuda, args.quick)
    beh, sen = behavior_model(), sentiment_model()
    b_sizes_gpu = [4096, 16384] if args.quick else [4096, 16384, 65536, 131072]
    b_sizes_cpu = [256, 4096] if args.quick else [256, 4096, 16384]
    s_sizes_gpu = [256, 1024] if args.quick else [256, 1024, 4096]
    s_sizes_cpu = [64, 256]
    seq_len = 48

    def run(kind: str, model: Any, make_fn: Callable[[Any], Any],
            make_inputs: Callable[[int], list[torch.Tensor]], device: str, sizes: list[int],
            modes: list[tuple[str, bool, bool, bool]]) -> None:
        m = model.to(device)
        fn = make_fn(m)
        for mode, bf16, graph, pinned in modes:
            for b in sizes:
                if time.perf_counter() - start > BUDGET_S:
                    result["errors"].append(f"{kind}/{mode}/{b}: skipped, time budget spent")
                    continue
                try:
                    xfer = "device_only" not in mode
                    runner = Runner(fn, make_inputs(b), device, bf16, graph, pinned, xfer)
                    row = time_runner(runner, b, min_s, reps)
                    row.update(device=device, mode=mode)
                    result[kind].append(row)
                    print(f"{kind:9s} {device:4s} {mode:28s} B={b:6d} {row['predictions_per_s']:>12,} /s",
                          file=sys.stderr)
                except Exception as exc:  # one failing mode (e.g. capture) must not lose the others
                    result["errors"].append(f"{kind}/{mode}/{b}: {type(exc).__name__}: {exc}"[:300])
                if cuda:
                    torch.cuda.empty_cache()
        model.to("cpu")

    cpu_modes = [("cpu_fp32", False, False, False)]
    gpu_modes = [("cuda_fp32_pageable", False, False, False), ("cuda_fp32_pinned", False, False, True),
                 ("cuda_bf16_pinned", True, False, True), ("cuda_bf16_graph_pinned", True, True, True),
                 ("cuda_bf16_graph_device_only", True, True, True)]
    tok = lambda b: [torch.randint(3, 8000, (b, seq_len))]  # noqa: E731
    run("behavior", beh, behavior_fn, behavior_inputs, "cpu", b_sizes_cpu, cpu_modes)
    run("sentiment", sen, sentiment_fn, tok, "cpu", s_sizes_cpu, cpu_modes)
    if cuda:
        run("behavior", beh, behavior_fn, behavior_inputs, "cuda", b_sizes_gpu, gpu_modes)
        run("sentiment", sen, sentiment_fn, tok, "cuda", s_sizes_gpu, gpu_modes)
    agreement(result, beh, sen, tok(256), "cuda" if cuda else "cpu")
    result["summary"] = summary(result, cuda)
    result["wall_s"] = round(time.perf_counter() - start, 1)
    write(result, args.out)
    return 0


def header(cuda: bool, quick: bool) -> dict[str, Any]:
    """The result's machine description and empty row lists (turns cuDNN autotuning on under CUDA)."""
    result: dict[str, Any] = {
        "python": sys.executable, "python_version": platform.python_version(), "torch": torch.__version__,
        "cpu_threads": torch.get_num_threads(), "cpu": platform.processor() or platform.machine(),
        "device": torch.cuda.get_device_name(0) if cuda else "cpu", "quick": quick,
        "behavior": [], "sentiment": [], "errors": [],
    }
    if cuda:
        torch.backends.cudnn.benchmark = True
        result["cuda"] = torch.version.cuda
    return result


def agreement(result: dict[str, Any], beh: Any, sen: Any, tokens: list[torch.Tensor], dev: str) -> None:
    """Autocast dtypes, and bf16 (and graphs) against CPU fp32 on one batch: how much the fast paths change
    the answers. Failures are recorded in `errors`, never raised."""
    try:
        result["autocast_dtypes"] = autocast_dtypes(dev)
    except Exception as exc:
        result["errors"].append(f"autocast_dtypes: {type(exc).__name__}: {exc}"[:300])
    try:
        result["behavior_agreement"] = check_equal(beh, behavior_fn, behavior_inputs(4096, 1), dev)
        result["sentiment_agreement"] = check_equal(sen, sentiment_fn, tokens, dev)
    except Exception as exc:
        result["errors"].append(f"agreement: {type(exc).__name__}: {exc}"[:300])


def summary(result: dict[str, Any], cuda: bool) -> dict[str, Any]:
    """Best rate per model and device (transfers included: device-only rows are reported, never the
    headline), CUDA over CPU, and the behavior 1M predictions/s target."""
    def best(kind: str, prefix: str) -> int:
        return max((r["predictions_per_s"] for r in result[kind]
                    if r["mode"].startswith(prefix) and "device_only" not in r["mode"]), default=0)

    s: dict[str, Any] = {"behavior_target_1M_met": best("behavior", "cuda") >= 1_000_000 if cuda else None}
    for kind in ("behavior", "sentiment"):
        gpu, cpu = best(kind, "cuda"), best(kind, "cpu")
        s[f"{kind}_best_cuda_per_s"], s[f"{kind}_best_cpu_per_s"] = gpu, cpu
        s[f"{kind}_cuda_over_cpu"] = round(gpu / cpu, 1) if gpu and cpu else None
    return s


def write(result: dict[str, Any], out: str | None) -> None:
    """The result as one JSON line on stdout, and indented to `out` (default $OUT/gpu_bench.json)."""
    print(json.dumps(result))
    out = out or (str(Path(os.environ["OUT"]) / "gpu_bench.json") if os.environ.get("OUT") else None)
    if out:
        Path(out).parent.mkdir(parents=True, exist_ok=True)
        Path(out).write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    sys.exit(main())
