"""Text training commands: `seqsignal train sentiment|rumor`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from seqsignal.commands import groups
from seqsignal.commands.text_options import (
    HEADS_GROUPS,
    MASK_TOPICAL_DEFAULT,
    RUMOR_DATASETS,
    Data,
    Init,
    MaskTopical,
)
from seqsignal.workers.settings import default_data_dir

# `train rumor` options of the quality tier (aliases keep the command's signature short)
RumorTier = Annotated[str, typer.Option(
    "--tier",
    help="fast (the recipes above, the CPU default) or quality (a MiniLM + GRU decoder per dataset)")]
RumorEpochs = Annotated[int | None, typer.Option(
    "--epochs", min=1, help="heads: epochs of the joint network (default 8); quality: fine-tuning epochs "
    "(default 2)")]
FreezeLayers = Annotated[int, typer.Option(
    "--freeze-layers", min=0, max=6,
    help="quality: freeze MiniLM's embeddings and layers < K (6: only the decoder trains)")]
QualityBudget = Annotated[float | None, typer.Option(
    "--time-budget",
    help="quality: total seconds, shared among the datasets by size (stop after the epoch crossing it)")]
QualityDevice = Annotated[str, typer.Option(
    "--device", help="quality: auto (cuda when present, bf16), cpu or cuda")]
QualityMaxExamples = Annotated[int | None, typer.Option(
    "--max-examples", min=1, help="quality: a seeded random N of each dataset's training threads")]
QualityFusion = Annotated[bool, typer.Option(
    "--fusion/--no-fusion", help="quality: try fusing each network with the fast tier's head (shipped only "
    "where it helps on the selection split)")]


def _options(params: dict[str, Any]) -> Any:
    """TextOptions from a train command's parameters (they share the names)."""
    from seqsignal.models.text.recipes import TextOptions
    from seqsignal.models.text.train import FitConfig

    if params["init"] not in ("minilm", "random"):
        raise typer.BadParameter("--init must be minilm or random")
    fit = FitConfig(**{k: params[k] for k in ("max_epochs", "patience", "time_budget_s", "threads", "seed",
                                               "batch_size")})
    opts = TextOptions(**{k: params[k] for k in ("vocab_size", "emb_dim", "hidden_size", "max_len", "init")},
                       fit=fit)
    if "mask_topical" in params:
        opts.mask_topical = params["mask_topical"]
    if "lexical" in params:
        opts.lexical = params["lexical"]
    return opts


def _run_dir(runs: Path, task: str) -> Path:
    from datetime import UTC, datetime

    return runs / task / f"{datetime.now(UTC):%Y%m%dT%H%M%SZ}"


