"""Model-update announcements: the compacted `models.updates.v1` topic (keyed by task), the announcer used by
the trainer and `seqsignal models`, and the worker's broadcast listener that hot-swaps verified models.

Every worker reads the whole topic with no consumer group (a broadcast: each process sees every record,
from the beginning, so a restarted worker learns the latest champion of each task). An announcement is
applied by loading the version in a helper thread (never the event loop, never the inference thread, which
keeps serving), checking the manifest sha256 against the announcement and every file against the manifest,
warming it up, then swapping it in on the event loop between two batches (`InferenceEngine.swap`): the
pipelines take their predictor once per batch, so a batch never sees half a swap. A failed load keeps the
old model, logs, and counts `seqsignal_model_reload_failures_total` (and `seqsignal_model_reloads_total`
{result="failure"}; a success counts {result="success"} and `seqsignal_model_reload_duration_seconds`, all
on the worker's registry); readiness is unchanged.

This is the worker's one hot-swap path (there is no registry poll). A worker loads each task's registry
champion once, at start; the start-up replay of this compacted topic then covers promotions and rollbacks
announced while it was down or starting (an announcement for a task not loaded yet waits until it is).
`seqsignal models promote | rollback` and the trainer announce; `--no-announce` changes only the registry,
which running workers pick up at their next start.

Tiers: a worker serves one tier per task (`InferenceEngine.tier`, chosen at its first load from
`model.tier`) and keeps it: an announced version of the other tier (its manifest's `tier`) is skipped, so a
quality-tier promotion never replaces the fast model a CPU worker serves. Announcements are keyed by task for
the fast tier (as before tiers) and `<task>.<tier>` otherwise, so compaction keeps the latest of each tier.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seqsignal.models.core import registry
from seqsignal.models.core.serving import Predictor
from seqsignal.schemas.codec import InvalidEvent, decode_as, encode
from seqsignal.schemas.events import ModelUpdate
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import aiokafka_kwargs, kafka_python_kwargs
from seqsignal.workers.settings import KafkaSettings, Settings
from seqsignal.workers.stream.metrics import WorkerMetrics
from seqsignal.workers.topic_admin import ensure_topics

log = logging.getLogger(__name__)


# ------------------------------------------------------------------------------------- trainer / CLI side
def make_update(
    task: str, version: str, registry_dir: Path, metrics: dict[str, float] | None = None
) -> ModelUpdate:
    """The announcement of `version` as champion of `task` (manifest checksum read from the registry)."""
    return ModelUpdate(
        task=task,
        version=version,
        manifest_sha256=registry.manifest_sha256(registry_dir, task, version),
        # Only finite figures travel (a slice with nothing to score reports NaN, which JSON cannot carry).
        metrics={k: float(v) for k, v in (metrics or {}).items() if math.isfinite(float(v))},
        promoted_at=datetime.now(UTC),
        registry_uri=Path(registry_dir).resolve().as_uri(),
    )


def update_key(task: str, tier: str = registry.DEFAULT_TIER) -> bytes:
    """The compaction key of an announcement: the task for the fast tier, `<task>.<tier>` otherwise."""
    return (task if tier == registry.DEFAULT_TIER else f"{task}.{tier}").encode()


def announce(kafka: KafkaSettings, update: ModelUpdate, timeout_s: float = 30.0,
             tier: str = registry.DEFAULT_TIER) -> None:
    """Send one announcement (key: `update_key`) with acks=all and wait for the broker's acknowledgement."""
    from kafka import KafkaProducer

    topic = Topics(prefix=kafka.topic_prefix).model_updates
    ensure_topics(kafka, [topic])
    producer = KafkaProducer(acks="all", enable_idempotence=True, **kafka_python_kwargs(kafka))
    try:
        producer.send(topic, key=update_key(update.task, tier), value=encode(update)).get(timeout=timeout_s)
    finally:
        producer.close()
    log.info("model update announced", extra={"task": update.task, "version": update.version})


# ------------------------------------------------------------------------------------------ worker side
def warm_up(task: str, predictor: Predictor) -> None:
    """The predictor's own warm-up, the only one (see `models.core.serving`); `task` is the announced one."""
    if predictor.task != task:
        raise ValueError(f"announced {task} but the registry loaded a {predictor.task} predictor")
    predictor.warm_up()


def load_verified(update: ModelUpdate, registry_dir: Path, device: str) -> Any:
    """Load and verify the announced version (blocking: call it in a thread); raises on any mismatch."""
    actual = registry.manifest_sha256(registry_dir, update.task, update.version)
    if actual != update.manifest_sha256:
        raise registry.IntegrityError(
            f"{update.task}/{update.version}: manifest sha256 differs from the announcement"
        )
    predictor = registry.load_predictor(update.task, registry_dir, version=update.version, device=device)
    warm_up(update.task, predictor)
    return predictor


