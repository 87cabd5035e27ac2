"""End to end on the real local stack: the worker, the ceiling and the naive pipeline as subprocesses.

Each system gets its own topics (a fresh prefix), Redis key prefix and consumer group. Throughput: a backlog
of real Higgs actions (created_at stamped at send) is loaded first, then the system starts and drains it;
the rate is taken between the first and the last output (start-up excluded). Latency: the same process then
gets events paced at a fixed offered load, stamped created_at = send time, and each event's latency is its
first covering output's CreateTime minus that stamp.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import cpu_share, fixtures
from benchmarks.kafka_io import OutputReader, drain_rate, event_id, latency, send_events
from seqsignal.deploy.local.process import free_port
from seqsignal.workers.settings import BatchSettings, KafkaSettings, RedisSettings, Settings, load_settings
from seqsignal.workers.topic_admin import scratch_topics

ROOT = Path(__file__).resolve().parent.parent
COMMANDS = {
    "worker": [str(Path(sys.executable).parent / "seqsignal"), "worker"],
    "ceiling": [sys.executable, "-m", "benchmarks.ceiling"],
    "stock_ceiling": [sys.executable, "-m", "benchmarks.ceiling", "--stock"],
    "client_ceiling": [sys.executable, "-m", "benchmarks.client_ceiling"],
    "naive": [sys.executable, "-m", "benchmarks.naive"],
}


WORKER_ACTIONS_BATCH: BatchSettings = Settings.model_fields["actions_batch"].default  # 512 events / 20 ms


@dataclass(frozen=True)
class Case:
    """One system under one batching setting, with how much to send."""

    system: str  # worker | ceiling (faust, lean) | stock_ceiling (faust's own path) | client_ceiling | naive
    stream: str = "actions"  # actions (Higgs -> behavior) | posts (SemEval tweets -> sentiment and rumor)
    backlog: int = 8000  # events preloaded before the start (throughput)
    paced_s: float = 0.0  # seconds of paced sending (latency); 0 = no latency phase
    rate: float | None = None  # offered load (events/s); None = half the measured drain rate
    max_size: int = WORKER_ACTIONS_BATCH.max_size  # the worker's default batching unless a case says
    max_wait_s: float = WORKER_ACTIONS_BATCH.max_wait_s
    partitions: int = 6
    drain_timeout_s: float = 240.0
    start_timeout_s: float = 120.0
    torch_threads: int | None = None  # SEQSIGNAL_MODEL__TORCH_THREADS; None = the worker's default


def events(stream: str, n: int) -> list[Any]:
    """The first n real events of a stream: Higgs actions, or SemEval tweets (each its own thread)."""
    return list(fixtures.actions(n)) if stream == "actions" else list(fixtures.posts(n))


def run_settings(case: Case) -> Settings:
    base = load_settings()
    tag = uuid.uuid4().hex[:8]
    return Settings(_env_file=None,
                    kafka=KafkaSettings(bootstrap_servers=base.kafka.bootstrap_servers,
                                        topic_prefix=f"bench{tag}.", partitions=case.partitions),
                    redis=RedisSettings(url=base.redis.url, key_prefix=f"bench:{tag}:"),
                    worker_id=f"seqsignal-bench-{case.system}-{tag}", web_port=free_port())


def process_env(s: Settings, case: Case, registry_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQSIGNAL_")}
    env.update({
        "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS": s.kafka.bootstrap_servers,
        "SEQSIGNAL_KAFKA__TOPIC_PREFIX": s.kafka.topic_prefix,
        "SEQSIGNAL_KAFKA__PARTITIONS": str(s.kafka.partitions),
        "SEQSIGNAL_REDIS__URL": s.redis.url, "SEQSIGNAL_REDIS__KEY_PREFIX": s.redis.key_prefix,
        "SEQSIGNAL_WORKER_ID": s.worker_id, "SEQSIGNAL_WEB_PORT": str(s.web_port),
        "SEQSIGNAL_MODEL__REGISTRY_DIR": str(registry_dir), "SEQSIGNAL_MODEL__DEVICE": "cpu",
        f"SEQSIGNAL_{case.stream.upper()}_BATCH__MAX_SIZE": str(case.max_size),
        f"SEQSIGNAL_{case.stream.upper()}_BATCH__MAX_WAIT_S": str(case.max_wait_s),
        "SEQSIGNAL_LOG_LEVEL": "WARNING",
        "SEQSIGNAL_STACK_DIR": str(registry_dir / "no-stack"),
        "PYTHONPATH": str(ROOT), "PYTHONUNBUFFERED": "1",
    })
    if case.torch_threads is not None:
        env["SEQSIGNAL_MODEL__TORCH_THREADS"] = str(case.torch_threads)
    return env


def paced_stages(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Mean ms per batch of each stage over the batches between two scrapes (sum deltas / count delta)."""
    n = (after.get("batches") or 0) - (before.get("batches") or 0)
    out: dict[str, Any] = {"batches": n}
    if n <= 0:
        return out
    mean_before, mean_after = before.get("mean_batch_size") or 0, after.get("mean_batch_size") or 0
    out["mean_batch_size"] = round((mean_after * after["batches"] - mean_before * before["batches"]) / n, 1)
    for k in ("batch_ms", "inference_ms", "delivery_ms", "redis_append_ms"):  # ~ one call per batch each
        if after.get(k) is not None and before.get(k) is not None:
            out[k] = round((after[k] * after["batches"] - before[k] * before["batches"]) / n, 2)
    return out


