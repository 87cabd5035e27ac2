"""End to end on a small slice of real Higgs data: train, register, load from the registry, predict, eval."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsignal.models.behavior.data import default_higgs_path
from seqsignal.models.behavior.features import ActionRecord
from seqsignal.models.behavior.job import evaluate_cli, train_and_register
from seqsignal.models.behavior.predictor import BehaviorPredictor
from seqsignal.models.behavior.train import TrainConfig
from seqsignal.models.core import registry

pytestmark = pytest.mark.skipif(not default_higgs_path().exists(), reason="shared Higgs data not available")
SPLIT = datetime(2012, 7, 2, tzinfo=UTC).timestamp()  # a tiny slice: 2012-07-01 only (~1,300 events)


def test_train_register_load_predict_eval(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    cfg = TrainConfig(hidden_size=8, emb_dim=4, max_epochs=3, patience=1, dev_hours=6, split_ts=SPLIT,
                      time_budget_s=60)
    seen: list[str] = []
    summary = train_and_register(None, tmp_path / "reg", cfg, runs_dir=tmp_path / "runs",
                                 on_epoch=lambda stage, e, row: seen.append(stage))
    v = summary["version"]
    assert summary["champion"] == v and "fit" in seen
    assert summary["metrics"]["dev_n"] > 0 and 0.0 <= summary["metrics"]["tau"] <= 1.0
    vdir = tmp_path / "reg" / "behavior" / v
    manifest = json.loads((vdir / "manifest.json").read_text())
    assert {"model.safetensors", "config.json", "plots/loss_curves.png"} <= set(manifest["files"])
    assert manifest["data"]["until_ts"] == SPLIT and manifest["data"]["n_events"] > 500
    assert list((tmp_path / "runs" / "behavior" / v).glob("events.out.tfevents.*"))

    pred = registry.load_predictor("behavior", tmp_path / "reg")
    assert isinstance(pred, BehaviorPredictor) and pred.version == v
    window = [ActionRecord("repost", SPLIT + 60 * i) for i in range(6)]
    out = pred.predict(pred.encode_windows([window]), [window[-1]], horizon=3)
    assert len(out[0].actions) == 3 and 0 < out[0].sequence_probability <= 1

    res = evaluate_cli(None, None, SPLIT, None, tmp_path / "reg", None, 3, 1, True, SPLIT + 6 * 3600, 1)
    assert res["model_version"] == v and res["n"] > 0 and res["n"] == res["baselines"]["markov"]["n"]
    for key in ("accuracy", "macro_f1", "bleu", "perplexity"):
        assert res[key] is not None and np.isfinite(res[key])
    assert set(res["baselines"]) == {"global_majority", "user_majority", "markov"}