class ModelUpdateListener:
    """Applies announcements to a running worker's InferenceEngine (see the module docstring)."""

    def __init__(self, settings: Settings, engine: Any) -> None:
        self.settings = settings
        self.engine = engine
        self.topic = Topics(prefix=settings.kafka.topic_prefix).model_updates
        # on the worker's registry (the engine's WorkerMetrics): reloads, failures, durations
        self.metrics: WorkerMetrics = engine.metrics
        self.reload_seconds = 0.0  # duration of the last successful reload (load + verify + warm-up)
        self.applied: list[str] = []  # "task:version" applied, in order (tests, logs)

    async def apply(self, update: ModelUpdate) -> bool:
        """Load, verify, warm up and swap in one announced version; False when skipped or refused."""
        task = update.task
        if not self.engine.loaded(task) or self.engine.version(task) == update.version:
            return False  # not served yet (startup loads the champion) or already serving it
        tier = self._tier_of(update)
        if tier is not None and tier != self.engine.tier(task):
            log.info("announced model of another tier skipped",
                     extra={"task": task, "version": update.version, "tier": tier})
            return False
        t0 = time.perf_counter()
        try:
            predictor = await asyncio.to_thread(
                load_verified, update, self.settings.model.registry_dir, self.engine.device
            )
        except Exception as exc:
            self.metrics.reload_failures.labels(task=task).inc()
            self.metrics.reloads.labels(task=task, result="failure").inc()
            log.error(
                "announced model refused; keeping the current one",
                extra={
                    "task": task,
                    "version": update.version,
                    "error_class": type(exc).__name__,
                    "error": str(exc)[:300],
                    "serving": self.engine.version(task),
                },
            )
            return False
        self.engine.swap(task, predictor)
        self.reload_seconds = time.perf_counter() - t0
        self.metrics.reloads.labels(task=task, result="success").inc()
        self.metrics.reload_seconds.labels(task=task).observe(self.reload_seconds)
        self.applied.append(f"{task}:{update.version}")
        log.info(
            "model hot-swapped",
            extra={"task": task, "version": update.version, "reload_s": round(self.reload_seconds, 3)},
        )
        return True

    async def run(self, poll_s: float = 1.0) -> None:
        """Read the topic from the beginning forever; at startup only the latest record per task counts."""
        from aiokafka import AIOKafkaConsumer

        # No group: every partition is assigned to this process and, with nothing committed, reading starts
        # at the earliest offset. This is what makes the topic a broadcast.
        consumer = AIOKafkaConsumer(
            self.topic,
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **aiokafka_kwargs(self.settings.kafka),
        )
        await consumer.start()
        try:
            latest: dict[str, ModelUpdate] = {}
            end: dict[Any, int] | None = None
            while True:
                batch = await consumer.getmany(timeout_ms=int(poll_s * 1000), max_records=500)
                for records in batch.values():
                    for r in records:
                        update = self._decode(r.value)
                        if update is not None:
                            latest[f"{update.task}.{self._tier_of(update)}"] = update
                if end is None:  # catching up: only the latest record per task counts
                    tps = list(consumer.assignment())
                    if not tps:
                        continue
                    end = await consumer.end_offsets(tps)
                    positions = [await consumer.position(tp) for tp in tps]
                    if any(pos < end[tp] for pos, tp in zip(positions, tps, strict=True)):
                        end = None
                        continue
                    end = {}
                for key, update in list(latest.items()):
                    if self.engine.loaded(update.task):  # else kept until the agent has loaded the task
                        await self.apply(update)
                        del latest[key]
        finally:
            # aiokafka 0.14 may raise CancelledError from stop() without a group; never let it escape
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await consumer.stop()

    def _tier_of(self, update: ModelUpdate) -> str | None:
        """The tier the announced version's manifest records; None when unreadable (the load then fails)."""
        try:
            return registry.version_tier(self.settings.model.registry_dir, update.task, update.version)
        except registry.RegistryError:
            return None

    @staticmethod
    def _decode(value: bytes | None) -> ModelUpdate | None:
        try:
            return decode_as(ModelUpdate, value)
        except InvalidEvent as exc:
            log.warning("invalid model update ignored", extra={"reason": exc.reason})
            return None


def attach_model_updates(app: Any, runtime: Any) -> ModelUpdateListener:
    """Start the listener as a faust app task of `seqsignal worker` (after the runtime has started)."""
    listener = ModelUpdateListener(runtime.settings, runtime.engine)

    @app.task
    async def _model_updates() -> None:
        while True:
            try:
                while not runtime.started:
                    await asyncio.sleep(0.5)
                await listener.run()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # never let the listener die: log, back off, re-read the topic
                log.error(
                    "model update listener failed, restarting", extra={"error_class": type(exc).__name__}
                )
                await asyncio.sleep(5.0)

    return listener
