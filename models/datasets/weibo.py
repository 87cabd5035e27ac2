"""Weibo rumours (Chinese; false / non-rumor) -> examples and `Post` / `Label` events.

Format (directory `rumor/weibo`): `train.tsv` (3,147 rows) / `dev.tsv` (467 rows), `id \\t text \\t label`,
label `false` (a false rumour) or `non-rumor`. No replies, authors or times.

Decisions: posts get `lang="zh"`, author `unknown` and *synthesised* times (1 s apart from 2020-01-01,
train rows first, then dev) since the ids are Weibo mids without a documented time encoding.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Literal

from seqsignal.models.datasets._common import UNKNOWN_USER, resolve, synthetic_time
from seqsignal.models.datasets.rumor_thread import (
    RumorExample,
    RumorThread,
    iter_labelled_tsv,
    thread_events,
    veracity_to_label,
)
from seqsignal.schemas.events import Label, Post, Veracity

WEIBO_REL = "rumor/weibo"
SOURCE = "weibo"
Split = Literal["train", "dev"]
SPLITS: tuple[Split, ...] = ("train", "dev")
_VERACITY: dict[str, Veracity] = {"false": "false", "non-rumor": "non-rumor"}


def iter_weibo(path: str | Path | None = None, split: Split | None = None) -> Iterator[RumorExample]:
    """Examples of one split (or both, train first) of directory `path`; `created_at` is synthesised."""
    rows = iter_labelled_tsv(resolve(path, WEIBO_REL), (split,) if split else SPLITS, _VERACITY)
    for n, (sp, mid, text, veracity) in enumerate(rows):
        yield RumorExample(id=mid, text=text, label=veracity_to_label(veracity), veracity=veracity,
                           created_at=synthetic_time(n), dataset=SOURCE, event=sp)


def iter_weibo_threads(path: str | Path | None = None, split: Split | None = None) -> Iterator[RumorThread]:
    """Each example with its source `Post` (no replies)."""
    for ex in iter_weibo(path, split):
        assert ex.created_at is not None
        post = Post(post_id=ex.id, user_id=UNKNOWN_USER, text=ex.text, lang="zh", created_at=ex.created_at,
                    root_id=ex.id, source=SOURCE)
        yield RumorThread(example=ex, source=post)


def iter_weibo_events(path: str | Path | None = None, labels: bool = False) -> Iterator[Post | Label]:
    """Posts of both splits (and with `labels` their labels) in (synthesised) time order."""
    return thread_events(iter_weibo_threads(path), labels)