_RSS_FIELDS = {"VmRSS:": "rss_mb", "VmHWM:": "peak_rss_mb",
               "RssAnon:": "rss_anon_mb", "RssFile:": "rss_file_mb"}


def rss_mb(pid: int) -> dict[str, float]:
    """Resident set size now and at its peak (VmHWM), and now split into anonymous memory (the heap, tensors)
    and file-backed pages (mapped libraries), MiB. The file-backed part depends on the page cache, not only on
    the process: on the 6.18 kernel of the dev box the same `import torch` maps 233-246 MiB of library pages
    after `drop_caches` and 436 right after `pip install` wrote them (docs/benchmarks.md)."""
    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            name = _RSS_FIELDS.get(line.split(maxsplit=1)[0]) if line.strip() else None
            if name is not None:
                out[name] = round(int(line.split()[1]) / 1024, 1)
    return out


STAGES = {  # where a batch's wall time goes, from the worker's own histograms: name -> (metric, label)
    "batch": ("seqsignal_batch_duration_seconds", 'stream="actions"'),
    "inference": ("seqsignal_inference_latency_seconds", 'task="behavior"'),
    "redis_append": ("seqsignal_redis_latency_seconds", 'op="append_actions"'),
    "delivery": ("seqsignal_delivery_latency_seconds", 'stream="actions"'),
    "redis_put_states": ("seqsignal_redis_latency_seconds", 'op="put_states"'),
}


def scrape(port: int) -> list[str]:
    """The worker's /metrics lines (empty when unreachable)."""
    url = f"http://127.0.0.1:{port}/metrics"
    with contextlib.suppress(OSError), urllib.request.urlopen(url, timeout=3) as r:
        return list(r.read().decode().splitlines())
    return []


def sample(lines: list[str], name: str, label: str) -> float:
    """One labelled sample (0 when absent)."""
    for line in lines:
        if line.startswith(name + "{") and label in line:
            return float(line.rsplit(" ", 1)[1])
    return 0.0


def worker_stats(port: int, stream: str) -> dict[str, Any]:
    """Mean batch size and mean ms per call of each stage (histogram sum / count)."""
    lines = scrape(port)
    n = sample(lines, "seqsignal_batch_size_count", f'stream="{stream}"')
    out: dict[str, Any] = {"batches": n, "mean_batch_size": round(
        sample(lines, "seqsignal_batch_size_sum", f'stream="{stream}"') / n, 1) if n else None}
    if stream != "actions":
        return out
    for stage, (name, label) in STAGES.items():
        count = sample(lines, name + "_count", label)
        out[f"{stage}_ms"] = round(1000 * sample(lines, name + "_sum", label) / count, 2) if count else None
    label = 'stream="actions"'
    gaps = sample(lines, "seqsignal_batch_gap_seconds_count", label)
    if gaps:  # time with no batch in hand before the next started (workers.stream.metrics.BatchGaps)
        out["max_batch_gap_ms"] = round(1000 * sample(lines, "seqsignal_batch_gap_max_seconds", label), 1)
        total = sample(lines, "seqsignal_batch_gap_seconds_sum", label)
        out["mean_batch_gap_ms"] = round(1000 * total / gaps, 2)
    elif n:  # batches ran and each started while the one before was still in hand (pipelined): no gap
        out["max_batch_gap_ms"] = out["mean_batch_gap_ms"] = 0.0
    return out