def _train(ctx: typer.Context, task: str, job: Any, *extra: Any) -> None:
    """Run a text training job with the command's options, showing each epoch; print its summary."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    p = ctx.params
    run_dir = _run_dir(p["runs"], task)
    args = (p["data"] or default_data_dir(), p["out"], _options(p), *extra, p["promote"], run_dir)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            progress.console.print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in row.items()))

        summary = job(*args, on_epoch, progress)
    typer.echo(json.dumps(summary, indent=2, default=str))


def train_sentiment(
    ctx: typer.Context,
    data: Data = None,
    out: groups.Out = groups.REGISTRY_DIR,
    runs: groups.Runs = groups.RUNS_DIR,
    promote: Annotated[bool, typer.Option(help="Make the new version champion")] = True,
    init: Init = "minilm",
    vocab_size: int = 8000,
    emb_dim: int = 128,
    hidden_size: int = 128,
    max_len: int = 64,
    max_epochs: int = 5,
    patience: int = 2,
    batch_size: int = 128,
    time_budget_s: Annotated[float, typer.Option(help="Training time budget, seconds")] = 540.0,
    threads: Annotated[int, typer.Option(min=1, help="torch threads")] = 1,
    seed: int = 0,
    tier: Annotated[str, typer.Option(
        help="fast (BPE GRU, the CPU default) or quality (MiniLM + GRU decoder)")] = "fast",
    epochs: Annotated[int, typer.Option(min=1, help="quality: fine-tuning epochs")] = 3,
    max_examples: Annotated[int | None, typer.Option(
        min=1, help="quality: a seeded random N of the training tweets")] = None,
    freeze_layers: Annotated[int, typer.Option(
        min=0, max=6, help="quality: freeze MiniLM's embeddings and layers < K (6: only the decoder trains)"
    )] = 0,
    quality_batch_size: Annotated[int, typer.Option(min=1, help="quality: batch size")] = 32,
    teacher: Annotated[str | None, typer.Option(
        help="fast: distil from a quality-tier teacher (version, version dir, or 'quality' = its champion) "
        "over the training tweets and every unlabelled text of the data root")] = None,
    max_unlabelled: Annotated[int | None, typer.Option(
        min=0, help="fast --teacher: only the first N unlabelled texts")] = None,
    lexical: Annotated[bool, typer.Option(
        help="fast: fuse the hashed n-gram LR channel with the Seq2Seq (weight chosen on the selection split)"
    )] = True,
) -> None:
    """Train on SemEval 2013-2016 minus TweetEval val and register the model. Fast tier: the epoch and the
    lexical fusion weight are chosen on a 5% selection split of the training tweets; TweetEval val (dev) is
    only scored. The quality tier chooses its epoch on the same selection split.
    `--tier quality` fine-tunes all-MiniLM-L6-v2 + a GRU decoder (on CUDA when present, bf16; on CPU
    about 14 tweets per CPU-second per thread for a full fine-tune) and registers a quality-tier version."""
    from seqsignal.models.text.training_jobs import train_sentiment_job

    if tier == "quality":
        _train_quality(ctx)
        return
    if tier != "fast":
        raise typer.BadParameter("--tier must be fast or quality")
    from functools import partial

    _train(ctx, "sentiment", partial(train_sentiment_job, teacher=teacher, max_unlabelled=max_unlabelled))


def _train_quality(ctx: typer.Context) -> None:
    """`train sentiment --tier quality`: the job with QualityOptions from the command's parameters."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seqsignal.models.text.quality import QualityOptions
    from seqsignal.models.text.training_jobs import train_sentiment_quality_job

    p = ctx.params
    opts = QualityOptions(epochs=p["epochs"], max_examples=p["max_examples"],
                          freeze_layers=p["freeze_layers"], batch_size=p["quality_batch_size"],
                          threads=p["threads"], seed=p["seed"])
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            progress.console.print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in row.items()))

        summary = train_sentiment_quality_job(p["data"] or default_data_dir(), p["out"], opts, p["promote"],
                                              None, on_epoch, progress)
    typer.echo(json.dumps(summary, indent=2, default=str))


