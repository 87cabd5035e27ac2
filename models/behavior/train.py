"""Behavior training: teacher-forced k-step targets from every position of every user, early stopping."""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.behavior import data as bd
from seqsignal.models.behavior.predictor import behavior_config
from seqsignal.models.core import metrics as M
from seqsignal.models.core.seq2seq import Seq2Seq
from seqsignal.schemas.events import ACTION_TYPES

MIN_PRIOR = 5  # the evaluation protocol scores users with at least this many earlier actions


@dataclass
class TrainConfig:
    """Hyper-parameters of `seqsignal train behavior` (defaults fit ~2 minutes on 2 cores)."""

    hidden_size: int = 64
    emb_dim: int = 16
    dropout: float = 0.1
    horizon: int = 3
    lr: float = 3e-3
    weight_decay: float = 1e-5
    max_epochs: int = 40
    patience: int = 5
    max_tokens: int = 1024  # padded user-steps per batch
    dev_hours: float = 12.0  # the last hours before the split are the dev set
    refit: bool = True  # after early stopping, retrain on all pre-split events for the best epoch count
    class_weight_power: float = 0.0  # 0 = plain cross-entropy; 0.5 = weights ~ freq^-0.5
    ema_decay: float = 0.98  # per step; averaging weights damps seed-to-seed variance (0 = off)
    seed: int = 0
    time_budget_s: float = 420.0  # fit stops early past ~70% of it; refit only if it fits the rest
    split_ts: float = bd.SPLIT_TS
    threads: int = 1  # tiny GRU: a second thread only adds contention on shared cores
    targets: bool = True  # also train the next-target ranker (stored in the same version)
    target_reverse_edges: bool = False  # ranker variant with reverse edges (evaluation only; not served)
    target_epochs: int = 30
    target_window: int = 64  # targeted actions per user (the worker's window.max_actions)


@dataclass
class TrainResult:
    model: Seq2Seq
    history: dict[str, list[float]] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)
    confusion: np.ndarray | None = None
    data: dict[str, Any] = field(default_factory=dict)
    decision_bias: list[float] = field(default_factory=list)  # (V,) added to log-probs when choosing


def _tensors(b: bd.Batch) -> tuple[torch.Tensor, ...]:
    return (torch.from_numpy(b.feats), torch.from_numpy(b.lengths), torch.from_numpy(b.targets),
            torch.from_numpy(b.target_ts))


