"""End-to-end recipes for the text tasks: tokenizer + model + fit + dev metrics + plots + registry files."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from seqsignal.models.core import metrics as M
from seqsignal.models.core import plots
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text.model import TextModelConfig, TextPredictor, build_model, text_model_files
from seqsignal.models.text.rumor import RumorPredictor, compose_thread, rumor_config
from seqsignal.models.text.tokenizer import TextTokenizer
from seqsignal.models.text.train import DevScore, FitConfig, FitResult, Rows, TrainDraw, fit

ZERO_REPLY_SHARE = 0.3  # share of training threads shown with no replies each epoch (PHEME-like sources)
THRESHOLD_GRID = np.round(np.arange(0.05, 0.951, 0.025), 3)


def tune_threshold(gold: Sequence[bool], scores: np.ndarray) -> float:
    """The score threshold that maximises rumour-class F1 on (training-side) dev data; ties go to the one
    nearest 0.5. Chosen only on data the model was allowed to see, never on the scored set."""
    from sklearn.metrics import f1_score

    y = np.asarray(gold, dtype=bool)
    s = np.asarray(scores, dtype=np.float64)
    if not len(y) or y.all() or not y.any():
        return 0.5
    f1 = np.array([f1_score(y, s >= t, zero_division=0) for t in THRESHOLD_GRID])
    best = np.flatnonzero(f1 >= f1.max() - 1e-12)
    return float(THRESHOLD_GRID[best[np.argmin(np.abs(THRESHOLD_GRID[best] - 0.5))]])


@dataclass
class TextOptions:
    """Model size and training knobs of one text model (defaults: the served configuration)."""

    vocab_size: int = 8000
    emb_dim: int = 128
    hidden_size: int = 256
    attention: str = "luong"
    dropout: float = 0.3
    max_len: int = 64
    init: str = "minilm"
    tokenizer: str = "bpe"  # "bpe" (trained on the training texts) or "wordpiece" (MiniLM's, English only)
    # rumor: datasets of the dev split whose threshold-maximising rumour F1 sets the decision threshold
    # (empty = the whole dev split; falls back to it when the subset lacks a class)
    threshold_datasets: tuple[str, ...] = ()
    mask_topical: bool = False  # BPE normaliser also masks hashtags ('#tag') and numbers ('0')
    lexical: bool = True  # sentiment: fuse a hashed n-gram LR channel (`sentiment_lexical`) with the Seq2Seq
    fit: FitConfig = field(default_factory=FitConfig)


@dataclass
class Trained:
    predictor: TextPredictor
    result: FitResult
    dev_metrics: dict[str, float]
    plots: dict[str, bytes]
    files: dict[str, bytes]


def make_tokenizer(opts: TextOptions, texts: Sequence[str]) -> TextTokenizer:
    if opts.tokenizer == "wordpiece":
        from seqsignal.models.text.model import minilm_dir

        return TextTokenizer.from_pretrained_wordpiece(minilm_dir() / "tokenizer.json")
    if opts.tokenizer != "bpe":
        raise ValueError(f"unknown tokenizer {opts.tokenizer!r}")
    return TextTokenizer.train(texts, opts.vocab_size, mask_topical=opts.mask_topical)


@dataclass
class Reporting:
    """Where a training run reports: TensorBoard log dir, per-epoch callback, rich progress."""

    log_dir: Path | None = None
    on_epoch: Callable[[int, dict[str, float]], None] | None = None
    progress: Any = None


def _config(make: Callable[..., TextModelConfig], tok: TextTokenizer, opts: TextOptions) -> TextModelConfig:
    """The task's model config (`sentiment_config` or `rumor_config`) at the options' size."""
    return make(tok.vocab_size, emb_dim=opts.emb_dim, hidden_size=opts.hidden_size, attention=opts.attention,
                dropout=opts.dropout, max_len=opts.max_len, init=opts.init)


def _fit(cfg: TextModelConfig, tok: TextTokenizer, draw: TrainDraw, dev_rows: Rows, dev_targets: np.ndarray,
         score: DevScore, opts: TextOptions, report: Reporting | None,
         soft: np.ndarray | None = None) -> FitResult:
    """A fresh model (seeded by the fit options) trained by `train.fit`; dev probabilities always set."""
    model = build_model(cfg, tok, opts.fit.seed)
    report = report or Reporting()
    res = fit(model, cfg, tok.pad_id, draw, dev_rows, dev_targets, score, opts.fit, report.log_dir,
              report.on_epoch, report.progress, soft)
    assert res.dev_probs is not None
    return res


def _trained(predictor: TextPredictor, res: FitResult, metrics: dict[str, float], gold: Sequence[str],
             pred: Sequence[str], labels: Sequence[str], pr_png: dict[str, bytes]) -> Trained:
    """The trained model with its dev metrics, plots (loss, confusion, one PR curve) and registry files."""
    pngs = {
        "loss.png": plots.loss_curves({k: v for k, v in res.history.items() if "loss" in k}),
        "confusion.png": plots.confusion_matrix(M.confusion(gold, pred, labels), labels),
    } | pr_png
    fit_metrics = {
        "best_epoch": float(res.best_epoch),
        "epochs": float(len(res.history["train_loss"])),
        "train_seconds": res.seconds,
    }
    files = text_model_files(res.model, predictor.config, predictor.tokenizer) | pngs
    return Trained(predictor, res, metrics | fit_metrics, pngs, files)


def rumor_targets(cfg: TextModelConfig, examples: Sequence[RumorExample]) -> np.ndarray:
    """(N, 2): rumour / non-rumour id, then the veracity id for rumours with a known veracity (else -100)."""
    out = np.full((len(examples), 2), -100, dtype=np.int64)
    for i, ex in enumerate(examples):
        out[i, 0] = cfg.label_id(ex.label)
        if ex.is_rumour and ex.veracity in ("true", "false", "unverified"):
            out[i, 1] = cfg.label_id(ex.veracity)
    return out


class ThreadRows:
    """Pre-tokenised threads; `draw` shows each thread with a random prefix of its replies (none for
    ZERO_REPLY_SHARE of them), so the model scores a thread at any point of its life."""

    def __init__(self, tok: TextTokenizer, examples: Sequence[RumorExample], max_len: int) -> None:
        self.tok, self.max_len = tok, max_len
        self.sources = tok.encode_ids([ex.text for ex in examples])
        flat = tok.encode_ids([r for ex in examples for r in ex.replies[:16]])
        self.replies, k = [], 0
        for ex in examples:
            n = min(len(ex.replies), 16)
            self.replies.append(flat[k : k + n])
            k += n

    def rows(self, n_replies: Sequence[int] | None = None) -> list[list[int]]:
        return [
            compose_thread(s, r if n_replies is None else r[: n_replies[i]], self.max_len, self.tok.sep_id)
            for i, (s, r) in enumerate(zip(self.sources, self.replies, strict=True))
        ]

    def draw(self, rng: np.random.Generator) -> list[list[int]]:
        n = [
            0 if (not r or rng.random() < ZERO_REPLY_SHARE) else int(rng.integers(1, len(r) + 1))
            for r in self.replies
        ]
        return self.rows(n)


def rumour_probability(probs: np.ndarray) -> np.ndarray:
    """(N,) P(rumour) from first-step label probabilities, renormalised over rumour / non-rumour."""
    return probs[:, 1] / np.maximum(probs[:, :2].sum(1), 1e-12)


def _flags(scores: np.ndarray, threshold: float = 0.5) -> list[str]:
    return ["rumour" if x >= threshold else "non-rumour" for x in scores]


def _serving_threshold(dev: Sequence[RumorExample], scores: np.ndarray, opts: TextOptions) -> float:
    """The flag threshold served with the model: maximises rumour F1 on the dev split (training side only),
    on opts.threshold_datasets of it when those hold both classes."""
    on = np.array([not opts.threshold_datasets or ex.dataset in opts.threshold_datasets for ex in dev])
    y = np.array([ex.is_rumour for ex in dev], dtype=bool)
    if not (y[on].any() and (~y[on]).any()):
        on[:] = True
    return tune_threshold(y[on], scores[on])


def train_rumor(
    train: Sequence[RumorExample],
    dev: Sequence[RumorExample],
    opts: TextOptions,
    report: Reporting | None = None,
) -> Trained:
    """BPE on sources and replies, two-step Seq2Seq (rumour?, veracity), early stopping on dev macro F1."""
    corpus = [ex.text for ex in train] + [r for ex in train for r in ex.replies[:4]]
    tok = make_tokenizer(opts, corpus)
    cfg = _config(rumor_config, tok, opts)
    tr, dv = ThreadRows(tok, train, cfg.max_len), ThreadRows(tok, dev, cfg.max_len)
    targets = rumor_targets(cfg, train)
    gold = ["rumour" if ex.is_rumour else "non-rumour" for ex in dev]
    labels = ["rumour", "non-rumour"]

    def score(probs: np.ndarray) -> float:
        return M.macro_f1(gold, _flags(rumour_probability(probs)), labels)

    res = _fit(cfg, tok, lambda rng: (tr.draw(rng), targets), dv.rows(), rumor_targets(cfg, dev), score, opts,
               report)
    assert res.dev_probs is not None
    s = rumour_probability(res.dev_probs)
    pred = _flags(s)
    thr = cfg.extra["decision_threshold"] = _serving_threshold(dev, s, opts)
    metrics = {
        "dev_rumour_f1": M.macro_f1(gold, pred, ["rumour"]),
        "dev_decision_threshold": thr,
        "dev_rumour_f1_at_threshold": M.macro_f1(gold, _flags(s, thr), ["rumour"]),
        "dev_macro_f1": M.macro_f1(gold, pred, labels),
        "dev_accuracy": M.accuracy(gold, pred),
        "dev_n": float(len(gold)),
    }
    pr = {"pr_rumour.png": plots.pr_curve(np.array([g == "rumour" for g in gold]), s, "rumour")}
    return _trained(RumorPredictor(res.model, tok, cfg, "unsaved"), res, metrics, gold, pred, labels, pr)
