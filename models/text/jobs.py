"""What `seqsignal train|eval sentiment|rumor` do: train + register, load, score with baselines, LOEO."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import numpy as np

from seqsignal.models.core import registry
from seqsignal.models.core.serving import Predictor
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.text import data as td
from seqsignal.models.text import evaluate as te
from seqsignal.models.text.recipes import (
    Distill,
    Reporting,
    TextOptions,
    Trained,
    train_rumor,
    train_sentiment,
    tune_threshold,
)
from seqsignal.models.text.rumor import RumorPredictor
from seqsignal.models.text.train import FitConfig

OnEpoch = Callable[[int, dict[str, float]], None]


def _register(
    task: str, trained: Trained | Any, out: Path, data: dict[str, Any], opts: Any, promote: bool,
    tier: str = "fast",
) -> dict[str, Any]:
    """Save a trained model as a new version of `tier` (champion of its tier if it has none, or `promote`)."""
    from dataclasses import asdict

    version = registry.save_version(
        out,
        task,
        trained.files,
        metrics=trained.dev_metrics,
        data=data,
        extra={"options": asdict(opts)},
        make_champion_if_none=True,
        tier=tier,
    )
    if promote:
        registry.promote(task, version, out)
    return {
        "task": task,
        "tier": tier,
        "version": version,
        "registry": str(out),
        "champion": registry.champion(out, task, tier),
        "metrics": trained.dev_metrics,
    }


def train_sentiment_job(
    root: Path,
    out: Path,
    opts: TextOptions,
    promote: bool,
    log_dir: Path | None,
    on_epoch: OnEpoch | None = None,
    progress: Any = None,
    teacher: str | None = None,
    max_unlabelled: int | None = None,
) -> dict[str, Any]:
    """`train sentiment` (fast tier); with `teacher` (a quality-tier version, directory, or "quality" for
    the quality champion of `out`) distilled from its soft labels over the training tweets and the
    unlabelled texts of `root` (`data.unlabelled_texts`)."""
    train, dev = td.sentiment_train_dev(root)
    data: dict[str, Any] = {
        "root": str(root),
        "train": "semeval2013-2016 minus (near-)copies of tweeteval-val",
        "n_train": len(train),
        "dev": "tweeteval-val",
        "n_dev": len(dev),
    }
    distill = None
    if teacher is not None:
        distill, data["teacher"] = teacher_labels(teacher, out, root, train, dev, max_unlabelled)
        data["n_unlabelled"] = len(distill.texts)
    trained = train_sentiment(train, dev, opts, Reporting(log_dir, on_epoch, progress), distill)
    return _register("sentiment", trained, out, data, opts, promote)


def teacher_labels(teacher: str, reg: Path, root: Path, train: list[Any], dev: list[Any],
                   max_unlabelled: int | None = None) -> tuple[Distill, dict[str, Any]]:
    """The quality-tier teacher's probabilities over the training tweets and the unlabelled texts (on CUDA
    when present; on CPU ~40 texts per CPU-second per thread), with what was used."""
    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    path = Path(teacher)
    if teacher == "quality":
        model = registry.load_predictor("sentiment", reg, device=device, tier="quality")
    elif path.is_dir():
        model = registry.load_predictor("sentiment", reg, model_dir=path, device=device, tier="quality")
    else:
        model = registry.load_predictor("sentiment", reg, teacher, device=device, tier="quality")
    texts = td.unlabelled_texts(root, train, dev, max_unlabelled)
    t0 = time.monotonic()
    distill = Distill(model.predict([ex.text for ex in train]), texts, model.predict(texts))
    info = {"version": model.version, "device": device, "label_seconds": time.monotonic() - t0}
    return distill, info


def train_sentiment_quality_job(
    root: Path,
    out: Path,
    opts: Any,
    promote: bool,
    log_dir: Path | None,
    on_epoch: OnEpoch | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    """`train sentiment --tier quality`: MiniLM + GRU decoder fine-tuned on the same data and dev as the
    fast tier (`opts`: a `quality.QualityOptions`), registered as a quality-tier version."""
    from seqsignal.models.text.quality import train_quality_sentiment

    train, dev = td.sentiment_train_dev(root)
    trained = train_quality_sentiment(train, dev, opts, on_epoch, progress)
    n = len(train) if not opts.max_examples else min(len(train), opts.max_examples)
    data = {"root": str(root), "train": "semeval2013-2016 minus (near-)copies of tweeteval-val", "n_train": n,
            "dev": "tweeteval-val", "n_dev": len(dev), "device": trained.fit.device}
    return _register("sentiment", trained, out, data, opts, promote, tier="quality")


def train_rumor_job(
    root: Path,
    out: Path,
    opts: TextOptions,
    datasets: tuple[str, ...],
    promote: bool,
    log_dir: Path | None,
    on_epoch: OnEpoch | None = None,
    progress: Any = None,
) -> dict[str, Any]:
    train, dev = td.rumor_train_dev(root, datasets)
    trained = train_rumor(train, dev, opts, Reporting(log_dir, on_epoch, progress))
    data = {
        "root": str(root),
        "datasets": list(datasets),
        "n_train": len(train),
        "n_dev": len(dev),
        "dev": "twitter15/16 + weibo dev splits, 10% hash split of pheme and rumoureval",
    }
    return _register("rumor", trained, out, data, opts, promote)


HEADS_DATASETS: tuple[str, ...] = ("twitter15", "twitter16", "weibo", "pheme")
PHEME_LOEO_EVENTS = td.PHEME_LOEO_EVENTS


def train_rumor_heads_job(root: Path, out: Path, opts: Any, datasets: tuple[str, ...], promote: bool,
                          progress: Callable[[str], None] | None = None,
                          english_from: Path | None = None) -> dict[str, Any]:
    """`train rumor` (fast tier): the per-dataset heads (`rumor_heads`) trained on the datasets' training
    splits (Twitter15/16, Weibo: train.tsv; PHEME: all but the 10% hash dev split); the PHEME threshold from
    event-grouped inner folds; dev metrics per head (their dev.tsv / the PHEME hash split)."""
    from seqsignal.models.text import rumor_heads as rh
    from seqsignal.models.text.rumor_eval import score_head

    say = progress or (lambda msg: None)
    train, dev = td.rumor_train_dev(root, datasets)
    say(f"training {opts.groups} heads on {len(train)} threads")
    groups, secs = rh.fit_heads(train, opts)
    thresholds = {d: 0.5 for d in rh.HEAD_LABELS if any(ex.dataset == d for ex in train)}
    meta: dict[str, Any] = {"train_cpu_seconds": secs}
    if "pheme" in thresholds and opts.threshold_folds:
        say("PHEME threshold: event-grouped inner folds")
        c0 = time.process_time()
        thresholds["pheme"], meta["pheme_threshold"] = rh.pheme_threshold(
            [ex for ex in train if ex.dataset == "pheme"], opts)
        meta["pheme_threshold"]["cpu_seconds"] = time.process_time() - c0
    english = None
    if english_from is not None:  # today's Seq2Seq (better on unseen PHEME events) scores English threads
        english = registry.load_predictor("rumor", out, model_dir=english_from)
        if not isinstance(english, RumorPredictor):
            raise ValueError(f"{english_from} is not a Seq2Seq rumor version")
        meta["english_from"] = english.version
    predictor = rh.HeadsPredictor(groups, thresholds, meta=meta, english=english)
    metrics: dict[str, float] = {"train_cpu_seconds": secs}
    for head in thresholds:
        m = score_head(predictor, head, [ex for ex in dev if ex.dataset == head])
        metrics[f"dev_{head}_accuracy"] = float(m["accuracy"])
        if "rumour_f1" in m:
            metrics[f"dev_{head}_rumour_f1"] = float(m["rumour_f1"])
            metrics[f"dev_{head}_rumour_f1_at_threshold"] = float(m["at_decision_threshold"]["rumour_f1"])
            metrics[f"{head}_threshold"] = float(thresholds[head])
    trained = Trained(predictor, None, metrics, {}, predictor.files())  # type: ignore[arg-type]
    data = {"root": str(root), "datasets": list(datasets), "n_train": len(train), "n_dev": len(dev),
            "dev": "twitter15/16 + weibo dev.tsv, 10% hash split of pheme", "recipe": "rumor-heads"}
    return _register("rumor", trained, out, data | {"meta": meta}, opts, promote)


def load(task: str, model: Path | None, reg: Path, version: str | None, tier: str | None = None) -> Predictor:
    """A predictor from a version directory (verified) or from the registry (the champion of `tier`, fast by
    default); a named version or directory must be of `tier` when one is given."""
    return registry.load_predictor(task, reg, version, model_dir=model, tier=tier)


def eval_sentiment_job(
    data: Path, predictor: Any, baseline: bool, train_root: Path, bench: bool = True, split: str | None = None
) -> dict[str, Any]:
    from seqsignal.models.datasets import sentiment as sd

    read, examples = td.read_sentiment_split(data, split)
    out: dict[str, Any] = {"task": "sentiment", "data": str(data), "split": read,
                           "model_version": predictor.version}
    out |= te.eval_sentiment(predictor, examples)
    if baseline:
        train = td.drop_near_duplicates(sd.load_semeval(train_root / sd.SEMEVAL_REL), examples)
        out["baselines"] = te.baseline_sentiment(train, examples) | {"n_train": len(train)}
    if bench:
        texts = [ex.text for ex in examples][:256]
        out["throughput"] = te.throughput(predictor.predict, (texts * (256 // max(len(texts), 1) + 1))[:256])
    return out


def eval_rumor_job(
    data: Path, predictor: Any, baseline: bool, train_root: Path, bench: bool = True, split: str = "dev"
) -> dict[str, Any]:
    fmt, examples = td.read_rumor(data, split)  # "dev": PHEME / RumourEval score the 10% never trained on
    out: dict[str, Any] = {
        "task": "rumor",
        "data": str(data),
        "format": fmt,
        "split": td.rumor_split_note(fmt, data, split),
        "model_version": predictor.version,
    }
    head = None
    if hasattr(predictor, "head_probs"):  # the fast tier's per-dataset heads: the file's own head scores it
        from seqsignal.models.text import rumor_eval as re_

        head = re_.head_of(fmt, predictor.heads)
        if head == "pheme" and predictor.english is not None:  # what serving scores English threads with
            out |= te.eval_rumor(predictor.english, examples, fmt) | {"head": "english (embedded seq2seq)"}
        elif head:
            out |= re_.score_head(predictor, head, examples)
        else:
            out |= re_.score_veracity3(predictor, examples)
    else:
        out |= te.eval_rumor(predictor, examples, fmt)
    out["n_with_replies"] = sum(bool(ex.replies) for ex in examples)
    if fmt in ("twitter15", "twitter16", "weibo", "pheme"):
        out["note"] = "random/hash splits: near-duplicate tweets can leak between train and dev"
    if baseline:
        ids = {ex.id for ex in examples}
        train = [ex for ex in td.rumor_train_dev(train_root)[0] if ex.id not in ids]
        out["baselines"] = {"tfidf_lr": te.baseline_rumor(train, examples, fmt) | {"n_train": len(train)}}
        if head is not None:  # issue 10 point 4: per-dataset TF-IDF word+char LR / SVC, same run
            from seqsignal.models.text.rumor_eval import dataset_baselines

            own = [ex for ex in td.rumor_train_dev(train_root, (head,))[0] if ex.id not in ids]
            out["baselines"] |= dataset_baselines(own, examples, head)
    if bench:
        src = ([ex.text for ex in examples] * 256)[:256]
        rep = ([list(ex.replies[:8]) for ex in examples] * 256)[:256]
        out["throughput"] = te.throughput(lambda s: predictor.score(s, rep), src)
    return out


@dataclass
class _Pooled:
    """Held-out predictions of every fold, pooled: scores, and flags at the fold's two thresholds."""

    scores: list[float] = field(default_factory=list)
    tuned: list[bool] = field(default_factory=list)  # at each fold's own training-side threshold
    tuned_pheme: list[bool] = field(default_factory=list)  # threshold chosen on the PHEME part of dev only

    def add(self, scores: np.ndarray, threshold: float, pheme_threshold: float) -> None:
        self.scores += scores.tolist()
        self.tuned += (scores >= threshold).tolist()
        self.tuned_pheme += (scores >= pheme_threshold).tolist()

    def metrics(self, gold: list[bool], folds: dict[str, Any], prefix: str = "") -> dict[str, Any]:
        """Pooled rumour metrics, with the macro over folds, at 0.5 and at both thresholds."""

        def macro(key: str) -> float:
            return float(np.mean([f[prefix + key] for f in folds.values()]))

        out = te.rumour_binary_metrics(gold, np.array(self.scores))
        out["rumour_f1_macro_over_folds"] = macro("rumour_f1")
        for name, flags, key in (("at_threshold", self.tuned, "rumour_f1_at_threshold"),
                                 ("at_pheme_threshold", self.tuned_pheme, "rumour_f1_at_pheme_threshold")):
            out[name] = te.rumour_binary_metrics(gold, np.array(flags, dtype=float)) | {
                "rumour_f1_macro_over_folds": macro(key)}
        return out


