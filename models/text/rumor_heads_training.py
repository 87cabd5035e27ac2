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
    # the linear lexical channel fused with the head (`rumor_lexical`), per-dataset groups only: the head
    # and a first LR fit on the training threads outside a `channel_share` hash split, which chooses the
    # fusion weight; the served LR is refit on every training thread, the head too with `channel_refit_head`
    lexical_channel: bool = True
    channel_refit_head: bool = True
    lexical_datasets: tuple[str, ...] = ("twitter15", "twitter16", "weibo")
    channel_share: float = 0.15
    channel_c: float = 10.0
    channel_buckets: int = 1 << 17
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
        groups = {d: fit_dataset([ex for ex in train if ex.dataset == d], d, opts) for d in present}
    else:
        raise ValueError(f"groups must be joint or per-dataset, not {opts.groups!r}")
    return groups, time.process_time() - c0


def fit_dataset(examples: Sequence[RumorExample], dataset: str, opts: HeadsOptions) -> Group:
    """One dataset's group: the head alone, or with `opts.lexical_channel` the head fused with the linear
    lexical channel, its weight chosen on the selection split (nested: only `examples` are looked at)."""
    from seqsignal.models.text import rumor_lexical as rl
    from seqsignal.models.text.data import selection_split

    epochs = opts.epochs_per_dataset.get(dataset, opts.epochs)
    fit_i, sel_i = selection_split(examples, opts.channel_share)
    if not (opts.lexical_channel and dataset in opts.lexical_datasets) or not fit_i:
        return fit_group(examples, (dataset,), opts, epochs)
    labels = HEAD_LABELS[dataset]
    mask = MASK_TOPICAL.get(dataset, False)
    y = np.array([labels.index(_label(ex)) for ex in examples], dtype=np.int64)
    fit_on, select = [examples[i] for i in fit_i], [examples[i] for i in sel_i]
    group = fit_group(fit_on, (dataset,), opts, epochs)
    c0 = time.process_time()
    choice: dict[str, Any] = {"rule": "0.5: empty selection split"}
    weight = 0.5
    if select:
        lex = rl.fit_lexical([ex.text for ex in fit_on], y[fit_i], len(labels), mask, opts.channel_c,
                             opts.channel_buckets)
        head_p = group.probs([ex.text for ex in select], [list(ex.replies) for ex in select], dataset)
        weight, choice = rl.choose(head_p, lex.log_probs([ex.text for ex in select]), y[sel_i])
    served = rl.fit_lexical([ex.text for ex in examples], y, len(labels), mask, opts.channel_c,
                            opts.channel_buckets)
    choice |= {"n_fit": len(fit_on), "lr_refit_on": len(examples), "cpu_seconds": time.process_time() - c0}
    if opts.channel_refit_head:  # the same recipe on every training thread; the weight stays as chosen
        group = fit_group(examples, (dataset,), opts, epochs)
        choice["head_refit_on"] = len(examples)
    group.lexical[dataset] = rl.Lexical(served, weight, choice)
    return group


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
