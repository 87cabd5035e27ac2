"""Rumour examples and threads shared by the PHEME, Twitter15/16, Weibo and RumourEval loaders."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from seqsignal.schemas.events import Label, Post, RumorLabel, Veracity

MAX_LABEL_REPLIES = 1000  # `Label.replies` holds at most this many


@dataclass(frozen=True, slots=True)
class RumorExample:
    """One labelled source post with its replies (texts in time order) for the rumour models."""

    id: str
    text: str
    label: RumorLabel  # "rumour" / "non-rumour"
    veracity: Veracity | None
    replies: tuple[str, ...] = ()
    event: str | None = None  # PHEME / RumourEval event (leave-one-event-out splits)
    created_at: datetime | None = None
    dataset: str = ""
    user_id: str | None = None  # author of the source post, where the dataset records it

    @property
    def is_rumour(self) -> bool:
        return self.label == "rumour"


def iter_labelled_tsv(
    directory: Path, splits: Sequence[str], veracities: Mapping[str, Veracity]
) -> Iterator[tuple[str, str, str, Veracity]]:
    """(split, id, text, veracity) of every `id \\t text \\t label` row of `<directory>/<split>.tsv`, in
    the order of `splits`; rows of another shape or with a label not in `veracities` are skipped."""
    for split in splits:
        with (directory / f"{split}.tsv").open(encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 3 and parts[2] in veracities:
                    yield split, parts[0], parts[1], veracities[parts[2]]


@dataclass(frozen=True, slots=True)
class RumorThread:
    """A source post and its replies as typed posts (replies in time order) with the thread's example."""

    example: RumorExample
    source: Post
    replies: tuple[Post, ...] = ()

    @property
    def posts(self) -> tuple[Post, ...]:
        return (self.source, *self.replies)


def veracity_to_label(veracity: Veracity) -> RumorLabel:
    """non-rumor -> non-rumour; true / false / unverified are rumours."""
    return "non-rumour" if veracity == "non-rumor" else "rumour"


def thread_label(thread: RumorThread) -> Label:
    """The thread's annotation as a rumour `Label` (created at its last post)."""
    ex = thread.example
    return Label(
        label_id=f"{ex.dataset}:{ex.id}",
        task="rumor",
        post_id=thread.source.post_id,
        text=ex.text,
        label=ex.label,
        veracity=ex.veracity,
        replies=list(ex.replies[:MAX_LABEL_REPLIES]),
        labeller=ex.dataset,
        created_at=thread.posts[-1].created_at,
    )


def thread_events(threads: Iterable[RumorThread], labels: bool = False) -> Iterator[Post | Label]:
    """Every post of every thread in global time order (stable), and with `labels` each thread's `Label`
    right after its last post. Threads are materialised to sort them (all rumour datasets are small)."""
    items: list[tuple[datetime, int, Post | Label]] = []
    for thread in threads:
        for post in thread.posts:
            items.append((post.created_at, len(items), post))
        if labels:
            lab = thread_label(thread)
            items.append((lab.created_at, len(items), lab))
    items.sort(key=lambda it: (it[0], it[1]))
    for _, _, event in items:
        yield event
