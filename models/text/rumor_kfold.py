"""Grouped k-fold protocol for the rumour heads (`eval rumor --protocol kfold`): near-duplicate clusters of a
dataset's training threads, folds that never split a cluster, and out-of-fold predictions of the heads recipe
and of every baseline on the same folds (the same folds shuffled without groups measure the leakage).

Fixed before any score was computed (docs/text_models.md, "Rumor: clean protocol"): Jaccard of word sets
(English) or character-bigram sets (Chinese) after normalisation with URLs, handles and digits stripped;
clusters = connected components of pairs >= 0.5; 5 folds, seed 0.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.lexical import is_chinese, normalize
from seqsignal.models.text.rumor_eval import baseline_predictions, gold_of
from seqsignal.models.text.rumor_heads_network import HEAD_LABELS

NEAR_DUP_JACCARD = 0.5  # pairs at least this similar are one cluster (fixed a priori)
KFOLD_FORMATS = ("twitter15", "twitter16", "weibo")
_STRIP = re.compile(r"\burl\b|@user|\d+")
_WORD = re.compile(r"[^\W\d_]+")
_ZH_KEEP = re.compile(r"[\u3400-\u9fff\uf900-\ufaffA-Za-z]")


def claim_set(text: str) -> frozenset[str]:
    """The set compared for near-duplicates: words (English) or character bigrams (Chinese) of the text
    normalised, with URLs, handles and digits stripped."""
    t = _STRIP.sub(" ", normalize(text))
    if is_chinese(text):
        chars = "".join(_ZH_KEEP.findall(t))
        return frozenset(chars[i : i + 2] for i in range(len(chars) - 1))
    return frozenset(_WORD.findall(t))


def jaccard_matrix(texts: Sequence[str]) -> np.ndarray:
    """(n, n) float32 Jaccard similarity of the texts' claim sets (0 where both sets are empty)."""
    sets = [claim_set(t) for t in texts]
    index: dict[str, int] = {}
    rows, cols = [], []
    for i, s in enumerate(sets):
        for item in s:
            rows.append(i)
            cols.append(index.setdefault(item, len(index)))
    x = sp.csr_matrix((np.ones(len(rows), np.float32), (rows, cols)), shape=(len(sets), max(len(index), 1)))
    inter = (x @ x.T).toarray()  # (n, n) shared items
    size = np.asarray(x.sum(axis=1), dtype=np.float32).ravel()
    union = size[:, None] + size[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1), 0).astype(np.float32)


def near_duplicate_clusters(sims: np.ndarray, threshold: float = NEAR_DUP_JACCARD) -> np.ndarray:
    """Cluster id per example: connected components of the pairs with similarity >= threshold."""
    from scipy.sparse.csgraph import connected_components

    _, labels = connected_components(sp.csr_matrix(sims >= threshold), directed=False)
    return np.asarray(labels)


def fold_of(n: int, groups: np.ndarray | None, k: int, seed: int) -> np.ndarray:
    """Fold index per example: GroupKFold (shuffled, seeded) when `groups` is given, else shuffled KFold."""
    from sklearn.model_selection import GroupKFold, KFold

    out = np.full(n, -1, dtype=np.int64)
    x = np.zeros((n, 1))
    splits = (GroupKFold(k, shuffle=True, random_state=seed).split(x, groups=groups) if groups is not None
              else KFold(k, shuffle=True, random_state=seed).split(x))
    for f, (_, te) in enumerate(splits):
        out[te] = f
    return out


def kfold_examples(path: Path) -> tuple[str, list[RumorExample]]:
    """(format, the dataset's train.tsv threads); dev.tsv is left out (earlier choices looked at it)."""
    from seqsignal.models.datasets import twitter1516, weibo
    from seqsignal.models.text.data import rumor_format

    fmt = rumor_format(path)
    if fmt not in KFOLD_FORMATS or not (path / "train.tsv").is_file():
        raise ValueError(f"{path}: --protocol kfold takes a Twitter15/16 or Weibo dir with train.tsv")
    if fmt == "weibo":
        return fmt, list(weibo.iter_weibo(path, "train"))
    name: twitter1516.TwitterName = "twitter16" if fmt == "twitter16" else "twitter15"
    return fmt, list(twitter1516.iter_twitter(name, path, "train"))


