"""Rumour heads training: the fast-tier recipe (`HeadsOptions`), fitting groups and the PHEME threshold."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.lexical import Bags, Hasher, Vocab, normalize, pad
from seqsignal.models.text.rumor_heads_network import HEAD_LABELS, MASK_TOPICAL, Group, HeadsNet, NetConfig


@dataclass
class HeadsOptions:
    """The fast-tier recipe (fixed a priori in the prototype; see docs/text_models.md)."""

    groups: str = "per-dataset"  # one network per head, or "joint": one network for every head
    epochs: int = 8
    batch_size: int = 32
    lr: float = 2e-3
    lex_lr: float = 1e-2
    emb_dim: int = 64
    hidden_size: int = 64
    lex_buckets: int = 1 << 18
    max_len: int = 96
    seed: int = 0
    threshold_folds: int = 2  # event-grouped inner folds choosing the PHEME threshold (0: 0.5)
    epochs_per_dataset: dict[str, int] = field(
        default_factory=lambda: {"twitter15": 10, "twitter16": 10, "weibo": 6, "pheme": 6})


def _thread_texts(examples: Sequence[RumorExample]) -> tuple[list[str], list[list[str]], list[str]]:
    ds = [ex.dataset for ex in examples]
    src = [normalize(ex.text, MASK_TOPICAL.get(d, False)) for ex, d in zip(examples, ds, strict=True)]
    rep = [[normalize(r, MASK_TOPICAL.get(d, False)) for r in ex.replies[:50]]
           for ex, d in zip(examples, ds, strict=True)]
    return src, rep, ds


def fit_group(examples: Sequence[RumorExample], datasets: tuple[str, ...], opts: HeadsOptions,
              epochs: int) -> Group:
    """Train one network on `examples` (each with `.dataset` in `datasets`) for `epochs` epochs."""
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    src, rep, ds = _thread_texts(examples)
    vocab = Vocab.build(src + [r for rs in rep for r in rs])
    cfg = NetConfig(len(vocab.itos), datasets, opts.emb_dim, opts.hidden_size, opts.lex_buckets,
                    max_len=opts.max_len)
    hasher = Hasher(cfg.lex_buckets)
    counts = hasher.counts(src, rep)
    hasher.fit(counts)
    bags = hasher.weigh(counts)
    rows = [vocab.thread(s, r, cfg.max_len) for s, r in zip(src, rep, strict=True)]
    tgt_vocab = cfg.tgt_tokens
    target = np.array([tgt_vocab.index(_label(ex)) for ex in examples], dtype=np.int64)
    dsi = np.array([datasets.index(d) for d in ds], dtype=np.int64)
    net = HeadsNet(cfg)
    lex = [p for n, p in net.named_parameters() if n.startswith("lex.")]
    dense = [p for n, p in net.named_parameters() if not n.startswith("lex.")]
    optims: list[torch.optim.Optimizer] = [torch.optim.Adam(dense, lr=opts.lr),
                                           torch.optim.SparseAdam(lex, lr=opts.lex_lr)]
    t = torch.from_numpy
    for _ in range(epochs):
        net.train()
        order = rng.permutation(len(rows))
        for s in range(0, len(order), opts.batch_size):
            idx = order[s : s + opts.batch_size]
            ids, lengths = pad([rows[i] for i in idx])
            b = Bags.of(bags[idx])
            logits = net(t(ids), t(lengths), t(dsi[idx]), (t(b.ids), t(b.offsets), t(b.weights)))
            loss = F.cross_entropy(logits, t(target[idx]))
            for o in optims:
                o.zero_grad()
            loss.backward()
            for o in optims:
                o.step()
    return Group(net.eval(), vocab, hasher)


def _label(ex: RumorExample) -> str:
    if ex.dataset in ("twitter15", "twitter16"):
        return str(ex.veracity)
    return ex.label


def fit_heads(train: Sequence[RumorExample], opts: HeadsOptions) -> tuple[dict[str, Group], float]:
    """The groups of a version (joint: one; per-dataset: one per dataset present) and CPU seconds."""
    present = tuple(d for d in HEAD_LABELS if any(ex.dataset == d for ex in train))
    c0 = time.process_time()
    if opts.groups == "joint":
        epochs = opts.epochs
        groups = {"joint": fit_group(train, present, opts, epochs)}
    elif opts.groups == "per-dataset":
        groups = {d: fit_group([ex for ex in train if ex.dataset == d], (d,), opts,
                               opts.epochs_per_dataset.get(d, opts.epochs)) for d in present}
    else:
        raise ValueError(f"groups must be joint or per-dataset, not {opts.groups!r}")
    return groups, time.process_time() - c0


def pheme_threshold(pheme: Sequence[RumorExample], opts: HeadsOptions) -> tuple[float, dict[str, Any]]:
    """The PHEME head's flag threshold: max rumour F1 over out-of-fold scores of event-grouped inner folds
    (a PHEME-only network per fold, trained on the other events' groups), so it is chosen on events the
    scoring network never saw, as live threads will be."""
    from sklearn.model_selection import GroupKFold

    from seqsignal.models.text.recipes import tune_threshold

    events = [str(ex.event) for ex in pheme]
    k = min(opts.threshold_folds, len(set(events)))
    if k < 2:
        return 0.5, {"rule": "0.5 (fewer than 2 events)"}
    oof = np.zeros(len(pheme), dtype=np.float64)
    for tr, te in GroupKFold(k).split(np.zeros(len(pheme)), groups=events):
        g = fit_group([pheme[i] for i in tr], ("pheme",), opts, opts.epochs_per_dataset.get("pheme", 6))
        held = [pheme[i] for i in te]
        oof[te] = g.probs([ex.text for ex in held], [list(ex.replies) for ex in held], "pheme")[:, 1]
    thr = tune_threshold([ex.is_rumour for ex in pheme], oof)
    return thr, {"rule": f"max rumour F1 over out-of-fold scores, {k} event-grouped folds", "folds": k}
