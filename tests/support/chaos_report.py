"""What a chaos soak measured (support/chaos.py): faults by kind, lost inputs, dead letters, windows,
duplicates against their bound; the table `seqsignal chaos` prints and the failures the test asserts on."""

from __future__ import annotations

import re
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from support.worker_acceptance import Inputs, check_windows, collect

from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.pipelines.dead_letter import H_STAGE

if TYPE_CHECKING:
    from support.chaos import Soak
    from support.fleet import Feed

TASKS = ("behavior", "sentiment", "rumor", "dead_letter")


@dataclass
class ChaosReport:
    """The soak's figures; `failures()` lists every acceptance condition that does not hold."""

    actions: int
    posts: int
    invalid: int
    seed: int
    partitions: int
    faults: list[tuple[float, str, str]]
    lost_actions: int = 0
    lost_posts: int = 0
    short_threads: int = 0
    dead_letters: int = 0
    dead_not_decode: int = 0  # dead letters at any stage but decode: valid events dead-lettered
    duplicates: dict[str, int] = field(default_factory=dict)  # output topic -> repeated ce_ids
    covered_again: int = 0  # action events covered by more than one behavior record
    bound: int = 0
    windows_checked: int = 0
    windows_differ: str = ""  # check_windows' message, empty when every window equals the rebuild
    exit_codes: dict[str, int | None] = field(default_factory=dict)  # members stopped with SIGTERM
    exited: list[tuple[str, int | None, str]] = field(default_factory=list)  # exited on their own, replaced
    grace_killed: list[str] = field(default_factory=list)  # SIGTERMed, hung past the grace time, SIGKILLed
    feed_s: float = 0.0
    complete_s: float = 0.0  # from the end of the replay until every input was covered
    total_s: float = 0.0

    @property
    def redone(self) -> int:
        """Input events processed more than once: actions covered again, posts scored again, malformed
        records dead-lettered again."""
        d = self.duplicates
        return self.covered_again + d.get("sentiment", 0) + d.get("dead_letter", 0)

    def fault_counts(self) -> Counter[str]:
        counts = Counter(kind for _, kind, _ in self.faults)
        for _, kind, detail in self.faults:
            if kind == "rebalance":
                counts["join" if "joins" in detail else "leave"] += 1
        return counts

    def failures(self) -> list[str]:
        checks = {
            "valid actions lost": self.lost_actions,
            "valid posts lost": self.lost_posts,
            "threads whose last flag missed replies": self.short_threads,
            "valid events dead-lettered": self.dead_not_decode + max(0, self.dead_letters - self.invalid),
            "malformed records not dead-lettered": max(0, self.invalid - self.dead_letters),
        }
        out = [f"{name}: {n}" for name, n in checks.items() if n]
        if self.windows_differ:
            out.append(self.windows_differ)
        if self.redone > self.bound:
            out.append(f"{self.redone} events redone > bound {self.bound}")
        return out

    def table(self) -> str:
        c = self.fault_counts()
        rows = [
            ("faults injected", f"{len(self.faults)}", ""),
            ("  worker SIGKILL + restart", f"{c['worker_kill']}", ""),
            ("  broker SIGTERM + restart", f"{c['broker_restart']}", ""),
            ("  Redis SIGKILL + restart (same data)", f"{c['redis_kill']}", ""),
            ("  rebalance: member joins / leaves", f"{c['join']} / {c['leave']}", ""),
            ("valid inputs lost (actions / posts / threads)",
             f"{self.lost_actions} / {self.lost_posts} / {self.short_threads}", "0"),
            ("dead letters (malformed sent)", f"{self.dead_letters} ({self.invalid})", "= malformed"),
            ("valid events dead-lettered", f"{self.dead_not_decode}", "0"),
            ("duplicate outputs by ce_id: " + " / ".join(TASKS),
             " / ".join(str(self.duplicates.get(t, 0)) for t in TASKS), ""),
            ("action events covered twice", f"{self.covered_again}", ""),
            ("input events redone (bound: lag at hard faults)", f"{self.redone} (bound {self.bound})",
             "<= bound"),
            ("user windows differing from the rebuild",
             self.windows_differ or f"0 of {self.windows_checked}", "0"),
            ("SIGTERMed members: exit code 0", f"{sum(c == 0 for c in self.exit_codes.values())} of "
             f"{len(self.exit_codes)}", ""),
            ("members that exited on their own (replaced)", f"{len(self.exited)}", ""),
            ("SIGTERMed members SIGKILLed after the grace time", f"{len(self.grace_killed)}", ""),
            ("time: replay / until complete / in all",
             f"{self.feed_s:.0f}s / {self.complete_s:.0f}s / {self.total_s:.0f}s", ""),
        ]
        width = max(len(r[0]) for r in rows)
        head = (f"chaos soak: {self.actions} actions + {self.posts} posts (+{self.invalid} malformed), "
                f"seed {self.seed}, {self.partitions} partitions per input topic")
        lines = [head, f"{'':{width}}  value  (required)"]
        lines += [f"{name:{width}}  {value}" + (f"  ({req})" if req else "") for name, value, req in rows]
        lines += [f"  {t:7.1f}s  {kind}: {detail}" for t, kind, detail in self.faults]
        lines += [f"  SIGTERMed {name} exited {code}" for name, code in self.exit_codes.items() if code != 0]
        lines += [f"  {name} exited {code} on its own: {err}" for name, code, err in self.exited]
        verdict = self.failures()
        lines.append("verdict: " + ("PASS" if not verdict else "FAIL: " + "; ".join(verdict)))
        return "\n".join(lines)


