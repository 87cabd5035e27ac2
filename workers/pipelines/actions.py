"""Actions batch handler: decode, append to user windows, plan encoder work, predict, behavior records."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, cast

from seqsignal.models.core.serving import (
    ActionRecord,
    BehaviorModel,
    BehaviorOutput,
    TargetQuery,
    TrendingTracker,
    UserJob,
    UserResult,
)
from seqsignal.schemas.events import Action, ActionType, BehaviorPrediction, PredictedAction, PredictedTarget
from seqsignal.workers.pipelines.batch import BatchResult, Pipeline, clip_probability
from seqsignal.workers.pipelines.dead_letter import decode_batch
from seqsignal.workers.pipelines.delivery import redis_call
from seqsignal.workers.pipelines.records import RawEvent
from seqsignal.workers.pipelines.signal_json import BatchStamp, add_record, behavior_body
from seqsignal.workers.state.window_rebuild import WindowRebuild, window_complete
from seqsignal.workers.state.window_rules import event_hash, ts_to_ms
from seqsignal.workers.state.window_store import UserUpdate

log = logging.getLogger(__name__)
_TS_TOLERANCE_S = 5e-4  # stored timestamps have millisecond precision


def plan_user(update: UserUpdate, actions: list[Action], model: BehaviorModel, each: bool) -> UserJob:
    """Advance the cached state by the new actions if it is current and they end the window; else rebuild."""
    window = [ActionRecord(cast(ActionType, w.action), w.ts) for w in update.window]
    added = set(update.added)
    new = [a for a in actions if a.event_id in added]
    base = len(window) - len(new)
    state = model.state_from_bytes(update.state) if update.state_version == model.version else None
    suffix = [w.event_hash for w in update.window[base:]] if base >= 0 else None
    is_suffix = suffix == [event_hash(a.event_id) for a in new]
    if state is not None and update.state_ts is not None and is_suffix and base > 0:
        ends_at_base = abs(update.window[base - 1].ts - update.state_ts) < _TS_TOLERANCE_S
        if ends_at_base:
            return UserJob(
                window, state, prev_ts=update.state_ts, new=window[base:], each_at=[1] if each else []
            )
    if not each and base == 0 and is_suffix:
        # A new user (every action of the window is new): advancing the model's start state over the window
        # gives the state a re-encode gives (the contract), 21-25x faster on that path (most users of a Higgs
        # batch are new; docs/benchmarks.md, "Where the time goes").
        return UserJob(window, model.start_state(), new=list(window))
    each_at = list(range(base, len(window) - 1)) if each and is_suffix and base >= 0 else []
    return UserJob(window, None, each_at=each_at)


def target_query(update: UserUpdate) -> TargetQuery:
    """What the target ranker sees of a user: its window's targeted actions, emitted at its latest action."""
    window = [(w.target, w.ts, cast(ActionType, w.action)) for w in update.window if w.target]
    return TargetQuery(update.user_id, window, update.window[-1].ts)


def behavior_record(
    user_id: str,
    covers: list[Action],
    output: BehaviorOutput,
    version: str,
    horizon: int,
    window_size: int,
    targets: list[tuple[str, float]] | None = None,
    complete: bool | None = True,
) -> BehaviorPrediction:
    """One BehaviorPrediction for the latest of `covers`, naming every event it accounts for."""
    source = covers[-1]
    ids = list(dict.fromkeys(a.event_id for a in covers))
    return BehaviorPrediction(
        model_version=version,
        source_event_id=source.event_id,
        event_time=source.created_at,
        emit_time=datetime.now(UTC),
        user_id=user_id,
        horizon=horizon,
        actions=[
            PredictedAction(step=k + 1, action=a, probability=clip_probability(p))
            for k, (a, p) in enumerate(output.actions[:horizon])
        ],
        sequence_probability=clip_probability(output.sequence_probability),
        covers=ids,
        window_size=window_size,
        targets=None
        if targets is None
        else [PredictedTarget(user_id=t, probability=clip_probability(p)) for t, p in targets],
        window_complete=complete,
    )


