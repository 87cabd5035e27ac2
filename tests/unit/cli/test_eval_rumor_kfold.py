"""`seqsignal eval rumor --protocol kfold`: one JSON object with both fold schemes on a tiny Twitter15-format
dir (the default recipe, train.tsv only), and a usage error for a dir it cannot take."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from seqsignal.cli import _register_all, app

LABELS = ("true", "false", "unverified", "non-rumor")


def _dir(root: Path, name: str, train: bool = True) -> Path:
    d = root / name
    d.mkdir()
    lab = [LABELS[i % 4] for i in range(16)]
    text = "".join(f"{100 + i}\tx{chr(97 + i)}a x{chr(97 + i)}b {lab[i]}word http://t.co/{i}\t{lab[i]}\n"
                   for i in range(16))
    (d / ("train.tsv" if train else "dev.tsv")).write_text(text, encoding="utf-8")
    return d


def test_kfold_prints_grouped_and_random_figures(tmp_path: Path) -> None:
    _register_all()
    data = _dir(tmp_path, "twitter15")
    args = ["eval", "rumor", "--protocol", "kfold", "--data", str(data), "--folds", "2", "--baseline",
            "--json"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert (out["protocol"], out["dataset"], out["n"], out["k"]) == ("kfold", "twitter15", 16, 2)
    for name in ("grouped", "random"):
        assert set(out[name]["models"]) >= {"heads", "tfidf_wordchar_lr_dataset", "majority"}
    assert "grouped fold 1" in result.stderr


def test_kfold_refuses_a_dir_without_train_tsv(tmp_path: Path) -> None:
    _register_all()
    args = ["eval", "rumor", "--protocol", "kfold", "--data", str(_dir(tmp_path, "twitter16", train=False))]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2 and "train" in result.output
