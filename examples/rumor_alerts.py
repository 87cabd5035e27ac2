#!/usr/bin/env python3
"""An alerting consumer on `signals.rumor.v1`: one alert when a thread becomes a likely rumour.

A thread's flag is re-emitted as replies arrive (docs/consumers.md), so an alert rule must not page once per
record: this consumer alerts when a thread's latest flag turns `flagged` (and it has at least `--min-replies`
replies), and again only if the thread was cleared (a newer flag below the threshold) and then flagged
again. Duplicates (same `ce_id`, after a worker crash) and stale flags (fewer replies seen than the latest)
never alert. Alerts go to stdout as JSON lines, or are POSTed to `--webhook` (Slack, Alertmanager, ...).

    python examples/rumor_alerts.py --bootstrap localhost:9092 --min-replies 3

Dependencies: kafka-python only.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from signal_consumer import RecentIds, consume


@dataclass
class RumorAlerter:
    """Alert state per thread: the latest flag seen and whether an alert is open."""

    min_replies: int = 0
    dedupe: RecentIds = field(default_factory=RecentIds)
    latest: dict[str, tuple[int, str]] = field(default_factory=dict)  # root -> (replies_seen, emit_time)
    open_alerts: set[str] = field(default_factory=set)
    alerts: list[dict[str, Any]] = field(default_factory=list)

    def handle(self, headers: dict[str, bytes], value: bytes) -> dict[str, Any] | None:
        """One rumour flag record; returns the alert to send, if any."""
        ce_id = headers.get("ce_id")
        if ce_id is None or self.dedupe.seen(ce_id):
            return None
        flag = json.loads(value)
        root, rank = flag["root_id"], (flag["replies_seen"], flag["emit_time"])
        if root in self.latest and rank <= self.latest[root]:
            return None  # stale: an older flag redelivered after a newer one
        self.latest[root] = rank
        if not flag["flagged"]:
            self.open_alerts.discard(root)  # cleared: a later flag may alert again
            return None
        if root in self.open_alerts or flag["replies_seen"] < self.min_replies:
            return None
        self.open_alerts.add(root)
        alert = {"alert": "likely rumour", "thread": root, "score": flag["score"],
                 "threshold": flag["threshold"], "replies_seen": flag["replies_seen"],
                 "model_version": flag["model_version"], "ce_id": ce_id.decode()}
        self.alerts.append(alert)
        return alert


def webhook_sender(url: str) -> Callable[[dict[str, Any]], None]:
    def send(alert: dict[str, Any]) -> None:
        req = urllib.request.Request(url, data=json.dumps(alert).encode(),
                                     headers={"Content-Type": "application/json"})
        urllib.request.urlopen(req, timeout=10).close()
    return send


def run(
    bootstrap: str, prefix: str = "", group: str = "rumor-alerts", *, min_replies: int = 0,
    idle_exit_s: float | None = None, send: Callable[[dict[str, Any]], None] | None = None,
) -> RumorAlerter:
    """Consume the rumour topic until interrupted (or `idle_exit_s` without records)."""

    def to_stdout(a: dict[str, Any]) -> None:
        print(json.dumps(a), flush=True)

    deliver = send or to_stdout
    alerter = RumorAlerter(min_replies=min_replies)

    def handle(r: Any) -> None:
        alert = alerter.handle(dict(r.headers or []), r.value)
        if alert is not None:
            deliver(alert)  # before the commit: an alert is never lost, rarely repeated

    consume(bootstrap, group, [f"{prefix}signals.rumor.v1"], handle, idle_exit_s=idle_exit_s)
    return alerter


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--bootstrap", default="localhost:9092")
    p.add_argument("--prefix", default="", help="topic prefix (SEQSIGNAL_KAFKA__TOPIC_PREFIX)")
    p.add_argument("--group", default="rumor-alerts")
    p.add_argument("--min-replies", type=int, default=0)
    p.add_argument("--webhook", default=None, help="POST each alert as JSON to this URL")
    p.add_argument("--idle-exit", type=float, default=None, help="exit after this many idle seconds")
    args = p.parse_args(argv)
    send = webhook_sender(args.webhook) if args.webhook else None
    alerter = run(args.bootstrap, args.prefix, args.group, min_replies=args.min_replies,
                  idle_exit_s=args.idle_exit, send=send)
    print(json.dumps({"summary": {"alerts": len(alerter.alerts), "threads": len(alerter.latest)}}),
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
