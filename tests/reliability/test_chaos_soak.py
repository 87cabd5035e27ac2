"""The chaos soak, short version (the full one: `seqsignal chaos --actions 100000 --posts 5000`).

A fleet of 1-3 workers on its own stack; 5,000 Higgs actions and 500 TweetEval posts (+~1% malformed)
replayed over a minute while a seeded random fault strikes every ~8 s: worker SIGKILL + restart, broker
SIGTERM + restart, Redis SIGKILL + restart on the same data, a member joining or leaving. At the end every
valid input is covered by a signal, dead letters are exactly the malformed records, every window equals the
rebuild from the inputs, and the events processed twice stay within the bound: the group's lag at each
hard fault (docs/chaos.md).
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from support.chaos import KINDS, ChaosConfig, run_chaos

pytestmark = [pytest.mark.reliability, pytest.mark.slow]
SEED = int(os.environ.get("SEQSIGNAL_CHAOS_SEED", "1"))


def test_chaos_soak_short(tmp_path: Path) -> None:
    cfg = ChaosConfig(work_dir=tmp_path, actions=5000, posts=500, duration_s=60.0, every_s=8.0,
                      min_faults=4, seed=SEED)
    report = run_chaos(cfg)
    print("\n" + report.table())
    assert {kind for _, kind, _ in report.faults} == set(KINDS), "every fault kind strikes at least once"
    assert report.actions == 5000 and report.posts == 500 and report.invalid > 0
    assert not report.failures(), report.failures()