class ActionPipeline(Pipeline):
    """Handles one batch of raw action records; talks to Redis and the inference engine, never to Kafka."""

    def __init__(self, *args: Any, user_key: Callable[[str], str] = lambda u: u, **kw: Any) -> None:
        super().__init__(*args, **kw)
        self.user_key = user_key  # pseudonymisation (identity unless privacy.pseudonymize)
        # Decayed popularity of the targets this worker sees (per worker: approximate across partitions)
        self.trending: TrendingTracker | None = None
        self.rebuild: WindowRebuild | None = None  # set by the runtime: which windows may miss history
        self._states_write: asyncio.Future[None] | None = None  # the last batch's, until the next append

    async def process(self, raws: list[RawEvent]) -> BatchResult:
        decoded, dead = decode_batch("actions", raws, self.topics.dead_letter)
        result = BatchResult(outputs=dead, valid=len(decoded), dead_letters=len(dead))
        if not decoded:
            return result
        items = [(self.keyed(a), raw.partition, raw.offset) for a, raw in decoded]
        await self.settle_states()  # the append returns the states: the last batch's must be written
        try:
            updates = await redis_call(
                "append_actions", lambda: self.store.append_actions(items), self.metrics
            )
        except Exception as exc:
            log.error("window append failed, dead-lettering batch", extra={"error_class": type(exc).__name__})
            return self._dead(result, decoded, "window", exc)
        by_user: dict[str, list[Action]] = {}
        partition_of: dict[str, int] = {}
        for a, p, _ in items:
            by_user.setdefault(a.user_id, []).append(a)
            partition_of[a.user_id] = p
        predictor = self.engine.predictor("behavior")
        version, each = predictor.version, self.settings.model.behavior_per_event
        users = [u for u in by_user if u in updates and updates[u].window]
        jobs = [plan_user(updates[u], by_user[u], predictor, each) for u in users]
        try:
            results = (
                await self.engine.behavior(
                    predictor, jobs, self.settings.model.behavior_horizon, self.settings.model.beam_size
                )
                if jobs
                else []
            )
        except Exception as exc:
            log.error("behavior inference failed", extra={"error_class": type(exc).__name__})
            return self._dead(result, decoded, "inference", exc)
        targets = await self._targets(predictor, items, updates, users)
        states: dict[str, tuple[bytes, str, float]] = {}
        stamp = BatchStamp()  # one emit time and one checked model version for the batch's records
        for user, job, res in zip(users, jobs, results, strict=True):
            self._emit_user(
                result, user, by_user[user], updates[user], job, res, version, decoded, targets.get(user),
                self._complete(updates[user], partition_of[user]), stamp,
            )
            blob = res.state_bytes if res.state_bytes is not None else predictor.state_to_bytes(res.state)
            states[user] = (blob, version, job.window[-1].ts)

        if states:  # written while this batch is delivered; the next batch's append waits for it
            self._states_write = asyncio.ensure_future(self._put_states(states))
        return result

    async def settle_states(self) -> None:
        """Wait for the last batch's state write, if one is in flight (it never raises: `_put_states`)."""
        pending, self._states_write = self._states_write, None
        if pending is not None:
            await pending

    async def _put_states(self, states: dict[str, tuple[bytes, str, float]]) -> None:
        """Cache the batch's encoder states, in the background of its delivery; the next batch's append
        waits for the write first, so states are written in batch order and read after they are written.
        Safe before its outputs are acknowledged: the windows they summarise are already written, and a
        redelivered batch (its events already applied) advances the cached state by nothing and emits the
        same predictions. Safe if it never lands (a crash): a state is used only when its timestamp is the
        window's action before the new ones (`plan_user`), else the window is re-encoded. A failure (not an
        outage: those are waited out) is logged and leaves the older state."""
        try:
            await redis_call("put_states", lambda: self.store.put_states(states), self.metrics)
        except Exception as exc:
            log.warning("put_states failed", extra={"error_class": type(exc).__name__})

    def _complete(self, update: UserUpdate, partition: int) -> bool:
        """False when the user's window may miss history the input topic no longer retains (rebuilt)."""
        if self.rebuild is None:
            return True
        w = self.settings.window
        return window_complete(
            [ts_to_ms(a.ts) for a in update.window],
            self.rebuild.since_ms("actions", partition),
            max_actions=w.max_actions,
            max_age_ms=w.max_age_s * 1000,
        )

    def keyed(self, action: Action) -> Action:
        """Pseudonymise the actor and the target alike (targets are user ids too)."""
        key = self.user_key(action.user_id)
        target = self.user_key(action.target_id) if action.target_id else action.target_id
        if key == action.user_id and target == action.target_id:
            return action
        return action.model_copy(update={"user_id": key, "target_id": target})

    _keyed = keyed  # the name tests used before the rebuild needed it

    async def _targets(
        self,
        predictor: BehaviorModel,
        items: list[tuple[Action, int, int]],
        updates: dict[str, UserUpdate],
        users: list[str],
    ) -> dict[str, list[tuple[str, float]]]:
        """Count the batch's new targets in the trending tracker, then rank each user's next targets (top
        model.behavior_targets). Optional output: a failure is logged and the signals go without targets."""
        k = self.settings.model.behavior_targets
        if not predictor.has_targets or k <= 0:
            return {}
        if self.trending is None:
            self.trending = predictor.new_trending()
        added = {e for u in updates.values() for e in u.added}
        for a, _, _ in items:
            if a.target_id and a.event_id in added:
                self.trending.observe(a.target_id, a.created_at.timestamp())
        queries = [target_query(updates[u]) for u in users]
        now = max((q.now for q in queries), default=0.0)
        try:
            ranked = await self.engine.run_inline(
                "behavior", predictor.predict_targets, queries, self.trending.current(now), k
            )
        except Exception as exc:
            log.error("target ranking failed", extra={"error_class": type(exc).__name__})
            return {}
        return dict(zip(users, ranked, strict=True))

    def _emit_user(
        self,
        result: BatchResult,
        user: str,
        actions: list[Action],
        update: UserUpdate,
        job: UserJob,
        res: UserResult,
        version: str,
        decoded: list[tuple[Any, RawEvent]],
        targets: list[tuple[str, float]] | None = None,
        complete: bool = True,
        stamp: BatchStamp | None = None,
    ) -> None:
        """The user's behavior records, built as dicts straight to orjson (signal_json; the same bytes as
        behavior_record + output_record, tests/unit/workers/test_signal_json.py)."""
        stamp = stamp or BatchStamp()
        horizon = self.settings.model.behavior_horizon
        new_ids = set(update.added)  # built once, not per action
        added = [a for a in actions if a.event_id in new_ids]
        groups: list[list[Action]] = []
        if len(res.predictions) > 1:  # per-event mode: intermediate points cover one new action each
            groups = [[a] for a in added[: len(res.predictions) - 1]]
        covered = {a.event_id for g in groups for a in g}
        groups.append([a for a in actions if a.event_id not in covered])
        last = min(len(res.predictions), len(groups)) - 1
        for i, ((_, output), group) in enumerate(zip(res.predictions, groups, strict=False)):
            if not group:
                continue
            try:  # targets are ranked at the user's latest action: they go with the last prediction
                source = group[-1]
                body = behavior_body(
                    stamp, stamp.version(version), user, source.event_id, source.created_at,
                    list(dict.fromkeys(a.event_id for a in group)), output.actions,
                    output.sequence_probability, horizon, len(job.window), targets if i == last else None,
                    complete,
                )
                add_record(result, "behavior", self.topics.behavior, user, body, stamp)
            except Exception as exc:  # a record that fails its schema is a bug: keep the inputs replayable
                ids = {a.event_id for a in group}
                self._dead(result, [(a, r) for a, r in decoded if a.event_id in ids], "emit", exc)

