"""The trainer service: stream -> durable buffer; every interval or N new rows, fine-tune from the champion,
gate against it, register + promote + announce the winner, record every cycle (JSON line, TensorBoard)."""

from __future__ import annotations

import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from seqsignal.models import finetune as ft
from seqsignal.models.core import registry
from seqsignal.models.core.promotion import decide
from seqsignal.schemas.codec import InvalidEvent, decode
from seqsignal.schemas.events import Action, Label
from seqsignal.schemas.topics import Topics
from seqsignal.workers.kafka import kafka_python_kwargs
from seqsignal.workers.serving.model_updates import announce, make_update
from seqsignal.workers.settings import Settings, TrainerSettings
from seqsignal.workers.stream.runtime import user_key_function
from seqsignal.workers.trainer.buffer import Consumed, TrainingBuffer
from seqsignal.workers.trainer.metrics import TrainerMetrics
from seqsignal.workers.trainer.tasks import CycleInputs, TaskOutcome, gate_for, run_task

log = logging.getLogger(__name__)
BUFFER_FILE = "buffer.sqlite3"
CYCLES_FILE = "cycles.jsonl"


# The trainer's knobs live in Settings (SEQSIGNAL_TRAINER__*, `seqsignal trainer` options override them);
# TrainerConfig is the name callers build an explicit set under (tests, embedding).
TrainerConfig = TrainerSettings


@dataclass
class CycleRecord:
    """One task's result in one cycle: the JSON line written to cycles.jsonl."""

    cycle: int
    task: str
    started_at: str
    duration_s: float
    champion: str | None
    promoted: bool
    version: str | None = None
    reasons: list[str] = field(default_factory=list)
    skipped: str | None = None
    candidate: dict[str, dict[str, float]] = field(default_factory=dict)
    champion_metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    deltas: dict[str, float] = field(default_factory=dict)
    steps: int = 0
    train_loss: float | None = None
    train_seconds: float = 0.0
    data: dict[str, Any] = field(default_factory=dict)
    announced: bool = False
    shuffle_labels: bool = False


