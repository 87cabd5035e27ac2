"""The bench result: summary keys, targets, baseline ratios and plots from synthetic figures (no timing)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from benchmarks import plots  # noqa: E402
from benchmarks.kafka_io import Outputs, covered, drain_rate, latency  # noqa: E402
from benchmarks.run import compare, summarise  # noqa: E402

REQUIRED = ("e2e_events_per_s", "ceiling_events_per_s", "naive_events_per_s", "p99_latency_ms",
            "incremental_speedup", "redis_bytes_per_user", "client_ceiling_events_per_s", "max_batch_gap_ms",
            "worker_peak_rss_mb", "ratio_e2e_over_client_ceiling", "stock_ceiling_events_per_s",
            "ratio_e2e_over_stock_ceiling")


def _case(system: str, rate: float, p99: float | None = None, rnd: int = 0) -> dict:
    case = {"system": system, "stream": "actions", "max_size": 512, "max_wait_s": 0.02, "torch_threads": None,
            "drain": {"events_per_s": rate}, "peak_rss_mb": 100.0, "round": rnd,
            "stages": {"max_batch_gap_ms": 12.5, "mean_batch_size": 500.0}}
    if p99 is not None:
        case["paced"] = {"offered_per_s": rate / 2, "p50_ms": p99 / 3, "p95_ms": p99 / 2, "p99_ms": p99}
    return case


def _micro() -> dict:
    rows = [{"batch": b, "predictions_per_s": 100 * b} for b in (1, 16, 256)]
    return {"torch_threads": 1, "behavior": {"incremental": rows, "full_reencode": rows}, "sentiment": rows,
            "rumor": rows, "incremental_vs_full": [{"encoder_speedup": 12.0, "with_decode_speedup": 5.0}]}


def test_summary_has_the_tracked_keys_and_targets(tmp_path: Path) -> None:
    cases = [_case("worker", 2000.0, 80.0), _case("ceiling", 4000.0, 40.0), _case("client_ceiling", 6000.0),
             _case("stock_ceiling", 1600.0), _case("naive", 50.0)]
    fp = {"full_window": {"mean_bytes": 1000.0}, "replay_mix": {"mean_bytes": 600.0}}
    s = summarise(_micro(), cases, fp)
    assert all(s[k] is not None for k in REQUIRED)
    assert s["ratio_e2e_over_ceiling"] == 0.5 and s["ratio_e2e_over_naive"] == 40.0
    assert s["client_ceiling_events_per_s"] == 6000.0 and s["max_batch_gap_ms"] == 12.5
    assert s["ratio_e2e_over_client_ceiling"] == 0.333 and s["ratio_ceiling_over_client_ceiling"] == 0.667
    assert s["ratio_e2e_over_stock_ceiling"] == 1.25 and s["ratio_ceiling_over_stock_ceiling"] == 2.5
    assert all(t["met"] for t in s["targets"].values())
    slow = summarise(_micro(), [{**c, "drain": {"events_per_s": 1500.0}} if c["system"] == "worker" else c
                                for c in cases], fp)["targets"]
    assert not slow["ratio_e2e_over_client_ceiling"]["met"]
    assert not slow["ratio_e2e_over_stock_ceiling"]["met"]
    assert not summarise(_micro(), cases, {"full_window": {"mean_bytes": 1608.0}})["targets"][
        "redis_bytes_per_user"]["met"]
    assert compare(s, {**s, "e2e_events_per_s": 1000.0})["e2e_events_per_s"] == 2.0
    names = plots.write_all({"details": {"micro": _micro(), "e2e": cases}}, tmp_path, "t")
    assert len(names) == 3 and all((tmp_path / n).stat().st_size > 0 for n in names)


def test_client_ceiling_ratio_is_the_median_of_same_round_ratios() -> None:
    """Each round's worker is divided by that round's client ceiling, never by another round's."""
    cases = [_case("worker", 1000.0, 80.0), _case("client_ceiling", 4000.0),
             _case("worker", 3000.0, rnd=1), _case("client_ceiling", 3000.0, rnd=1),
             _case("worker", 2000.0, rnd=2), _case("client_ceiling", 5000.0, rnd=2)]
    s = summarise(_micro(), cases, {})
    assert s["ratio_e2e_over_client_ceiling"] == 0.4  # median of 0.25, 1.0, 0.4
    assert s["client_ceiling_events_per_s"] == 4000.0 and s["ceiling_events_per_s"] == 0.0


