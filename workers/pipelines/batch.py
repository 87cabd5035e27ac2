"""What every batch handler shares: the batch result, the handler's collaborators, dead-lettering."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.dead_letter import build_dead_letter
from seqsignal.workers.pipelines.emitter import Signal, output_record
from seqsignal.workers.pipelines.records import OutRecord, RawEvent
from seqsignal.workers.serving.inference import InferenceEngine
from seqsignal.workers.settings import Settings
from seqsignal.workers.state.window_store import WindowStore
from seqsignal.workers.stream.metrics import WorkerMetrics


@dataclass
class BatchResult:
    """What a handler made of one batch: records to deliver, then work to do once they are acknowledged."""

    outputs: list[OutRecord] = field(default_factory=list)
    after_ack: list[Callable[[], Awaitable[None]]] = field(default_factory=list)
    valid: int = 0
    dead_letters: int = 0
    schema_checked: set[type] = field(default_factory=set)

    def add_signal(self, signal: Signal, topics: Topics) -> None:
        """Append a signal's record. Every signal was validated by pydantic when built (the JSON Schemas are
        exported from the same models); the JSON Schema itself (0.5 ms a record with jsonschema) is checked
        on the first record of each type per batch, and on every record in the e2e tests."""
        first = type(signal) not in self.schema_checked
        self.outputs.append(output_record(signal, topics, validate=first))
        self.schema_checked.add(type(signal))

    def add_dead_letters(
        self, decoded: list[tuple[Any, RawEvent]], stage: Any, exc: BaseException, topic: str
    ) -> BatchResult:
        """Send these inputs to the dead-letter topic (they no longer count as valid)."""
        dl = [build_dead_letter(raw, stage, exc, topic) for _, raw in decoded]
        self.outputs += dl
        self.dead_letters += len(dl)
        self.valid -= len(dl)
        return self


def clip_probability(p: float) -> float:
    """A model probability as a signal carries it: a float in [0, 1] (rounding can step outside)."""
    return min(1.0, max(0.0, float(p)))


class Pipeline:
    """A batch handler's collaborators; it talks to Redis and the inference thread, never to Kafka."""

    def __init__(
        self,
        store: WindowStore,
        engine: InferenceEngine,
        settings: Settings,
        topics: Topics,
        metrics: WorkerMetrics,
    ) -> None:
        self.store = store
        self.engine = engine
        self.settings = settings
        self.topics = topics
        self.metrics = metrics

    def _dead(
        self, result: BatchResult, decoded: list[tuple[Any, RawEvent]], stage: Any, exc: BaseException
    ) -> BatchResult:
        return result.add_dead_letters(decoded, stage, exc, self.topics.dead_letter)
