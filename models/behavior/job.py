"""Behavior jobs behind the CLI: train -> plots, TensorBoard, registry; evaluate a registered model."""

from __future__ import annotations

import platform
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from seqsignal.models.behavior import data as bd
from seqsignal.models.behavior.evaluate import evaluate
from seqsignal.models.behavior.predictor import (
    TASK,
    BehaviorPredictor,
    attach_decision_bias,
    config_dict,
)
from seqsignal.models.behavior.target_model import TargetFit, train_ranker
from seqsignal.models.behavior.targets import TargetConfig
from seqsignal.models.behavior.train import TrainConfig, fit, load_training_batches
from seqsignal.models.core import plots, registry
from seqsignal.models.core.checkpoint import model_files, sha256_file

EpochHook = Callable[[str, int, dict[str, float]], None]


def train_and_register(data: Path | None, registry_dir: Path, cfg: TrainConfig, promote: bool = False,
                       runs_dir: Path | None = None, on_epoch: EpochHook | None = None) -> dict[str, Any]:
    """Train on Higgs before cfg.split_ts, write plots and TensorBoard logs, register the version and
    make it champion if there is none (or if `promote`). Returns a summary for the CLI."""
    torch.set_num_threads(max(1, cfg.threads))
    version = registry.new_version()
    writer = None
    if runs_dir is not None:
        from torch.utils.tensorboard import SummaryWriter

        writer = SummaryWriter(str(runs_dir / TASK / version))

    def hook(stage: str, epoch: int, row: dict[str, float]) -> None:
        if writer is not None:
            for k, v in row.items():
                writer.add_scalar(f"{stage}/{k}", v, epoch)
        if on_epoch:
            on_epoch(stage, epoch, row)

    t0 = time.monotonic()
    batches, data_desc = load_training_batches(data, cfg)
    result = fit(batches, cfg, hook)
    attach_decision_bias(result.model, result.decision_bias)  # carried into config.json by config_dict
    target_files = _train_targets(data, cfg, result.data["dev_from"], result.metrics)
    if writer is not None:
        writer.add_hparams({k: v for k, v in result.data["config"].items() if isinstance(v, int | float)},
                           {f"hparam/{k}": v for k, v in result.metrics.items()})
        writer.close()
    files: dict[str, bytes | Path] = {**model_files(result.model, config_dict(result.model)), **target_files}
    files["plots/loss_curves.png"] = plots.loss_curves(
        {k: v for k, v in result.history.items() if k.endswith("loss")}, "behavior: loss per token")
    if result.confusion is not None:
        files["plots/confusion_dev.png"] = plots.confusion_matrix(
            result.confusion, result.data["labels"], "behavior dev: next action (users >= 5 prior)")
    path = data or bd.default_higgs_path()
    data_desc |= {"dataset": "SNAP Higgs Twitter activity, MT/RE/RT rows of one tweet merged",
                  "sha256": sha256_file(Path(path)), "dev_from_ts": result.data["dev_from"],
                  "train_config": result.data["config"]}
    extra = {"runtime": {"torch": torch.__version__, "python": platform.python_version(),
                         "threads": torch.get_num_threads()}}
    registry.save_version(registry_dir, TASK, files, metrics=result.metrics, data=data_desc, version=version,
                          extra=extra, make_champion_if_none=True)
    if promote and registry.champion(registry_dir, TASK) != version:
        registry.promote(TASK, version, registry_dir)
    return {"task": TASK, "version": version, "registry": str(registry_dir),
            "champion": registry.champion(registry_dir, TASK), "metrics": result.metrics,
            "seconds": time.monotonic() - t0, "plots": sorted(k for k in files if k.endswith(".png")),
            "tensorboard": str(runs_dir / TASK / version) if runs_dir else None}


def _train_targets(data: Path | None, cfg: TrainConfig, dev_from: float, metrics: dict[str, float]
                   ) -> dict[str, bytes]:
    """The next-target ranker's files (metrics added in place), or none when cfg.targets is off."""
    if not cfg.targets:
        return {}
    tcfg = TargetConfig(window=cfg.target_window, reverse_edges=cfg.target_reverse_edges)
    ranker, tmetrics = train_ranker(data, cfg.split_ts, dev_from, tcfg,
                                    TargetFit(epochs=cfg.target_epochs, seed=cfg.seed), cfg.refit)
    metrics |= tmetrics
    return ranker.files(tmetrics)


def load_for_eval(model_dir: Path | None, registry_dir: Path, version: str | None,
                  device: str = "cpu") -> BehaviorPredictor:
    """A version directory (verified like the registry does) or the registry's champion / named version."""
    pred = registry.load_predictor(TASK, registry_dir, version, device, model_dir=model_dir)
    assert isinstance(pred, BehaviorPredictor)
    return pred


def evaluate_cli(history: Path | None, data: Path | None, split_at: float | None, model_dir: Path | None,
                 registry_dir: Path, version: str | None, horizon: int, beam_size: int, baselines: bool,
                 until: float | None, threads: int) -> dict[str, Any]:
    torch.set_num_threads(max(1, threads))
    t0 = time.monotonic()
    if split_at is None and (history is None or data is None or history.resolve() == data.resolve()):
        split_at = bd.SPLIT_TS  # one file for both: the protocol's split, 2012-07-04 00:00 UTC
    pred = load_for_eval(model_dir, registry_dir, version)
    out = evaluate(pred, history, data, split_at, horizon, beam_size, baselines, until)
    default = bd.default_higgs_path()
    return out | {"history": str(history or default), "data": str(data or default),
                  "seconds": round(time.monotonic() - t0, 2)}
