"""`seqsignal worker` with the hot-path change docs/benchmarks.md proposes, applied in-process to measure it.

The change (workers/action_pipeline.plan_user): a user whose whole window is this batch's new actions (a new
user: most users of a Higgs batch) is advanced from the zero state (prev_ts NaN) instead of re-encoded; the
state is identical (see micro `new_users`, max diff 0.0). Run with `SEQSIGNAL_MODEL__TORCH_THREADS=1` for
the other proposal. Nothing here is imported by the worker itself.
"""

from __future__ import annotations

import math
import sys
from typing import Any

import numpy as np

from seqsignal.workers import action_pipeline
from seqsignal.workers.inference import UserJob
from seqsignal.workers.window_rules import event_hash

_plan_user = action_pipeline.plan_user


def plan_user(update: Any, actions: list[Any], version: str, state_size: int, each: bool) -> UserJob:
    job = _plan_user(update, actions, version, state_size, each)
    if job.state is not None or each:
        return job
    added = set(update.added)
    new = [a for a in actions if a.event_id in added]
    if len(new) == len(update.window) and [w.event_hash for w in update.window] == [
            event_hash(a.event_id) for a in new]:
        return UserJob(job.window, np.zeros(state_size, np.float32), prev_ts=math.nan, new=list(job.window))
    return job


def main() -> None:
    action_pipeline.plan_user = plan_user
    from seqsignal.cli import main as cli_main

    sys.argv = ["seqsignal", "worker"]
    cli_main()


if __name__ == "__main__":
    main()
