"""Every dataset as one time-ordered event stream by name: what `seqsignal replay <dataset>` sends."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeAlias

from seqsignal.models.datasets import higgs, pheme, rumoureval, sentiment, twitter1516, weibo
from seqsignal.models.datasets._common import default_data_dir
from seqsignal.schemas.events import Action, Label, Post

Event: TypeAlias = Post | Action | Label
StreamFn = Callable[[Path, bool], Iterator[Event]]


def _higgs(root: Path, labels: bool) -> Iterator[Event]:
    return higgs.iter_higgs_actions(root / higgs.HIGGS_REL)


def _semeval(root: Path, labels: bool) -> Iterator[Event]:
    examples = sorted(sentiment.iter_semeval(root / sentiment.SEMEVAL_REL),
                      key=lambda ex: sentiment.example_time(ex, 0))  # real tweet times from the ids
    return sentiment.iter_sentiment_events(examples, "semeval", labels)


def _tweeteval(root: Path, labels: bool) -> Iterator[Event]:
    return sentiment.iter_sentiment_events(sentiment.load_tweeteval_val(root / sentiment.TWEETEVAL_REL),
                                           "tweeteval-val", labels)


def _pheme(root: Path, labels: bool) -> Iterator[Event]:
    return pheme.iter_pheme_events(root / pheme.PHEME_REL, labels)


def _twitter15(root: Path, labels: bool) -> Iterator[Event]:
    return twitter1516.iter_twitter_events("twitter15", root / "rumor/twitter15", labels)


def _twitter16(root: Path, labels: bool) -> Iterator[Event]:
    return twitter1516.iter_twitter_events("twitter16", root / "rumor/twitter16", labels)


def _rumoureval(root: Path, labels: bool) -> Iterator[Event]:
    return rumoureval.iter_rumoureval_events(root / rumoureval.RUMOUREVAL_REL, labels)


def _weibo(root: Path, labels: bool) -> Iterator[Event]:
    return weibo.iter_weibo_events(root / weibo.WEIBO_REL, labels)


STREAMS: dict[str, StreamFn] = {
    "higgs": _higgs,
    "semeval": _semeval,
    "tweeteval": _tweeteval,
    "pheme": _pheme,
    "twitter15": _twitter15,
    "twitter16": _twitter16,
    "rumoureval": _rumoureval,
    "weibo": _weibo,
}
DATASET_NAMES: tuple[str, ...] = tuple(STREAMS)


def iter_dataset_events(
    name: str, data_dir: str | Path | None = None, labels: bool = False
) -> Iterator[Event]:
    """The events of dataset `name` under data root `data_dir` (default: the shared data), in time order.

    Higgs yields `Action`s; the others `Post`s (sources, then replies), and with `labels` also `Label`s."""
    if name not in STREAMS:
        raise KeyError(f"unknown dataset {name!r}; choose one of {', '.join(DATASET_NAMES)}")
    return STREAMS[name](Path(data_dir) if data_dir is not None else default_data_dir(), labels)
