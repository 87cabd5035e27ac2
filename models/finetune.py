"""Short fine-tunes that continue a champion for N steps on given examples, and their evaluation (trainer)."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.behavior import data as bd
from seqsignal.models.behavior import train as behavior_train
from seqsignal.models.core import metrics as M
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.models.text.model import first_step_logits


@dataclass(frozen=True)
class FinetuneConfig:
    """A short, CPU-friendly continuation: a few hundred Adam steps at a small learning rate."""

    steps: int = 200
    lr: float = 1e-3
    batch_size: int = 64  # text examples per step
    bootstrap_weight: float = 0.2  # probability that a step draws a bootstrap batch instead of a stream one
    seed: int = 0
    shuffle_labels: bool = False  # sabotage for tests: targets permuted within each step (must not promote)


@dataclass
class FinetuneResult:
    model: Seq2Seq
    steps: int
    train_loss: float
    seconds: float


# ---------------------------------------------------------------------------------------------- behavior
def behavior_batches(
    rows: Sequence[tuple[str, int, float]], horizon: int, max_tokens: int = 2048
) -> list[bd.Batch]:
    """(user, action index, ts) rows in time order -> padded whole-user batches."""
    return bd.make_batches(bd.group_by_user(rows), horizon, max_tokens)


def finetune_behavior(
    champion: Seq2Seq,
    stream: list[bd.Batch],
    stream_until: float,
    bootstrap: list[bd.Batch],
    bootstrap_until: float,
    cfg: FinetuneConfig,
) -> FinetuneResult:
    """Continue `champion` (a copy) for cfg.steps steps on stream positions whose next action is before
    `stream_until`, mixed with bootstrap positions before `bootstrap_until` at cfg.bootstrap_weight."""
    t0 = time.monotonic()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = copy.deepcopy(champion).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    pools = [(stream, stream_until), (bootstrap, bootstrap_until)]
    losses: list[float] = []
    done = 0
    for _ in range(cfg.steps):
        use_boot = bool(bootstrap) and (not stream or rng.random() < cfg.bootstrap_weight)
        batches, until = pools[1] if use_boot else pools[0]
        if not batches:
            break
        batch = batches[int(rng.integers(len(batches)))]
        h, tgt, _ = behavior_train.positions(model, batch, -math.inf, until)
        if not len(h):
            continue
        if cfg.shuffle_labels:
            tgt = tgt[torch.randperm(len(tgt))]
        loss, _ = behavior_train.teacher_loss(model, h, tgt, None)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.item()))
        done += 1
    return FinetuneResult(
        model.eval(), done, float(np.mean(losses)) if losses else math.nan, time.monotonic() - t0
    )


def evaluate_behavior(model: Seq2Seq, batches: list[bd.Batch], lo: float, hi: float) -> dict[str, float]:
    """Loss per target token (n_tokens of them), next-action accuracy and macro-F1 over the n positions of
    users with >= 5 prior actions (the models' evaluation protocol)."""
    r = behavior_train.evaluate(model, batches, lo, hi)
    n_tokens = sum(int((b.targets[(b.target_ts >= lo) & (b.target_ts < hi)] >= 0).sum()) for b in batches)
    return {
        "loss": float(r["loss"]),
        "accuracy": float(r["accuracy"]),
        "macro_f1": float(r["macro_f1"]),
        "n": float(r["n"]),
        "n_tokens": float(n_tokens),
    }


# -------------------------------------------------------------------------------------------------- text
@dataclass(frozen=True)
class TextExamples:
    """Token ids (N, T), lengths (N,) and label indices (N,) into the model's label list."""

    ids: np.ndarray
    lengths: np.ndarray
    labels: np.ndarray


def _text_loss(model: Seq2Seq, ex: TextExamples, idx: np.ndarray) -> torch.Tensor:
    T = max(int(ex.lengths[idx].max()), 1)
    logits, *_ = first_step_logits(
        model, torch.from_numpy(ex.ids[idx, :T]), torch.from_numpy(ex.lengths[idx])
    )
    return F.cross_entropy(logits, torch.from_numpy(ex.labels[idx] + 1))  # label i has target id i + 1


def finetune_text(
    champion: Seq2Seq, stream: TextExamples, bootstrap: TextExamples | None, cfg: FinetuneConfig
) -> FinetuneResult:
    """Continue a text model (a copy) on its first decoder step (the label token) for cfg.steps steps."""
    t0 = time.monotonic()
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = copy.deepcopy(champion).train()
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    losses: list[float] = []
    for _ in range(cfg.steps):
        use_boot = (
            bootstrap is not None
            and len(bootstrap.labels) > 0
            and (len(stream.labels) == 0 or rng.random() < cfg.bootstrap_weight)
        )
        pool = bootstrap if use_boot and bootstrap is not None else stream
        if not len(pool.labels):
            break
        idx = rng.choice(len(pool.labels), size=min(cfg.batch_size, len(pool.labels)), replace=False)
        if cfg.shuffle_labels:
            pool = TextExamples(pool.ids, pool.lengths, pool.labels.copy())
            pool.labels[idx] = pool.labels[rng.permutation(idx)]
        loss = _text_loss(model, pool, idx)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        losses.append(float(loss.item()))
    return FinetuneResult(
        model.eval(), len(losses), float(np.mean(losses)) if losses else math.nan, time.monotonic() - t0
    )


@torch.no_grad()
def evaluate_text(
    model: Seq2Seq,
    ex: TextExamples,
    label_names: Sequence[str],
    classes: Sequence[str] | None = None,
    chunk: int = 256,
) -> dict[str, Any]:
    """Cross-entropy of the label token, accuracy and macro-F1, n; restricted to `classes` (default: every
    label), e.g. rumour / non-rumour for the rumor model, whose first step also holds veracity labels."""
    model.eval()
    keep = [label_names.index(c) for c in (classes or label_names)]
    remap = np.full(len(label_names), -1, np.int64)
    remap[keep] = np.arange(len(keep))
    nll, gold, pred = 0.0, [], []
    for lo in range(0, len(ex.labels), chunk):
        idx = np.arange(lo, min(lo + chunk, len(ex.labels)))
        T = max(int(ex.lengths[idx].max()), 1)
        logits, *_ = first_step_logits(
            model, torch.from_numpy(ex.ids[idx, :T]), torch.from_numpy(ex.lengths[idx])
        )
        logits = logits[:, [1 + k for k in keep]]  # (b, n_classes); target id of label i is i + 1
        y = torch.from_numpy(remap[ex.labels[idx]])
        nll += float(F.cross_entropy(logits, y, reduction="sum"))
        gold += [label_names[keep[i]] for i in y.tolist()]
        pred += [label_names[keep[i]] for i in logits.argmax(1).tolist()]
    n = len(gold)
    return {
        "loss": nll / max(n, 1),
        "accuracy": M.accuracy(gold, pred) if n else math.nan,
        "macro_f1": M.macro_f1(gold, pred) if n else math.nan,
        "n": float(n),
    }
