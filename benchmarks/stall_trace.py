"""Where the paced events' latency goes: fetch, faust's stream and take buffer, the handler.

`python -m benchmarks.stall_trace [--rate 400] [--paced-s 15] [--backlog 4000]` runs the worker under
benchmarks/traced_worker.py (same e2e harness: backlog drain, then paced events) and splits each paced
event's time from its CreateTime to the acknowledgement of its batch's outputs into
fetch (CreateTime -> record turned into a faust message on the loop thread), buffer (-> handler start)
and handler (-> outputs acknowledged); prints percentiles of each and the split of the slowest 1 %, and the
generation-2 garbage collections over 10 ms (during the paced phase, and all).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import e2e, fixtures
from benchmarks.run import WARM_UP


def split(trace: Path, last: int) -> dict[str, Any]:
    """Percentiles (ms) of each stage over the `last` events traced (the paced phase)."""
    rows: list[tuple[float, float, float, float, int]] = []
    batches: list[dict[str, float]] = []  # each batch's size and where its handler time went (ms)
    pauses: list[tuple[float, float]] = []  # (at, ms) of generation-2 collections over 10 ms
    for line in trace.read_text().splitlines():
        b = json.loads(line)
        if "gc" in b:  # a collection over 10 ms (traced_worker._trace_gc); generation 2 is the long one
            pauses += [(b["at"], b["ms"])] if b["gc"] == 2 else []
            continue
        rows += [(c, a, b["start"], b["end"], len(batches)) for c, a in b["events"] if a is not None]
        batches.append({"size": len(b["events"]), "process_ms": 1000.0 * (b["processed"] - b["start"]),
                        "process_cpu_ms": 1000.0 * b.get("process_cpu", 0.0),
                        "wait_delivery_before_ms": 1000.0 * (b["deliver_start"] - b["processed"]),
                        "delivery_ms": 1000.0 * (b["end"] - b["deliver_start"])})
    rows.sort()
    ix = np.array([r[4] for r in rows[-last:]])  # each event's batch
    t = np.array([r[:4] for r in rows[-last:]]) * 1000.0  # (N, 4): created, arrived, start, end
    stages = {"fetch": t[:, 1] - t[:, 0], "buffer": t[:, 2] - t[:, 1], "handler": t[:, 3] - t[:, 2],
              "total": t[:, 3] - t[:, 0]}
    paced = sorted(ms for at, ms in pauses if at * 1000.0 >= t[0, 0])  # during the paced phase only
    out: dict[str, Any] = {"events": len(t), "gc2_pauses_paced_ms": paced[-10:],
                           "gc2_pauses_all_ms": sorted(ms for _, ms in pauses)[-10:]}
    for name, v in stages.items():
        p50, p99 = np.percentile(v, [50, 99])
        out[name] = {"p50_ms": round(float(p50), 1), "p99_ms": round(float(p99), 1),
                     "max_ms": round(float(v.max()), 1)}
    worst = stages["total"] >= np.percentile(stages["total"], 99)
    out["slowest_1pct_mean_ms"] = {k: round(float(v[worst].mean()), 1) for k, v in stages.items()}
    out["slowest_1pct_batches"] = _batch_means([batches[i] for i in set(ix[worst])])
    out["all_batches"] = _batch_means([batches[i] for i in set(ix)])
    return out


def _batch_means(rows: list[dict[str, float]]) -> dict[str, float]:
    """Mean size and handler split of the batches that held the given events (one count per batch)."""
    return {k: round(float(np.mean([r[k] for r in rows])), 1) for k in rows[0]} if rows else {}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rate", type=float, default=400.0)
    ap.add_argument("--paced-s", type=float, default=15.0)
    ap.add_argument("--backlog", type=int, default=4000)
    ap.add_argument("--keep-trace", type=Path, default=None, help="copy the raw trace (JSON lines) here")
    args = ap.parse_args(argv)
    from seqsignal.commands.bench import stack_for_bench

    e2e.COMMANDS["worker_traced"] = [sys.executable, "-m", "benchmarks.traced_worker"]
    with stack_for_bench(True), tempfile.TemporaryDirectory(prefix="seqsignal-trace-") as tmp:
        e2e.wait_for_stack()
        trace = Path(tmp) / "trace.jsonl"
        os.environ["BENCH_TRACE_OUT"] = str(trace)
        reg = fixtures.write_registry(Path(tmp) / "registry")
        for c in WARM_UP:  # the bench's warm-up: a broker past its JIT warm-up
            e2e.run_case(c, reg, Path(tmp) / "logs")
        case = e2e.Case("worker_traced", backlog=args.backlog, paced_s=args.paced_s, rate=args.rate)
        res = e2e.run_case(case, reg, Path(tmp) / "logs")
        out = {"loadavg_1m": round(os.getloadavg()[0], 2), "paced": res.get("paced"),
               "split": split(trace, int(args.rate * args.paced_s))}
        if args.keep_trace is not None:
            shutil.copyfile(trace, args.keep_trace)
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
