"""Rumour quality tier (a MiniLM + GRU decoder per dataset): thread composition, a tiny fine-tune (a few
threads per dataset, 1 epoch, encoder frozen, fusion tried) registered as a quality-tier rumor version,
loaded back through the registry (same predictions, the RumorModel contract), `eval rumor --tier quality`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from seqsignal.models.core import registry
from seqsignal.models.text.quality_model import WordPiece
from seqsignal.models.text.rumor_heads_network import HEAD_LABELS
from seqsignal.models.text.rumor_quality import QualityRumorPredictor, thread_rows
from seqsignal.models.text.rumor_quality_training import RumorQualityOptions, train_rumor_quality
from seqsignal.workers.settings import default_data_dir

ROOT = default_data_dir()
pytestmark = pytest.mark.skipif(not (ROOT / "rumor/twitter15").is_dir(), reason="shared data not available")
TINY = RumorQualityOptions(epochs=1, max_examples=24, freeze_layers=6, batch_size=16, max_len=48,
                           select_share=0.3, device="cpu", threads=1)
THREADS = (["breaking: the bridge collapsed downtown", "是真的吗？大桥倒塌了", "lovely weather today"],
           [["source?", "is this real", "fake"], ["谣言"], []])


def test_thread_rows_keep_source_first_and_earliest_replies() -> None:
    tok = WordPiece.pretrained()
    rows = thread_rows(tok, ["a b c " * 40, "short one"], [["first reply"] * 3, [f"r{i}" for i in range(30)]],
                       max_len=64)
    assert all(len(r) <= 64 for r in rows)
    assert rows[0][0] == 101 and rows[0][-1] == 102 and len(rows[0]) == 64  # [CLS] ... [SEP], cut
    assert tok.tok.decode(rows[1]).startswith("short one r0 r1 r2")  # earliest replies kept
    assert rows[1].count(102) >= 10  # source [SEP] reply [SEP] ...


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, QualityRumorPredictor]:
    from seqsignal.models.text import data as td

    torch.set_num_threads(1)
    by = {d: td.rumor_train_dev(ROOT, (d,))[0][:60] for d in ("twitter15", "twitter16", "weibo", "pheme")}
    trained = train_rumor_quality(by, TINY)
    reg = tmp_path_factory.mktemp("registry")
    version = registry.save_version(reg, "rumor", trained.files(), metrics={"n": 1.0},
                                    make_champion_if_none=True, tier="quality")
    return reg, version, trained


def test_round_trip_through_the_registry(saved: tuple[Path, str, QualityRumorPredictor]) -> None:
    reg, version, trained = saved
    assert registry.champion(reg, "rumor") is None  # no fast champion: tiers are separate
    pred = registry.load_predictor("rumor", reg, tier="quality")
    assert isinstance(pred, QualityRumorPredictor) and pred.version == version and pred.tier == "quality"
    assert set(pred.heads) == {"twitter15", "twitter16", "weibo", "pheme"}
    assert pred.fusion.keys() == trained.fusion.keys()  # whatever was shipped came back
    src, rep = THREADS
    s = pred.score(src, rep)
    assert s.shape == (3,) and ((s >= 0) & (s <= 1)).all()
    assert np.allclose(s, trained.score(src, rep), atol=1e-5)  # the saved weights are the trained ones
    assert np.allclose(pred.score(src[:1], rep[:1]), s[:1], atol=1e-5)  # batch composition does not matter
    v = pred.veracity(src, rep)
    assert v.shape == (3, 3) and np.allclose(v.sum(1), 1.0, atol=1e-5)
    for d in pred.heads:
        p = pred.head_probs(d, src, rep)
        assert p.shape == (3, len(HEAD_LABELS[d])) and np.allclose(p.sum(1), 1.0, atol=1e-4)
    assert pred.score([], []).shape == (0,) and 0.0 <= pred.decision_threshold <= 1.0
    pred.warm_up()
    from seqsignal.workers.serving.inference import pick_tier

    assert pick_tier("quality", "cpu", reg, "rumor") == "quality"  # a worker with model.tier=quality
    assert pick_tier("auto", "cuda", reg, "rumor") == "quality"  # auto on CUDA
    assert pick_tier("auto", "cpu", reg, "rumor") == "fast"
    files = registry.resolve(reg, "rumor", version)[1]["files"]
    assert {"config.json", "tokenizer.json", "pheme.safetensors", "weibo.safetensors"} <= set(files)
    assert all(f.endswith((".json", ".safetensors")) for f in files)  # no pickle


def test_eval_command_scores_the_quality_tier(saved: tuple[Path, str, QualityRumorPredictor],
                                              tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from seqsignal.cli import _register_all, app

    d = tmp_path / "twitter15"
    (d / "replies").mkdir(parents=True)
    d.joinpath("dev.tsv").write_text("1\tthe bridge collapsed\tfalse\n2\tnice day\tnon-rumor\n"
                                     "3\tceo resigns say sources\tunverified\n")
    d.joinpath("train.tsv").write_text("")
    d.joinpath("replies/1.txt").write_text("fake\nsource?\n")
    reg, version, _ = saved
    _register_all()
    res = CliRunner().invoke(app, ["eval", "rumor", "--data", str(d), "--registry", str(reg),
                                   "--tier", "quality", "--json", "--no-throughput"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.output.strip().splitlines()[-1])
    assert out["tier"] == "quality" and out["model_version"] == version and out["head"] == "twitter15"
    assert out["n"] == 3.0 and 0.0 <= out["accuracy"] <= 1.0
