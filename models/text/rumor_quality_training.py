"""Rumour quality tier trained: per dataset a MiniLM + GRU decoder (`quality_training.fit_quality`) on the
training threads minus a selection split, the fusion with the fast tier's head and the PHEME threshold
chosen on that split; the `train rumor --tier quality` job (train, then register a quality-tier version).

Nothing here looks at a dev split: Twitter15/16 and Weibo dev.tsv and the PHEME 10% hash split are kept
out by `data.rumor_train_dev` and only scored by `eval rumor`. The selection split is a stable hash of
each training thread's id (salted, so it is not the PHEME dev hash), `select_share` of them.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import data as td
from seqsignal.models.text.quality_model import QualityConfig, QualitySeq2Seq, WordPiece
from seqsignal.models.text.quality_training import QualityOptions, fit_quality
from seqsignal.models.text.rumor_heads_network import HEAD_LABELS, Group
from seqsignal.models.text.rumor_quality import MAX_LEN, QualityRumorPredictor, thread_rows

OnEpoch = Callable[[int, dict[str, float]], None]
DATASETS: tuple[str, ...] = ("twitter15", "twitter16", "weibo", "pheme")


@dataclass
class RumorQualityOptions(QualityOptions):
    """`train rumor --tier quality` knobs; the defaults are the CPU run (layers 0-3 frozen, 2 epochs)."""

    epochs: int = 2
    freeze_layers: int = 4
    max_len: int = MAX_LEN
    select_share: float = 0.15  # of each dataset's training threads: chooses epoch, fusion, threshold
    fusion: bool = True  # try the log-linear fusion with the fast tier's head of the dataset
    datasets: tuple[str, ...] = DATASETS
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class DatasetFit:
    """One dataset's trained network, its shipped fusion (weight, fast head) or None, and threshold."""

    net: QualitySeq2Seq
    config: QualityConfig
    fusion: tuple[float, Group] | None
    threshold: float
    metrics: dict[str, float]


def gold(dataset: str, ex: RumorExample) -> str:
    """The example's label in the dataset's own label set (veracity for Twitter15/16)."""
    return str(ex.veracity) if dataset in ("twitter15", "twitter16") else ex.label


def selection_split(examples: Sequence[RumorExample], share: float) -> tuple[list[RumorExample],
                                                                            list[RumorExample]]:
    """(fit, select) threads: `data.selection_split` salted "rumor-select:" (apart from the fast tier's)."""
    fit_i, sel_i = td.selection_split(examples, share, salt="rumor-select:")
    return [examples[i] for i in fit_i], [examples[i] for i in sel_i]


def selection_score(dataset: str, y: np.ndarray, probs: np.ndarray) -> float:
    """Accuracy (Twitter15/16, four classes) or macro F1 (binary heads) of argmax labels."""
    from sklearn.metrics import f1_score

    pred = probs.argmax(1)
    if len(HEAD_LABELS[dataset]) > 2:
        return float(np.mean(pred == y)) if len(y) else 0.0
    return float(f1_score(y, pred, average="macro", labels=[0, 1], zero_division=0))


def _threads(examples: Sequence[RumorExample]) -> tuple[list[str], list[list[str]]]:
    return [ex.text for ex in examples], [list(ex.replies) for ex in examples]


def _fusion(dataset: str, fit: Sequence[RumorExample], select: Sequence[RumorExample], y: np.ndarray,
            q: np.ndarray) -> tuple[tuple[float, Group] | None, np.ndarray, dict[str, float]]:
    """Train the fast tier's head on `fit`, choose the fusion weight on `select` (lowest class-balanced
    log-loss); ship it only when the weight is > 0 and the selection score does not drop."""
    from seqsignal.models.text.rumor_heads_training import HeadsOptions, fit_group
    from seqsignal.models.text.sentiment_lexical import balanced_nll, choose_weight, fuse

    opts = HeadsOptions()
    group = fit_group(fit, (dataset,), opts, opts.epochs_per_dataset.get(dataset, opts.epochs))
    lex = np.log(np.maximum(group.probs(*_threads(select), dataset).astype(np.float64), 1e-12))
    w, _ = choose_weight(q, lex, lambda p: balanced_nll(y, p))
    fused = fuse(q, lex, w)
    s_q, s_f = selection_score(dataset, y, q), selection_score(dataset, y, fused)
    ship = w > 0 and s_f >= s_q
    m = {"select_score_heads": selection_score(dataset, y, np.exp(lex)), "select_score_fused": s_f,
         "fusion_weight_chosen": float(w), "fusion_shipped": float(ship)}
    return ((w, group) if ship else None), (fused if ship else q), m