def positions(model: Seq2Seq, b: bd.Batch, lo: float, hi: float
               ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Encoder states (N, H), targets (N, k) (-100 = none) and prior counts (N,) at positions whose next
    action falls in [lo, hi)."""
    feats, lengths, targets, tts = _tensors(b)
    out, _ = model.encode(feats, lengths)  # (B, T, H): out[:, t] is the state after t + 1 actions
    mask = (tts >= lo) & (tts < hi)  # (B, T)
    prior = torch.arange(out.size(1)).expand_as(mask) + 1  # (B, T)
    tgt = targets[mask]  # (N, k)
    return out[mask], torch.where(tgt >= 0, tgt + 1, -100), prior[mask]


def teacher_loss(model: Seq2Seq, h: torch.Tensor, tgt: torch.Tensor, weight: torch.Tensor | None
          ) -> tuple[torch.Tensor, torch.Tensor]:
    logits = model.decode_teacher(h.unsqueeze(0), tgt)  # (N, k, V)
    flat = logits.reshape(-1, logits.size(-1))
    return F.cross_entropy(flat, tgt.reshape(-1), weight=weight, ignore_index=-100), logits


def class_weights(batches: list[bd.Batch], power: float, n_tokens: int) -> torch.Tensor | None:
    if power <= 0:
        return None
    counts = np.ones(n_tokens)
    for b in batches:
        t = b.targets[..., 0]
        counts[1:] += np.bincount(t[t >= 0], minlength=n_tokens - 1)
    w = counts ** -power
    w[0] = 0.0  # BOS is never a target
    return torch.tensor(w / w[1:][counts[1:] > 1].mean(), dtype=torch.float32)


@torch.no_grad()
def evaluate(model: Seq2Seq, batches: list[bd.Batch], lo: float, hi: float,
             bias: torch.Tensor | None = None) -> dict[str, Any]:
    """Loss per token over [lo, hi); next-action accuracy and macro-F1 (users with >= MIN_PRIOR prior
    actions) with the decision bias; `logp` (N, V) keeps the first-step log-probs for tuning."""
    model.eval()
    nll, n_tok, gold, logps = 0.0, 0, [], []
    for b in batches:
        h, tgt, prior = positions(model, b, lo, hi)
        if not len(h):
            continue
        loss, logits = teacher_loss(model, h, tgt, None)
        k = int((tgt >= 0).sum())
        nll, n_tok = nll + loss.item() * k, n_tok + k
        sel = prior >= MIN_PRIOR
        gold.append(tgt[sel, 0])
        logps.append(torch.log_softmax(logits[sel, 0], -1))
    g = torch.cat(gold) if gold else torch.zeros(0, dtype=torch.long)
    logp = torch.cat(logps) if logps else torch.zeros(0, model.config.tgt_vocab_size)
    return {"loss": nll / max(n_tok, 1), "gold": g, "logp": logp} | _decide(g, logp, bias)


def _decide(gold: torch.Tensor, logp: torch.Tensor, bias: torch.Tensor | None) -> dict[str, Any]:
    pred = (logp if bias is None else logp + bias).argmax(-1)
    g = [ACTION_TYPES[i - 1] for i in gold.tolist()]
    p = [ACTION_TYPES[i - 1] for i in pred.tolist()]
    return {"accuracy": M.accuracy(g, p), "macro_f1": M.macro_f1(g, p), "n": len(g), "g": g, "p": p}


def tune_bias(dev: dict[str, Any], prior: np.ndarray) -> tuple[float, torch.Tensor]:
    """Prior correction for macro-F1: choose tau in [0, 1] maximising dev macro-F1 of argmax(log p - tau log
    prior) (ties -> smaller tau). prior: (V,) first-step target frequencies."""
    log_prior = torch.tensor(np.log(np.maximum(prior, 1e-6)), dtype=torch.float32)
    best = (-1.0, 0.0)
    for tau in np.linspace(0.0, 1.0, 11):
        f1 = _decide(dev["gold"], dev["logp"], -float(tau) * log_prior)["macro_f1"]
        if f1 > best[0] + 1e-9:
            best = (f1, float(tau))
    return best[1], -best[1] * log_prior


def _train(batches: list[bd.Batch], cfg: TrainConfig, hi: float, epochs: int, dev_from: float | None,
           on_epoch: Callable[[int, dict[str, float]], None] | None, hist: dict[str, list[float]]
           ) -> tuple[Seq2Seq, int]:
    """Adam on positions whose next action is before `hi`; with dev_from, early-stop on dev loss."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model = Seq2Seq(behavior_config(cfg.hidden_size, cfg.emb_dim, cfg.dropout, cfg.horizon))
    opt = torch.optim.Adam(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    weight = class_weights(batches, cfg.class_weight_power, model.config.tgt_vocab_size)
    avg = copy.deepcopy(model)  # exponential moving average of the weights: what is evaluated and kept
    best, best_state, best_epoch, t0 = math.inf, copy.deepcopy(avg.state_dict()), epochs, time.monotonic()
    for epoch in range(1, epochs + 1):
        model.train()
        tot, n = 0.0, 0
        for i in rng.permutation(len(batches)):
            h, tgt, _ = positions(model, batches[i], -math.inf, hi)
            if not len(h):
                continue
            loss, _ = teacher_loss(model, h, tgt, weight)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            opt.step()
            with torch.no_grad():
                for a, p in zip(avg.parameters(), model.parameters(), strict=True):
                    a.lerp_(p, 1.0 - cfg.ema_decay)
            tot, n = tot + loss.item() * len(h), n + len(h)
        row = {"train_loss": tot / max(n, 1)}
        if dev_from is not None:
            dev = evaluate(avg, batches, dev_from, cfg.split_ts)
            row |= {"dev_loss": dev["loss"], "dev_macro_f1": dev["macro_f1"], "dev_accuracy": dev["accuracy"]}
            if dev["loss"] < best - 1e-4:
                best, best_state, best_epoch = dev["loss"], copy.deepcopy(avg.state_dict()), epoch
        for k, v in row.items():
            hist.setdefault(k, []).append(v)
        if on_epoch:
            on_epoch(epoch, row)
        if dev_from is not None and (epoch - best_epoch >= cfg.patience
                                     or time.monotonic() - t0 > 0.7 * cfg.time_budget_s):
            break
    if dev_from is not None:
        avg.load_state_dict(best_state)
    return avg.eval(), best_epoch


def fit(batches: list[bd.Batch], cfg: TrainConfig,
        on_epoch: Callable[[str, int, dict[str, float]], None] | None = None) -> TrainResult:
    """Early-stop on [split - dev_hours, split), tune the decision bias there, then (cfg.refit) retrain on
    everything before the split for the best epoch count, so the newest hours are learnt too."""
    t0 = time.monotonic()
    dev_from = cfg.split_ts - cfg.dev_hours * 3600
    hist: dict[str, list[float]] = {}
    model, best_epoch = _train(batches, cfg, dev_from, cfg.max_epochs, dev_from,
                               (lambda e, r: on_epoch("fit", e, r)) if on_epoch else None, hist)
    dev = evaluate(model, batches, dev_from, cfg.split_ts)
    prior = np.ones(model.config.tgt_vocab_size)
    for b in batches:
        t = b.targets[..., 0][b.target_ts < cfg.split_ts]
        prior[1:] += np.bincount(t[t >= 0], minlength=len(prior) - 1)
    prior[0] = 0.0
    tau, bias = tune_bias(dev, prior / prior.sum())
    tuned = _decide(dev["gold"], dev["logp"], bias)
    cm = M.confusion(tuned["g"], tuned["p"], labels=sorted(set(tuned["g"])))
    metrics = {"dev_loss": dev["loss"], "dev_perplexity": math.exp(dev["loss"]),
               "dev_accuracy": tuned["accuracy"], "dev_macro_f1": tuned["macro_f1"],
               "dev_macro_f1_argmax": dev["macro_f1"], "dev_n": float(dev["n"]), "tau": tau,
               "best_epoch": float(best_epoch), "epochs": float(len(hist["train_loss"]))}
    elapsed = time.monotonic() - t0
    refit_estimate = 1.2 * elapsed / max(len(hist["train_loss"]), 1) * best_epoch
    metrics["refit"] = float(cfg.refit and elapsed + refit_estimate <= cfg.time_budget_s)
    if metrics["refit"]:  # skipped when it would overrun the budget (busy machine): keep the dev-phase model
        model, _ = _train(batches, cfg, cfg.split_ts, best_epoch, None,
                          (lambda e, r: on_epoch("refit", e, r)) if on_epoch else None, {})
    metrics["train_seconds"] = time.monotonic() - t0
    return TrainResult(model, hist, metrics, cm, {"config": asdict(cfg), "dev_from": dev_from,
                                                  "labels": sorted(set(tuned["g"]))},
                       bias.tolist())


def load_training_batches(path: str | Path | None, cfg: TrainConfig) -> tuple[list[bd.Batch], dict[str, Any]]:
    """Events before the split, grouped per user, batched; plus a description for the manifest."""
    seqs = bd.group_by_user(bd.iter_events(path, until=cfg.split_ts))
    batches = bd.make_batches(seqs, cfg.horizon, cfg.max_tokens)
    n_events = int(sum(len(i) for i in seqs.ids))
    return batches, {"path": str(path or bd.default_higgs_path()), "until_ts": cfg.split_ts,
                     "n_events": n_events, "n_users": len(seqs.users)}
