"""Prequential behavior evaluation: predict each user's next action(s) before seeing them, with baselines."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from seqsignal.models.behavior import data as bd
from seqsignal.models.behavior import target_walk as tw
from seqsignal.models.behavior.baselines import all_baselines
from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.behavior.predictor import BehaviorPredictor
from seqsignal.models.behavior.target_model import evaluate_targets
from seqsignal.models.core import metrics as M
from seqsignal.schemas.events import ACTION_TYPES

MIN_PRIOR = 5


@dataclass
class Stream:
    """History then data events, time-ordered; `scored[i]` marks data events of users with >= 5 prior actions,
    `refs[i]` holds the user's actual next k action indices from event i on (fewer at the stream's end)."""

    events: list[bd.Event]
    scored: np.ndarray  # (N,) bool
    position: np.ndarray  # (N,) the event's index within its user's sequence
    refs: dict[int, list[int]]


def load_stream(history: str | Path | None, data: str | Path | None, split_at: float | None,
                horizon: int, until: float | None = None) -> Stream:
    """History = events before split_at (all of the file if None); data = events from split_at on."""
    hist = list(bd.iter_events(history, until=split_at))
    dat = list(bd.iter_events(data, since=split_at, until=until))
    events = hist + dat
    counts: Counter[str] = Counter()
    position = np.zeros(len(events), np.int64)
    scored = np.zeros(len(events), bool)
    per_user: dict[str, list[int]] = {}
    for i, (u, _a, _t) in enumerate(events):
        position[i] = counts[u]
        scored[i] = i >= len(hist) and counts[u] >= MIN_PRIOR
        counts[u] += 1
        per_user.setdefault(u, []).append(i)
    refs: dict[int, list[int]] = {}
    for idx in per_user.values():
        for j, i in enumerate(idx):
            if scored[i]:
                refs[i] = [events[m][1] for m in idx[j: j + horizon]]
    return Stream(events, scored, position, refs)


def _scores(gold: list[int], hyps: list[list[int]], refs: list[list[int]]) -> dict[str, Any]:
    g = [ACTION_TYPES[i] for i in gold]
    p = [ACTION_TYPES[h[0]] for h in hyps]
    names = [[ACTION_TYPES[i] for i in h[: len(r)]] for h, r in zip(hyps, refs, strict=True)]
    ref_names = [[ACTION_TYPES[i] for i in r] for r in refs]
    return {"accuracy": M.accuracy(g, p), "macro_f1": M.macro_f1(g, p), "n": len(g),
            "bleu": M.sequence_bleu(names, ref_names), "by_class": _by_class(g, p)}


def _by_class(gold: Sequence[str], pred: Sequence[str]) -> dict[str, dict[str, float | None]]:
    """Per action type: its share of the scored events, recall and precision (for the error analysis)."""
    n_gold, n_pred = Counter(gold), Counter(pred)
    hits = Counter(x for x, y in zip(gold, pred, strict=True) if x == y)
    return {a: {"share": n_gold[a] / max(len(gold), 1), "recall": hits[a] / n_gold[a] if n_gold[a] else None,
                "precision": hits[a] / n_pred[a] if n_pred[a] else None} for a in ACTION_TYPES}


def score_baselines(stream: Stream, horizon: int) -> dict[str, dict[str, Any]]:
    """Each baseline walks the whole stream in time order: predict scored events, then update."""
    out: dict[str, dict[str, float]] = {}
    for b in all_baselines():
        gold: list[int] = []
        hyps: list[list[int]] = []
        refs: list[list[int]] = []
        for i, (u, a, _t) in enumerate(stream.events):
            if stream.scored[i]:
                gold.append(a)
                hyps.append([ACTION_TYPES.index(x) for x in b.predict(u, horizon)])
                refs.append(stream.refs[i])
            b.update(u, ACTION_TYPES[a])
        out[b.name] = _scores(gold, hyps, refs)
    return out


def walk_model(pred: BehaviorPredictor, stream: Stream) -> tuple[np.ndarray, list[int]]:
    """Advance every scored user's state one action at a time (as the worker does), keeping the state before
    each scored event. Returns states (N_scored, S) and the event indices they belong to."""
    users: dict[str, list[int]] = {}
    for i, (u, _a, _t) in enumerate(stream.events):
        users.setdefault(u, []).append(i)
    seqs = [idx for idx in users.values() if any(stream.scored[i] for i in idx)]
    seqs.sort(key=len, reverse=True)  # users still active at step t are a prefix of this list
    lens = np.array([len(s) for s in seqs])
    states = np.zeros((len(seqs), pred.state_size), np.float32)  # (U, S)
    prev_ts = np.full(len(seqs), np.nan)
    kept: list[np.ndarray] = []
    where: list[int] = []
    for t in range(len(seqs[0]) if seqs else 0):
        active = int(np.count_nonzero(lens > t))  # lens is descending: rows [:active] are still going
        rows = [s[t] for s in seqs[:active]]
        sel = [r for r, i in enumerate(rows) if stream.scored[i]]
        if sel:
            kept.append(states[sel].copy())
            where += [rows[r] for r in sel]
        new = [ActionRecord(ACTION_TYPES[stream.events[i][1]], stream.events[i][2]) for i in rows]
        states[:active] = pred.advance(states[:active], prev_ts[:active], new)
        prev_ts[:active] = [r.ts for r in new]
    S = pred.state_size
    return (np.concatenate(kept) if kept else np.zeros((0, S), np.float32)), where


def score_model(pred: BehaviorPredictor, stream: Stream, horizon: int, beam_size: int = 1,
                chunk: int = 4096) -> dict[str, Any]:
    states, where = walk_model(pred, stream)
    gold, hyps, refs = [], [], []
    nll, n_tok = 0.0, 0
    for lo in range(0, len(where), chunk):
        st = states[lo: lo + chunk]
        idx, _p, _s = pred.predict_arrays(st, horizon, beam_size)
        r = [stream.refs[i] for i in where[lo: lo + chunk]]
        tgt = np.full((len(r), horizon), -1, np.int64)
        for j, ref in enumerate(r):
            tgt[j, : len(ref)] = ref
        nll += float(pred.sequence_nll(st, tgt).sum())
        n_tok += int((tgt >= 0).sum())
        gold += [ref[0] for ref in r]
        hyps += idx.tolist()
        refs += r
    return _scores(gold, hyps, refs) | {"perplexity": M.perplexity(nll, n_tok)}


def _targets(pred: BehaviorPredictor | None, history: str | Path | None, data: str | Path | None,
             split_at: float | None, until: float | None, baselines: bool) -> dict[str, Any]:
    """Next-target HR@10 / MRR@10 of the model's ranker and of the target baselines on the same scored
    events (data events of users with >= MIN_PRIOR earlier actions)."""
    ranker = pred.targets if pred is not None else None
    if ranker is None and not baselines:
        return {}
    hist = list(tw.iter_target_events(history, until=split_at))
    events = hist + list(tw.iter_target_events(data, since=split_at, until=until))
    return evaluate_targets(ranker, events, len(hist), MIN_PRIOR, baselines)


def evaluate(pred: BehaviorPredictor | None, history: str | Path | None, data: str | Path | None,
             split_at: float | None, horizon: int = 3, beam_size: int = 1, baselines: bool = False,
             until: float | None = None) -> dict[str, Any]:
    stream = load_stream(history, data, split_at, horizon, until)
    bleu = (f"sacrebleu corpus BLEU over action-name tokens, tokenize=none, n-gram order {min(4, horizon)}; "
            "hypotheses cut to the reference length")
    out: dict[str, Any] = {"task": "behavior", "horizon": horizon, "beam_size": beam_size,
                           "split_at": split_at, "bleu_impl": bleu}
    if pred is not None:
        out |= {"model_version": pred.version} | score_model(pred, stream, horizon, beam_size)
    if baselines:
        out["baselines"] = score_baselines(stream, horizon)
    out["n"] = int(stream.scored.sum())
    scored = np.nonzero(stream.scored)[0]
    out["class_counts"] = dict(Counter(ACTION_TYPES[stream.events[i][1]] for i in scored))
    out |= _targets(pred, history, data, split_at, until, baselines)
    if pred is not None and baselines:
        best = max(v["macro_f1"] for v in out["baselines"].values())
        out["beats_baselines"] = bool(out["macro_f1"] > best and
                                      out["accuracy"] >= out["baselines"]["global_majority"]["accuracy"])
    return {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in out.items()}
