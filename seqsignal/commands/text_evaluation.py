"""Text evaluation commands: `seqsignal eval sentiment|rumor`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from seqsignal.commands import groups
from seqsignal.commands.text_options import (
    MASK_TOPICAL_DEFAULT,
    Baseline,
    Data,
    EvalTier,
    Init,
    MaskTopical,
    Model,
    TrainData,
)
from seqsignal.workers.settings import default_data_dir


def _check_tier(tier: str | None) -> str | None:
    if tier not in (None, "fast", "quality"):
        raise typer.BadParameter("--tier must be fast or quality")
    return tier


def _print(out: dict[str, Any], as_json: bool) -> None:
    typer.echo(json.dumps(out) if as_json else json.dumps(out, indent=2))


def eval_sentiment(
    data: Data = None,
    model: Model = None,
    registry: groups.Registry = groups.REGISTRY_DIR,
    version: groups.Version = None,
    baseline: Baseline = False,
    as_json: groups.AsJson = False,
    train_data: TrainData = None,
    throughput: Annotated[bool, typer.Option(help="Measure events/s at batch 256")] = True,
    threads: Annotated[int, typer.Option(min=1, help="torch threads (1 is fastest here)")] = 1,
    mask_topical: MaskTopical = MASK_TOPICAL_DEFAULT,
    split: Annotated[str | None, typer.Option(
        help="TweetEval dir: which of its own splits (test, val, train; default: test if present, else val)"
    )] = None,
    tier: EvalTier = None,
) -> None:
    """Score sentiment on TweetEval val (default), a TweetEval dir's own train/val/test files
    (`<split>_text.txt` + `<split>_labels.txt`) or SemEval TSVs: avg_recall, accuracy, f1_pn, n."""
    import torch

    from seqsignal.models.text.evaluation_jobs import eval_sentiment_job, load

    torch.set_num_threads(threads)
    root = default_data_dir()
    predictor = load("sentiment", model, registry, version, _check_tier(tier))
    out = eval_sentiment_job(
        data or root / "sentiment/tweeteval-val", predictor, baseline, train_data or root, throughput, split
    )
    _print(out | {"tier": getattr(predictor, "tier", "fast")}, as_json)


def eval_rumor(
    data: Data = None,
    model: Model = None,
    registry: groups.Registry = groups.REGISTRY_DIR,
    version: groups.Version = None,
    protocol: Annotated[
        str | None, typer.Option(help="pheme-loeo: train and score per held-out event; kfold: grouped (by "
                                 "near-duplicate cluster) vs random k-fold of a Twitter15/16 / Weibo train")
    ] = None,
    folds: Annotated[int, typer.Option(min=2, help="kfold: number of folds")] = 5,
    baseline: Baseline = False,
    as_json: groups.AsJson = False,
    train_data: TrainData = None,
    init: Init = "minilm",
    extra: Annotated[str, typer.Option(help="pheme-loeo: extra training datasets (comma-separated)")] = "",
    freeze_embeddings: Annotated[
        bool, typer.Option(help="pheme-loeo: keep the MiniLM embedding fixed")
    ] = False,
    throughput: Annotated[bool, typer.Option(help="Measure events/s at batch 256")] = True,
    threads: Annotated[int, typer.Option(min=1, help="torch threads (1 is fastest here)")] = 1,
    mask_topical: MaskTopical = MASK_TOPICAL_DEFAULT,
    split: Annotated[str, typer.Option(
        help="dev: a dataset dir's dev.tsv, PHEME / RumourEval's 10% hash split (what training left out); "
        "all: every example (every <split>.tsv of a dir; right for events the model never saw)"
    )] = "dev",
    tier: EvalTier = None,
    recipe: Annotated[str, typer.Option(
        help="pheme-loeo: heads (the fast tier's PHEME head, threshold from event-grouped inner folds) or "
        "seq2seq (the earlier pooled recipe)")] = "heads",
) -> None:
    """Score rumor: PHEME -> rumour_f1; Twitter15/16 (dev) -> accuracy, macro_f1; Weibo (dev) -> rumour_f1,
    accuracy; RumourEval -> veracity accuracy. `--protocol pheme-loeo` trains one model per held-out event."""
    import torch

    from seqsignal.models.text import evaluation_jobs as ej

    root = default_data_dir()
    if protocol == "pheme-loeo":
        _eval_loeo(data or root, recipe, baseline, extra, init, freeze_embeddings, mask_topical, as_json)
        return
    if protocol == "kfold":
        _eval_kfold(data or root / "rumor/twitter15", folds, baseline, as_json)
        return
    if protocol is not None:
        raise typer.BadParameter("--protocol must be pheme-loeo or kfold")
    if split not in ("dev", "all"):
        raise typer.BadParameter("--split must be dev or all")
    torch.set_num_threads(threads)
    predictor = ej.load("rumor", model, registry, version, _check_tier(tier))
    out = ej.eval_rumor_job(data or root / "rumor/pheme", predictor, baseline, train_data or root, throughput,
                            split)
    _print(out | {"tier": getattr(predictor, "tier", "fast")}, as_json)


def _eval_kfold(data: Path, folds: int, baseline: bool, as_json: bool) -> None:
    """`eval rumor --protocol kfold`: the heads recipe and the baselines on grouped and on random folds of
    the dataset's train.tsv (one torch thread; progress per fold on stderr)."""
    import torch

    from seqsignal.models.text.rumor_heads_training import HeadsOptions
    from seqsignal.models.text.rumor_kfold_report import rumor_kfold

    torch.set_num_threads(1)

    def on_fold(protocol: str, fold: int, acc: dict[str, float]) -> None:
        typer.echo(f"{protocol} fold {fold}: accuracy {json.dumps(acc)}", err=True)

    try:
        out = rumor_kfold(data, HeadsOptions(), folds, 0, baseline, on_fold)
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    _print(out, as_json)


def _eval_loeo(data: Path, recipe: str, baseline: bool, extra: str, init: str, freeze_embeddings: bool,
               mask_topical: bool, as_json: bool) -> None:
    """`eval rumor --protocol pheme-loeo`: train and score one model per held-out PHEME event."""
    import torch

    from seqsignal.models.text import pheme_loeo as pl

    torch.set_num_threads(1)
    if recipe == "heads":
        from seqsignal.models.text.rumor_eval import pheme_loeo_heads
        from seqsignal.models.text.rumor_heads_training import HeadsOptions

        ex, _ = pl.pheme_examples(data, ())

        def on_fold(event: str, fold: dict[str, Any]) -> None:
            typer.echo(f"fold {event}: {json.dumps(fold)}", err=True)

        _print(pheme_loeo_heads(ex, pl.PHEME_LOEO_EVENTS, HeadsOptions(), baseline, on_fold), as_json)
        return
    if recipe != "seq2seq":
        raise typer.BadParameter("--recipe must be heads or seq2seq")
    names = tuple(d.strip() for d in extra.split(",") if d.strip())
    opts = pl.loeo_options(init, freeze_embeddings)
    opts.mask_topical = mask_topical
    _print(pl.pheme_loeo(data, opts, baseline, names), as_json)