def _rumour_fold(y: list[bool], s: np.ndarray, thr: float, pthr: float, prefix: str = "") -> dict[str, float]:
    """One fold's held-out rumour F1 at 0.5, at the fold's threshold and at its PHEME-dev threshold."""
    return {
        f"{prefix}rumour_f1": te.rumour_binary_metrics(y, s)["rumour_f1"],
        f"{prefix}threshold": thr,
        f"{prefix}rumour_f1_at_threshold": te.rumour_binary_metrics(y, s, thr)["rumour_f1"],
        f"{prefix}threshold_pheme_dev": pthr,
        f"{prefix}rumour_f1_at_pheme_threshold": te.rumour_binary_metrics(y, s, pthr)["rumour_f1"],
    }


def _model_fold(train: list[RumorExample], dev: list[RumorExample], test: list[RumorExample],
                opts: TextOptions, pooled: _Pooled) -> dict[str, Any]:
    """Train on `train` (early-stopped and thresholded on `dev`, training side), score `test`."""
    trained = train_rumor(train, dev, opts)
    predictor = cast(RumorPredictor, trained.predictor)
    thr = predictor.decision_threshold  # chosen on `dev` (training side), never on `test`
    y = [ex.is_rumour for ex in test]
    s = predictor.score([ex.text for ex in test], [list(ex.replies) for ex in test])
    pdev = [ex for ex in dev if ex.dataset == "pheme"]  # alternative rule: PHEME part of dev only
    pthr = tune_threshold(
        [ex.is_rumour for ex in pdev],
        predictor.score([ex.text for ex in pdev], [list(ex.replies) for ex in pdev]),
    )
    pooled.add(s, thr, pthr)
    fold: dict[str, Any] = te.rumour_binary_metrics(y, s) | {"epochs": float(trained.result.best_epoch)}
    return fold | _rumour_fold(y, s, thr, pthr)