def fit_dataset(dataset: str, train: Sequence[RumorExample], o: RumorQualityOptions, tok: WordPiece,
                on_epoch: OnEpoch | None = None, progress: Any = None) -> DatasetFit:
    """Fine-tune the dataset's network on `train` minus the selection split (epoch chosen on it), then the
    fusion and (PHEME) the flag threshold on the same split."""
    from seqsignal.models.text.recipes import tune_threshold

    labels = HEAD_LABELS[dataset]
    fit, select = selection_split(train, o.select_share)
    if o.max_examples and o.max_examples < len(fit):  # a seeded random subset (tests, quick runs)
        keep = np.sort(np.random.default_rng(o.seed).permutation(len(fit))[: o.max_examples])
        fit = [fit[i] for i in keep]
    cfg = QualityConfig("rumor", labels, o.hidden_size, o.dropout, o.max_len, extra={"dataset": dataset})
    rows = thread_rows(tok, *_threads(fit), o.max_len)
    targets = np.array([labels.index(gold(dataset, ex)) for ex in fit], dtype=np.int64)
    y = np.array([labels.index(gold(dataset, ex)) for ex in select], dtype=np.int64)
    sel_rows = thread_rows(tok, *_threads(select), o.max_len)
    res = fit_quality(cfg, rows, targets, sel_rows, lambda p: selection_score(dataset, y, p), o, on_epoch,
                      progress)
    q = res.dev_probs
    m = {"n_fit": float(len(fit)), "n_select": float(len(select)), "best_epoch": float(res.best_epoch),
         "epochs": float(len(res.history["train_loss"])), "train_seconds": res.seconds,
         "select_score_quality": selection_score(dataset, y, q)}
    fusion, final = None, q
    if o.fusion and len(select):
        fusion, final, fm = _fusion(dataset, fit, select, y, q)
        m |= fm
    threshold = 0.5
    if dataset == "pheme":
        threshold = tune_threshold([bool(v) for v in y == labels.index("rumour")], final[:, 1])
    return DatasetFit(res.model.to("cpu").eval(), cfg, fusion, threshold, m | {"threshold": threshold})


def train_rumor_quality(by_dataset: Mapping[str, Sequence[RumorExample]], o: RumorQualityOptions,
                        on_epoch: OnEpoch | None = None, progress: Any = None,
                        say: Callable[[str], None] | None = None) -> QualityRumorPredictor:
    """A `QualityRumorPredictor` with a network per dataset of `by_dataset` (its training threads); the
    time budget is shared among the datasets in proportion to their sizes."""
    say = say or (lambda msg: None)
    tok = WordPiece.pretrained()
    total = sum(len(v) for v in by_dataset.values())
    fits: dict[str, DatasetFit] = {}
    t0 = time.monotonic()
    for d, train in by_dataset.items():
        budget = None if o.time_budget_s is None else o.time_budget_s * len(train) / max(total, 1)
        say(f"{d}: {len(train)} training threads (selection share {o.select_share})")
        fits[d] = fit_dataset(d, train, replace(o, time_budget_s=budget), tok, on_epoch, progress)
        say(f"{d}: " + " ".join(f"{k}={v:.4g}" for k, v in fits[d].metrics.items()))
    meta = {"metrics": {d: f.metrics for d, f in fits.items()}, "wall_seconds": time.monotonic() - t0}
    return QualityRumorPredictor({d: f.net for d, f in fits.items()}, {d: f.config for d, f in fits.items()},
                                 tok, {d: f.threshold for d, f in fits.items() if len(HEAD_LABELS[d]) == 2},
                                 {d: f.fusion for d, f in fits.items() if f.fusion is not None}, meta=meta)


def train_rumor_quality_job(root: Path, out: Path, o: RumorQualityOptions, promote: bool,
                            on_epoch: OnEpoch | None = None, progress: Any = None,
                            say: Callable[[str], None] | None = None) -> dict[str, Any]:
    """`train rumor --tier quality`: each dataset's training threads (Twitter15/16, Weibo: train.tsv;
    PHEME: all but the 10% hash dev split), registered as a quality-tier rumor version."""
    from seqsignal.models.core import registry
    from seqsignal.models.text.quality_training import pick_device

    by = {d: td.rumor_train_dev(root, (d,))[0] for d in o.datasets}
    predictor = train_rumor_quality(by, o, on_epoch, progress, say)
    metrics = {f"select_{d}_{k}": float(v)
               for d, m in predictor.meta["metrics"].items() for k, v in m.items()}
    metrics["train_wall_seconds"] = float(predictor.meta["wall_seconds"])
    data = {"root": str(root), "datasets": list(o.datasets), "n_train": {d: len(v) for d, v in by.items()},
            "dev": "none looked at: epoch, fusion and PHEME threshold chosen on a selection split "
            f"({o.select_share:.0%} of each dataset's training threads, by id hash)",
            "recipe": "rumor-quality", "device": pick_device(o.device)}
    version = registry.save_version(out, "rumor", predictor.files(), metrics=metrics, data=data,
                                    extra={"options": asdict(o)}, make_champion_if_none=True, tier="quality")
    if promote:
        registry.promote("rumor", version, out)
    return {"task": "rumor", "tier": "quality", "version": version, "registry": str(out),
            "champion": registry.champion(out, "rumor", "quality"), "metrics": metrics}
