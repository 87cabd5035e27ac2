"""`seqsignal chaos`: registered, and its report's verdict and table from synthetic figures (no stack)."""

from __future__ import annotations

from support.chaos_report import ChaosReport

from seqsignal.cli import COMMAND_MODULES

FAULTS = [(10.0, "worker_kill", "killed worker-1, replacement started"),
          (20.0, "rebalance", "worker-3 joins (3 members)"),
          (30.0, "rebalance", "worker-2 leaves with SIGTERM (2 members)"),
          (40.0, "broker_restart", "down 3.0s"), (50.0, "redis_kill", "down 2.0s")]


def _report(**over: object) -> ChaosReport:
    base: dict[str, object] = dict(actions=100, posts=10, invalid=3, seed=0, partitions=3, faults=FAULTS,
                                   dead_letters=3, duplicates={"sentiment": 2, "dead_letter": 1},
                                   covered_again=4, bound=7, windows_checked=40)
    base.update(over)
    return ChaosReport(**base)  # type: ignore[arg-type]


def test_registered_in_the_cli() -> None:
    assert "seqsignal.commands.chaos" in COMMAND_MODULES


def test_within_the_bound_passes_and_the_table_has_every_row() -> None:
    r = _report()
    assert r.redone == 7 and r.failures() == []
    table = r.table()
    assert table.endswith("verdict: PASS")
    for row in ("worker SIGKILL + restart", "broker SIGTERM + restart", "Redis SIGKILL + restart",
                "member joins / leaves", "valid events dead-lettered", "0 of 40"):
        assert row in table
    assert r.fault_counts()["join"] == 1 and r.fault_counts()["leave"] == 1


def test_every_broken_condition_is_a_failure() -> None:
    r = _report(lost_actions=1, lost_posts=2, dead_letters=5, dead_not_decode=1, bound=6,
                windows_differ="3 of 40 user windows differ from the rebuild")
    failures = r.failures()
    assert "valid actions lost: 1" in failures and "valid posts lost: 2" in failures
    assert "valid events dead-lettered: 3" in failures  # 1 at a stage past decode + 2 beyond the malformed
    assert "3 of 40 user windows differ from the rebuild" in failures
    assert "7 events redone > bound 6" in failures
    assert _report(dead_letters=2).failures() == ["malformed records not dead-lettered: 1"]
    assert "FAIL" in r.table()
