"""SemEval-2013..2016 Task 4A and TweetEval val sentiment files -> labelled examples, `Post`/`Label` events.

Formats:
- SemEval `twitter-20*-A.tsv`: `tweet_id \\t label \\t text` (label negative/neutral/positive); 50,334 rows in
  11 files. Text holds literal `\\uXXXX` escapes; some files wrap text in CSV quotes with doubled `""`
  (some doubled twice, with `\\"` inside), and `twitter-2016test-A.tsv` has a trailing tab.
  `clean_semeval_text` undoes all of that; HTML entities (`&amp;`) are left as Twitter sends them.
- TweetEval `tweeteval-val/val_text.txt` + `val_labels.txt`: one tweet / one label (0 negative, 1 neutral,
  2 positive) per line, 2,000 rows, handles already `@user`; ids are synthesised as `tweeteval-val:<line>`.

Decisions:
- `iter_semeval` reads the files in name order and drops a row whose id, or whose normalised text
  (`normalize_text`), was seen before: first occurrence wins (also when labels disagree).
- TweetEval val overlaps SemEval: 35% by exact text, 53% after `@user` masking, 99.7% by `normalize_text`
  (URLs dropped, punctuation folded). `drop_overlap(train, dev)` removes those from training (47,471 left).
- Posts: SemEval tweet ids are snowflakes, so `created_at` is the real tweet time decoded from the id;
  TweetEval has no ids or times, so its posts get synthesised times (1 s apart from 2020-01-01).
  Authors are unknown.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import NamedTuple

from seqsignal.models.datasets._common import (
    UNKNOWN_USER,
    normalize_text,
    resolve,
    snowflake_time,
    synthetic_time,
    unescape_u,
)
from seqsignal.schemas.events import SENTIMENT_LABELS, Label, Post, SentimentLabel

SEMEVAL_REL = "sentiment/semeval2013-2016"
TWEETEVAL_REL = "sentiment/tweeteval-val"
_LABELS: dict[str, SentimentLabel] = {lab: lab for lab in SENTIMENT_LABELS}


class SentimentExample(NamedTuple):
    """One labelled tweet: unpacks as `(id, text, label)`."""

    id: str
    text: str
    label: SentimentLabel


def clean_semeval_text(raw: str) -> str:
    """The tweet text of one SemEval cell: CSV quoting undone, `\\"` and `\\uXXXX` unescaped, trimmed."""
    t = raw.strip()
    if len(t) >= 2 and t[0] == '"' and t[-1] == '"':
        t = t[1:-1]
    # quotes were backslash-escaped and doubled (once or twice, in either order) by successive exports
    while '""' in t or '\\"' in t:
        t = t.replace('\\"', '"').replace('""', '"')
    return unescape_u(t).strip()


def semeval_files(path: str | Path | None = None) -> list[Path]:
    """The SemEval TSV files of a directory, in name order."""
    return sorted(resolve(path, SEMEVAL_REL).glob("twitter-20*-A.tsv"))


def iter_semeval_file(file: Path) -> Iterator[SentimentExample]:
    """Every row of one SemEval TSV file, cleaned, not deduplicated."""
    with file.open(encoding="utf-8") as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) < 3 or parts[1] not in _LABELS:
                continue
            yield SentimentExample(parts[0].strip(), clean_semeval_text(parts[2]), _LABELS[parts[1]])


def iter_semeval(path: str | Path | None = None, dedupe: bool = True) -> Iterator[SentimentExample]:
    """All SemEval 2013-2016 rows (directory `path`), deduplicated by id and by normalised text."""
    seen_ids: set[str] = set()
    seen_texts: set[str] = set()
    for file in semeval_files(path):
        for ex in iter_semeval_file(file):
            if dedupe:
                key = normalize_text(ex.text)
                if ex.id in seen_ids or key in seen_texts:
                    continue
                seen_ids.add(ex.id)
                seen_texts.add(key)
            yield ex


def load_semeval(path: str | Path | None = None, dedupe: bool = True) -> list[SentimentExample]:
    """`iter_semeval` as a list."""
    return list(iter_semeval(path, dedupe))


def load_tweeteval_val(path: str | Path | None = None) -> list[SentimentExample]:
    """TweetEval sentiment val (directory `path`): 2,000 examples, ids `tweeteval-val:<line>`."""
    d = resolve(path, TWEETEVAL_REL)
    texts = (d / "val_text.txt").read_text(encoding="utf-8").split("\n")
    labels = (d / "val_labels.txt").read_text(encoding="utf-8").split()
    texts = texts[: len(labels)]
    if len(texts) != len(labels):
        raise ValueError(f"{d}: {len(texts)} texts but {len(labels)} labels")
    return [
        SentimentExample(f"tweeteval-val:{i}", unescape_u(t).strip(), SENTIMENT_LABELS[int(lab)])
        for i, (t, lab) in enumerate(zip(texts, labels, strict=True))
    ]


def drop_overlap(
    train: Iterable[SentimentExample], dev: Iterable[SentimentExample]
) -> list[SentimentExample]:
    """`train` without the examples whose normalised text occurs in `dev`."""
    dev_keys = {normalize_text(ex.text) for ex in dev}
    return [ex for ex in train if normalize_text(ex.text) not in dev_keys]


def example_time(ex: SentimentExample, index: int) -> float:
    """Unix time of an example: decoded from a snowflake id, else synthesised from its index."""
    t = snowflake_time(ex.id) or synthetic_time(index)
    return t.timestamp()


def example_post(ex: SentimentExample, index: int, source: str) -> Post:
    """An example as a source `Post` (real time from the tweet id where there is one)."""
    created = snowflake_time(ex.id) or synthetic_time(index)
    return Post(post_id=ex.id, user_id=UNKNOWN_USER, text=ex.text, lang="en", created_at=created,
                root_id=ex.id, source=source)


def example_label(ex: SentimentExample, index: int, source: str) -> Label:
    """An example as a sentiment `Label` (the annotation) for the trainer."""
    created = snowflake_time(ex.id) or synthetic_time(index)
    return Label(label_id=f"{source}:{ex.id}", task="sentiment", post_id=ex.id, text=ex.text, label=ex.label,
                 labeller=source, created_at=created)


def iter_sentiment_events(
    examples: Iterable[SentimentExample], source: str, labels: bool = False
) -> Iterator[Post | Label]:
    """`Post` events (and, with `labels`, a `Label` after each post) for examples, in the given order."""
    for i, ex in enumerate(examples):
        yield example_post(ex, i, source)
        if labels:
            yield example_label(ex, i, source)
