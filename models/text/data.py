"""Text-task data: default train/dev sets and eval-path format detection over the dataset loaders."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import cast

import numpy as np

from seqsignal.models.datasets import pheme, rumoureval, sentiment, twitter1516, weibo
from seqsignal.models.datasets._common import normalize_text
from seqsignal.models.datasets.rumor_thread import RumorExample
from seqsignal.models.datasets.sentiment import SentimentExample
from seqsignal.schemas.events import Veracity

PHEME_LOEO_EVENTS: tuple[str, ...] = ("ferguson", "gurlitt", "prince-toronto", "putinmissing", "sydneysiege")
NEAR_DUP_COSINE = 0.7  # training tweets this close (binary unigram cosine) to a dev tweet are dropped


def drop_near_duplicates(
    train: Sequence[SentimentExample], dev: Sequence[SentimentExample], threshold: float = NEAR_DUP_COSINE
) -> list[SentimentExample]:
    """`train` without exact (normalised) copies of dev tweets and without near-copies (retweets with a
    different handle, truncations): the dev tweets must not be in the training data."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    kept = sentiment.drop_overlap(train, dev)
    if not kept or not dev:
        return kept
    vec = TfidfVectorizer(binary=True, use_idf=False, preprocessor=normalize_text)
    vec.fit([ex.text for ex in kept] + [ex.text for ex in dev])
    sims = vec.transform([ex.text for ex in kept]) @ vec.transform([ex.text for ex in dev]).T
    best = np.asarray(sims.max(axis=1).todense()).ravel()
    return [ex for ex, s in zip(kept, best, strict=True) if s < threshold]


def sentiment_train_dev(root: Path) -> tuple[list[SentimentExample], list[SentimentExample]]:
    """SemEval 2013-2016 minus every (near-)copy of a TweetEval val tweet; dev = TweetEval val."""
    dev = sentiment.load_tweeteval_val(root / sentiment.TWEETEVAL_REL)
    return drop_near_duplicates(sentiment.load_semeval(root / sentiment.SEMEVAL_REL), dev), dev


def read_sentiment(path: Path) -> list[SentimentExample]:
    """Sentiment examples from a TweetEval dir, a SemEval dir or TSV file, or a data root (TweetEval val)."""
    if path.is_file():
        return list(sentiment.iter_semeval_file(path))
    if (path / "val_text.txt").is_file():
        return sentiment.load_tweeteval_val(path)
    if sentiment.semeval_files(path):
        return sentiment.load_semeval(path)
    if (path / sentiment.TWEETEVAL_REL).is_dir():
        return sentiment.load_tweeteval_val(path / sentiment.TWEETEVAL_REL)
    raise ValueError(f"{path}: not a TweetEval dir, SemEval TSV (dir) or data root")


def _tw(name: str) -> twitter1516.TwitterName:
    return "twitter16" if name == "twitter16" else "twitter15"


def _split_of(ex: RumorExample, dev_share: float) -> bool:
    """Deterministic hash split: True for dev."""
    return (zlib.crc32(ex.id.encode()) % 1000) < dev_share * 1000


def rumor_train_dev(
    root: Path,
    datasets: Sequence[str] = ("pheme", "twitter15", "twitter16", "rumoureval", "weibo"),
    dev_share: float = 0.1,
) -> tuple[list[RumorExample], list[RumorExample]]:
    """Train/dev rumour examples: Twitter15/16 and Weibo by their own splits, PHEME and RumourEval by a
    deterministic 10% hash split. A source id in more than one dataset is kept once (first wins)."""
    train: list[RumorExample] = []
    dev: list[RumorExample] = []
    seen: set[str] = set()
    for name in datasets:
        if name == "pheme":
            rows = [(ex, _split_of(ex, dev_share)) for ex in pheme.iter_pheme(root / pheme.PHEME_REL)]
        elif name in ("twitter15", "twitter16"):
            rows = [
                (ex, ex.event == "dev") for ex in twitter1516.iter_twitter(_tw(name), root / f"rumor/{name}")
            ]
        elif name == "rumoureval":
            rows = [
                (ex, _split_of(ex, dev_share))
                for ex in rumoureval.iter_rumoureval(root / rumoureval.RUMOUREVAL_REL)
            ]
        elif name == "weibo":
            rows = [(ex, ex.event == "dev") for ex in weibo.iter_weibo(root / weibo.WEIBO_REL)]
        else:
            raise ValueError(f"unknown rumour dataset {name!r}")
        for ex, is_dev in rows:
            if ex.id not in seen:
                seen.add(ex.id)
                (dev if is_dev else train).append(ex)
    return train, dev


def rumor_format(path: Path) -> str:
    """pheme | twitter15 | twitter16 | weibo | rumoureval | tsv (a bare `id\\ttext\\tlabel` file)."""
    if path.name == "source_tweets.tsv" or (path / "source_tweets.tsv").is_file():
        return "pheme"
    if (path / "traindev").is_dir() or (path / "structures.json").is_file():
        return "rumoureval"
    if path.is_dir() and (path / "dev.tsv").is_file():
        for name in ("twitter15", "twitter16", "weibo"):
            if name in path.name:
                return name
        return (
            "weibo"
            if (path / "dev.tsv").read_text(encoding="utf-8").count("non-rumor")
            and not (path / "replies").is_dir()
            else "twitter15"
        )
    if path.is_file() and path.suffix == ".tsv":
        return "tsv"
    raise ValueError(f"{path}: not a PHEME, Twitter15/16, Weibo or RumourEval path")


def read_rumor(path: Path) -> tuple[str, list[RumorExample]]:
    """(format, examples): a dataset dir scores its dev split; a TSV file scores that file."""
    fmt = rumor_format(path)
    if fmt == "pheme":
        return fmt, list(pheme.iter_pheme(path.parent if path.is_file() else path))
    if fmt == "rumoureval":
        return fmt, list(rumoureval.iter_rumoureval(path.parent if path.name == "traindev" else path))
    if fmt in ("twitter15", "twitter16"):
        return fmt, list(twitter1516.iter_twitter(_tw(fmt), path, "dev"))
    if fmt == "weibo":
        return fmt, list(weibo.iter_weibo(path, "dev"))
    return fmt, read_rumor_tsv(path)


def read_rumor_tsv(file: Path) -> list[RumorExample]:
    """A bare `id\\ttext\\tlabel` file (veracity labels), replies from `replies/<id>.txt` beside it."""
    from seqsignal.models.datasets.rumor_thread import veracity_to_label

    out = []
    for line in file.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) != 3 or parts[2] not in ("true", "false", "unverified", "non-rumor"):
            continue
        rep = file.parent / "replies" / f"{parts[0]}.txt"
        replies = (
            tuple(s for s in rep.read_text(encoding="utf-8").split("\n") if s.strip())
            if rep.is_file()
            else ()
        )
        v = cast(Veracity, parts[2])
        out.append(
            RumorExample(
                id=parts[0],
                text=parts[1],
                label=veracity_to_label(v),
                veracity=v,
                replies=replies,
                dataset=file.parent.name,
            )
        )
    return out


def without_replies(examples: Sequence[RumorExample]) -> list[RumorExample]:
    return [replace(ex, replies=()) for ex in examples]
