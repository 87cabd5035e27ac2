"""Text-task data: default train/dev sets and eval-path format detection over the dataset loaders."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Protocol, cast

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


SELECT_SHARE = 0.05  # training tweets held out to choose the epoch and the lexical fusion weight


class _HasId(Protocol):
    @property
    def id(self) -> str: ...


def selection_split(
    train: Sequence[_HasId], share: float = SELECT_SHARE, salt: str = ""
) -> tuple[list[int], list[int]]:
    """Indexes of (fit, select) in `train`: a stable hash (crc32 of `salt` + id) puts `share` of the
    examples in `select`, the split that makes a recipe's choices (epoch, fusion weight, threshold), so the
    scored data (TweetEval val, dev.tsv, outer folds) is never looked at. Used by sentiment and rumor."""
    sel = [zlib.crc32(f"{salt}{ex.id}".encode()) % 10_000 < share * 10_000 for ex in train]
    return [i for i, s in enumerate(sel) if not s], [i for i, s in enumerate(sel) if s]


# ---- eval inputs: the official files (issue 10, point 5) ---------------------------------------------
TWEETEVAL_SPLITS: tuple[str, ...] = ("test", "val", "train")  # a TweetEval dir's own `<split>_text.txt` names


def tweeteval_splits(d: Path) -> list[str]:
    """The TweetEval splits a directory holds (`<split>_text.txt` + `<split>_labels.txt`), test first."""
    return [s for s in TWEETEVAL_SPLITS
            if (d / f"{s}_text.txt").is_file() and (d / f"{s}_labels.txt").is_file()]


def read_tweeteval(d: Path, split: str) -> list[SentimentExample]:
    """TweetEval's own `<split>_text.txt` / `<split>_labels.txt` (0 negative, 1 neutral, 2 positive)."""
    from seqsignal.models.datasets._common import unescape_u
    from seqsignal.schemas.events import SENTIMENT_LABELS

    texts = (d / f"{split}_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (d / f"{split}_labels.txt").read_text(encoding="utf-8").split()
    texts = texts[: len(labels)]
    if len(texts) != len(labels):
        raise ValueError(f"{d}: {len(texts)} {split} texts but {len(labels)} labels")
    return [SentimentExample(f"tweeteval-{split}:{i}", unescape_u(t).strip(), SENTIMENT_LABELS[int(lab)])
            for i, (t, lab) in enumerate(zip(texts, labels, strict=True))]


def read_sentiment_split(path: Path, split: str | None = None) -> tuple[str, list[SentimentExample]]:
    """(what was read, examples) from a TweetEval dir (its `split`: default test, else val, else train) or
    one of its `<split>_text.txt` / `_labels.txt` files, a SemEval dir or TSV file, or a data root
    (TweetEval val)."""
    if path.is_file() and path.name.endswith(("_text.txt", "_labels.txt")):
        path, split = path.parent, path.name.rsplit("_", 1)[0]
    if path.is_file():
        return "file", list(sentiment.iter_semeval_file(path))
    if path.is_dir() and (have := tweeteval_splits(path)):
        split = split or have[0]
        if split not in have:
            raise ValueError(f"{path}: no TweetEval {split} split (has {', '.join(have)})")
        return f"tweeteval-{split}", read_tweeteval(path, split)
    if sentiment.semeval_files(path):
        return "semeval", sentiment.load_semeval(path)
    if (path / sentiment.TWEETEVAL_REL).is_dir():
        return "tweeteval-val", sentiment.load_tweeteval_val(path / sentiment.TWEETEVAL_REL)
    raise ValueError(f"{path}: not a TweetEval dir (<split>_text.txt + <split>_labels.txt for train, val or "
                     "test), SemEval TSV (dir) or data root")


def read_sentiment(path: Path) -> list[SentimentExample]:
    """Sentiment examples of `read_sentiment_split` (its default split)."""
    return read_sentiment_split(path)[1]


def unlabelled_texts(root: Path, train: Sequence[SentimentExample], dev: Sequence[SentimentExample],
                     limit: int | None = None) -> list[str]:
    """English texts of the data root that carry no sentiment label (distillation): Twitter15/16 sources and
    replies, PHEME sources and replies, RumourEval posts; deduplicated after normalisation, without copies
    of `train` tweets and without (near-)copies of `dev` tweets; the first `limit` when given."""
    sources = []
    for name in ("twitter15", "twitter16"):
        if (root / f"rumor/{name}").is_dir():
            sources.append(twitter1516.iter_twitter(_tw(name), root / f"rumor/{name}"))
    if (root / pheme.PHEME_REL).is_dir():
        sources.append(pheme.iter_pheme(root / pheme.PHEME_REL))
    if (root / rumoureval.RUMOUREVAL_REL).is_dir():
        sources.append(rumoureval.iter_rumoureval(root / rumoureval.RUMOUREVAL_REL))
    seen = {normalize_text(ex.text) for ex in train}
    texts: list[SentimentExample] = []
    for examples in sources:
        for ex in examples:
            for text in (ex.text, *ex.replies):
                key = normalize_text(text)
                if key and key not in seen:
                    seen.add(key)
                    texts.append(SentimentExample(f"unlabelled:{len(texts)}", text, "neutral"))
    kept = [ex.text for ex in drop_near_duplicates(texts, dev)]
    return kept[:limit] if limit else kept


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


RUMOR_TSV_SPLITS: tuple[str, ...] = ("train", "dev", "test")  # `<split>.tsv` of a Twitter15/16 or Weibo dir
RUMOR_EVAL_SPLITS: tuple[str, ...] = ("dev", "all")


def _split_files(path: Path) -> list[Path]:
    return [path / f"{s}.tsv" for s in RUMOR_TSV_SPLITS if (path / f"{s}.tsv").is_file()]


def _tsv_format(name: str, first: Path, has_replies: bool) -> str:
    """twitter15 | twitter16 | weibo from a dataset dir's name, else from its labels (Weibo: no replies)."""
    for fmt in ("twitter15", "twitter16", "weibo"):
        if fmt in name:
            return fmt
    weibo_like = first.read_text(encoding="utf-8").count("non-rumor") and not has_replies
    return "weibo" if weibo_like else "twitter15"


def rumor_format(path: Path) -> str:
    """pheme | twitter15 | twitter16 | weibo | rumoureval | tsv (a bare `id\\ttext\\tlabel` file). A `.tsv`
    file in a Twitter15/16 or Weibo dir (e.g. its official `test.tsv`) has that dir's format."""
    if path.name == "source_tweets.tsv" or (path / "source_tweets.tsv").is_file():
        return "pheme"
    if (path / "traindev").is_dir() or (path / "structures.json").is_file():
        return "rumoureval"
    if path.is_dir() and (files := _split_files(path)):
        return _tsv_format(path.name, files[0], (path / "replies").is_dir())
    if path.is_file() and path.suffix == ".tsv":
        if path.stem in RUMOR_TSV_SPLITS and any(n in path.parent.name for n in ("twitter1", "weibo")):
            return _tsv_format(path.parent.name, path, (path.parent / "replies").is_dir())
        return "tsv"
    raise ValueError(f"{path}: not a PHEME, Twitter15/16, Weibo or RumourEval path")


def read_rumor(path: Path, split: str = "dev") -> tuple[str, list[RumorExample]]:
    """(format, examples). split "dev": a Twitter15/16 / Weibo dir scores its dev.tsv, a PHEME or RumourEval
    path the 10% hash split the training recipe keeps out of training; "all": every example (every
    `<split>.tsv` of a dir). A `.tsv` file is scored whole either way."""
    if split not in RUMOR_EVAL_SPLITS:
        raise ValueError(f"split must be one of {RUMOR_EVAL_SPLITS}, not {split!r}")
    fmt = rumor_format(path)
    if fmt == "pheme":
        examples = list(pheme.iter_pheme(path.parent if path.is_file() else path))
    elif fmt == "rumoureval":
        examples = list(rumoureval.iter_rumoureval(path.parent if path.name == "traindev" else path))
    elif path.is_file():
        return fmt, read_rumor_tsv(path)
    elif split == "all":
        return fmt, [ex for f in _split_files(path) for ex in read_rumor_tsv(f)]
    elif not (path / "dev.tsv").is_file():
        names = [f.name for f in _split_files(path)]
        raise ValueError(f"{path}: no dev.tsv; pass --split all to score its {names}")
    elif fmt in ("twitter15", "twitter16"):
        return fmt, list(twitter1516.iter_twitter(_tw(fmt), path, "dev"))
    else:
        return fmt, list(weibo.iter_weibo(path, "dev"))
    return fmt, examples if split == "all" else [ex for ex in examples if _split_of(ex, 0.1)]


def rumor_split_note(fmt: str, path: Path, split: str) -> str:
    """What `read_rumor(path, split)` scored, for the eval output."""
    if split == "all" or (path.is_file() and fmt not in ("pheme", "rumoureval")):
        return "all: every example of the given data"
    if fmt in ("pheme", "rumoureval"):
        return "dev: the 10% hash split kept out of training (scores only ~10% of the data; --split all)"
    return "dev: the dataset's dev.tsv"


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
