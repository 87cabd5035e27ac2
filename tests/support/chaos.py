"""The chaos soak: a worker fleet on its own local stack, actions and posts replayed while a seeded random
fault strikes every few seconds, then every acceptance check (report: support/chaos_report.py).

Faults: `worker_kill` (SIGKILL a member, start a replacement), `broker_restart` (SIGTERM the broker, a few
seconds down, `stack restart kafka` on the same data), `redis_kill` (SIGKILL Redis, a few seconds down,
`stack restart redis` on its AOF), `rebalance` (a member joins, or one leaves with SIGTERM). Kinds come in
shuffled rounds, so any four consecutive faults cover all four. Used by tests/reliability/test_chaos_soak.py
and `seqsignal chaos`.
"""

from __future__ import annotations

import itertools
import random
import signal
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import redis
from kafka import KafkaConsumer, TopicPartition
from support.chaos_report import ChaosReport, measure
from support.fleet import Feed, Fleet

from seqsignal.deploy.local import faults, process
from seqsignal.deploy.local.stack import StackSettings, StackState, down, up
from seqsignal.models.datasets.streams import iter_dataset_events
from seqsignal.schemas.events import Action, Post
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import KafkaSettings, RedisSettings, Settings
from seqsignal.workers.topic_admin import ensure_topics

KINDS = ("worker_kill", "broker_restart", "redis_kill", "rebalance")
HARD = ("worker_kill", "broker_restart")  # the faults that may redeliver processed events
SESSION_TIMEOUT_S = 10  # a SIGKILLed member leaves the group this long after its last heartbeat


@dataclass(frozen=True)
class ChaosConfig:
    """One soak: what is replayed, for how long, how often a fault strikes."""

    work_dir: Path
    actions: int = 5000
    posts: int = 500
    duration_s: float = 60.0  # the replay of both streams, paced to last this long
    every_s: float = 8.0  # mean time between the end of one fault and the next (uniform 0.5x..1.5x)
    min_faults: int = 4  # keep striking after the replay until this many faults happened
    seed: int = 0
    partitions: int = 3
    max_members: int = 3
    down_s: tuple[float, float] = (2.0, 6.0)  # how long the broker / Redis stay down
    collect_timeout_s: float = 900.0


@dataclass
class Soak:
    """The running soak: stack, settings, fleet, what happened."""

    cfg: ChaosConfig
    state: StackState
    settings: Settings
    fleet: Fleet
    rng: random.Random
    log: Callable[[str], None]
    faults: list[tuple[float, str, str]] = field(default_factory=list)  # (t, kind, detail)
    bound: int = 0  # sum of the group's lag at each hard fault: the most that can be redelivered

    @property
    def run_dir(self) -> Path:
        return Path(self.state.run_dir)


def load_inputs(n_actions: int, n_posts: int) -> tuple[list[Action], list[Post]]:
    """The first `n_actions` Higgs actions and `n_posts` tweets: TweetEval (2,000 in the shared data), then
    SemEval 2013-2016 for the rest."""
    actions = [e for e in itertools.islice(iter_dataset_events("higgs"), n_actions) if isinstance(e, Action)]
    tweets = itertools.chain(iter_dataset_events("tweeteval"), iter_dataset_events("semeval"))
    posts = [e for e in itertools.islice(tweets, n_posts) if isinstance(e, Post)]
    return actions, posts


def redis_fsync_always(url: str) -> None:
    """Every acknowledged write on disk before the reply: a SIGKILL loses nothing the worker was told was
    written (the soak checks the worker, not Redis' `everysec` policy, which may lose the last second)."""
    client = redis.Redis.from_url(url)
    try:
        client.config_set("appendfsync", "always")
    finally:
        client.close()


def group_lag(settings: Settings, topics: Topics) -> int:
    """Events of the input topics past the group's committed offsets (un-committed: maybe processed)."""
    consumer = KafkaConsumer(
        bootstrap_servers=settings.kafka.bootstrap_servers, group_id=settings.worker_id,
        enable_auto_commit=False, request_timeout_ms=15000,
    )
    try:
        tps = [TopicPartition(t, p) for t in (topics.actions, topics.posts)
               for p in sorted(consumer.partitions_for_topic(t) or ())]
        ends = consumer.end_offsets(tps)
        return sum(ends[tp] - (consumer.committed(tp) or 0) for tp in tps)
    finally:
        consumer.close()


def _kinds(rng: random.Random) -> Iterator[str]:
    while True:
        yield from rng.sample(KINDS, len(KINDS))


def _worker_kill(soak: Soak) -> str:
    victim = soak.rng.choice(soak.fleet.alive() or soak.fleet.members)
    soak.fleet.kill(victim)
    soak.fleet.add()
    return f"killed {victim.log_path.stem}, replacement started"


def _broker_restart(soak: Soak) -> str:
    down_s = soak.rng.uniform(*soak.cfg.down_s)
    faults.kill(soak.run_dir, "kafka", signal.SIGTERM)
    time.sleep(down_s)
    _, ready_s = faults.restart(StackSettings(dir=soak.run_dir), "kafka")
    return f"down {down_s:.1f}s, ready {ready_s:.1f}s after its start"


