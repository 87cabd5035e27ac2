"""The local stack's run directory: where it is, how `seqsignal stack` runs it, and what it records there
(stack.json: ports and pids; stack.env: the connection settings), one up/down at a time under a lock."""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from seqsignal.deploy.local import kafka, secure


def default_stack_dir() -> Path:
    """Where `seqsignal stack` keeps its run directory (logs, pids, data, stack.env)."""
    return Path(os.environ.get("SEQSIGNAL_STACK_DIR", Path.home() / ".cache" / "seqsignal" / "stack"))


class StackSettings(BaseSettings):
    """How `seqsignal stack` runs the stack. Env prefix SEQSIGNAL_STACK_ (SEQSIGNAL_STACK_DIR, ...)."""

    model_config = SettingsConfigDict(env_prefix="SEQSIGNAL_STACK_", frozen=True, extra="ignore")

    dir: Path = Field(default_factory=default_stack_dir, description="Run directory")
    kafka_version: str = Field(kafka.DEFAULT_VERSION, description=f"Kafka version ({kafka.FALLBACK_VERSION} "
                                                                  "is the tested fallback)")
    ready_timeout_s: float = Field(120.0, gt=0, description="How long to wait for the broker")
    redis_cluster: bool = Field(False, description="Also run a 3-master Redis Cluster (<dir>/redis-cluster)")
    secure: bool = Field(False, description="Kafka on SASL_SSL (SCRAM) and Redis on TLS with an ACL user, "
                                            "generated passwords and certificates (docs/security.md)")


@dataclass(frozen=True)
class StackState:
    """What stack.json records about a running stack."""

    run_dir: str
    kafka_version: str
    cluster_id: str
    kafka_port: int
    controller_port: int
    redis_port: int
    kafka_pid: int
    redis_pid: int
    started_at: str
    format_s: float = 0.0
    broker_ready_s: float | None = None  # broker process start -> admin client sees the cluster
    redis_cluster_url: str | None = None  # a startup node of the optional cluster (`up --redis-cluster`)
    redis_cluster_ready_s: float | None = None
    secure: bool = False  # `up --secure`: SASL_SSL Kafka, TLS + ACL Redis (deploy/local/secure.py)

    @property
    def bootstrap_servers(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def redis_url(self) -> str:
        return f"{'rediss' if self.secure else 'redis'}://127.0.0.1:{self.redis_port}/0"

    @property
    def kafka_marker(self) -> str:
        return str(Path(self.run_dir) / "conf" / "server.properties")

    def env(self) -> dict[str, str]:
        """The connection settings, as SEQSIGNAL_* environment variables."""
        env = {
            "SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "SEQSIGNAL_REDIS__URL": self.redis_url,
        }
        if self.redis_cluster_url:  # for the cluster tests (tests/conftest.py reuses it); settings ignore it
            env["SEQSIGNAL_TEST_REDIS_CLUSTER_URL"] = self.redis_cluster_url
        if self.secure:  # the passwords too: stack.env is then 0600
            env |= secure.client_env(Path(self.run_dir))
        return env


def paths(run_dir: Path) -> dict[str, Path]:
    return {
        "json": run_dir / "stack.json", "env": run_dir / "stack.env", "logs": run_dir / "logs",
        "conf": run_dir / "conf", "kafka_data": run_dir / "data" / "kafka",
        "redis_data": run_dir / "data" / "redis",
        "kafka_pid": run_dir / "pids" / "kafka.pid", "redis_pid": run_dir / "pids" / "redis.pid",
        "redis_cluster": run_dir / "redis-cluster",
        "redis_secure_conf": run_dir / "conf" / "redis-secure.conf",
    }


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """One up/down at a time per run directory (helpers share one stack)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / ".lock", "w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def load_state(run_dir: Path) -> StackState | None:
    """The stack.json of run_dir, or None when there is none (or it is unreadable)."""
    try:
        raw = json.loads(paths(run_dir)["json"].read_text())
        known = {f.name for f in dataclasses.fields(StackState)}
        return StackState(**{k: v for k, v in raw.items() if k in known})
    except (OSError, ValueError, TypeError):
        return None


def save_state(state: StackState) -> None:
    p = paths(Path(state.run_dir))
    raw = dataclasses.asdict(state)
    for key in ("redis_cluster_url", "redis_cluster_ready_s", "secure"):  # absent unless used: older
        if raw[key] is None or raw[key] is False:  # readers stay happy, a plain stack.json is as before
            del raw[key]
    write_atomic(p["json"], json.dumps(raw, indent=2) + "\n")


def write_env(state: StackState) -> None:
    """stack.env: the client settings, read by load_settings as a fallback (0600 on a secure stack)."""
    path = paths(Path(state.run_dir))["env"]
    text = "".join(f"{k}={v}\n" for k, v in state.env().items())
    if not state.secure:
        write_atomic(path, text)
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    secure.tls.write_private(tmp, text.encode())
    os.replace(tmp, path)
