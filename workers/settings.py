"""Application settings: one frozen pydantic-settings tree, every field readable from SEQSIGNAL_* env vars.

Nested fields use a double underscore: ``SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS``. When the local stack is up,
``seqsignal stack up`` writes its connection settings to ``<stack dir>/stack.env``, which is read as a
fallback; real environment variables always win.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

from seqsignal.deploy.local.stack import default_stack_dir
from seqsignal.models.datasets._common import default_data_dir
from seqsignal.schemas.events import Task

__all__ = ["Settings", "default_data_dir", "default_stack_dir", "load_settings", "redacted"]


class _Section(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class KafkaSettings(_Section):
    """Kafka connection (client kwargs: workers/kafka.py). Auth and TLS optional; secrets never logged."""

    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = "PLAINTEXT"
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = None
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers")
    ssl_certfile: Path | None = Field(None, description="Client certificate (mutual TLS)")
    ssl_keyfile: Path | None = Field(None, description="Client key (mutual TLS)")
    topic_prefix: str = Field("", description="Prefix for every topic name (multi-tenant clusters, tests)")
    partitions: int = Field(6, ge=1, description="Partitions for topics the app creates")
    replication_factor: int = Field(1, ge=1, description="Replication factor for topics the app creates")
    session_timeout_s: float = Field(
        60.0, ge=6, le=90,
        description="Consumer group session timeout (faust's default). Heartbeats come from the consumer's "
        "own task: a worker holding a batch through a Redis outage stays in the group (docs/reliability.md)",
    )
    max_poll_interval_s: float = Field(
        1000.0, ge=1,
        description="aiokafka leaves the group when no fetch ran this long (faust's default); faust stops "
        "fetching only once every assigned partition's buffer is full (docs/reliability.md)",
    )


class RedisSettings(_Section):
    """Redis connection: a single server or a Redis Cluster; auth and TLS optional."""

    url: str = Field("redis://127.0.0.1:6379/0", description="redis:// or rediss:// (TLS) URL, no password")
    username: str | None = None
    password: SecretStr | None = None
    cluster: bool = Field(False, description="Connect with the Redis Cluster client")
    ssl_ca_certs: Path | None = None
    key_prefix: str = Field("ss:", description="Prefix of every key this app writes")
    socket_timeout_s: float = Field(5.0, gt=0)


class WindowSettings(_Section):
    """Per-user action windows and per-thread reply windows."""

    max_actions: int = Field(64, ge=1, le=4096, description="Actions kept per user")
    max_age_s: int = Field(7 * 24 * 3600, ge=60, description="Actions older than this are dropped")
    idle_ttl_s: int = Field(7 * 24 * 3600, ge=60, description="A window untouched this long expires")
    max_replies: int = Field(64, ge=1, le=4096, description="Replies kept per thread")


class BatchSettings(_Section):
    """Micro-batching knobs (max size, max wait), per input stream."""

    max_size: int = Field(512, ge=1, le=100_000)
    max_wait_s: float = Field(0.05, gt=0, le=60)


class ModelSettings(_Section):
    """Where models live and how they are served."""

    registry_dir: Path = Field(Path("artifacts/registry"), description="Model registry root")
    device: Literal["auto", "cpu", "cuda"] = "auto"
    tier: Literal["auto", "fast", "quality"] = Field(
        "auto",
        description="Model tier served per task (docs/text_models.md). auto: the quality tier where the "
        "device is CUDA and the task has a quality champion, else fast; quality falls back to fast for a "
        "task without a quality champion (behavior has only the fast tier)",
    )
    behavior_horizon: int = Field(3, ge=1, le=16, description="Next k actions to predict")
    behavior_targets: int = Field(
        10, ge=0, le=64, description="Next targets ranked per behavior signal (0: none; needs a ranker)"
    )
    beam_size: int = Field(1, ge=1, le=16, description="1 = greedy decoding")
    rumor_threshold: float | None = Field(
        None, ge=0, le=1, description="Rumour flag threshold; unset: the model's dev-tuned decision_threshold"
    )
    rumor_step: float = Field(
        0.0, ge=0, le=1,
        description="Re-emit a thread's flag when its score moves more than this (a threshold crossing "
        "always re-emits). 0 (default): a record for every update, the latest has seen every reply.",
    )
    behavior_per_event: bool = Field(
        False, description="One behavior prediction per action (default: one per user per batch, the latest)"
    )
    torch_threads: int = Field(
        1, ge=0,
        description="Torch intra-op threads (0 = torch's default). 1 by default: on a small box its threads "
        "fight Kafka, Redis and the event loop for the cores (docs/benchmarks.md); scale with processes.",
    )


class PrivacySettings(_Section):
    """Pseudonymisation of user ids and retention."""

    pseudonymize: bool = False
    hmac_key: SecretStr | None = None
    retention_s: int = Field(30 * 24 * 3600, ge=60)


class TrainerSettings(_Section):
    """`seqsignal trainer`: when a cycle runs, how hard it fine-tunes, where it keeps its state. Each field is
    also an option of `seqsignal trainer` (`--steps`, `--interval`, ...), which overrides it."""

    state_dir: Path = Field(Path("artifacts/trainer"), description="Buffer, cycles.jsonl, TensorBoard (tb/)")
    interval_s: float = Field(3600.0, ge=0, description="Seconds between cycles at most")
    min_new: int = Field(5000, ge=0, description="Start a cycle as soon as this many new rows are buffered")
    tasks: tuple[Task, ...] = Field(get_args(Task), min_length=1, description="Tasks to refresh")
    steps: int = Field(200, ge=0, description="Fine-tune steps per task and cycle")
    lr: float = Field(1e-3, gt=0, description="Fine-tune learning rate")
    bootstrap_weight: float = Field(0.2, ge=0, le=1, description="Share of steps on shared/data")
    holdout_fraction: float = Field(0.2, ge=0, le=1, description="Most recent share of the stream held back")
    min_rows: int = Field(200, ge=0, description="Buffered actions a behavior cycle needs (labels: a tenth)")
    max_rows: int = Field(500_000, ge=1, description="Rows the buffer keeps at most (oldest dropped)")
    shuffle_labels: bool = Field(False, description="Sabotage drill: shuffled targets (must not be promoted)")
    announce: bool = Field(True, description="Announce promotions on models.updates.v1")
    seed: int = Field(0, description="Fine-tune seed (plus the cycle number)")
    poll_s: float = Field(1.0, gt=0, description="Kafka poll timeout while waiting for a cycle")
    threads: int = Field(1, ge=1, description="torch threads")
    nice: int = Field(10, ge=0, le=19, description="Lower the process priority by N")
    metrics_port: int = Field(
        0, ge=0, le=65535,
        description="Serve Prometheus metrics (seqsignal_trainer_*) on this port at /metrics; 0: off",
    )


class Settings(BaseSettings):
    """Every setting of seqsignal. Env prefix SEQSIGNAL_, nested delimiter '__'."""

    model_config = SettingsConfigDict(
        env_prefix="SEQSIGNAL_",
        env_nested_delimiter="__",
        frozen=True,
        extra="ignore",
    )

    kafka: KafkaSettings = KafkaSettings()
    redis: RedisSettings = RedisSettings()
    window: WindowSettings = WindowSettings()
    # max wait 0.02 s: the same full-speed throughput (batches still fill under a backlog), p50 ~45-52 ms
    # instead of 85-132 ms at half load (docs/benchmarks.md, "Latency").
    actions_batch: BatchSettings = BatchSettings(max_wait_s=0.02)
    posts_batch: BatchSettings = BatchSettings(max_size=256, max_wait_s=0.05)
    model: ModelSettings = ModelSettings()
    privacy: PrivacySettings = PrivacySettings()
    trainer: TrainerSettings = TrainerSettings()
    worker_id: str = Field("seqsignal-worker", description="Kafka consumer group / faust app id")
    web_port: int = Field(6066, ge=0, le=65535, description="/livez, /readyz and /metrics")
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    data_dir: Path = Field(default_factory=default_data_dir)


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, falling back to the local stack's stack.env."""
    env_file = default_stack_dir() / "stack.env"
    return Settings(_env_file=env_file if env_file.exists() else None, **overrides)


def redacted(settings: Settings) -> dict[str, Any]:
    """Effective settings as a JSON-able dict with every secret redacted."""
    return settings.model_dump(mode="json")  # SecretStr dumps as '**********'
