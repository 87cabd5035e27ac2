"""PNG plots of a bench result: model throughput against batch size, e2e throughput, latency percentiles."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def throughput_vs_batch(micro: dict[str, Any], path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(7, 4.5))
    series = {"behavior, incremental step + greedy k=3": micro["behavior"]["incremental"],
              "behavior, re-encode 64 + greedy k=3": micro["behavior"]["full_reencode"],
              "sentiment": micro["sentiment"], "rumor (thread + replies)": micro["rumor"]}
    for label, rows in series.items():
        ax.plot([r["batch"] for r in rows], [r["predictions_per_s"] for r in rows], marker="o", label=label)
    ax.set(xscale="log", yscale="log", xlabel="batch size", ylabel="predictions / s (CPU)",
           title=f"Model throughput against batch size (torch threads {micro.get('torch_threads')})")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _label(case: dict[str, Any]) -> str:
    threads = f", t{case['torch_threads']}" if case.get("torch_threads") is not None else ""
    rnd = f" r{case['round']}" if case.get("round") else ""
    return f"{case['system']}\n{case['stream']}{rnd}\n{case['max_size']}/{case['max_wait_s']}s{threads}"


def _width(n: int) -> float:
    return min(15.0, max(6.0, 0.85 * n))


def e2e_throughput(cases: list[dict[str, Any]], path: Path) -> Path:
    rows = [c for c in cases if c.get("drain", {}).get("events_per_s")]
    fig, ax = plt.subplots(figsize=(_width(len(rows)), 4.8))
    colors = {"ceiling": "C2", "client_ceiling": "C4", "naive": "C3", "worker": "C0"}
    ax.bar(range(len(rows)), [c["drain"]["events_per_s"] for c in rows],
           color=[colors.get(c["system"], "C7") for c in rows])
    ax.set_xticks(range(len(rows)), [_label(c) for c in rows], fontsize=6)
    ax.set(yscale="log", ylabel="events / s (backlog drain)", title="End to end throughput, same run")
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def latency_percentiles(cases: list[dict[str, Any]], path: Path) -> Path:
    rows = [c for c in cases if c.get("paced", {}).get("p50_ms") is not None]
    fig, ax = plt.subplots(figsize=(_width(len(rows)), 4.8))
    width = 0.27
    for k, (q, color) in enumerate((("p50_ms", "C0"), ("p95_ms", "C1"), ("p99_ms", "C3"))):
        ax.bar([i + (k - 1) * width for i in range(len(rows))], [c["paced"][q] for c in rows], width,
               label=q.replace("_ms", ""), color=color)
    ax.set_xticks(range(len(rows)), [f"{_label(c)}\n@{c['paced']['offered_per_s']:.0f}/s" for c in rows],
                  fontsize=6)
    ax.axhline(100, color="k", lw=0.8, ls="--", label="100 ms target")
    ax.set(yscale="log", ylabel="event -> signal latency (ms)", title="Latency at a fixed offered load")
    ax.legend(fontsize=8)
    ax.grid(True, axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_all(result: dict[str, Any], out_dir: Path, stem: str) -> list[str]:
    """Every plot the result has data for; returns the file names."""
    out: list[Path] = []
    d = result.get("details", {})
    if "micro" in d:
        out.append(throughput_vs_batch(d["micro"], out_dir / f"{stem}-throughput_vs_batch.png"))
    if d.get("e2e"):
        out.append(e2e_throughput(d["e2e"], out_dir / f"{stem}-e2e_throughput.png"))
        out.append(latency_percentiles(d["e2e"], out_dir / f"{stem}-latency.png"))
    return [p.name for p in out]


if __name__ == "__main__":  # re-draw the plots of a result: python -m benchmarks.plots FILE.json
    import json
    import sys

    src = Path(sys.argv[1])
    print(write_all(json.loads(src.read_text()), src.parent, src.stem))
