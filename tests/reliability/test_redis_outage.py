"""Redis unavailable while events keep arriving: an outage is backpressure, not bad data.

The worker holds the batch in hand and retries it (capped backoff) for as long as Redis is away, takes no new
batch, reports not-ready, stays in its consumer group (session timeout and max poll interval set shorter than
the outage), and resumes with 0 valid events dead-lettered and every input covered by a signal. With
`kill-empty` Redis comes back without its data: the worker finds its epoch marker gone and rebuilds the
windows of each input partition from the topic before applying the held batch, so every window equals the
rebuild from the inputs and no behavior signal computed before its partition was rebuilt claims a whole
window (docs/window-rebuild.md). With `kill` and `freeze` the data survives and nothing is rebuilt.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from support.faults import OwnRedis, ReadySampler, group_members, log_lines
from support.worker_acceptance import (
    Inputs,
    Outputs,
    check_outputs,
    check_windows,
    collect,
    key_partitions,
    load_slice,
    send,
)
from support.worker_harness import WorkerProcess, tiny_model, worker_env

from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import Settings

RATE = 250.0  # events/s per input stream, so events keep arriving through the outage
N_ACTIONS = 7500  # 30 s of actions at RATE
N_POSTS = 3000
GROUP_TIMEOUT_S = 8  # session timeout and max poll interval of the worker under test
OUTAGE_S = 14.0  # > the old retry budget (6 attempts, ~3 s on a refused connection), > GROUP_TIMEOUT_S


def _metric(worker: WorkerProcess, name: str, **labels: str) -> float:
    """A /metrics sample, tolerating slow answers on a loaded box (the harness's GET times out at 2 s)."""
    for _ in range(10):
        try:
            return worker.metric(name, **labels)
        except OSError:
            time.sleep(0.5)
    return worker.metric(name, **labels)


def _worker(settings: Settings, tmp_path: Path, redis_url: str) -> tuple[Settings, WorkerProcess]:
    reg = tmp_path / "registry"
    for task in ("behavior", "sentiment", "rumor"):
        tiny_model(reg, task)
    s = settings.model_copy(update={"redis": settings.redis.model_copy(update={"url": redis_url})})
    env = worker_env(
        s,
        reg,
        SEQSIGNAL_MODEL__RUMOR_STEP="0",
        SEQSIGNAL_KAFKA__SESSION_TIMEOUT_S=str(GROUP_TIMEOUT_S),
        SEQSIGNAL_KAFKA__MAX_POLL_INTERVAL_S=str(GROUP_TIMEOUT_S),
    )
    return s, WorkerProcess(env, tmp_path / "worker.log", s.web_port)


def _check_rebuild(
    out: Outputs, rebuilds: list[dict[str, Any]], partition_of: dict[str, int], t_up: float
) -> None:
    """Every action partition was rebuilt after Redis came back empty, and no behavior signal emitted between
    then and the end of its partition's rebuild says its window is whole. Prints the figures."""
    # the first rebuild of each partition after Redis was back (sorted latest first: the earliest wins)
    done = {(r["stream"], r["partition"]): r["at"] for r in sorted(rebuilds, key=lambda r: -r["at"])}
    assert {p for s, p in done if s == "actions"} == set(partition_of.values()), f"rebuilt: {sorted(done)}"
    signals = [orjson.loads(r.value) for r in out.records.get("behavior", [])]
    after = [(datetime.fromisoformat(b["emit_time"]).timestamp(), b) for b in signals]
    during = [b for t, b in after if t_up <= t < done[("actions", partition_of[b["user_id"]])]]
    claim_whole = [b["source_event_id"] for b in during if b.get("window_complete") is not False]
    unmarked = sum("window_complete" not in b or b["window_complete"] is None for b in signals)
    print(
        f"[redis kill-empty] rebuild: {len(done)} partitions ({sorted(done)}), "
        f"{sum(r['records'] for r in rebuilds)} records re-read, {sum(r['applied'] for r in rebuilds)} "
        f"valid events re-applied, done {max(done.values()) - t_up:.1f}s after Redis was back (partition "
        f"reads {sum(r['seconds'] for r in rebuilds):.2f}s in all); behavior signals emitted before their "
        f"partition's rebuild ended: {len(during)}; window_complete false on "
        f"{sum(b.get('window_complete') is False for b in signals)} of {len(signals)} signals"
    )
    assert not claim_whole, f"{len(claim_whole)} signals claim an emptied window whole: {claim_whole[:3]}"
    assert unmarked == 0, "every behavior signal of this worker says whether its window is whole"


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["kill", "freeze", "kill-empty"])
def test_redis_outage_is_backpressure_not_dead_letters(
    fault: str, settings: Settings, topics: Topics, kafka_bootstrap: str, tmp_path: Path
) -> None:
    redis = OwnRedis(tmp_path / "redis").start()
    s, worker = _worker(settings, tmp_path, redis.url)
    worker.start()
    try:
        worker.wait_ready(timeout_s=180)
        actions, posts = load_slice()
        actions, posts = actions[:N_ACTIONS], posts[:N_POSTS]
        sent: dict[str, Any] = {}
        replayer = threading.Thread(target=lambda: sent.update(stats=send(s, topics, actions, posts, RATE)))
        t_sent = time.time()
        replayer.start()
        t_replay = time.monotonic()  # the outage starts 4 s in, once the worker has processed some actions
        while (
            _metric(worker, "seqsignal_events_processed_total", stream="actions") < 300
            or time.monotonic() - t_replay < 4.0
        ):
            assert replayer.is_alive(), "the replay finished before the outage: raise N_ACTIONS"
            time.sleep(0.2)
        members = group_members(kafka_bootstrap, s.worker_id)
        with ReadySampler(s.web_port) as ready:
            t_down = time.monotonic()
            redis.freeze() if fault == "freeze" else redis.kill()
            processed_at_down = _metric(worker, "seqsignal_events_processed_total")
            time.sleep(OUTAGE_S)
            during = (
                _metric(worker, "seqsignal_events_processed_total") - processed_at_down,
                replayer.is_alive(),
            )
            members_during = group_members(kafka_bootstrap, s.worker_id)
            t_up_wall = time.time()
            redis.thaw() if fault == "freeze" else redis.start(empty=fault == "kill-empty")
            t_up = time.monotonic()
            worker.wait_ready(timeout_s=120)
            t_ready = time.monotonic()
        replayer.join()
        sa, sp = sent["stats"]
        inputs = Inputs(actions, posts, invalid=sa.invalid + sp.invalid, sent_at=t_sent)
        out = collect(kafka_bootstrap, topics, inputs, timeout_s=300)
        window_dl = _metric(worker, "seqsignal_events_dead_lettered_total", stage="window")
        outage = ready.between(t_down + 6.0, t_up)  # give the first held batch time to hit the outage
        took = sorted(t for _, _, t in ready.samples)
        p50, slowest = took[len(took) // 2], took[-1]
        print(
            f"\n[redis {fault} {OUTAGE_S:.0f}s] processed during the outage: {during[0]:.0f} "
            f"(events still arriving: {during[1]}); readyz 503 in {sum(st == 503 for _, st, _ in outage)}"
            f"/{len(outage)} samples during it, answer p50 {p50 * 1000:.0f} ms, "
            f"slowest {slowest * 1000:.0f} ms; ready again "
            f"{t_ready - t_up:.1f}s after Redis was back; dead letters at stage window: {window_dl:.0f}, "
            f"all dead letters {len(out.dead)} (invalid sent {inputs.invalid}); group {members[0]} "
            f"{len(members[1])} member(s) before, {members_during[0]} same members during: "
            f"{members_during[1] == members[1]}"
        )
        assert during[1], "the replay ended before Redis came back: events must keep arriving in the outage"
        check_outputs(out, inputs)  # every valid input covered; dead letters == invalid ones, all at decode
        assert window_dl == 0
        rebuilds = log_lines(worker.log_path, "window rebuild done", since=t_up_wall)
        users = check_windows(s, inputs)  # nothing applied twice, lost, or left out by the rebuild
        print(f"[redis {fault}] user windows differing from the rebuild from the inputs: 0 of {users}")
        if fault == "kill-empty":
            _check_rebuild(out, rebuilds, key_partitions(kafka_bootstrap, topics.actions), t_up_wall)
        else:
            assert not rebuilds, "Redis kept its data: nothing to rebuild"
        assert outage and all(st == 503 for _, st, _ in outage), "not-ready while Redis is away"
        assert slowest < 1.0, "/readyz must answer at once whatever hangs (cached status)"
        assert members_during == members, "the held partition cost the worker its group membership"
        assert group_members(kafka_bootstrap, s.worker_id)[1] == members[1]
        assert worker.terminate() == 0, worker.tail()
    finally:
        worker.stop_quietly()
        redis.stop()
