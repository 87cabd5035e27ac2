"""Worker (or ceiling) end to end, an old source tree against this checkout, interleaved rounds on one stack.

`python -m benchmarks.ab_records OLD_TREE [--system worker|ceiling] [--rounds 4] [--backlog 8000]
[--paced-s 15 --rate 400]`: OLD_TREE is an exported source tree (e.g. `git archive HEAD | tar -x -C /tmp/old`
before a change); its worker (or faust ceiling) runs with that tree first on sys.path, the other with this
checkout. Each round drains the same backlog with
both (order alternating), then optionally paces events at a fixed rate (`--rate`; default half of each
one's own drain rate) for the latency. Reported: per-round drain rates and their ratios (new / old), the
median ratio, and with `--paced-s` the p50/p99 of each and the median p99 ratio (old / new: > 1 is better).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import e2e, fixtures


def old_command(tree: Path, system: str) -> list[str]:
    """`system` (worker | ceiling) run from `tree`, checked to import its code from there."""
    main = ("sys.argv = ['seqsignal', 'worker']; from seqsignal import cli; cli.main()" if system == "worker"
            else "import runpy; runpy.run_module('benchmarks.ceiling', run_name='__main__')")
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); import seqsignal.workers.stream.agents as a; "
            f"assert a.__file__.startswith({str(tree)!r}), a.__file__; {main}")
    return [sys.executable, "-c", code]


def _median_ratio(num: list[float], den: list[float]) -> float | None:
    ratios = [n / d for n, d in zip(num, den, strict=False) if d]
    return round(statistics.median(ratios), 3) if ratios else None


def summary(rows: list[dict[str, Any]], system: str = "worker") -> dict[str, Any]:
    """Per-system series (round order) and the medians of the per-round ratios."""
    old = f"{system}_old"

    def series(system: str, key: str, part: str) -> list[float]:
        return [x[part][key] for x in rows if x["system"] == system and key in (x.get(part) or {})]

    rate = {s: series(s, "events_per_s", "drain") for s in (old, system)}
    out: dict[str, Any] = {"drain_per_s": rate, "median_new_over_old": _median_ratio(rate[system], rate[old])}
    p99 = {s: series(s, "p99_ms", "paced") for s in (old, system)}
    if p99[system]:
        out["p50_ms"] = {s: series(s, "p50_ms", "paced") for s in (old, system)}
        out["p99_ms"] = p99
        out["median_p99_old_over_new"] = _median_ratio(p99[old], p99[system])
        out["paced_cpu_cores"] = {s: [x["paced"].get("cpu_cores") for x in rows
                                      if x["system"] == s and x["paced"]] for s in (old, system)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_tree", type=Path)
    ap.add_argument("--system", choices=("worker", "ceiling"), default="worker")
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--backlog", type=int, default=8000)
    ap.add_argument("--paced-s", type=float, default=0.0, help="seconds of paced sending (0: drain only)")
    ap.add_argument("--rate", type=float, default=None, help="paced events/s (default: half the drain)")
    args = ap.parse_args(argv)
    from seqsignal.commands.bench import stack_for_bench

    old = f"{args.system}_old"
    e2e.COMMANDS[old] = old_command(args.old_tree.resolve(), args.system)
    rows: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    with stack_for_bench(True), tempfile.TemporaryDirectory(prefix="seqsignal-ab-") as tmp:
        e2e.wait_for_stack()
        reg = fixtures.write_registry(Path(tmp) / "registry")
        for r in range(args.rounds):
            order = [old, args.system] if r % 2 == 0 else [args.system, old]
            for system in order:
                case = e2e.Case(system, backlog=args.backlog, paced_s=args.paced_s, rate=args.rate)
                res = e2e.run_case(case, reg, Path(tmp) / "logs")
                rows.append({"round": r, "system": system, "drain": res.get("drain", {}),
                             "paced": res.get("paced"), "stages": res.get("stages"),
                             "error": res.get("error")})
                load.append(os.getloadavg()[0])
    out = {"rows": rows, "loadavg_1m": [round(x, 2) for x in load], **summary(rows, args.system)}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
