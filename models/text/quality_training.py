"""Fine-tuning a quality-tier network: its knobs, the optimiser schedule, the epoch loop, early selection."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.text.quality_model import (
    QualityConfig,
    QualitySeq2Seq,
    autocast,
    build_quality_model,
    label_probs,
    pad_rows,
)


@dataclass
class QualityOptions:
    """`seqsignal train <task> --tier quality` knobs (defaults: a full fine-tune, 3 epochs)."""

    epochs: int = 3
    max_examples: int | None = None  # a seeded random N of the training examples (tests, quick runs)
    freeze_layers: int = 0  # embeddings + MiniLM layers < K get no gradient (6: only the decoder trains)
    batch_size: int = 32
    lr_encoder: float = 5e-5
    lr_head: float = 1e-3
    weight_decay: float = 0.01
    warmup_share: float = 0.06
    hidden_size: int = 256
    dropout: float = 0.1
    max_len: int = 64
    time_budget_s: float | None = None  # stop after the epoch that crosses it
    device: str = "auto"  # auto: cuda when available
    threads: int = 1
    seed: int = 0


@dataclass
class QualityFit:
    model: QualitySeq2Seq
    history: dict[str, list[float]]
    best_epoch: int
    dev_probs: np.ndarray
    seconds: float
    device: str


def pick_device(requested: str) -> str:
    return "cuda" if requested == "cuda" or (requested == "auto" and torch.cuda.is_available()) else "cpu"


def _optimiser(model: QualitySeq2Seq, o: QualityOptions, steps: int) -> tuple[Any, Any]:
    """AdamW (encoder lr / head lr), linear warm-up then linear decay to 0, stepped per batch."""
    enc = [p for p in model.encoder.parameters() if p.requires_grad]
    head = [p for n, p in model.named_parameters() if not n.startswith("encoder.") and p.requires_grad]
    groups = [{"params": enc, "lr": o.lr_encoder}] if enc else []
    opt = torch.optim.AdamW([*groups, {"params": head, "lr": o.lr_head}], weight_decay=o.weight_decay)
    warm = max(1, int(o.warmup_share * steps))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm else max(0.0, (steps - s) / max(steps - warm, 1)))
    return opt, sched


def _batches(n: int, batch_size: int, rng: np.random.Generator) -> Iterator[np.ndarray]:
    order = rng.permutation(n)
    for i in range(0, n, batch_size):
        yield order[i : i + batch_size]


def fit_quality(cfg: QualityConfig, rows: Sequence[list[int]], targets: np.ndarray,
                dev_rows: Sequence[list[int]], score: Callable[[np.ndarray], float], o: QualityOptions,
                on_epoch: Callable[[int, dict[str, float]], None] | None = None,
                progress: Any = None) -> QualityFit:
    """Fine-tune MiniLM + decoder with class-balanced cross-entropy (targets: (N,) label index); keep the
    epoch with the best dev `score`; stop at `epochs` or after the epoch that crosses the time budget."""
    torch.set_num_threads(o.threads)
    device = pick_device(o.device)
    model = build_quality_model(cfg, seed=o.seed).to(device)
    model.encoder.freeze_below(o.freeze_layers)
    counts = np.bincount(targets, minlength=len(cfg.labels)).astype(np.float64)
    balanced = counts.sum() / (len(counts) * np.maximum(counts, 1.0))  # inverse frequency, mean 1
    weight = torch.tensor(balanced, dtype=torch.float32, device=device)
    opt, sched = _optimiser(model, o, o.epochs * math.ceil(len(rows) / o.batch_size))
    rng = np.random.default_rng(o.seed)
    hist: dict[str, list[float]] = {"train_loss": [], "dev_score": []}
    best, best_state, best_epoch, best_probs = -math.inf, None, 0, np.zeros((0, len(cfg.labels)))
    t0 = time.monotonic()
    for epoch in range(1, o.epochs + 1):
        model.train()
        tot, n = 0.0, 0
        n_batches = math.ceil(len(rows) / o.batch_size)
        task = progress.add_task(f"epoch {epoch}", total=n_batches) if progress is not None else None
        for b in _batches(len(rows), o.batch_size, rng):
            ids, mask = pad_rows([rows[i] for i in b], device)
            with autocast(device):
                logits = model(ids, mask)
            loss = F.cross_entropy(logits, torch.from_numpy(targets[b]).to(device), weight=weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            sched.step()
            tot, n = tot + loss.item() * len(b), n + len(b)
            if task is not None:
                progress.advance(task)
        probs = label_probs(model, dev_rows, device)
        s = score(probs)
        hist["train_loss"].append(tot / max(n, 1))
        hist["dev_score"].append(s)
        if on_epoch:
            on_epoch(epoch, {"train_loss": tot / max(n, 1), "dev_score": s})
        if s > best + 1e-4 or best_state is None:
            best, best_epoch, best_probs = s, epoch, probs
            best_state = {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}
        if o.time_budget_s is not None and time.monotonic() - t0 > o.time_budget_s:
            break
    assert best_state is not None
    model.load_state_dict(best_state)
    return QualityFit(model.eval(), hist, best_epoch, best_probs, time.monotonic() - t0, device)
