"""Eval inputs (issue 10, point 5): TweetEval's own split files, rumor --split dev|all, macro F1 over the
dataset's own label set."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from seqsignal.models.text import data as td
from seqsignal.models.text.evaluate import eval_rumor


def _tweeteval(d: Path, split: str, rows: list[tuple[str, int]]) -> None:
    d.mkdir(exist_ok=True)
    (d / f"{split}_text.txt").write_text("".join(t + "\n" for t, _ in rows))
    (d / f"{split}_labels.txt").write_text("".join(f"{y}\n" for _, y in rows))


def test_tweeteval_official_split_names(tmp_path: Path) -> None:
    d = tmp_path / "sentiment"
    _tweeteval(d, "test", [("great day", 2), ("awful", 0), ("at noon", 1)])
    _tweeteval(d, "val", [("fine", 1)])
    read, ex = td.read_sentiment_split(d)  # test first when present
    assert read == "tweeteval-test" and [e.label for e in ex] == ["positive", "negative", "neutral"]
    assert ex[0].id == "tweeteval-test:0"
    assert td.read_sentiment_split(d, "val")[0] == "tweeteval-val"
    assert td.read_sentiment_split(d / "test_text.txt")[0] == "tweeteval-test"  # a file names its split
    assert len(td.read_sentiment_split(d / "val_labels.txt")[1]) == 1
    with pytest.raises(ValueError, match="no TweetEval train split"):
        td.read_sentiment_split(d, "train")


def _rumor_dir(root: Path, name: str, rows: dict[str, list[tuple[str, str]]]) -> Path:
    d = root / name
    d.mkdir()
    for split, lines in rows.items():
        (d / f"{split}.tsv").write_text("".join(f"{i}\tsome text {i}\t{y}\n" for i, y in lines))
    return d


def test_rumor_split_all_and_dev(tmp_path: Path) -> None:
    tw = _rumor_dir(tmp_path, "twitter15", {"train": [("1", "true")], "dev": [("2", "false")],
                                            "test": [("3", "non-rumor"), ("4", "unverified")]})
    assert [e.id for e in td.read_rumor(tw)[1]] == ["2"]  # dev (today's behaviour)
    fmt, everything = td.read_rumor(tw, "all")
    assert fmt == "twitter15" and [e.id for e in everything] == ["1", "2", "3", "4"]
    assert td.rumor_format(tw / "test.tsv") == "twitter15"  # the official test file of the dataset
    assert len(td.read_rumor(tw / "test.tsv")[1]) == 2
    wb = _rumor_dir(tmp_path, "weibo", {"test": [("5", "false"), ("6", "non-rumor")]})
    assert td.rumor_format(wb / "test.tsv") == "weibo" == td.rumor_format(wb)
    with pytest.raises(ValueError, match="--split all"):
        td.read_rumor(wb)  # no dev.tsv
    assert [e.is_rumour for e in td.read_rumor(wb, "all")[1]] == [True, False]
    assert "all" in td.rumor_split_note("weibo", wb, "all")
    assert "10%" in td.rumor_split_note("pheme", tmp_path, "dev")


class _Fixed:
    """A rumor predictor that says rumour + false for every thread."""

    decision_threshold = 0.5

    def score(self, sources: list[str], replies: list[list[str]]) -> np.ndarray:
        return np.full(len(sources), 0.9)

    def veracity(self, sources: list[str], replies: list[list[str]]) -> np.ndarray:
        return np.tile(np.array([0.1, 0.8, 0.1]), (len(sources), 1))  # true, false, unverified


def test_macro_f1_over_the_datasets_own_labels(tmp_path: Path) -> None:
    d = _rumor_dir(tmp_path, "bare", {"test": [("1", "false"), ("2", "false"), ("3", "non-rumor")]})
    _, ex = td.read_rumor(d / "test.tsv")  # a bare TSV: 4-class space, but only 2 labels occur
    out = eval_rumor(_Fixed(), ex, "tsv")  # type: ignore[arg-type]
    assert out["macro_f1_labels"] == ["non-rumor", "false"]
    assert out["macro_f1"] == pytest.approx((0.0 + 0.8) / 2)  # not / 4
