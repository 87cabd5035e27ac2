"""Model serving: predictors loaded and warmed up once; batched calls in one inference thread or inline."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, overload

import numpy as np
import torch

from seqsignal.models.core import registry
from seqsignal.models.core.registry import Tier, load_predictor
from seqsignal.models.core.serving import (
    BehaviorModel,
    Predictor,
    RumorModel,
    SentimentModel,
    UserJob,
    UserResult,
)
from seqsignal.schemas.events import Task
from seqsignal.workers.settings import ModelSettings
from seqsignal.workers.stream.metrics import STREAM_OF_TASK, WorkerMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")


def pick_device(requested: str) -> str:
    """'cuda' when asked for or available under 'auto', else 'cpu'."""
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


def pick_tier(requested: str, device: str, registry_dir: Path, task: str) -> Tier:
    """The tier served for `task`: 'quality' when asked for ('auto': and the device is CUDA) and the task
    has a quality champion, else 'fast' (behavior, and any task without a quality champion)."""
    wants = requested == "quality" or (requested == "auto" and device == "cuda")
    if wants and registry.champion(registry_dir, task, "quality") is not None:
        return "quality"
    if requested == "quality":
        log.warning("no quality-tier champion; serving the fast tier", extra={"task": task})
    return "fast"


class InferenceEngine:
    """Holds the served predictors. Text models (sentiment, rumour) run in one dedicated thread; the
    behavior model's batch runs on the event loop (`run_inline`): a few milliseconds of small tensor ops,
    which in a thread of their own waited for the interpreter lock behind the loop at every op (inline
    was 1.11x the drain, docs/benchmarks.md)."""

    def __init__(self, settings: ModelSettings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.device = pick_device(settings.device)
        if settings.torch_threads:  # for the inline calls (torch's thread count is set per calling thread)
            torch.set_num_threads(settings.torch_threads)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqsignal-inference")
        self._predictors: dict[Task, Predictor] = {}
        self._tiers: dict[Task, Tier] = {}  # the tier served per task, fixed at its first load

    @overload
    def predictor(self, task: Literal["behavior"]) -> BehaviorModel: ...
    @overload
    def predictor(self, task: Literal["sentiment"]) -> SentimentModel: ...
    @overload
    def predictor(self, task: Literal["rumor"]) -> RumorModel: ...
    @overload
    def predictor(self, task: Task) -> Predictor: ...
    def predictor(self, task: Task) -> Predictor:
        """The current predictor of a task (swapped atomically by `swap`); each is stored under its own
        `task`, so the overloads' narrowing holds."""
        return self._predictors[task]

    def version(self, task: Task) -> str:
        return self._predictors[task].version

    def tier(self, task: Task) -> Tier:
        """The tier this worker serves for `task` (chosen at the first load from `model.tier`, kept by every
        hot swap: announcements of the other tier are ignored)."""
        if task not in self._tiers:
            self._tiers[task] = pick_tier(self.settings.tier, self.device, self.settings.registry_dir, task)
        return self._tiers[task]

    @contextlib.contextmanager
    def _inference_context(self) -> Iterator[None]:
        with torch.inference_mode():
            if self.device == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    yield
            else:
                yield

    def _call(
        self, task: str, fn: Callable[..., T], args: tuple[Any, ...], queued_at: float | None = None
    ) -> T:
        t0 = time.perf_counter()
        if queued_at is not None:  # waited for the one inference thread (the other stream's calls)
            stream = STREAM_OF_TASK.get(task, task)
            self.metrics.queue_wait_seconds.labels(stream=stream).observe(t0 - queued_at)
        if args and hasattr(args[0], "__len__"):
            self.metrics.inference_batch_size.labels(task=task).observe(len(args[0]))
        with self._inference_context():
            result = fn(*args)
        self.metrics.inference_seconds.labels(task=task).observe(time.perf_counter() - t0)
        return result

    async def run(self, task: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in the inference thread under inference_mode (and bf16 autocast on CUDA)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, task, fn, args, time.perf_counter())

    async def run_inline(self, task: str, fn: Callable[..., T], *args: Any) -> T:
        """`run`, on the calling (event-loop) thread: for calls of a few milliseconds, where the hand-over
        to the inference thread and its lock waits cost more than the call."""
        return self._call(task, fn, args)

    def _load_sync(self, task: Task, version: str | None) -> Predictor:
        """Load and warm up (the predictor's own `warm_up`, under the serving context) in this thread."""
        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        predictor: Predictor = load_predictor(
            task, self.settings.registry_dir, version=version, device=self.device, tier=self.tier(task)
        )
        if predictor.task != task:
            raise ValueError(f"the {task} loader returned a {predictor.task} predictor")
        with self._inference_context():
            predictor.warm_up()
        return predictor

    async def load(self, task: Task, version: str | None = None) -> str:
        """Load a task's champion (or `version`) in the inference thread, warm it up, then swap it in."""
        loop = asyncio.get_running_loop()
        predictor = await loop.run_in_executor(self._executor, self._load_sync, task, version)
        self.swap(task, predictor)
        log.info("model loaded", extra={"task": task, "version": predictor.version, "device": self.device,
                                        "tier": self.tier(task)})
        return predictor.version

    def swap(self, task: Task, predictor: Predictor) -> None:
        """Serve an already loaded, verified and warmed-up predictor (call on the event loop: pipelines take
        their predictor once per batch, so the swap falls between two batches)."""
        if predictor.task != task:
            raise ValueError(f"a {predictor.task} predictor cannot serve {task}")
        self._predictors[task] = predictor
        self.metrics.set_model(task, predictor.version, self.device)
        log.info("model swapped", extra={"task": task, "version": predictor.version})

    def loaded(self, task: Task) -> bool:
        return task in self._predictors

    @property
    def warm(self) -> bool:
        """Every task's model is loaded (and so warmed up)."""
        return all(task in self._predictors for task in get_args(Task))

    async def ensure(self, task: str) -> None:
        """Load (and warm up) a task's champion unless loaded; `task` must be one of `schemas.events.Task`."""
        known: Task | None = next((t for t in get_args(Task) if t == task), None)
        if known is None:
            raise ValueError(f"unknown task {task!r}; tasks are {get_args(Task)}")
        if known not in self._predictors:
            await self.load(known)

    async def behavior(
        self, predictor: BehaviorModel, jobs: list[UserJob], horizon: int, beam_size: int
    ) -> list[UserResult]:
        """Behavior work of one batch with the predictor the jobs were planned against."""
        return await self.run_inline("behavior", predictor.run, jobs, horizon, beam_size)

    async def sentiment(self, texts: list[str]) -> np.ndarray:
        return await self.run("sentiment", self.predictor("sentiment").predict, texts)

    async def rumor(self, sources: list[str], replies: list[list[str]]) -> np.ndarray:
        return await self.run("rumor", self.predictor("rumor").score, sources, replies)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
