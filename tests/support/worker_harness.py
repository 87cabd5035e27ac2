"""Test harness for the worker: tiny registered models, the worker as a real subprocess, topic readers."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from kafka import KafkaConsumer, TopicPartition

from seqsignal.models.core import registry
from seqsignal.models.core.checkpoint import model_files
from seqsignal.workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
SEQSIGNAL = ROOT / ".venv" / "bin" / "seqsignal"


# --- tiny models through the models' public APIs ---------------------------------------------------
def _behavior_files(seed: int) -> dict[str, bytes]:
    from seqsignal.models.behavior.predictor import behavior_config, config_dict
    from seqsignal.models.core.seq2seq import Seq2Seq

    torch.manual_seed(seed)
    model = Seq2Seq(behavior_config(hidden_size=16, emb_dim=8, dropout=0.0))
    return model_files(model, config_dict(model))


def _text_files(task: str, seed: int) -> dict[str, bytes]:
    import itertools

    from seqsignal.models.datasets.streams import iter_dataset_events
    from seqsignal.models.text.model import build_model, text_model_files
    from seqsignal.models.text.rumor import rumor_config
    from seqsignal.models.text.sentiment import sentiment_config
    from seqsignal.models.text.tokenizer import TextTokenizer, train_bpe

    texts = [getattr(e, "text", "") for e in itertools.islice(iter_dataset_events("tweeteval"), 300)]
    tokenizer = TextTokenizer(train_bpe(texts, vocab_size=400, min_frequency=1))
    make = sentiment_config if task == "sentiment" else rumor_config
    cfg = make(tokenizer.tokenizer.get_vocab_size(), emb_dim=16, hidden_size=16, dropout=0.0, max_len=64)
    return text_model_files(build_model(cfg, tokenizer, seed), cfg, tokenizer)


def _tiny_files(task: str, seed: int) -> dict[str, bytes]:
    return _behavior_files(seed) if task == "behavior" else _text_files(task, seed)


def tiny_model(
    registry_dir: Path, task: str, *, seed: int = 0, version: str | None = None, promote: bool = True
) -> str:
    """Register an untrained tiny model of `task` (optionally as champion); returns its version."""
    v = registry.save_version(
        registry_dir, task, _tiny_files(task, seed), version=version, data="untrained tiny test model"
    )
    if promote:
        registry.promote(task, v, registry_dir)
    return v


# --- the worker subprocess -------------------------------------------------------------------------
def worker_env(settings: Settings, registry_dir: Path, **extra: str) -> dict[str, str]:
    """Environment that makes `seqsignal worker` use the test's stack, prefixes and registry."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEQSIGNAL_")}
    env.update(
        {
            "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS": settings.kafka.bootstrap_servers,
            "SEQSIGNAL_KAFKA__TOPIC_PREFIX": settings.kafka.topic_prefix,
            "SEQSIGNAL_KAFKA__PARTITIONS": str(settings.kafka.partitions),
            "SEQSIGNAL_REDIS__URL": settings.redis.url,
            "SEQSIGNAL_REDIS__KEY_PREFIX": settings.redis.key_prefix,
            "SEQSIGNAL_WORKER_ID": settings.worker_id,
            "SEQSIGNAL_WEB_PORT": str(settings.web_port),
            "SEQSIGNAL_MODEL__REGISTRY_DIR": str(registry_dir),
            "SEQSIGNAL_MODEL__DEVICE": "cpu",
            "SEQSIGNAL_MODEL__TORCH_THREADS": "1",
            "SEQSIGNAL_STACK_DIR": str(registry_dir / "no-stack"),
            "PYTHONUNBUFFERED": "1",
            **extra,
        }
    )
    return env


class WorkerProcess:
    """`seqsignal worker` as a child process; stderr (JSON logs) goes to `log_path`."""

    def __init__(self, env: dict[str, str], log_path: Path, web_port: int) -> None:
        self.env, self.log_path, self.port = env, log_path, web_port
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> WorkerProcess:
        log = self.log_path.open("ab")
        self.proc = subprocess.Popen(
            [str(SEQSIGNAL), "worker"], env=self.env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT
        )
        return self

    def get(self, path: str, timeout: float = 2.0) -> tuple[int, bytes]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=timeout) as r:
                return r.status, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.read()

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"worker died:\n{self.tail()}"
            with contextlib.suppress(OSError):
                if self.get("/readyz")[0] == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"worker not ready after {timeout_s}s:\n{self.tail()}")

    def wait_live(self, timeout_s: float = 120.0) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            assert self.proc is not None and self.proc.poll() is None, f"worker died:\n{self.tail()}"
            with contextlib.suppress(OSError):
                if self.get("/livez")[0] == 200:
                    return
            time.sleep(0.5)
        raise TimeoutError(f"worker not live after {timeout_s}s:\n{self.tail()}")

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the /metrics samples named `name` that carry all of `labels` (0 when none)."""
        _, body = self.get("/metrics")
        total = 0.0
        for line in body.decode().splitlines():
            sample, _, value = line.rpartition(" ")
            if sample.split("{", 1)[0] == name and all(f'{k}="{v}"' in sample for k, v in labels.items()):
                total += float(value)
        return total

    def terminate(self, timeout_s: float = 90.0) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout_s)

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop_quietly(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(30)

    def tail(self, n: int = 40) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])


# --- reading topics --------------------------------------------------------------------------------
def read_topic(
    bootstrap: str,
    topic: str,
    *,
    timeout_s: float,
    until: Callable[[list[Any]], bool] | None = None,
    idle_s: float = 5.0,
) -> list[Any]:
    """Every record of `topic` from the beginning; stops when `until(records)` holds (checked as records
    arrive), after `idle_s` without new records once `until` is None, or at `timeout_s`."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap,
        enable_auto_commit=False,
        group_id=None,
        consumer_timeout_ms=500,
        auto_offset_reset="earliest",
    )
    try:
        parts = consumer.partitions_for_topic(topic) or set()
        consumer.assign([TopicPartition(topic, p) for p in sorted(parts)])
        consumer.seek_to_beginning()
        records: list[Any] = []
        deadline = time.monotonic() + timeout_s
        last_new = time.monotonic()
        while time.monotonic() < deadline:
            batch = consumer.poll(timeout_ms=500, max_records=5000)
            new = [r for recs in batch.values() for r in recs]
            if new:
                records += new
                last_new = time.monotonic()
                if until is not None and until(records):
                    return records
            elif until is None and time.monotonic() - last_new > idle_s:
                return records
        return records
    finally:
        consumer.close()
