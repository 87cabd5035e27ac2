"""`seqsignal train|eval sentiment|rumor`: the text models' offline commands."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from seqsignal.commands import groups
from seqsignal.workers.settings import default_data_dir

RUMOR_DATASETS = "pheme,twitter15,twitter16,rumoureval,weibo"
Data = Annotated[Path | None, typer.Option(help="Data root or dataset path (default: SEQSIGNAL_DATA_DIR)")]
Init = Annotated[str, typer.Option(help="Embedding init: minilm (all-MiniLM-L6-v2 word pieces) or random")]
MaskTopical = Annotated[bool, typer.Option(help="rumor: BPE normaliser masks hashtags and numbers")]
HEADS_GROUPS = "per-dataset"  # joint training hurt Weibo and PHEME dev (docs/text_models.md)
MASK_TOPICAL_DEFAULT = True  # LOEO: pooled rumour F1 0.619 vs 0.577 unmasked (threshold on dev)


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
) -> None:
    """Train on SemEval 2013-2016 minus TweetEval val (dev, early stopping) and register the model.
    `--tier quality` fine-tunes all-MiniLM-L6-v2 + a GRU decoder (on CUDA when present, bf16; on CPU
    about 14 tweets per CPU-second per thread for a full fine-tune) and registers a quality-tier version."""
    from seqsignal.models.text.jobs import train_sentiment_job

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

    from seqsignal.models.text.jobs import train_sentiment_quality_job
    from seqsignal.models.text.quality import QualityOptions

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
    epochs: Annotated[int, typer.Option(min=1, help="heads: epochs of the joint network")] = 8,
    threshold_folds: Annotated[int, typer.Option(
        min=0, help="heads: event-grouped inner folds choosing the PHEME threshold (0: 0.5)")] = 2,
    english_from: Annotated[Path | None, typer.Option(
        help="heads: a --recipe seq2seq version dir embedded to score live English threads (better on "
        "unseen PHEME events); its threshold is served")] = None,
) -> None:
    """Train and register a rumor model. Default (`--recipe heads`): per-dataset heads on Twitter15/16,
    Weibo (train.tsv) and PHEME (all but its 10% hash dev split), the PHEME flag threshold chosen on
    event-grouped inner folds. `--recipe seq2seq`: the pooled model on PHEME + Twitter15/16 + RumourEval +
    Weibo, threshold on the dev split. Thresholds are stored in config.json."""
    from seqsignal.models.text.jobs import train_rumor_job

    names = tuple(d.strip() for d in datasets.split(",") if d.strip())
    if recipe == "heads":
        _train_heads(ctx, names)
        return
    if recipe != "seq2seq":
        raise typer.BadParameter("--recipe must be heads or seq2seq")
    _train(ctx, "rumor", train_rumor_job, names)


def _train_heads(ctx: typer.Context, names: tuple[str, ...]) -> None:
    import torch

    from seqsignal.models.text.jobs import HEADS_DATASETS, train_rumor_heads_job
    from seqsignal.models.text.rumor_heads import HeadsOptions

    p = ctx.params
    torch.set_num_threads(p["threads"])
    if names == tuple(RUMOR_DATASETS.split(",")):
        names = HEADS_DATASETS
    opts = HeadsOptions(groups=p["groups"], epochs=p["epochs"], seed=p["seed"],
                        threshold_folds=p["threshold_folds"])
    summary = train_rumor_heads_job(p["data"] or default_data_dir(), p["out"], opts, names, p["promote"],
                                    lambda msg: typer.echo(msg, err=True), p["english_from"])
    typer.echo(json.dumps(summary, indent=2, default=str))


Model = Annotated[Path | None, typer.Option(help="A model version directory (default: registry champion)")]
Baseline = Annotated[bool, typer.Option("--baseline", help="Also score VADER / TF-IDF+LR on the same data")]
TrainData = Annotated[Path | None, typer.Option(help="Data root the baselines train on (default: shared)")]


EvalTier = Annotated[str | None, typer.Option(
    help="Registry tier whose champion is scored: fast (the default) or quality (runs on CPU too, slowly)")]


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

    from seqsignal.models.text.jobs import eval_sentiment_job, load

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
        str | None, typer.Option(help="pheme-loeo: train and score per held-out event")
    ] = None,
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

    from seqsignal.models.text import jobs as tj

    root = default_data_dir()
    if protocol == "pheme-loeo":
        torch.set_num_threads(1)
        if recipe == "heads":
            from seqsignal.models.text.rumor_eval import pheme_loeo_heads
            from seqsignal.models.text.rumor_heads import HeadsOptions

            ex, _ = tj._pheme_examples(data or root, ())
            def on_fold(event: str, fold: dict[str, Any]) -> None:
                typer.echo(f"fold {event}: {json.dumps(fold)}", err=True)

            _print(pheme_loeo_heads(ex, tj.PHEME_LOEO_EVENTS, HeadsOptions(), baseline, on_fold), as_json)
            return
        if recipe != "seq2seq":
            raise typer.BadParameter("--recipe must be heads or seq2seq")
        names = tuple(d.strip() for d in extra.split(",") if d.strip())
        opts = tj.loeo_options(init, freeze_embeddings)
        opts.mask_topical = mask_topical
        _print(tj.pheme_loeo(data or root, opts, baseline, names), as_json)
        return
    if protocol is not None:
        raise typer.BadParameter("the only protocol is pheme-loeo")
    if split not in ("dev", "all"):
        raise typer.BadParameter("--split must be dev or all")
    torch.set_num_threads(threads)
    predictor = tj.load("rumor", model, registry, version, _check_tier(tier))
    out = tj.eval_rumor_job(data or root / "rumor/pheme", predictor, baseline, train_data or root, throughput,
                            split)
    _print(out | {"tier": getattr(predictor, "tier", "fast")}, as_json)


def register(app: typer.Typer) -> None:
    groups.train_app.command("sentiment")(train_sentiment)
    groups.train_app.command("rumor")(train_rumor)
    groups.eval_app.command("sentiment")(eval_sentiment)
    groups.eval_app.command("rumor")(eval_rumor)