@dataclass
class OutOfFold:
    """Predicted labels per model over every example (each predicted once, by the fold holding it out)."""

    n: int
    pred: dict[str, list[str]] = field(default_factory=dict)
    times: dict[str, np.ndarray] = field(default_factory=dict)  # how often each example was predicted
    cpu_s: dict[str, float] = field(default_factory=dict)
    fusion_weights: list[float] = field(default_factory=list)  # the recipe's chosen weight per fold

    def put(self, model: str, idx: np.ndarray, labels: Sequence[str]) -> None:
        self.pred.setdefault(model, [""] * self.n)
        self.times.setdefault(model, np.zeros(self.n, dtype=np.int64))
        for i, lab in zip(idx.tolist(), labels, strict=True):
            self.pred[model][i] = lab
            self.times[model][i] += 1

    def check(self) -> None:
        """Every model predicted every example exactly once."""
        for model, t in self.times.items():
            if not (t == 1).all():
                raise AssertionError(f"{model}: {int((t != 1).sum())} examples not predicted exactly once")

    def spend(self, what: str, since: float) -> None:
        self.cpu_s[what] = self.cpu_s.get(what, 0.0) + time.process_time() - since


def heads_predictions(train: Sequence[RumorExample], test: Sequence[RumorExample], head: str,
                      opts: Any, weights: list[float] | None = None) -> dict[str, list[str]]:
    """The fast tier's recipe on `train` (that dataset only; every choice inside it), argmax labels of
    `test`: `heads` (what it serves) and, where the recipe fuses a lexical channel, its parts
    `heads_head_alone` and `heads_lexical_alone` (its fusion weight appended to `weights`)."""
    from seqsignal.models.text.rumor_heads import HeadsPredictor
    from seqsignal.models.text.rumor_heads_training import fit_heads

    groups, _ = fit_heads(train, opts)
    texts, replies = [ex.text for ex in test], [list(ex.replies) for ex in test]
    parts = HeadsPredictor(groups, {}).parts(head, texts, replies)
    labels = HEAD_LABELS[head]
    names = {"served": "heads", "head": "heads_head_alone", "lexical": "heads_lexical_alone"}
    out = {names[k]: [labels[i] for i in p.argmax(1)] for k, p in parts.items()}
    if weights is not None and head in groups and head in groups[head].lexical:
        weights.append(groups[head].lexical[head].weight)
    return out if "lexical" in parts else {"heads": out["heads"]}


def reference_predictions(train_idx: np.ndarray, test_idx: np.ndarray, gold: Sequence[str],
                          sims: np.ndarray, labels: Sequence[str]) -> dict[str, list[str]]:
    """Majority class of the fold's training threads, and 1-NN: the label of the most similar one."""
    counts = Counter(gold[i] for i in train_idx.tolist())
    major = max(labels, key=lambda lab: (counts[lab], -labels.index(lab)))
    nearest = train_idx[np.argmax(sims[np.ix_(test_idx, train_idx)], axis=1)]
    return {"majority": [major] * len(test_idx), "nearest_neighbour_jaccard": [gold[i] for i in nearest]}


def run_folds(examples: Sequence[RumorExample], head: str, folds: np.ndarray, sims: np.ndarray,
              opts: Any, baseline: bool, on_fold: Callable[[int, dict[str, float]], None] | None = None
              ) -> OutOfFold:
    """Out-of-fold predictions of the heads recipe (and with `baseline` of every baseline) on `folds`."""
    gold = [gold_of(head, ex) for ex in examples]
    labels = list(HEAD_LABELS[head])
    oof = OutOfFold(len(examples))
    for f in range(int(folds.max()) + 1):
        tr, te = np.flatnonzero(folds != f), np.flatnonzero(folds == f)
        train, test = [examples[i] for i in tr.tolist()], [examples[i] for i in te.tolist()]
        c0 = time.process_time()
        for name, pred in heads_predictions(train, test, head, opts, oof.fusion_weights).items():
            oof.put(name, te, pred)
        oof.spend("heads", c0)
        if baseline:
            c0 = time.process_time()
            for name, pred in baseline_predictions(train, test, head).items():
                oof.put(name, te, pred)
            oof.spend("tfidf_lr_and_svc", c0)
            for name, pred in reference_predictions(tr, te, gold, sims, labels).items():
                oof.put(name, te, pred)
        if on_fold:
            acc = {m: float(np.mean([p[i] == gold[i] for i in te])) for m, p in oof.pred.items()}
            on_fold(f, acc)
    oof.check()
    return oof