def _redis_kill(soak: Soak) -> str:
    down_s = soak.rng.uniform(*soak.cfg.down_s)
    faults.kill(soak.run_dir, "redis", signal.SIGKILL)
    time.sleep(down_s)
    state, ready_s = faults.restart(StackSettings(dir=soak.run_dir), "redis")
    redis_fsync_always(state.redis_url)
    return f"down {down_s:.1f}s, ready {ready_s:.1f}s after its start (same AOF)"


def _rebalance(soak: Soak) -> str:
    fleet = soak.fleet
    if len(fleet.members) < 2 or (len(fleet.members) < soak.cfg.max_members and soak.rng.random() < 0.5):
        joined = fleet.add()
        return f"{joined.log_path.stem} joins ({len(fleet.members)} members)"
    leaving = soak.rng.choice(fleet.members)
    fleet.leave(leaving)
    return f"{leaving.log_path.stem} leaves with SIGTERM ({len(fleet.members)} members)"


ACTIONS: dict[str, Callable[[Soak], str]] = {
    "worker_kill": _worker_kill, "broker_restart": _broker_restart,
    "redis_kill": _redis_kill, "rebalance": _rebalance,
}


def add_lag_to_bound(soak: Soak) -> None:
    """Before a hard fault: what it can make the group redo is at most the group's lag now."""
    try:
        lag = group_lag(soak.settings, Topics(prefix=soak.settings.kafka.topic_prefix))
    except Exception as exc:  # cannot read offsets: every event sent could come back
        lag = soak.cfg.actions + soak.cfg.posts
        soak.log(f"lag unknown ({type(exc).__name__}); bound grows by {lag}")
    soak.bound += lag


def strike(soak: Soak, kind: str, t0: float) -> None:
    """One fault; before a hard one, add the group's lag to the duplicate bound."""
    if kind in HARD:
        add_lag_to_bound(soak)
    detail = ACTIONS[kind](soak)
    soak.faults.append((time.monotonic() - t0, kind, detail))
    soak.log(f"[{time.monotonic() - t0:6.1f}s] {kind}: {detail}")


def _settings(state: StackState, partitions: int) -> Settings:
    kafka = KafkaSettings(bootstrap_servers=state.bootstrap_servers,
                          topic_prefix=f"chaos{uuid.uuid4().hex[:8]}.", partitions=partitions)
    ensure_topics(kafka, partitions=partitions, timeout_s=60.0)
    return Settings(
        _env_file=None, kafka=kafka, redis=RedisSettings(url=state.redis_url, key_prefix="chaos:"),
        worker_id=f"seqsignal-chaos-{uuid.uuid4().hex[:8]}", web_port=process.free_port(),
    )


def _run_faults(soak: Soak, feed: Feed, t0: float) -> None:
    kinds = _kinds(soak.rng)
    while feed.running or len(soak.faults) < soak.cfg.min_faults:
        time.sleep(soak.rng.uniform(0.5, 1.5) * soak.cfg.every_s)
        if not feed.running and len(soak.faults) >= soak.cfg.min_faults:
            break
        strike(soak, next(kinds), t0)


def run_chaos(cfg: ChaosConfig, log: Callable[[str], None] | None = None) -> ChaosReport:
    """Run one soak on a fresh stack in cfg.work_dir/stack (stopped at the end); returns the report."""
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    t0 = time.monotonic()
    run_dir = cfg.work_dir / "stack"
    try:
        state, _ = up(StackSettings(dir=run_dir))
        redis_fsync_always(state.redis_url)
        settings = _settings(state, cfg.partitions)
        fleet = Fleet(settings, cfg.work_dir, SEQSIGNAL_KAFKA__SESSION_TIMEOUT_S=str(SESSION_TIMEOUT_S))
        soak = Soak(cfg, state, settings, fleet, random.Random(cfg.seed), say)
        fleet.before_kill = lambda: add_lag_to_bound(soak)  # a hung SIGTERM becomes a SIGKILL: a hard fault
        try:
            fleet.add().wait_ready(timeout_s=240)
            fleet.supervise()  # a member that exits on its own is replaced, as an orchestrator would
            actions, posts = load_inputs(cfg.actions, cfg.posts)
            say(f"[{time.monotonic() - t0:6.1f}s] replaying {len(actions)} actions + {len(posts)} posts "
                f"over {cfg.duration_s:.0f}s, a fault every ~{cfg.every_s:.0f}s")
            feed = Feed(settings, Topics(prefix=settings.kafka.topic_prefix), actions, posts,
                        cfg.duration_s).start()
            _run_faults(soak, feed, t0)
            feed.join()
            if not fleet.alive():
                fleet.add()
            say(f"[{time.monotonic() - t0:6.1f}s] replay done, {len(soak.faults)} faults; collecting")
            return measure(soak, actions, posts, feed, t0)
        finally:
            fleet.stop_all()
    finally:
        down(run_dir)
