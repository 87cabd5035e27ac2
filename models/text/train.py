"""Training loop of the text Seq2Seq models: length-bucketed batches, weighted first step, early stopping."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.models.text.model import TextModelConfig, first_step_logits, sort_batches
from seqsignal.models.text.tokenizer import pad_ids

Rows = list[list[int]]
# (rng) -> token-id rows and (N, target_len) targets (label ids, -100 = no target), drawn anew per epoch
TrainDraw = Callable[[np.random.Generator], tuple[Rows, np.ndarray]]
DevScore = Callable[[np.ndarray], float]  # first-step label probabilities (N, n_labels) -> higher is better


@dataclass
class FitConfig:
    """Optimisation knobs shared by `seqsignal train sentiment|rumor`."""

    lr: float = 2e-3
    weight_decay: float = 1e-4
    batch_size: int = 64
    max_epochs: int = 8
    patience: int = 2
    time_budget_s: float = 420.0
    class_weight_power: float = 1.0  # first-step class weights ~ freq^-power (1 = balanced)
    seed: int = 0
    threads: int = 2
    freeze_embeddings: bool = False  # keep the (pretrained) source embedding fixed: less event memorising
    # distillation (`fit(..., soft=)`): loss = (1 - w) * CE(hard) + w * T^2 * KL(teacher || model) on step 1;
    # rows without a hard label (-100) get only the KL term
    distill_weight: float = 0.5
    temperature: float = 1.0


@dataclass
class FitResult:
    model: Seq2Seq
    history: dict[str, list[float]] = field(default_factory=dict)
    best_epoch: int = 0
    dev_probs: np.ndarray | None = None
    seconds: float = 0.0


def class_weights(first: np.ndarray, n_vocab: int, power: float) -> torch.Tensor:
    """Weights for the first decoder step ~ freq^-power, mean 1 over the seen labels; BOS gets 0."""
    counts = np.bincount(first[first >= 0], minlength=n_vocab).astype(np.float64)
    w = np.where(counts > 0, np.maximum(counts, 1.0) ** -power, 0.0)
    seen = counts > 0
    w[seen] = w[seen] / (w[seen] * counts[seen]).sum() * counts[seen].sum()
    return torch.tensor(w, dtype=torch.float32)


def distill_loss(logits: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor, soft: torch.Tensor,
                 fc: FitConfig) -> torch.Tensor:
    """Step 1 with a teacher: (1 - w) * weighted CE on the rows with a hard label + w * T^2 * KL(soft || model
    over the labels, BOS excluded) on every row. logits (B, V), targets (B,), soft (B, V - 1)."""
    T, w = fc.temperature, fc.distill_weight
    kl = F.kl_div(F.log_softmax(logits[:, 1:] / T, dim=1), soft, reduction="batchmean") * T * T
    has = targets >= 0
    if not bool(has.any()):
        return w * kl
    return (1 - w) * F.cross_entropy(logits[has], targets[has], weight=weight) + w * kl


def batch_loss(
    model: Seq2Seq, ids: torch.Tensor, lengths: torch.Tensor, targets: torch.Tensor, weight: torch.Tensor,
    soft: torch.Tensor | None = None, fc: FitConfig | None = None,
) -> torch.Tensor:
    """Weighted cross-entropy of step 1 (with `soft` teacher probabilities: `distill_loss`) plus plain
    cross-entropy of later teacher-forced steps."""
    logits, h, mem, mask = first_step_logits(model, ids, lengths)  # (B, V)
    if soft is not None:
        loss = distill_loss(logits, targets[:, 0], weight, soft, fc or FitConfig())
    else:
        loss = F.cross_entropy(logits, targets[:, 0], weight=weight, ignore_index=-100)
    if targets.size(1) > 1:
        rest = targets[:, 1:]  # (B, T-1)
        if bool((rest >= 0).any()):
            later = _teacher_after_first(model, h, targets, mem, mask)  # (B, T-1, V)
            loss = loss + F.cross_entropy(
                later.reshape(-1, later.size(-1)), rest.reshape(-1), ignore_index=-100
            )
    return loss


def _teacher_after_first(
    model: Seq2Seq,
    h: torch.Tensor,
    targets: torch.Tensor,
    mem: torch.Tensor | None,
    mask: torch.Tensor | None,
) -> torch.Tensor:
    """Decoder steps 2..T fed the gold previous token. targets: (B, T) -> logits (B, T-1, V)."""
    steps = []
    for t in range(1, targets.size(1)):
        logits, h = model.decode_step(targets[:, t - 1].clamp(min=0), h, mem, mask)
        steps.append(logits)
    return torch.stack(steps, dim=1)


@torch.inference_mode()
def first_step_probs(
    model: Seq2Seq, rows: Rows, max_len: int, pad_id: int, batch_size: int = 256
) -> np.ndarray:
    """(N, V-1) first-step probabilities over the label vocabulary (BOS excluded)."""
    ids, lengths = pad_ids(rows, max_len, pad_id)
    out = None
    for b in sort_batches(lengths, batch_size):
        T = int(lengths[b].max())
        logits, _, _, _ = first_step_logits(model, torch.from_numpy(ids[b, :T]), torch.from_numpy(lengths[b]))
        p = torch.softmax(logits[:, 1:], dim=1).numpy()
        if out is None:
            out = np.zeros((len(rows), p.shape[1]), dtype=np.float32)
        out[b] = p
    assert out is not None
    return out


@torch.inference_mode()
def dev_loss(model: Seq2Seq, rows: Rows, targets: np.ndarray, max_len: int, pad_id: int) -> float:
    ids, lengths = pad_ids(rows, max_len, pad_id)
    tot, n = 0.0, 0
    for b in sort_batches(lengths, 256):
        T = int(lengths[b].max())
        logits, _, _, _ = first_step_logits(model, torch.from_numpy(ids[b, :T]), torch.from_numpy(lengths[b]))
        tot += F.cross_entropy(logits, torch.from_numpy(targets[b, 0]), reduction="sum").item()
        n += len(b)
    return tot / max(n, 1)


def _optimiser(model: Seq2Seq, fc: FitConfig) -> tuple[torch.optim.Optimizer, Any]:
    """AdamW over the trainable parameters, linear decay to 10% at max_epochs (stepped per epoch)."""
    if fc.freeze_embeddings:
        model.input_embed.requires_grad_(False)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=fc.lr, weight_decay=fc.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda e: max(0.1, 1.0 - 0.9 * e / max(fc.max_epochs - 1, 1))
    )
    return opt, sched


def _train_epoch(model: Seq2Seq, opt: torch.optim.Optimizer, rows: Rows, targets: np.ndarray, max_len: int,
                 pad_id: int, fc: FitConfig, rng: np.random.Generator, progress: Any, epoch: int,
                 soft: np.ndarray | None = None) -> float:
    """One pass over length-bucketed batches (new buckets every epoch); returns the mean training loss."""
    weight = class_weights(targets[:, 0], model.config.tgt_vocab_size, fc.class_weight_power)
    ids, lengths = pad_ids(rows, max_len, pad_id)
    jitter = lengths + rng.integers(0, 4, len(lengths))  # similar lengths per batch, new batches per epoch
    batches = sort_batches(jitter, fc.batch_size)
    rng.shuffle(batches)
    task = progress.add_task(f"epoch {epoch}", total=len(batches)) if progress is not None else None
    model.train()
    tot, n = 0.0, 0
    for b in batches:
        T = int(lengths[b].max())
        loss = batch_loss(model, torch.from_numpy(ids[b, :T]), torch.from_numpy(lengths[b]),
                          torch.from_numpy(targets[b]), weight,
                          None if soft is None else torch.from_numpy(soft[b]), fc)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        tot, n = tot + loss.item() * len(b), n + len(b)
        if task is not None:
            progress.advance(task)
    return tot / max(n, 1)


def fit(
    model: Seq2Seq,
    cfg: TextModelConfig,
    pad_id: int,
    draw: TrainDraw,
    dev_rows: Rows,
    dev_targets: np.ndarray,
    score: DevScore,
    fc: FitConfig,
    log_dir: Path | None = None,
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
    progress: Any = None,
    soft: np.ndarray | None = None,
) -> FitResult:
    """AdamW on length-bucketed batches; keep the epoch with the best dev score; stop after `patience`
    epochs without improvement, at max_epochs, or when the time budget is spent. `soft` (N, n_labels):
    teacher probabilities of the first step for every row `draw` returns (distillation, `distill_loss`)."""
    torch.set_num_threads(fc.threads)
    torch.manual_seed(fc.seed)
    rng = np.random.default_rng(fc.seed)
    writer = _writer(log_dir)
    opt, sched = _optimiser(model, fc)
    hist: dict[str, list[float]] = {"train_loss": [], "dev_loss": [], "dev_score": []}
    best, best_state, best_epoch, best_probs = -math.inf, copy.deepcopy(model.state_dict()), 0, None
    t0 = time.monotonic()
    for epoch in range(1, fc.max_epochs + 1):
        rows, targets = draw(rng)
        train_loss = _train_epoch(model, opt, rows, targets, cfg.max_len, pad_id, fc, rng, progress, epoch,
                                  soft)
        sched.step()
        model.eval()
        probs = first_step_probs(model, dev_rows, cfg.max_len, pad_id)
        s = score(probs)
        dev = dev_loss(model, dev_rows, dev_targets, cfg.max_len, pad_id)
        stats = {"train_loss": train_loss, "dev_loss": dev, "dev_score": s}
        for k, v in stats.items():
            hist[k].append(v)
            if writer is not None:
                writer.add_scalar(k, v, epoch)
        if on_epoch:
            on_epoch(epoch, stats)
        if s > best + 1e-4:
            best, best_state, best_epoch, best_probs = s, copy.deepcopy(model.state_dict()), epoch, probs
        elif epoch - best_epoch >= fc.patience:
            break
        if time.monotonic() - t0 > fc.time_budget_s:
            break
    if writer is not None:
        writer.close()
    model.load_state_dict(best_state)
    return FitResult(model.eval(), hist, best_epoch, best_probs, time.monotonic() - t0)


def _writer(log_dir: Path | None) -> Any:
    if log_dir is None:
        return None
    from torch.utils.tensorboard import SummaryWriter

    return SummaryWriter(str(log_dir))
