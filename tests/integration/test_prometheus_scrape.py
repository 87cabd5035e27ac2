"""A real Prometheus (Debian's `prometheus` package, extracted by scripts/check_deploy_kit.sh --install; never
installed as a service) scrapes a running `seqsignal worker` with deploy/observability/prometheus.yml (its
target and rule path pointed at this test's worker) and loads the alert rules: the metrics the rules and the
dashboard need are there, with their labels, and every rule evaluates without error."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
from kafka import KafkaProducer
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.deploy.local import process
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
OBS = ROOT / "deploy" / "observability"
TOOLS = Path(os.environ.get("SEQSIGNAL_TOOLS_DIR", Path.home() / ".cache" / "seqsignal" / "tools"))


def prometheus_binary() -> str:
    """The prometheus server binary, installed by check_deploy_kit.sh --install if missing (else skip)."""
    path = f"{TOOLS / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}"
    found = shutil.which("prometheus", path=path)
    if found is None:
        proc = subprocess.run(["bash", str(ROOT / "scripts" / "check_deploy_kit.sh"), "--install"],
                              capture_output=True, text=True, timeout=1800, check=False)
        found = shutil.which("prometheus", path=path)
        if found is None:
            pytest.skip(f"prometheus could not be installed (exit {proc.returncode}): {proc.stderr[-1000:]}")
    return found


def query(port: int, expr: str) -> list[dict[str, Any]]:
    url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return list(body["data"]["result"])


def wait_for(port: int, expr: str, timeout_s: float = 90.0) -> list[dict[str, Any]]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            result = query(port, expr)
            if result:
                return result
        except OSError:
            pass
        time.sleep(1)
    raise AssertionError(f"prometheus has no result for {expr} after {timeout_s}s")


@pytest.mark.slow
def test_prometheus_scrapes_the_worker_and_evaluates_the_rules(
    settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    binary = prometheus_binary()
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    worker = WorkerProcess(worker_env(settings, reg), tmp_path / "worker.log", settings.web_port).start()
    prom: subprocess.Popen[bytes] | None = None
    try:
        worker.wait_ready(timeout_s=180)
        producer = KafkaProducer(bootstrap_servers=kafka_bootstrap, acks="all")
        for i in range(20):
            action = {"event_id": f"e{i}", "user_id": f"u{i % 3}", "action": "like",
                      "created_at": f"2024-01-31T12:00:{i:02d}Z"}
            producer.send(topics.actions, key=action["user_id"].encode(), value=orjson.dumps(action))
        post = {"post_id": "p1", "user_id": "w", "text": "is the bridge closed?",
                "created_at": "2024-01-31T12:00:00Z", "root_id": "p1"}
        producer.send(topics.posts, key=b"p1", value=orjson.dumps(post))
        producer.flush()
        producer.close()

        # the committed prometheus.yml, pointed at this worker and at the rules by absolute path
        config = (OBS / "prometheus.yml").read_text()
        assert '"127.0.0.1:6066"' in config and "- alerts.yaml" in config
        config = config.replace('"127.0.0.1:6066"', f'"127.0.0.1:{settings.web_port}"')
        config = config.replace("- alerts.yaml", f"- {OBS / 'alerts.yaml'}")
        config = config.replace("scrape_interval: 15s", "scrape_interval: 1s")
        config = config.replace("evaluation_interval: 15s", "evaluation_interval: 1s")
        (tmp_path / "prometheus.yml").write_text(config)
        port = process.free_port()
        log = (tmp_path / "prometheus.log").open("wb")
        prom = subprocess.Popen(
            [binary, f"--config.file={tmp_path / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
            stdout=log, stderr=subprocess.STDOUT,
        )

        up = wait_for(port, 'up{job="seqsignal-worker"} == 1')
        assert up[0]["metric"]["service"] == "seqsignal"
        assert wait_for(port, 'sum(seqsignal_events_consumed_total{stream="actions"}) >= 20')
        info = wait_for(port, "seqsignal_build_info")
        assert {"version", "python", "torch", "cuda"} <= info[0]["metric"].keys()
        served = wait_for(port, "seqsignal_model_info == 1")
        assert {r["metric"]["task"] for r in served} == {"behavior", "sentiment", "rumor"}
        lag = wait_for(port, f'seqsignal_consumer_lag{{topic="{topics.actions}"}}', timeout_s=60)
        assert {r["metric"]["partition"] for r in lag} == {"0", "1", "2"}
        # all 20 processed and committed: the lag drops to 0 (sampled every 10 s)
        assert wait_for(port, f'sum(seqsignal_consumer_lag{{topic="{topics.actions}"}}) == 0', timeout_s=60)
        assert wait_for(port, "seqsignal_inference_batch_size_count")
        assert wait_for(port, "seqsignal_queue_wait_seconds_count")
        assert wait_for(port, 'seqsignal_model_reloads_total{result="failure"} == 0')
        assert query(port, "seqsignal_model_reload_failures_total > 0") == []

        # every alert rule loaded and evaluated without error; none fires on a healthy worker
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as r:
            groups = json.load(r)["data"]["groups"]
        rules = [rule for g in groups for rule in g["rules"]]
        assert len(rules) >= 10
        deadline = time.monotonic() + 30
        while any(rule.get("lastEvaluation", "").startswith("0001") for rule in rules):
            assert time.monotonic() < deadline, "rules not evaluated"
            time.sleep(1)
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/rules", timeout=5) as r:
                rules = [rule for g in json.load(r)["data"]["groups"] for rule in g["rules"]]
        assert all(rule["health"] == "ok" for rule in rules), [(r["name"], r.get("lastError")) for r in rules]
        firing = [r["name"] for r in rules if r["state"] == "firing"]
        assert firing == [], firing
        assert worker.terminate() == 0, worker.tail()
    finally:
        if prom is not None:
            prom.terminate()
            prom.wait(30)
        worker.stop_quietly()