def test_latency_and_drain_rate_from_outputs() -> None:
    out = Outputs()
    out.add(10.0, covered(b'{"covers": ["a", "b"]}'))
    out.add(11.0, covered(b'{"event_id": "c"}'))
    out.add(12.0, covered(b'{"post_id": "d"}'))
    assert drain_rate(out, {"a", "b", "c", "d"})["events_per_s"] == 1.0  # c, d after the first, over 2 s
    lat = latency(out, {"a": 9.9, "c": 10.9, "d": 11.9, "missing": 1.0})
    assert lat["covered"] == 3 and lat["of"] == 4 and abs(lat["p50_ms"] - 100.0) < 1e-6


def test_gpu_bench_matches_the_served_behavior_model() -> None:
    from benchmarks import gpu_bench
    from seqsignal.models.behavior.features import NUM_FEATURES
    from seqsignal.models.behavior.predictor import behavior_config

    assert gpu_bench.NUM_FEATURES == NUM_FEATURES
    cfg = behavior_config()
    model = gpu_bench.behavior_model()
    assert (model.config.hidden_size, model.config.emb_dim, model.config.tgt_vocab_size) == (
        cfg.hidden_size, cfg.emb_dim, cfg.tgt_vocab_size)
    state, tokens, probs = gpu_bench.behavior_fn(model)(*gpu_bench.behavior_inputs(4))
    assert state.shape == (1, 4, cfg.hidden_size) and tokens.shape == probs.shape == (4, gpu_bench.HORIZON)


@pytest.mark.usefixtures("isolated_env")
def test_bench_without_kafka_says_how_to_start_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    """No broker at the configured address: exit 2 and the way out, not a timeout traceback mid-run."""
    from typer.testing import CliRunner

    from seqsignal.cli import _register_all, app
    from seqsignal.deploy.local.process import free_port

    monkeypatch.setenv("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS", f"127.0.0.1:{free_port()}")
    _register_all()
    result = CliRunner().invoke(app, ["bench", "--quick"])
    assert result.exit_code == 2
    assert "seqsignal stack up" in result.output and "--no-e2e" in result.output


class _FakeState:
    def env(self) -> dict[str, str]:
        return {"SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS": "127.0.0.1:1", "SEQSIGNAL_REDIS__URL": "redis://x:2/0"}


