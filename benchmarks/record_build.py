"""Output-record building, records/s for a batch: pydantic model per record (the old path) against dicts ->
orjson (workers/pipelines/signal_json.py), interleaved side by side. `python -m benchmarks.record_build`."""

from __future__ import annotations

import json
import os
import random
import statistics
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from benchmarks import fixtures
from benchmarks.micro import ratio, side_by_side
from seqsignal.models.core.serving import BehaviorOutput
from seqsignal.schemas.events import ACTION_TYPES
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.actions import behavior_record
from seqsignal.workers.pipelines.batch import BatchResult
from seqsignal.workers.pipelines.posts import VERACITY_CLASSES, rumor_record, sentiment_record
from seqsignal.workers.pipelines.signal_json import (
    BatchStamp,
    add_record,
    behavior_body,
    rumor_body,
    sentiment_body,
)
from seqsignal.workers.state.window_store import ThreadUpdate

TOPICS = Topics(prefix="bench.")
VERSION = "behavior-20261130T120000Z-3f2a"  # a registry-like version string


Builders = tuple[Callable[[], Any], Callable[[], Any]]


def behavior_cases(batch: int, targets: int = 10, seed: int = 0) -> Builders:
    """(old, new) builders of one batch of behavior records: real Higgs actions, horizon 3, 10 targets."""
    rng = random.Random(seed)
    acts = fixtures.actions(batch)
    outs = [BehaviorOutput([(rng.choice(ACTION_TYPES), rng.random()) for _ in range(3)], rng.random() / 10)
            for _ in acts]
    tgts = [[(str(rng.randrange(10**6)), rng.random()) for _ in range(targets)] for _ in acts]

    def old() -> BatchResult:
        result = BatchResult()
        for a, o, t in zip(acts, outs, tgts, strict=True):
            result.add_signal(behavior_record(a.user_id, [a], o, VERSION, 3, 64, t), TOPICS)
        return result

    def new() -> BatchResult:
        result, stamp = BatchResult(), BatchStamp()
        for a, o, t in zip(acts, outs, tgts, strict=True):
            body = behavior_body(stamp, stamp.version(VERSION), a.user_id, a.event_id, a.created_at,
                                 [a.event_id], o.actions, o.sequence_probability, 3, 64, t, True)
            add_record(result, "behavior", TOPICS.behavior, a.user_id, body, stamp)
        return result

    return old, new


def post_cases(batch: int, seed: int = 0) -> dict[str, Builders]:
    """(old, new) builders of one batch of sentiment records and of rumour flags (with veracity)."""
    rng = np.random.default_rng(seed)
    posts = fixtures.tweets(batch)
    probs = rng.dirichlet(np.ones(3), size=batch).astype(np.float32)  # (B, 3), as the model returns
    ver = rng.dirichlet(np.ones(3), size=batch).astype(np.float32)
    updates = [ThreadUpdate(root_id=p.root_id, source_text=p.text, replies=[], replies_seen=3, added=[],
                            last_score=None, last_flagged=None) for p in posts]

    def sent_old() -> BatchResult:
        result = BatchResult()
        for p, row in zip(posts, probs, strict=True):
            result.add_signal(sentiment_record(p, row, "s1"), TOPICS)
        return result

    def sent_new() -> BatchResult:
        result, stamp = BatchResult(), BatchStamp()
        rows, best = probs.tolist(), np.argmax(probs, axis=1).tolist()
        for p, row, b in zip(posts, rows, best, strict=True):
            add_record(result, "sentiment", TOPICS.sentiment, p.post_id,
                       sentiment_body(stamp, stamp.version("s1"), p, row, b), stamp)
        return result

    def rumor_old() -> BatchResult:
        result = BatchResult()
        for p, u, v in zip(posts, updates, ver, strict=True):
            result.add_signal(rumor_record(u, p, 0.75, "r1", 0.5, v), TOPICS)
        return result

    def rumor_new() -> BatchResult:
        result, stamp = BatchResult(), BatchStamp()
        for p, u, v in zip(posts, updates, ver, strict=True):
            body = rumor_body(stamp, stamp.version("r1"), p, u.root_id, 0.75, 0.5, u.replies_seen,
                              dict(zip(VERACITY_CLASSES, v.tolist(), strict=True)))
            add_record(result, "rumor", TOPICS.rumor, u.root_id, body, stamp)
        return result

    return {"sentiment": (sent_old, sent_new), "rumor": (rumor_old, rumor_new)}


def run(batch: int = 256, reps: int = 5, min_s: float = 0.3) -> dict[str, Any]:
    """Records/s of each builder (median over interleaved reps) and the per-rep speedup, per record type."""
    cases = {"behavior": behavior_cases(batch), **post_cases(batch)}
    out: dict[str, Any] = {"batch": batch, "loadavg": [round(x, 2) for x in os.getloadavg()]}
    for name, (old, new) in cases.items():
        assert len(old().outputs) == len(new().outputs) == batch
        t = side_by_side({"pydantic": old, "orjson": new}, reps, min_s)
        out[name] = {"pydantic_per_s": round(batch / statistics.median(t["pydantic"])),
                     "orjson_per_s": round(batch / statistics.median(t["orjson"])),
                     "speedup": round(ratio(t["pydantic"], t["orjson"]), 2)}
        print(f"[micro] records {name} B={batch}: {out[name]}", file=sys.stderr)
    out["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=1))
