"""RumourEval 2017 (SemEval-2017 Task 8) `traindev/` conversation threads -> rumour threads and events.

Format (directory `rumor/rumoureval2017`):
- `traindev/posts.json`: `{post_id: {"time": unix_seconds, "text": str}}`, 4,519 posts (no authors).
- `traindev/structures.json`: `{thread_id: {node_id: subtree | []}}` reply trees; 297 threads. Six trees have
  extra top-level nodes beside the root, and 341 node ids (deleted tweets) are absent from posts.json.
- `traindev/thread_id.txt` + `thread_label.txt`: thread veracity, coded by `rumorCategory.json`
  (0 true, 1 false, 2 unverified). Every thread is a rumour.
- `traindev/post_id.txt` + `post_label.txt`: per-post stance, coded by `stanceCategory.json`
  (0 support, 1 query, 2 deny, 3 comment).

Decisions: a thread's replies are all its posts present in posts.json, sorted by time (stable by id);
`reply_to` is the parent in the tree (the root for extra top-level nodes), even if that parent is a
deleted tweet. Authors are `unknown`. No reply is ever earlier than its parent (checked).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson

from seqsignal.models.datasets._common import UNKNOWN_USER, resolve
from seqsignal.models.datasets.rumor_thread import RumorExample, RumorThread, thread_events
from seqsignal.schemas.events import Label, Post, Veracity, utc_from_unix

RUMOUREVAL_REL = "rumor/rumoureval2017"
SOURCE = "rumoureval2017"
Stance = Literal["support", "query", "deny", "comment"]
_STANCES: dict[str, Stance] = {"support": "support", "query": "query", "deny": "deny", "comment": "comment"}
_VERACITY: dict[str, Veracity] = {"true": "true", "false": "false", "unverified": "unverified"}


def _codes(d: Path, name: str) -> dict[int, str]:
    """Inverse of a `*Category.json` map (label -> code)."""
    mapping: dict[str, int] = orjson.loads((d / name).read_bytes())
    return {code: label for label, code in mapping.items()}


def _lines(file: Path) -> list[str]:
    return file.read_text(encoding="utf-8").split()


def load_stances(path: str | Path | None = None) -> dict[str, Stance]:
    """Per-post stance of directory `path` (post id -> support/query/deny/comment)."""
    d = resolve(path, RUMOUREVAL_REL)
    codes = _codes(d, "stanceCategory.json")
    ids, labs = _lines(d / "traindev" / "post_id.txt"), _lines(d / "traindev" / "post_label.txt")
    return {pid: _STANCES[codes[int(lab)]] for pid, lab in zip(ids, labs, strict=True)}


def _parents(tree: dict[str, Any], root: str) -> Iterator[tuple[str, str]]:
    """(node, parent) for every node under the thread's tree; top-level nodes other than root -> root."""
    stack: list[tuple[str, Any, str]] = [(node, sub, root) for node, sub in tree.items()]
    while stack:
        node, sub, parent = stack.pop()
        if node != root:
            yield node, parent
        if isinstance(sub, dict):
            stack.extend((child, s, node) for child, s in sub.items())


def iter_rumoureval_threads(path: str | Path | None = None) -> Iterator[RumorThread]:
    """The 297 threads in thread_id.txt order: source post, replies in time order, veracity example."""
    d = resolve(path, RUMOUREVAL_REL)
    td = d / "traindev"
    posts: dict[str, dict[str, Any]] = orjson.loads((td / "posts.json").read_bytes())
    structures: dict[str, dict[str, Any]] = orjson.loads((td / "structures.json").read_bytes())
    codes = _codes(d, "rumorCategory.json")
    ids, labs = _lines(td / "thread_id.txt"), _lines(td / "thread_label.txt")
    for root, lab in zip(ids, labs, strict=True):
        veracity = _VERACITY[codes[int(lab)]]
        src = posts[root]
        parent_of = dict(_parents(structures[root], root))
        reply_ids = sorted((p for p in parent_of if p in posts), key=lambda p: (posts[p]["time"], int(p)))
        replies = tuple(
            Post(post_id=p, user_id=UNKNOWN_USER, text=posts[p]["text"], lang="en",
                 created_at=utc_from_unix(posts[p]["time"]), reply_to=parent_of[p], root_id=root,
                 source=SOURCE)
            for p in reply_ids
        )
        created = utc_from_unix(src["time"])
        example = RumorExample(id=root, text=src["text"], label="rumour", veracity=veracity,
                               replies=tuple(r.text for r in replies), created_at=created, dataset=SOURCE)
        source = Post(post_id=root, user_id=UNKNOWN_USER, text=src["text"], lang="en", created_at=created,
                      root_id=root, source=SOURCE)
        yield RumorThread(example=example, source=source, replies=replies)


def iter_rumoureval(path: str | Path | None = None) -> Iterator[RumorExample]:
    """Examples: source text, reply texts in time order, thread veracity (all are rumours)."""
    for thread in iter_rumoureval_threads(path):
        yield thread.example


def iter_rumoureval_events(path: str | Path | None = None, labels: bool = False) -> Iterator[Post | Label]:
    """All 4,519 posts (and with `labels` the thread labels) in time order."""
    return thread_events(iter_rumoureval_threads(path), labels)
