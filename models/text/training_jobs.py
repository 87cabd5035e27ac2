"""Training jobs: what `seqsignal train sentiment|rumor` do (train, then register a version)."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqsignal.models.core import registry
from seqsignal.models.text import data as td
from seqsignal.models.text.recipes import Reporting, TextOptions, Trained, train_rumor
from seqsignal.models.text.rumor import RumorPredictor
from seqsignal.models.text.sentiment_recipe import Distill, train_sentiment

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
        "dev": "tweeteval-val, scored only (epoch and fusion weight: a 5% selection split of the training)",
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
    """`train sentiment --tier quality`: MiniLM + GRU decoder fine-tuned on the same data as the fast tier;
    the epoch is chosen on the same 5% selection split (`data.selection_split`), so TweetEval val is only
    ever scored (`opts`: a `quality.QualityOptions`); registered as a quality-tier version."""
    from seqsignal.models.text.quality import train_quality_sentiment

    train_all, _val = td.sentiment_train_dev(root)  # TweetEval val is only scored (eval), never selects
    fit_idx, sel_idx = td.selection_split(train_all)
    train, select = [train_all[i] for i in fit_idx], [train_all[i] for i in sel_idx]
    trained = train_quality_sentiment(train, select, opts, on_epoch, progress)
    n = len(train) if not opts.max_examples else min(len(train), opts.max_examples)
    data = {"root": str(root), "train": "semeval2013-2016 minus (near-)copies of tweeteval-val, minus the "
            "5% selection split", "n_train": n,
            "dev": "selection split (5% of the training tweets, by id hash)", "n_dev": len(select),
            "device": trained.fit.device}
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
