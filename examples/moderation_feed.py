#!/usr/bin/env python3
"""A moderation feed on seqsignal's signals: the latest rumour flag per thread, plus each post's sentiment.

What every consumer of seqsignal has to do (docs/consumers.md), in about 100 lines of kafka-python:

- **dedupe on `ce_id`**: delivery is at least once; a worker crash re-emits a batch's records with the same
  `ce_id` header. A bounded set of recent ids is enough (duplicates arrive within minutes of the original).
- **latest wins per thread**: `signals.rumor.v1` re-emits a thread's flag as replies arrive (keyed by
  `root_id`, so one thread's flags are in order on one partition). A redelivered older flag can still arrive
  after a newer one, so keep the flag with the most `replies_seen` (then the latest `emit_time`).
- **ignore unknown fields**: v1 records may gain optional fields.
- **commit after processing**: the feed's own state is updated before its offsets are committed, so the
  feed is at least once too, and the dedupe makes it effectively once.

Run it against a stack (`seqsignal stack up`, a worker, `seqsignal replay ...`):

    python examples/moderation_feed.py --bootstrap localhost:9092 --group moderation-feed

It prints one JSON line per change of the feed (a new thread flag, a flag that changed, a post's
sentiment). Dependencies: kafka-python only; no seqsignal import, so it runs anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from typing import Any, TextIO

from signal_consumer import RecentIds, consume


def _newer(flag: dict[str, Any], current: dict[str, Any] | None) -> bool:
    """Latest wins per root_id: more replies seen, then a later emit time (RFC 3339 UTC strings sort)."""
    if current is None:
        return True
    return (flag["replies_seen"], flag["emit_time"]) > (current["replies_seen"], current["emit_time"])


@dataclass
class ModerationFeed:
    """The feed's state: latest rumour flag per thread, sentiment per post, and what was skipped."""

    dedupe: RecentIds = field(default_factory=RecentIds)
    threads: dict[str, dict[str, Any]] = field(default_factory=dict)  # root_id -> latest flag
    sentiment: dict[str, str] = field(default_factory=dict)  # post_id -> label
    duplicates: int = 0
    stale: int = 0  # older flags that arrived after a newer one (redelivery)

    def handle(self, topic: str, headers: dict[str, bytes], value: bytes) -> dict[str, Any] | None:
        """Apply one record; returns the change to publish, or None (duplicate, stale or unchanged)."""
        ce_id = headers.get("ce_id")
        if ce_id is None:
            return None  # not a seqsignal signal
        if self.dedupe.seen(ce_id):
            self.duplicates += 1
            return None
        body = json.loads(value)  # unknown fields are simply not read
        if topic.endswith("signals.rumor.v1"):
            root = body["root_id"]
            current = self.threads.get(root)
            if not _newer(body, current):
                self.stale += 1
                return None
            self.threads[root] = body
            if current is not None and current["flagged"] == body["flagged"]:
                return None  # a new score, same verdict: nothing for a moderator
            return {"thread": root, "flagged": body["flagged"], "score": body["score"],
                    "replies_seen": body["replies_seen"], "model_version": body["model_version"]}
        if topic.endswith("signals.sentiment.v1"):
            self.sentiment[body["post_id"]] = body["label"]
            return {"post": body["post_id"], "thread": body["root_id"], "sentiment": body["label"]}
        return None

    def flagged_threads(self) -> list[str]:
        return sorted(root for root, flag in self.threads.items() if flag["flagged"])


def run(bootstrap: str, prefix: str = "", group: str = "moderation-feed", *, idle_exit_s: float | None = None,
        out: TextIO = sys.stdout, feed: ModerationFeed | None = None) -> ModerationFeed:
    """Consume the rumour and sentiment topics until interrupted (or `idle_exit_s` without records)."""
    state = feed or ModerationFeed()

    def handle(r: Any) -> None:
        change = state.handle(r.topic, dict(r.headers or []), r.value)
        if change is not None:
            out.write(json.dumps(change) + "\n")

    # out is flushed before the commit, after the state is updated: at least once, deduped on ce_id
    consume(bootstrap, group, [f"{prefix}signals.rumor.v1", f"{prefix}signals.sentiment.v1"], handle,
            idle_exit_s=idle_exit_s, before_commit=out.flush)
    return state


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="localhost:9092")
    p.add_argument("--prefix", default="", help="topic prefix (SEQSIGNAL_KAFKA__TOPIC_PREFIX)")
    p.add_argument("--group", default="moderation-feed")
    p.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    args = p.parse_args(argv)
    feed = run(args.bootstrap, args.prefix, args.group, idle_exit_s=args.idle_exit)
    summary = {"threads": len(feed.threads), "flagged": feed.flagged_threads(),
               "posts": len(feed.sentiment), "duplicates": feed.duplicates, "stale": feed.stale}
    print(json.dumps({"summary": summary}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