def profiler(pid: int, out: Path) -> subprocess.Popen[bytes] | None:
    """py-spy sampling the process (idle threads excluded) while it drains, when BENCH_PROFILE=1."""
    spy = Path(sys.executable).parent / "py-spy"
    if os.environ.get("BENCH_PROFILE") != "1" or not spy.exists():
        return None
    return subprocess.Popen([str(spy), "record", "-p", str(pid), "-r", "100", "-f", "raw", "-o", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def stop(proc: subprocess.Popen[bytes]) -> int | None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(45)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(15)
    return proc.returncode


def run_case(case: Case, registry_dir: Path, log_dir: Path, first: int = 0) -> dict[str, Any]:
    """Backlog drain, then (optionally) the paced phase, for one system; returns its figures."""
    s = run_settings(case)
    log_dir.mkdir(parents=True, exist_ok=True)
    name = f"{case.system}-{case.stream}-{case.max_size}-{case.max_wait_s}-t{case.torch_threads}"
    log = log_dir / f"{name}.txt"
    res: dict[str, Any] = {"system": case.system, "stream": case.stream, "max_size": case.max_size,
                           "max_wait_s": case.max_wait_s,
                           "torch_threads": case.torch_threads, "partitions": case.partitions,
                           "redis_prefix": s.redis.key_prefix}
    with scratch_topics(s.kafka, case.partitions, client_id="seqsignal-bench") as topics:
        backlog = events(case.stream, first + case.backlog)[first:]
        send_events(s, topics, backlog)
        reader = OutputReader(s, topics.behavior if case.stream == "actions" else topics.sentiment)
        with log.open("wb") as lf:
            proc = subprocess.Popen(COMMANDS[case.system], env=process_env(s, case, registry_dir), cwd=ROOT,
                                    stdout=lf, stderr=subprocess.STDOUT)
        try:
            ids = {event_id(e) for e in backlog}
            reader.read_until(ids, case.start_timeout_s, idle_s=case.start_timeout_s, stop_at_first=True)
            if not reader.out.records:
                raise RuntimeError(f"{case.system}: no output {case.start_timeout_s:.0f}s after its start")
            spy = profiler(proc.pid, log_dir / f"profile-{name}.txt")  # the drain only
            out = reader.read_until(ids, case.drain_timeout_s, idle_s=60.0)
            if spy is not None:
                spy.send_signal(signal.SIGINT)
                spy.wait(30)
            res["drain"] = drain_rate(out, ids)
            res.update(rss_mb(proc.pid))
            if case.system.startswith("worker"):
                res["stages"] = worker_stats(s.web_port, case.stream)
            if case.paced_s > 0 and res["drain"]["events_per_s"] > 0:
                rate = case.rate or 0.5 * res["drain"]["events_per_s"]
                start = first + case.backlog
                paced = events(case.stream, start + int(rate * case.paced_s))[start:]
                ticks, t_paced = cpu_share.ticks_by_role(proc.pid), time.monotonic()
                stamps = send_events(s, topics, paced, rate=rate)
                cpu = cpu_share.cores(ticks, cpu_share.ticks_by_role(proc.pid), time.monotonic() - t_paced)
                out = reader.read_until(set(stamps), 60.0, idle_s=20.0)
                res["paced"] = {"offered_per_s": round(rate, 1), **latency(out, stamps), "cpu_cores": cpu}
                if case.system.startswith("worker"):  # the paced phase alone: cumulative minus the drain's
                    after = worker_stats(s.web_port, case.stream)
                    res["paced"]["stages"] = paced_stages(res["stages"], after)
                res.update(rss_mb(proc.pid))
        except RuntimeError as exc:
            res["error"] = str(exc)
        finally:
            reader.close()
            res["exit_code"] = stop(proc)
    if res.get("drain", {}).get("covered", 0) == 0:
        res["log_tail"] = log.read_text(errors="replace").splitlines()[-15:]
    print(f"[e2e] {name}: {res.get('drain')} {res.get('paced')} {res.get('error', '')}", file=sys.stderr)
    return res


def wait_for_stack(timeout_s: float = 30.0) -> Settings:
    """The local stack's settings once Kafka answers (seqsignal stack up must have run)."""
    from seqsignal.workers.kafka import admin_client

    s = load_settings()
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            admin_client(s.kafka, "bench-probe").close()
            return s
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(1)
