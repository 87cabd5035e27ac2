"""CPU used by each part of the local stack over a phase of the bench (the paced one): worker, broker, Redis,
the bench itself (load generator). On a 2-core box they share the cores, so the worker's latency tail grows
with what the others use; this says how much each took."""

from __future__ import annotations

import os
from collections import Counter
from pathlib import Path

ROLES = (("kafka.Kafka", "broker"), ("redis-server", "redis"))  # cmdline marker -> role


def ticks_by_role(worker_pid: int) -> Counter[str]:
    """Cumulative CPU ticks (user + system) of the worker, broker, Redis and this process, by role."""
    out: Counter[str] = Counter()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        try:
            stat = (entry / "stat").read_text()
            cmd = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        role = ("worker" if pid == worker_pid else "bench" if pid == os.getpid()
                else next((r for marker, r in ROLES if marker in cmd), None))
        if role is not None:
            fields = stat[stat.rfind(")") + 2:].split()
            out[role] += int(fields[11]) + int(fields[12])
    return out


def cores(before: Counter[str], after: Counter[str], seconds: float) -> dict[str, float]:
    """Mean cores used per role between two `ticks_by_role` snapshots `seconds` apart."""
    hz = os.sysconf("SC_CLK_TCK")
    if seconds <= 0:
        return {}
    return {role: round((after[role] - before[role]) / hz / seconds, 2) for role in sorted(after)}
