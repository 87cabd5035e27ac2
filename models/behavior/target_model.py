"""The next-target ranker: training on the prequential walk, scoring, serving, and its files in a behavior
version (`targets/config.json`, `targets/model.safetensors`; checksummed by the registry like the rest)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.behavior import target_walk as tw
from seqsignal.models.behavior.targets import (
    FEATURE_VERSION,
    TargetConfig,
    TargetScorer,
    candidate_probs,
    pad,
    query_features,
)
from seqsignal.models.behavior.trending import Trending
from seqsignal.models.core.checkpoint import json_bytes, load_into, weights_bytes
from seqsignal.models.core.serving import TargetQuery, TrendingSnapshot

CONFIG_FILE = "targets/config.json"
WEIGHTS_FILE = "targets/model.safetensors"


@dataclass(frozen=True)
class TargetFit:
    """Optimiser settings of the scorer (the prototype's recipe, chosen on 2012-07-03)."""

    epochs: int = 30
    lr: float = 3e-3
    weight_decay: float = 1e-3
    batch: int = 256
    min_prior: int = 3  # training rows: users with at least this many earlier actions
    seed: int = 0


class TargetRanker:
    """Ranks a user's candidates; probabilities = softmax over the candidates x the training share of
    next targets that were candidates (`coverage`), so they estimate P(next target = c)."""

    def __init__(self, cfg: TargetConfig, scorer: TargetScorer, coverage: float) -> None:
        self.cfg, self.scorer, self.coverage = cfg, scorer.eval(), float(coverage)

    def new_trending(self) -> Trending:
        return Trending(self.cfg.trending)

    def predict(self, queries: Sequence[TargetQuery], snap: TrendingSnapshot, k: int
                ) -> list[list[tuple[str, float]]]:
        """Top-k (target id, probability) per query (window + trending candidates)."""
        rank = snap.rank
        feats = [query_features(q, snap, rank, self.cfg) for q in queries]
        probs = candidate_probs(self.scorer, [f[1] for f in feats], [f[2] for f in feats])
        out = []
        for (ids, _x, _u), p in zip(feats, probs, strict=True):
            top = np.argsort(-p, kind="stable")[:k]
            out.append([(ids[i], float(p[i]) * self.coverage) for i in top if p[i] > 0])
        return out

    def files(self, metrics: dict[str, float] | None = None) -> dict[str, bytes]:
        config = {"feature_version": FEATURE_VERSION, "target": self.cfg.to_dict(), "coverage": self.coverage,
                  "metrics": metrics or {}}
        return {CONFIG_FILE: json_bytes(config), WEIGHTS_FILE: weights_bytes(self.scorer)}


def load_ranker(version_dir: Path) -> TargetRanker | None:
    """The ranker of a behavior version, or None when the version has none (older versions)."""
    path = version_dir / CONFIG_FILE
    if not path.is_file():
        return None
    config: dict[str, Any] = json.loads(path.read_text())
    if config.get("feature_version") != FEATURE_VERSION:
        raise ValueError("target ranker was trained with other features")
    cfg = TargetConfig.from_dict(config["target"])
    scorer = TargetScorer(cfg.cand_dim, cfg.user_dim, cfg.hidden)
    load_into(scorer, (version_dir / WEIGHTS_FILE).read_bytes())
    return TargetRanker(cfg, scorer, float(config["coverage"]))


def fit_scorer(rows: Sequence[tw.Example], cfg: TargetConfig, fc: TargetFit) -> TargetScorer:
    """Softmax cross-entropy over each row's candidates (rows whose target is not a candidate are skipped)."""
    torch.manual_seed(fc.seed)
    scorer = TargetScorer(cfg.cand_dim, cfg.user_dim, cfg.hidden)
    if rows:
        scorer.set_norm(np.concatenate([r.cand for r in rows]), np.stack([r.user for r in rows]))
    keep = [r for r in rows if r.pos >= 0]
    opt = torch.optim.Adam(scorer.parameters(), lr=fc.lr, weight_decay=fc.weight_decay)
    g = torch.Generator().manual_seed(fc.seed)
    for _ in range(fc.epochs if keep else 0):
        scorer.train()
        for idx in torch.randperm(len(keep), generator=g).split(fc.batch):
            b = [keep[i] for i in idx.tolist()]
            c, u, m = pad([r.cand for r in b], [r.user for r in b])
            loss = F.cross_entropy(scorer(c, u, m), torch.tensor([r.pos for r in b]))
            opt.zero_grad()
            loss.backward()
            opt.step()
    return scorer.eval()


def score_rows(scorer: TargetScorer, rows: Sequence[tw.Example]) -> np.ndarray:
    """1-based ranks of the true targets (0 = not a candidate)."""
    probs = candidate_probs(scorer, [r.cand for r in rows], [r.user for r in rows])
    return tw.ranks(probs, [r.pos for r in rows])


def train_ranker(path: str | Path | None, split_ts: float, dev_from: float, cfg: TargetConfig,
                 fc: TargetFit, refit: bool = True) -> tuple[TargetRanker, dict[str, float]]:
    """Fit before dev_from, report dev HR@10 / MRR@10 ([dev_from, split), users >= 5 prior actions), then
    (refit) fit again on everything before the split with the same recipe."""
    t0 = time.process_time()
    rows = list(tw.walk(tw.iter_target_events(path, until=split_ts), cfg,
                    lambda _i, _ts, n: n >= fc.min_prior))
    early = [r for r in rows if r.ts < dev_from]
    dev = [r for r in rows if r.ts >= dev_from and r.prior >= 5]
    scorer = fit_scorer(early, cfg, fc)
    d = tw.rank_scores(score_rows(scorer, dev))
    final = fit_scorer(rows, cfg, fc) if refit else scorer
    train = rows if refit else early
    coverage = float(np.mean([r.pos >= 0 for r in train])) if train else 0.0
    metrics = {"target_dev_hr_at_10": d["hr_at_10"], "target_dev_mrr": d["mrr"],
               "target_dev_n": float(len(dev)),
               "target_train_rows": float(len(train)), "target_coverage": coverage,
               "target_train_cpu_s": time.process_time() - t0}
    return TargetRanker(cfg, final, coverage), metrics


def evaluate_targets(ranker: TargetRanker | None, events: Sequence[tw.TargetEvent], first_scored: int,
                     min_prior: int, baselines: bool, chunk: int = 4096) -> dict[str, Any]:
    """Ranks of the model (when given) and of the baselines on events[first_scored:] of users with >=
    min_prior earlier actions, from one walk (the baselines' lists come from the same emission point)."""
    cfg = ranker.cfg if ranker else TargetConfig()
    rows = tw.walk(events, cfg, lambda i, _ts, n: i >= first_scored and n >= min_prior, baselines)
    model: list[np.ndarray] = []
    base: dict[str, list[int]] = {name: [] for name in tw.BASELINES}
    covered, n, buf = 0, 0, []
    for r in itertools.chain(rows, [None]):
        if r is not None:
            buf.append(r)
            n, covered = n + 1, covered + (r.pos >= 0)
            for name, v in r.base_ranks.items():
                base[name].append(v)
        if buf and (r is None or len(buf) >= chunk):
            if ranker is not None:
                model.append(score_rows(ranker.scorer, buf))
            buf = []
    out: dict[str, Any] = {"target_n": n, "target_candidate_recall": covered / max(n, 1)}
    if ranker is not None:
        s = tw.rank_scores(np.concatenate(model) if model else np.zeros(0, np.int64))
        out |= {"target_hr_at_10": s["hr_at_10"], "target_mrr": s["mrr"],
                "target_reverse_edges": cfg.reverse_edges}
    if baselines:
        out["target_baselines"] = {k: tw.rank_scores(np.array(v, np.int64)) for k, v in base.items()}
    return out