def _baseline_fold(train: list[RumorExample], dev: list[RumorExample], test: list[RumorExample],
                   pooled: _Pooled) -> dict[str, float]:
    """The same rule with TF-IDF + LR: fit on `train`, thresholds on `dev`, score `test`."""
    from seqsignal.models.text.baselines import TfidfLR

    labels = ["rumour" if ex.is_rumour else "non-rumour" for ex in train]
    lr = TfidfLR().fit([ex.text for ex in train], labels)
    dev_b = lr.score_of([ex.text for ex in dev], "rumour")
    bthr = tune_threshold([ex.is_rumour for ex in dev], dev_b)
    isp = np.array([ex.dataset == "pheme" for ex in dev])
    bpthr = tune_threshold(np.array([ex.is_rumour for ex in dev])[isp], dev_b[isp])
    b = lr.score_of([ex.text for ex in test], "rumour")
    pooled.add(b, bthr, bpthr)
    return _rumour_fold([ex.is_rumour for ex in test], b, bthr, bpthr, prefix="tfidf_lr_")


def _pheme_examples(
    root_or_pheme: Path, extra: tuple[str, ...]
) -> tuple[list[RumorExample], list[RumorExample]]:
    """PHEME's examples (from its directory, a file in it, or the data root) and the `extra` datasets'."""
    from seqsignal.models.datasets import pheme

    pdir = root_or_pheme.parent if root_or_pheme.is_file() else root_or_pheme
    if not (pdir / "source_tweets.tsv").is_file():
        pdir = root_or_pheme / pheme.PHEME_REL
    data_root = pdir.parent.parent  # <root>/rumor/pheme
    others = [ex for part in td.rumor_train_dev(data_root, extra) for ex in part] if extra else []
    return list(pheme.iter_pheme(pdir)), others


