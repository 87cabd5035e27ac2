"""Markdown tables of a bench result JSON (for docs/benchmarks.md): `python -m benchmarks.report FILE`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def _row(cells: list[Any]) -> str:
    def fmt(c: Any) -> str:
        if c is None:
            return ""
        return f"{c:,}" if isinstance(c, int) and not isinstance(c, bool) else str(c)

    return "| " + " | ".join(fmt(c) for c in cells) + " |"


def e2e_table(cases: list[dict[str, Any]]) -> list[str]:
    out = [_row(["system", "round", "stream", "batch max/wait", "torch threads", "drain events/s",
                 "mean batch", "offered/s", "p50 ms", "p95 ms", "p99 ms", "peak RSS MiB"]),
           _row(["---"] * 12)]
    for c in cases:
        d, p = c.get("drain", {}), c.get("paced", {})
        out.append(_row([c["system"], c.get("round", 0), c["stream"], f"{c['max_size']}/{c['max_wait_s']}s",
                         c.get("torch_threads") if c.get("torch_threads") is not None else "default",
                         d.get("events_per_s"), c.get("stages", {}).get("mean_batch_size"),
                         p.get("offered_per_s"), p.get("p50_ms"), p.get("p95_ms"), p.get("p99_ms"),
                         c.get("peak_rss_mb")]))
    return out


def stages_table(cases: list[dict[str, Any]]) -> list[str]:
    keys = ["batch_ms", "inference_ms", "redis_append_ms", "delivery_ms", "redis_put_states_ms",
            "max_batch_gap_ms"]
    out = [_row(["worker (actions)", "mean batch", *keys]), _row(["---"] * (2 + len(keys)))]
    for c in cases:
        st = c.get("stages", {})
        if c["system"].startswith("worker") and c["stream"] == "actions" and st:
            threads = c.get("torch_threads") if c.get("torch_threads") is not None else "default"
            label = f"{c['max_size']}/{c['max_wait_s']}s, threads {threads}"
            out.append(_row([label, st.get("mean_batch_size"), *[st.get(k) for k in keys]]))
    return out


def micro_tables(m: dict[str, Any]) -> list[str]:
    out = [_row(["batch", "behavior incremental /s", "behavior re-encode 64 /s"]), _row(["---"] * 3)]
    for inc, full in zip(m["behavior"]["incremental"], m["behavior"]["full_reencode"], strict=True):
        out.append(_row([inc["batch"], inc["predictions_per_s"], full["predictions_per_s"]]))
    out += ["", _row(["batch", "sentiment /s", "rumor /s"]), _row(["---"] * 3)]
    for s, r in zip(m["sentiment"], m["rumor"], strict=True):
        out.append(_row([s["batch"], s["predictions_per_s"], r["predictions_per_s"]]))
    out += ["", _row(["batch", "encoder: re-encode 64 ms", "encoder: one step ms", "speedup",
                      "with greedy k=3: speedup", "state max diff"]), _row(["---"] * 6)]
    for r in m["incremental_vs_full"]:
        out.append(_row([r["batch"], r["encoder_ms"]["full"], r["encoder_ms"]["step"], r["encoder_speedup"],
                         r["with_decode_speedup"], r["state_max_abs_diff"]]))
    if "new_users" in m:
        n = m["new_users"]
        out += ["", f"New users (1-action window, batch {n['batch']}): re-encode {n['reencode_ms']} ms, "
                f"advance from the zero state {n['advance_from_zero_ms']} ms ({n['speedup']}x, max state "
                f"diff {n['state_max_abs_diff']})."]
    b = m["beam_vs_greedy"]
    out += ["", f"Beam {b['beam_size']} vs greedy (batch {b['batch']}, k={b['horizon']}): greedy "
            f"{b['greedy_per_s']:,}/s, beam {b['beam_per_s']:,}/s ({b['beam_slowdown']}x slower)."]
    if m.get("threads_compare"):
        out += ["", _row(["batch", "1 thread /s", "default threads /s", "1 / default"]), _row(["---"] * 4)]
        out += [_row([r["batch"], r["one_thread_per_s"], r["default_threads_per_s"], r["one_over_default"]])
                for r in m["threads_compare"]]
    return out


def render(result: dict[str, Any]) -> str:
    meta, d = result["meta"], result["details"]
    head = [f"Run {meta['started_at']} (git {meta['git']}, {'quick' if meta['quick'] else 'full'}, "
            f"{meta['wall_s']} s), {meta['cpus']} CPUs, load average before {meta['loadavg_before']} after "
            f"{meta['loadavg_after']}.", "", _row(["target", "value", "met"]), _row(["---"] * 3)]
    head += [_row([f"{k} {t['target']}", t["value"], t["met"]]) for k, t in result["targets"].items()]
    fp = d.get("footprint", {})
    parts = [*head, "", *e2e_table(d["e2e"]), "", *stages_table(d["e2e"]), "", *micro_tables(d["micro"])]
    return "\n".join([*parts, "", f"Footprint: {json.dumps(fp)}"])


if __name__ == "__main__":
    print(render(json.loads(Path(sys.argv[1]).read_text())))