def _windows(soak: Soak, inputs: Inputs) -> tuple[int, str]:
    try:
        return check_windows(soak.settings, inputs), ""
    except AssertionError as exc:
        message = str(exc).splitlines()[0]
        m = re.match(r"(\d+) of (\d+)", message)
        return (int(m.group(2)) if m else 0), message


def measure(soak: Soak, actions: list[Action], posts: list[Post], feed: Feed, t0: float) -> ChaosReport:
    """Read every output back (until every input is covered or the timeout), check windows, stop the fleet."""
    cfg, settings = soak.cfg, soak.settings
    inputs = Inputs(actions, posts, invalid=feed.invalid, sent_at=feed.started_at)
    t_fed = time.monotonic()
    out = collect(settings.kafka.bootstrap_servers, Topics(prefix=settings.kafka.topic_prefix), inputs,
                  timeout_s=cfg.collect_timeout_s)
    complete_s = time.monotonic() - t_fed
    stages: list[Any] = [dict(r.headers).get(H_STAGE) for r in out.records.get("dead_letter", [])]
    checked, differ = _windows(soak, inputs)
    fleet = soak.fleet
    fleet.stop_supervising()
    for w in list(fleet.members):
        fleet.leave(w)
    codes = dict(zip((w.log_path.stem for w in fleet.leaving), fleet.exit_codes(timeout_s=180), strict=True))
    report = ChaosReport(
        actions=len(actions), posts=len(posts), invalid=inputs.invalid, seed=cfg.seed,
        partitions=cfg.partitions, faults=soak.faults,
        lost_actions=len({a.event_id for a in actions} - out.covered),
        lost_posts=len({p.post_id for p in posts} - out.sentiment_posts),
        short_threads=sum(out.replies_seen.get(r, -1) < n for r, n in inputs.replies_per_thread.items()),
        dead_letters=len(out.dead), dead_not_decode=sum(s != b"decode" for s in stages),
        duplicates={t: out.duplicates(t) for t in TASKS}, covered_again=out.covered_again(),
        bound=soak.bound, windows_checked=checked, windows_differ=differ,
        exit_codes=codes, exited=list(fleet.exited), grace_killed=list(fleet.grace_killed),
        feed_s=feed.stats_elapsed,
        complete_s=complete_s,
    )
    report.total_s = time.monotonic() - t0
    return report