def pheme_loeo(
    root_or_pheme: Path,
    opts: TextOptions,
    baseline: bool,
    extra: tuple[str, ...] = (),
    on_fold: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Leave-one-event-out over the 5 PHEME events with both classes (charliehebdo, ebola-essien always
    train). Per fold: a fresh tokenizer and model on the other events (+ `extra` datasets minus any tweet of
    the held-out event), early-stopped on a 10% hash split of that training data. Reports pooled (micro)
    rumour-class F1 over all held-out tweets, and the macro over folds."""
    all_ex, others = _pheme_examples(root_or_pheme, extra)
    gold: list[bool] = []
    model, base = _Pooled(), _Pooled()
    folds: dict[str, Any] = {}
    t0 = time.monotonic()
    for event in td.PHEME_LOEO_EVENTS:
        test = [ex for ex in all_ex if ex.event == event]
        held = {ex.id for ex in test}
        pool = [ex for ex in all_ex if ex.event != event] + [ex for ex in others if ex.id not in held]
        train = [ex for ex in pool if not td._split_of(ex, 0.1)]
        dev = [ex for ex in pool if td._split_of(ex, 0.1)]
        fold = _model_fold(train, dev, test, opts, model)
        if baseline:
            fold |= _baseline_fold(train, dev, test, base)
        gold += [ex.is_rumour for ex in test]
        folds[event] = fold
        if on_fold:
            on_fold(event, fold)
    out: dict[str, Any] = {"task": "rumor", "protocol": "pheme-loeo"}
    out["averaging"] = "pooled (micro) over folds"
    out |= model.metrics(gold, folds)
    rule = "per-fold threshold maximising rumour F1 on"
    out["at_threshold"]["note"] = f"{rule} the fold's 10% training-side dev split"
    out["at_pheme_threshold"]["note"] = f"{rule} the PHEME tweets of the fold's dev split"
    out |= {"folds": folds, "extra_training_data": list(extra), "seconds": time.monotonic() - t0}
    if baseline:
        bm = base.metrics(gold, folds, prefix="tfidf_lr_")
        bm["trained_on"] = "the fold's training split (the model's dev split only picks the threshold)"
        out["baselines"] = {"tfidf_lr": bm}
    return out


def loeo_options(init: str = "minilm", freeze_embeddings: bool = False) -> TextOptions:
    """Small, fast per-fold models for the LOEO protocol."""
    fit = FitConfig(
        max_epochs=6,
        patience=2,
        batch_size=32,
        time_budget_s=240,
        threads=1,
        freeze_embeddings=freeze_embeddings,
    )
    return TextOptions(vocab_size=4000, emb_dim=128, hidden_size=128, max_len=64, init=init, fit=fit)