def train_rumor(
    ctx: typer.Context,
    data: Data = None,
    out: groups.Out = groups.REGISTRY_DIR,
    runs: groups.Runs = groups.RUNS_DIR,
    datasets: Annotated[str, typer.Option(help="Comma-separated training datasets")] = RUMOR_DATASETS,
    promote: Annotated[bool, typer.Option(help="Make the new version champion")] = True,
    init: Init = "minilm",
    vocab_size: int = 12000,
    emb_dim: int = 128,
    hidden_size: int = 128,
    max_len: int = 96,
    max_epochs: int = 6,
    patience: int = 2,
    batch_size: int = 32,
    time_budget_s: Annotated[float, typer.Option(help="Training time budget, seconds")] = 300.0,
    threads: Annotated[int, typer.Option(min=1, help="torch threads")] = 1,
    seed: int = 0,
    mask_topical: MaskTopical = MASK_TOPICAL_DEFAULT,
    recipe: Annotated[str, typer.Option(
        help="heads: the fast tier (GRU + hashed lexical channel, one head per dataset; datasets default "
        "twitter15,twitter16,weibo,pheme); seq2seq: the earlier pooled BPE Seq2Seq")] = "heads",
    groups: Annotated[str, typer.Option(
        help="heads: joint (one network, every head) or per-dataset (one network per head)")] = HEADS_GROUPS,
    epochs: RumorEpochs = None,
    threshold_folds: Annotated[int, typer.Option(
        min=0, help="heads: event-grouped inner folds choosing the PHEME threshold (0: 0.5)")] = 2,
    english_from: Annotated[Path | None, typer.Option(
        help="heads: a --recipe seq2seq version dir embedded to score live English threads (better on "
        "unseen PHEME events); its threshold is served")] = None,
    tier: RumorTier = "fast",
    freeze_layers: FreezeLayers = 4,
    time_budget: QualityBudget = None,
    device: QualityDevice = "auto",
    max_examples: QualityMaxExamples = None,
    fusion: QualityFusion = True,
) -> None:
    """Train and register a rumor model. Default (`--recipe heads`): per-dataset heads on Twitter15/16,
    Weibo (train.tsv) and PHEME (all but its 10% hash dev split), the PHEME flag threshold chosen on
    event-grouped inner folds. `--recipe seq2seq`: the pooled model on PHEME + Twitter15/16 + RumourEval +
    Weibo, threshold on the dev split. Thresholds are stored in config.json.
    `--tier quality` fine-tunes all-MiniLM-L6-v2 + a GRU decoder per dataset (Twitter15/16, Weibo, PHEME;
    default 2 epochs, layers 0-3 frozen) on CUDA when present (bf16), else CPU (`--threads`); epoch,
    fusion with the fast head and PHEME threshold chosen on a 15% selection split of the training threads;
    registered as a quality-tier version (docs/text_models.md, "Rumor quality tier")."""
    from seqsignal.models.text.training_jobs import train_rumor_job

    names = tuple(d.strip() for d in datasets.split(",") if d.strip())
    if tier == "quality":
        _train_rumor_quality(ctx, names)
        return
    if tier != "fast":
        raise typer.BadParameter("--tier must be fast or quality")
    if recipe == "heads":
        _train_heads(ctx, names)
        return
    if recipe != "seq2seq":
        raise typer.BadParameter("--recipe must be heads or seq2seq")
    _train(ctx, "rumor", train_rumor_job, names)


def _train_heads(ctx: typer.Context, names: tuple[str, ...]) -> None:
    import torch

    from seqsignal.models.text.rumor_heads_training import HeadsOptions
    from seqsignal.models.text.training_jobs import HEADS_DATASETS, train_rumor_heads_job

    p = ctx.params
    torch.set_num_threads(p["threads"])
    if names == tuple(RUMOR_DATASETS.split(",")):
        names = HEADS_DATASETS
    opts = HeadsOptions(groups=p["groups"], epochs=p["epochs"] or 8, seed=p["seed"],
                        threshold_folds=p["threshold_folds"])
    summary = train_rumor_heads_job(p["data"] or default_data_dir(), p["out"], opts, names, p["promote"],
                                    lambda msg: typer.echo(msg, err=True), p["english_from"])
    typer.echo(json.dumps(summary, indent=2, default=str))


def _train_rumor_quality(ctx: typer.Context, names: tuple[str, ...]) -> None:
    """`train rumor --tier quality`: the job with RumorQualityOptions from the command's parameters."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from seqsignal.models.text.rumor_quality_training import (
        DATASETS,
        RumorQualityOptions,
        train_rumor_quality_job,
    )

    p = ctx.params
    if names == tuple(RUMOR_DATASETS.split(",")):
        names = DATASETS
    if p["device"] not in ("auto", "cpu", "cuda"):
        raise typer.BadParameter("--device must be auto, cpu or cuda")
    opts = RumorQualityOptions(epochs=p["epochs"] or 2, freeze_layers=p["freeze_layers"],
                               time_budget_s=p["time_budget"], device=p["device"], threads=p["threads"],
                               seed=p["seed"], max_examples=p["max_examples"], fusion=p["fusion"],
                               datasets=names)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, transient=False) as progress:

        def on_epoch(epoch: int, row: dict[str, float]) -> None:
            progress.console.print(f"epoch {epoch}: " + " ".join(f"{k}={v:.4f}" for k, v in row.items()))

        summary = train_rumor_quality_job(p["data"] or default_data_dir(), p["out"], opts, p["promote"],
                                          on_epoch, progress, progress.console.print)
    typer.echo(json.dumps(summary, indent=2, default=str))
