"""Twitter15 / Twitter16 rumour veracity (non-rumor / false / true / unverified) with reply texts.

Format (directory `rumor/twitter15` or `rumor/twitter16`): `train.tsv` / `dev.tsv`, `id \\t text \\t label`
(text lower-cased, links replaced by `URL`), and `replies/<id>.txt` (one reply text per line, not lower-cased)
for most sources (911 of 1,154 in Twitter15, 473 of 634 in Twitter16). 93 source ids occur in both datasets.

Decisions:
- Source `created_at` is real: decoded from the snowflake tweet id.
- Replies have no ids, authors or times. They keep file order, get ids `<source id>-r<n>` and *synthesised*
  times: source time + 60 s x n (n = 1, 2, ...), so a replay shows them arriving after the source in order.
  Blank reply lines are dropped. Authors are `unknown`.
- `label` is rumour unless the veracity is non-rumor.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Literal

from seqsignal.models.datasets._common import UNKNOWN_USER, resolve, snowflake_time, synthetic_time
from seqsignal.models.datasets.rumor_thread import (
    RumorExample,
    RumorThread,
    iter_labelled_tsv,
    thread_events,
    veracity_to_label,
)
from seqsignal.schemas.events import Label, Post, Veracity

TwitterName = Literal["twitter15", "twitter16"]
Split = Literal["train", "dev"]
SPLITS: tuple[Split, ...] = ("train", "dev")
REPLY_STEP = timedelta(seconds=60)  # spacing of synthesised reply times
_VERACITY: dict[str, Veracity] = {"true": "true", "false": "false", "unverified": "unverified",
                                  "non-rumor": "non-rumor"}


def _dir(path: str | Path | None, name: TwitterName) -> Path:
    return resolve(path, f"rumor/{name}")


def read_replies(path: str | Path | None, name: TwitterName, source_id: str) -> tuple[str, ...]:
    """Reply texts of one source tweet (empty when it has no replies file)."""
    file = _dir(path, name) / "replies" / f"{source_id}.txt"
    if not file.exists():
        return ()
    lines = file.read_text(encoding="utf-8").split("\n")
    return tuple(s for s in (line.strip() for line in lines) if s)


def iter_twitter(
    name: TwitterName, path: str | Path | None = None, split: Split | None = None
) -> Iterator[RumorExample]:
    """Examples with replies of one split (or both, train first) of dataset directory `path`."""
    rows = iter_labelled_tsv(_dir(path, name), (split,) if split else SPLITS, _VERACITY)
    for sp, tid, text, veracity in rows:
        yield RumorExample(id=tid, text=text, label=veracity_to_label(veracity), veracity=veracity,
                           replies=read_replies(path, name, tid), created_at=snowflake_time(tid),
                           dataset=name, event=sp)


def iter_twitter_threads(
    name: TwitterName, path: str | Path | None = None, split: Split | None = None
) -> Iterator[RumorThread]:
    """Threads: the source post (real time) and its replies (synthesised times, 60 s apart)."""
    for i, ex in enumerate(iter_twitter(name, path, split)):
        t0 = ex.created_at or synthetic_time(i)
        source = Post(post_id=ex.id, user_id=UNKNOWN_USER, text=ex.text, lang="en", created_at=t0,
                      root_id=ex.id, source=name)
        replies = tuple(
            Post(post_id=f"{ex.id}-r{n}", user_id=UNKNOWN_USER, text=text, lang="en",
                 created_at=t0 + n * REPLY_STEP, reply_to=ex.id, root_id=ex.id, source=name)
            for n, text in enumerate(ex.replies, start=1)
        )
        yield RumorThread(example=ex, source=source, replies=replies)


def iter_twitter_events(
    name: TwitterName, path: str | Path | None = None, labels: bool = False
) -> Iterator[Post | Label]:
    """All posts of both splits (and with `labels` each thread's label) in time order."""
    return thread_events(iter_twitter_threads(name, path), labels)
