"""The worker's per-event cost under the bench's e2e drain: cProfile of its event-loop thread, summarised.

`python -m benchmarks.profile_worker [--backlog 8000] [--out benchmarks/results/profile-worker.txt]` starts
its own local stack when none answers, drains a Higgs backlog through `seqsignal worker` run under cProfile
(benchmarks/profiled_worker.py) and writes the top costs in microseconds per event. cProfile sees the
event-loop thread only (inference runs in a worker thread: its time comes from the worker's histograms) and
adds a per-call overhead, so Python-heavy paths look bigger than they are; compare runs, not absolutes.
"""

from __future__ import annotations

import argparse
import os
import pstats
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import e2e, fixtures

# label -> (file suffix, function) whose inclusive loop-thread time is that stage (coroutines: their steps)
STAGES: dict[str, tuple[str, str]] = {
    "batch processing (process_batch)": ("stream/agents.py", "process_batch"),
    "batch delivery (finish_batch)": ("stream/agents.py", "finish_batch"),
    "decode (codec)": ("pipelines/dead_letter.py", "decode_batch"),
    "window Lua call (loop side)": ("state/window_store.py", "append_actions"),
    "behavior plan": ("pipelines/actions.py", "plan_user"),
    "record build (_emit_user)": ("pipelines/actions.py", "_emit_user"),
    "  pydantic BehaviorPrediction": ("pipelines/actions.py", "behavior_record"),
    "  output_record (encode+headers)": ("pipelines/emitter.py", "output_record"),
    "  ce_headers (uuid5, isoformat)": ("pipelines/emitter.py", "ce_headers"),
    "  fast: behavior_body (dict)": ("pipelines/signal_json.py", "behavior_body"),
    "  fast: add_record (orjson+headers)": ("pipelines/signal_json.py", "add_record"),
    "  fast: headers (uuid5 via sha1)": ("pipelines/signal_json.py", "headers"),
    "states to bytes": ("behavior/predictor.py", "state_to_bytes"),
    "produce + acks (loop side)": ("pipelines/delivery.py", "deliver"),
    "raw_event (faust event -> RawEvent)": ("stream/agents.py", "raw_event"),
    "Redis round trips (redis_call, loop side)": ("pipelines/delivery.py", "redis_call"),
    "faust consumer fetch + drain": ("transport/consumer.py", "_drain_messages"),
    "faust on_message (conductor)": ("transport/conductor.py", "on_message"),
    "agent loop (consume)": ("stream/agents.py", "consume"),
}


def stage_rows(stats: pstats.Stats, events: int) -> list[tuple[str, float, int]]:
    """(label, inclusive us per event, calls) for every stage found in the profile."""
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]  # pstats keeps it untyped
    rows = []
    for label, (suffix, func) in STAGES.items():
        hits = [(v[1], v[3]) for (f, _, name), v in raw.items() if f.endswith(suffix) and name == func]
        if hits:
            rows.append((label, 1e6 * sum(h[1] for h in hits) / events, sum(h[0] for h in hits)))
    return rows


def summarise(path: Path, events: int, top: int = 30) -> str:
    """Stage table, then the top functions by self time and by inclusive time, in us per event."""
    stats = pstats.Stats(str(path))
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    lines = [f"events drained: {events} (per-event figures divide the whole run's loop-thread time by this)",
             "-- stages (inclusive, event-loop thread) --"]
    lines += [f"{us:9.1f} us/event  {n:>8} calls  {label}" for label, us, n in stage_rows(stats, events)]

    def fmt(key: Any, v: Any, col: int) -> str:
        f, line, name = key
        where = "/".join(Path(f).parts[-2:])
        return f"{1e6 * v[col] / events:9.1f} us/event  {v[1]:>8} calls  {name} ({where}:{line})"

    by_self = sorted(raw.items(), key=lambda kv: kv[1][2], reverse=True)[:top]
    by_incl = sorted(raw.items(), key=lambda kv: kv[1][3], reverse=True)[:top]
    lines += ["-- self time --"] + [fmt(k, v, 2) for k, v in by_self]
    lines += ["-- inclusive time --"] + [fmt(k, v, 3) for k, v in by_incl]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--backlog", type=int, default=8000)
    ap.add_argument("--out", type=Path, default=Path("benchmarks/results/profile-worker.txt"))
    args = ap.parse_args(argv)
    from seqsignal.commands.bench import stack_for_bench

    e2e.COMMANDS["worker_profiled"] = [sys.executable, "-m", "benchmarks.profiled_worker"]
    load_before = os.getloadavg()
    with stack_for_bench(True), tempfile.TemporaryDirectory(prefix="seqsignal-profile-") as tmp:
        e2e.wait_for_stack()
        prof = Path(tmp) / "worker.prof"
        os.environ["BENCH_PROFILE_OUT"] = str(prof)
        reg = fixtures.write_registry(Path(tmp) / "registry")
        res = e2e.run_case(e2e.Case("worker_profiled", backlog=args.backlog), reg, Path(tmp) / "logs")
        if not prof.exists():
            print(f"no profile written: {res}", file=sys.stderr)
            return 1
        head = [f"drain: {res.get('drain')}", f"worker stages (histograms): {res.get('stages')}",
                f"load average before {load_before[0]:.2f}, after {os.getloadavg()[0]:.2f}"]
        text = "\n".join(head) + "\n" + summarise(prof, args.backlog) + "\n"
        args.out.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(prof, args.out.with_suffix(".prof"))  # re-summarise with pstats later
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
