"""Model serving: predictors loaded once, batched calls in one worker thread, behavior encoder-state logic."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
import torch

from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.core.registry import load_predictor
from seqsignal.workers.settings import ModelSettings
from seqsignal.workers.stream.metrics import WorkerMetrics

log = logging.getLogger(__name__)
T = TypeVar("T")
TASKS = ("behavior", "sentiment", "rumor")


def pick_device(requested: str) -> str:
    """'cuda' when asked for or available under 'auto', else 'cpu'."""
    if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()):
        return "cuda"
    return "cpu"


@dataclass
class UserJob:
    """One user's behavior work in a batch: re-encode `window` (state None) or advance `state` by `new`."""

    window: list[ActionRecord]  # the user's window after this batch, oldest first
    state: np.ndarray | None  # a valid cached encoder state (S,), or None to rebuild from the window
    prev_ts: float = math.nan  # ts of the action the cached state ends at (NaN: none)
    new: list[ActionRecord] = field(default_factory=list)  # actions to advance by, in order
    each_at: list[int] = field(default_factory=list)  # window indices to predict at besides the end


@dataclass
class UserResult:
    """Final encoder state of one user and its predictions: (last action, output) per prediction point."""

    state: np.ndarray
    rebuilt: bool
    predictions: list[tuple[ActionRecord, Any]]


def run_behavior(predictor: Any, jobs: list[UserJob], horizon: int, beam_size: int) -> list[UserResult]:
    """All behavior work of one batch with one encode call, one advance call per step and one predict."""
    n = len(jobs)
    states = np.zeros((n, int(predictor.state_size)), dtype=np.float32)  # (B, S)
    points: list[tuple[int, np.ndarray, ActionRecord]] = []
    rebuild = [i for i, j in enumerate(jobs) if j.state is None]
    if rebuild:
        states[rebuild] = predictor.encode_windows([jobs[i].window for i in rebuild])
        prefixes = [(i, p) for i in rebuild for p in jobs[i].each_at if 0 <= p < len(jobs[i].window) - 1]
        if prefixes:
            enc = predictor.encode_windows([jobs[i].window[: p + 1] for i, p in prefixes])
            points += [(i, enc[k], jobs[i].window[p]) for k, (i, p) in enumerate(prefixes)]
    advance = [i for i, j in enumerate(jobs) if j.state is not None]
    for i in advance:
        states[i] = jobs[i].state
    prev_ts = np.array([jobs[i].prev_ts for i in range(n)], dtype=np.float64)
    steps = max((len(jobs[i].new) for i in advance), default=0)
    for step in range(steps):
        rows = [i for i in advance if len(jobs[i].new) > step]
        new = [jobs[i].new[step] for i in rows]
        states[rows] = predictor.advance(states[rows], prev_ts[rows], new)
        prev_ts[rows] = [a.ts for a in new]
        points += [
            (i, states[i].copy(), jobs[i].new[step])
            for i in rows
            if jobs[i].each_at and step < len(jobs[i].new) - 1
        ]
    points += [(i, states[i], jobs[i].window[-1]) for i in range(n)]
    outputs = predictor.predict(np.stack([p[1] for p in points]), [p[2] for p in points], horizon, beam_size)
    results = [UserResult(states[i], jobs[i].state is None, []) for i in range(n)]
    for (i, _, last), out in zip(points, outputs, strict=True):
        results[i].predictions.append((last, out))
    return results


class InferenceEngine:
    """Holds the served predictors; every model call runs in one dedicated thread, never on the loop."""

    def __init__(self, settings: ModelSettings, metrics: WorkerMetrics) -> None:
        self.settings = settings
        self.metrics = metrics
        self.device = pick_device(settings.device)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="seqsignal-inference")
        self._predictors: dict[str, Any] = {}

    def predictor(self, task: str) -> Any:
        """The current predictor of a task (swapped atomically by `load`)."""
        return self._predictors[task]

    def version(self, task: str) -> str:
        return str(self._predictors[task].version)

    @contextlib.contextmanager
    def _inference_context(self) -> Iterator[None]:
        with torch.inference_mode():
            if self.device == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    yield
            else:
                yield

    def _call(self, task: str, fn: Callable[..., T], args: tuple[Any, ...]) -> T:
        t0 = time.perf_counter()
        with self._inference_context():
            result = fn(*args)
        self.metrics.inference_seconds.labels(task=task).observe(time.perf_counter() - t0)
        return result

    async def run(self, task: str, fn: Callable[..., T], *args: Any) -> T:
        """Run `fn(*args)` in the inference thread under inference_mode (and bf16 autocast on CUDA)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._call, task, fn, args)

    def _load_sync(self, task: str, version: str | None) -> Any:
        if self.settings.torch_threads:
            torch.set_num_threads(self.settings.torch_threads)
        return load_predictor(task, self.settings.registry_dir, version=version, device=self.device)

    async def load(self, task: str, version: str | None = None) -> str:
        """Load a task's champion (or `version`) in the inference thread, then swap it in atomically."""
        loop = asyncio.get_running_loop()
        predictor = await loop.run_in_executor(self._executor, self._load_sync, task, version)
        self.swap(task, predictor)
        log.info(
            "model loaded", extra={"task": task, "version": str(predictor.version), "device": self.device}
        )
        return str(predictor.version)

    def swap(self, task: str, predictor: Any) -> None:
        """Serve an already loaded, verified and warmed-up predictor (call on the event loop: pipelines take
        their predictor once per batch, so the swap falls between two batches)."""
        self._predictors[task] = predictor
        self.metrics.set_model(task, str(predictor.version), self.device)
        log.info("model swapped", extra={"task": task, "version": str(predictor.version)})

    def loaded(self, task: str) -> bool:
        return task in self._predictors

    @property
    def warm(self) -> bool:
        """Every task's model is loaded (and was warmed up by one call)."""
        return all(task in self._predictors for task in TASKS)

    async def ensure(self, task: str) -> None:
        """Load a task's champion unless loaded, plus one warm-up call (first-call latency off the path)."""
        if task in self._predictors:
            return
        await self.load(task)
        if task == "sentiment":
            await self.run(task, self.predictor(task).predict, ["warm up"])
        elif task == "rumor":
            await self.run(task, self.predictor(task).score, ["warm up"], [["ok"]])

    async def behavior(
        self, predictor: Any, jobs: list[UserJob], horizon: int, beam_size: int
    ) -> list[UserResult]:
        """Behavior work of one batch with the predictor the jobs were planned against."""
        return await self.run("behavior", run_behavior, predictor, jobs, horizon, beam_size)

    async def sentiment(self, texts: list[str]) -> np.ndarray:
        return await self.run("sentiment", self.predictor("sentiment").predict, texts)

    async def rumor(self, sources: list[str], replies: list[list[str]]) -> np.ndarray:
        return await self.run("rumor", self.predictor("rumor").score, sources, replies)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=False)
