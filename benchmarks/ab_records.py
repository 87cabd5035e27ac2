"""Worker end to end, old record path (pydantic per record) against the new (dicts -> orjson), interleaved.

`python -m benchmarks.ab_records OLD_TREE [--rounds 2] [--backlog 8000]`: OLD_TREE is an exported source tree
(e.g. HEAD with workers/pipelines/{actions,posts}.py from before the change); its worker runs with that tree
first on sys.path, the other with this checkout. Drain rates on the same stack, rounds alternating the order.
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


def old_worker(tree: Path) -> list[str]:
    code = (f"import sys; sys.path.insert(0, {str(tree)!r}); sys.argv = ['seqsignal', 'worker']; "
            "from seqsignal import cli; import seqsignal.workers.pipelines.actions as a; "
            f"assert a.__file__.startswith({str(tree)!r}), a.__file__; cli.main()")
    return [sys.executable, "-c", code]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("old_tree", type=Path)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--backlog", type=int, default=8000)
    args = ap.parse_args(argv)
    from seqsignal.commands.bench import stack_for_bench

    e2e.COMMANDS["worker_old"] = old_worker(args.old_tree.resolve())
    rows: list[dict[str, Any]] = []
    load = [os.getloadavg()[0]]
    with stack_for_bench(True), tempfile.TemporaryDirectory(prefix="seqsignal-ab-") as tmp:
        e2e.wait_for_stack()
        reg = fixtures.write_registry(Path(tmp) / "registry")
        for r in range(args.rounds):
            order = ["worker_old", "worker"] if r % 2 == 0 else ["worker", "worker_old"]
            for system in order:
                res = e2e.run_case(e2e.Case(system, backlog=args.backlog), reg, Path(tmp) / "logs")
                rows.append({"round": r, "system": system, **res.get("drain", {}),
                             "stages": res.get("stages"), "error": res.get("error")})
                load.append(os.getloadavg()[0])
    rate = {s: [x["events_per_s"] for x in rows if x["system"] == s and "events_per_s" in x]
            for s in ("worker_old", "worker")}
    ratios = [n / o for n, o in zip(rate["worker"], rate["worker_old"], strict=False) if o]
    out = {"rows": rows, "loadavg_1m": [round(x, 2) for x in load],
           "median_new_over_old": round(statistics.median(ratios), 3) if ratios else None}
    print(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