class Trainer:
    """Owns the buffer, the stream consumer and the cycle; `run()` is the service loop."""

    def __init__(self, settings: Settings, cfg: TrainerSettings | None = None) -> None:
        """`cfg` defaults to `settings.trainer`."""
        cfg = cfg if cfg is not None else settings.trainer
        self.settings, self.cfg = settings, cfg
        self.topics = Topics(prefix=settings.kafka.topic_prefix)
        cfg.state_dir.mkdir(parents=True, exist_ok=True)
        self.metrics = TrainerMetrics(tasks=cfg.tasks)  # served by `seqsignal trainer` on metrics_port
        self.buffer = TrainingBuffer(
            cfg.state_dir / BUFFER_FILE,
            max_rows=cfg.max_rows,
            retention_s=settings.privacy.retention_s,
            user_key=user_key_function(settings),
        )
        self._consumer: Any = None
        self._kinds = {self.topics.actions: "actions", self.topics.labels: "labels"}

    # -------------------------------------------------------------------------------------- ingest
    def _connect(self) -> Any:
        """Assign every partition of the actions and labels topics at the buffer's stored offsets."""
        from kafka import KafkaConsumer, TopicPartition

        if self._consumer is None:
            self._consumer = KafkaConsumer(
                group_id=None,
                enable_auto_commit=False,
                auto_offset_reset="earliest",
                client_id="seqsignal-trainer",
                **kafka_python_kwargs(self.settings.kafka),
            )
        c = self._consumer
        tps = [TopicPartition(t, p) for t in self._kinds for p in sorted(c.partitions_for_topic(t) or ())]
        if set(tps) != set(c.assignment()):
            c.assign(tps)
            stored = self.buffer.offsets()
            for tp in tps:
                if (tp.topic, tp.partition) in stored:
                    c.seek(tp, stored[(tp.topic, tp.partition)])
                else:
                    c.seek_to_beginning(tp)
        return c

    def ingest(self, timeout_s: float | None = None) -> int:
        """Poll once; buffer the valid actions and labels with their next offsets (one transaction)."""
        c = self._connect()
        if not c.assignment():
            time.sleep(timeout_s if timeout_s is not None else self.cfg.poll_s)
            return 0
        batch = c.poll(
            timeout_ms=int((timeout_s if timeout_s is not None else self.cfg.poll_s) * 1000), max_records=5000
        )
        items: list[Consumed] = []
        offsets: dict[tuple[str, int], int] = {}
        for tp, records in batch.items():
            kind = self._kinds[tp.topic]
            for r in records:
                offsets[(tp.topic, tp.partition)] = r.offset + 1
                try:
                    event = decode(kind, r.value)
                except InvalidEvent:
                    continue  # the worker dead-letters invalid input; the trainer only skips it
                assert isinstance(event, Action | Label)
                items.append(Consumed(tp.topic, tp.partition, r.offset, event))
        return self.buffer.add(items, offsets) if offsets else 0

    def catch_up(self, timeout_s: float = 120.0) -> int:
        """Ingest until every partition is read up to its end offset as of now (or timeout); rows added.

        The end offsets are taken once at the start: under a steady stream the end keeps moving."""
        tps: list[Any] = []
        end: dict[Any, int] = {}
        added, deadline = 0, time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            c = self._connect()
            if not tps and c.assignment():  # the topics exist (now): fix the target
                tps = list(c.assignment())
                end = c.end_offsets(tps)
            added += self.ingest(0.5)
            if tps and all(c.position(tp) >= end[tp] for tp in tps):
                break
        return added

    # --------------------------------------------------------------------------------------- cycle
    def new_rows(self) -> int:
        return self.buffer.count(after_id=int(self.buffer.get_meta("last_cycle_max_id", "0") or 0))

    def due(self) -> bool:
        last = float(self.buffer.get_meta("last_cycle_at", "0") or 0)
        return self.new_rows() >= self.cfg.min_new or time.time() - last >= self.cfg.interval_s

    def cycle(self) -> list[CycleRecord]:
        """One refresh of every task: fine-tune, gate, maybe promote and announce; every result recorded."""
        n = int(self.buffer.get_meta("cycles", "0") or 0) + 1
        mark = self.buffer.max_id()
        self.buffer.expire()
        cfg = self.cfg
        fcfg = ft.FinetuneConfig(
            steps=cfg.steps,
            lr=cfg.lr,
            bootstrap_weight=cfg.bootstrap_weight,
            seed=cfg.seed + n,
            shuffle_labels=cfg.shuffle_labels,
        )
        inputs = CycleInputs(self.buffer, self.settings.model.registry_dir, self.settings.data_dir, fcfg,
                             cfg.holdout_fraction, cfg.min_rows)
        records = []
        for task in cfg.tasks:
            t0, started = time.monotonic(), datetime.now(UTC).isoformat()
            try:
                out = run_task(task, inputs)
            except Exception as exc:  # one task's failure (e.g. a corrupt champion) never stops the others
                log.exception("trainer task failed", extra={"task": task})
                out = TaskOutcome(task, None, skipped=f"failed: {type(exc).__name__}: {str(exc)[:200]}")
            rec = self._decide(n, out, started)
            rec.duration_s = time.monotonic() - t0
            self._record(rec)
            self.metrics.observe(rec)
            records.append(rec)
        self.buffer.set_meta("last_cycle_max_id", str(mark))
        self.buffer.set_meta("last_cycle_at", str(time.time()))
        self.buffer.set_meta("cycles", str(n))
        return records

    def _decide(self, n: int, out: TaskOutcome, started: str) -> CycleRecord:
        rec = CycleRecord(
            cycle=n,
            task=out.task,
            started_at=started,
            duration_s=0.0,
            champion=out.champion,
            promoted=False,
            skipped=out.skipped,
            candidate=out.candidate,
            champion_metrics=out.champion_metrics,
            steps=out.steps,
            train_seconds=out.train_seconds,
            train_loss=out.train_loss if out.train_loss == out.train_loss else None,
            data=out.data,
            shuffle_labels=self.cfg.shuffle_labels,
        )
        if out.skipped is not None or not out.files:
            return rec
        decision = decide(out.candidate, out.champion_metrics, gate_for(out.task))
        rec.reasons, rec.deltas = list(decision.reasons), decision.deltas
        if not decision.promote:
            return rec
        reg = self.settings.model.registry_dir
        flat = {f"{s}_{k}": v for s, m in out.candidate.items() for k, v in m.items()}
        version = registry.save_version(
            reg,
            out.task,
            out.files,
            metrics=flat,
            data={"source": "trainer", "cycle": n, **out.data},
            extra={"parent": out.champion, "trainer": {"steps": out.steps}},
        )
        registry.promote(out.task, version, reg)
        rec.promoted, rec.version = True, version
        if self.cfg.announce:
            announce(self.settings.kafka, make_update(out.task, version, reg, flat))
            rec.announced = True
        log.info("candidate promoted", extra={"task": out.task, "version": version, "parent": out.champion})
        return rec

    def _record(self, rec: CycleRecord) -> None:
        path = self.cfg.state_dir / CYCLES_FILE
        with path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(asdict(rec), sort_keys=True, default=str) + "\n")
            f.flush()
            os.fsync(f.fileno())
        try:
            from torch.utils.tensorboard import SummaryWriter

            with SummaryWriter(log_dir=str(self.cfg.state_dir / "tb" / rec.task)) as w:
                for who, sets in (("candidate", rec.candidate), ("champion", rec.champion_metrics)):
                    for s, metrics in sets.items():
                        for k, v in metrics.items():
                            w.add_scalar(f"{s}/{k}/{who}", v, rec.cycle)
                w.add_scalar("cycle/promoted", float(rec.promoted), rec.cycle)
                w.add_scalar("cycle/duration_s", rec.duration_s, rec.cycle)
        except Exception as exc:  # TensorBoard is a view; the JSON line is the record
            log.warning("tensorboard write failed", extra={"error_class": type(exc).__name__})

    # ------------------------------------------------------------------------------------- service
    def run(self, once: bool = False, max_cycles: int | None = None) -> list[CycleRecord]:
        """`once`: catch up with the stream, run one cycle, return. Else loop until interrupted."""
        if once:
            self.catch_up()
            return self.cycle()
        if self.buffer.get_meta("last_cycle_at") is None:  # the interval counts from the first start
            self.buffer.set_meta("last_cycle_at", str(time.time()))
        done: list[CycleRecord] = []
        cycles = 0
        while max_cycles is None or cycles < max_cycles:
            self.ingest()
            if self.due():
                log.info("trainer cycle starting", extra={"new_rows": self.new_rows()})
                done += self.cycle()
                cycles += 1
        return done

    def close(self) -> None:
        if self._consumer is not None:
            self._consumer.close()
        self.buffer.close()