@pytest.mark.usefixtures("isolated_env")
def test_bench_starts_its_own_stack_when_none_runs_and_stops_it(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    """No broker answers and none was given: the run gets a stack of its own (its settings in the
    environment the run and its subprocesses inherit), stopped afterwards, the environment restored."""
    import os

    from typer.testing import CliRunner

    import benchmarks.run
    from seqsignal.cli import _register_all, app
    from seqsignal.commands import bench
    from seqsignal.deploy.local import stack

    calls: list[str] = []
    seen: dict[str, str | None] = {}
    monkeypatch.setattr(bench, "kafka_error", lambda: ("127.0.0.1:9092", ConnectionError("refused")))
    monkeypatch.setattr(stack, "up", lambda cfg, run_dir: (calls.append(f"up {run_dir == cfg.dir}"),
                                                            (_FakeState(), False))[1])
    monkeypatch.setattr(stack, "down", lambda run_dir: calls.append("down") or "stopped")

    def fake_run(quick: bool, out_dir: Path, skip_e2e: bool = False) -> dict:
        calls.append("run")
        seen["kafka"] = os.environ.get("SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS")
        return {"meta": {"quick": quick, "json": "x.json", "plots": []}}

    monkeypatch.setattr(benchmarks.run, "run", fake_run)
    _register_all()
    result = CliRunner().invoke(app, ["bench", "--quick", "--json"])
    assert result.exit_code == 0, result.output
    assert calls == ["up True", "run", "down"] and seen["kafka"] == "127.0.0.1:1"
    assert "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS" not in os.environ
    assert '"own_stack": true' in result.output

    calls.clear()  # --no-auto-stack: the way out instead, nothing started
    result = CliRunner().invoke(app, ["bench", "--quick", "--no-auto-stack"])
    assert result.exit_code == 2 and calls == [] and "seqsignal stack up" in result.output

    def broken_up(cfg: object, run_dir: Path) -> None:
        raise RuntimeError("no java")

    monkeypatch.setattr(stack, "up", broken_up)  # a stack that cannot start: the way out, and cleaned up
    result = CliRunner().invoke(app, ["bench", "--quick"])
    assert result.exit_code == 2 and "no java" in result.output and calls == ["down"]


def test_batch_gaps_from_the_metrics_overlapped_batches_are_no_gap(monkeypatch: pytest.MonkeyPatch) -> None:
    from benchmarks import e2e

    lines = ['seqsignal_batch_size_count{stream="actions"} 4.0',
             'seqsignal_batch_size_sum{stream="actions"} 2000.0']
    monkeypatch.setattr(e2e, "scrape", lambda port: lines)
    out = e2e.worker_stats(0, "actions")
    assert out["mean_batch_size"] == 500.0 and out["max_batch_gap_ms"] == 0.0  # pipelined: always one in hand
    lines += ['seqsignal_batch_gap_seconds_count{stream="actions"} 2.0',
              'seqsignal_batch_gap_seconds_sum{stream="actions"} 0.03',
              'seqsignal_batch_gap_max_seconds{stream="actions"} 0.02']
    out = e2e.worker_stats(0, "actions")
    assert out["max_batch_gap_ms"] == 20.0 and out["mean_batch_gap_ms"] == 15.0
    monkeypatch.setattr(e2e, "scrape", lambda port: [])
    assert "max_batch_gap_ms" not in e2e.worker_stats(0, "actions")  # no batch: not measured


def test_rss_is_split_into_anonymous_and_file_backed_memory() -> None:
    import os

    from benchmarks.e2e import rss_mb

    rss = rss_mb(os.getpid())
    assert set(rss) == {"rss_mb", "peak_rss_mb", "rss_anon_mb", "rss_file_mb"}
    assert rss["rss_anon_mb"] > 0 and rss["rss_file_mb"] > 0
    assert abs(rss["rss_anon_mb"] + rss["rss_file_mb"] - rss["rss_mb"]) < 0.05 * rss["rss_mb"]  # + shmem
    assert rss["peak_rss_mb"] >= rss["rss_mb"]


def test_the_stall_trace_splits_the_slowest_events_batches(tmp_path: Path) -> None:
    import json

    from benchmarks.stall_trace import split

    def batch(start: float, size: int, process: float, wait: float, deliver: float) -> str:
        events = [[start - 0.010, start - 0.005]] * size  # created 10 ms, fetched 5 ms before the start
        return json.dumps({"stream": "actions", "start": start, "processed": start + process,
                           "process_cpu": process / 2,
                           "deliver_start": start + process + wait, "end": start + process + wait + deliver,
                           "events": events})

    lines = [batch(1.0 + i, 10, 0.010, 0.0, 0.005) for i in range(9)] + [batch(20.0, 10, 0.100, 0.020, 0.030)]
    trace = tmp_path / "trace.jsonl"
    trace.write_text("\n".join([*lines, json.dumps({"gc": 2, "at": 0.5, "ms": 12.0})]) + "\n")
    out = split(trace, last=100)
    assert out["events"] == 100
    assert out["slowest_1pct_batches"] == {"size": 10.0, "process_ms": 100.0, "process_cpu_ms": 50.0,
                                           "wait_delivery_before_ms": 20.0, "delivery_ms": 30.0}
    assert out["all_batches"]["size"] == 10.0 and out["all_batches"]["process_ms"] == pytest.approx(19.0)
    assert out["fetch"]["p50_ms"] == pytest.approx(5.0) and out["handler"]["max_ms"] == pytest.approx(150.0)
    assert out["gc2_pauses_all_ms"] == [12.0] and out["gc2_pauses_paced_ms"] == []


def test_cpu_share_counts_this_process_as_the_bench() -> None:
    import time

    from benchmarks.cpu_share import cores, ticks_by_role

    before, t0 = ticks_by_role(worker_pid=-1), time.monotonic()
    while time.monotonic() - t0 < 0.3:  # burn CPU
        sum(range(10_000))
    used = cores(before, ticks_by_role(worker_pid=-1), time.monotonic() - t0)
    assert used["bench"] > 0.3 and "worker" not in used
    assert cores(before, before, 0.0) == {}
