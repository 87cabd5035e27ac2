"""Posts batch handler: decode, sentiment per post, thread windows, rumour score per touched thread."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

import numpy as np

from seqsignal.models.core.serving import RumorModel
from seqsignal.schemas.events import (
    SENTIMENT_LABELS,
    Post,
    RumorFlag,
    SentimentProbabilities,
    SentimentSignal,
)
from seqsignal.workers.pipelines.batch import BatchResult, Pipeline
from seqsignal.workers.pipelines.batch import clip_probability as _clip
from seqsignal.workers.pipelines.dead_letter import decode_batch
from seqsignal.workers.pipelines.delivery import redis_call
from seqsignal.workers.pipelines.emitter import rumor_should_emit
from seqsignal.workers.pipelines.records import RawEvent
from seqsignal.workers.pipelines.signal_json import BatchStamp, add_record, rumor_body, sentiment_body
from seqsignal.workers.state.window_store import ThreadUpdate

log = logging.getLogger(__name__)
VERACITY_CLASSES = ("true", "false", "unverified")  # RumorModel.veracity column order


def _provenance(version: str, post: Post) -> dict[str, Any]:
    """The fields every post signal shares: the model version and the post that triggered it."""
    return {
        "model_version": version,
        "source_event_id": post.post_id,
        "event_time": post.created_at,
        "emit_time": datetime.now(UTC),
    }


def sentiment_record(post: Post, probs: np.ndarray, version: str) -> SentimentSignal:
    """The sentiment signal of one post from its (3,) probabilities (negative, neutral, positive)."""
    p = [_clip(x) for x in probs]
    return SentimentSignal(
        **_provenance(version, post),
        post_id=post.post_id,
        root_id=post.root_id,
        label=SENTIMENT_LABELS[int(np.argmax(probs))],
        probabilities=SentimentProbabilities(negative=p[0], neutral=p[1], positive=p[2]),
    )


def rumor_record(
    update: ThreadUpdate, latest: Post, score: float, version: str, threshold: float,
    veracity: np.ndarray | None = None,
) -> RumorFlag:
    """The rumour flag of one thread after this batch, triggered by its latest post in the batch;
    `veracity` (3,) P(true, false, unverified | rumour), set on flagged threads."""
    return RumorFlag(
        veracity=None if veracity is None else dict(zip(VERACITY_CLASSES, map(_clip, veracity), strict=True)),
        **_provenance(version, latest),
        root_id=update.root_id,
        score=_clip(score),
        flagged=score >= threshold,
        threshold=threshold,
        replies_seen=update.replies_seen,
    )


class PostPipeline(Pipeline):
    """Handles one batch of raw post records; talks to Redis and the inference thread, never to Kafka."""

    async def process(self, raws: list[RawEvent]) -> BatchResult:
        decoded, dead = decode_batch("posts", raws, self.topics.dead_letter)
        result = BatchResult(outputs=dead, valid=len(decoded), dead_letters=len(dead))
        if not decoded:
            return result
        posts: list[Post] = [p for p, _ in decoded]
        try:
            items = [(p, raw.partition, raw.offset) for p, raw in decoded]
            threads = await redis_call("append_posts", lambda: self.store.append_posts(items), self.metrics)
        except Exception as exc:
            log.error("thread append failed, dead-lettering batch", extra={"error_class": type(exc).__name__})
            return self._dead(result, decoded, "window", exc)
        sentiment = self.engine.predictor("sentiment")
        rumor = self.engine.predictor("rumor")
        scored = [t for t in threads.values() if t.source_text is not None]
        try:
            probs = await self.engine.run("sentiment", sentiment.predict, [p.text for p in posts])  # (B, 3)
            scores = await self._scores(rumor, scored)  # (T,)
            veracity = await self._veracity(rumor, scored, scores)
        except Exception as exc:
            log.error("post inference failed", extra={"error_class": type(exc).__name__})
            return self._dead(result, decoded, "inference", exc)
        stamp = BatchStamp()  # one emit time and one checked model version per batch
        rows, best = np.asarray(probs).tolist(), np.argmax(probs, axis=1).tolist()  # (B, 3), (B,)
        for (post, raw), p, b in zip(decoded, rows, best, strict=True):
            try:
                body = sentiment_body(stamp, stamp.version(sentiment.version), post, p, b)
                add_record(result, "sentiment", self.topics.sentiment, post.post_id, body, stamp)
            except Exception as exc:
                self._dead(result, [(post, raw)], "emit", exc)
        emitted = self._rumor_flags(result, decoded, rumor, scored, scores, veracity, stamp)

        async def put_scores() -> None:
            # Only after the flags are acknowledged: a crash before this re-emits, never skips a flag.
            await redis_call("put_thread_scores", lambda: self.store.put_thread_scores(emitted), self.metrics)

        if emitted:
            result.after_ack.append(put_scores)
        return result

    async def _scores(self, rumor: RumorModel, scored: list[ThreadUpdate]) -> np.ndarray:
        """Rumour scores of the touched threads that have their source post (none: no model call)."""
        if not scored:
            return np.zeros(0)
        return await self.engine.run(
            "rumor", rumor.score, [t.source_text for t in scored], [t.replies for t in scored]
        )

    def _threshold(self, rumor: RumorModel) -> float:
        # The operator's threshold wins; otherwise the one the model chose at training time.
        model = self.settings.model
        return model.rumor_threshold if model.rumor_threshold is not None else rumor.decision_threshold

    async def _veracity(self, rumor: RumorModel, scored: list[ThreadUpdate],
                        scores: np.ndarray) -> dict[str, np.ndarray]:
        """root id -> (3,) veracity of the flagged threads whose flag will be emitted (one batched call)."""
        threshold, step = self._threshold(rumor), self.settings.model.rumor_step
        todo = [t for t, s in zip(scored, scores, strict=True) if s >= threshold
                and rumor_should_emit(float(s), t.last_score, t.last_flagged, threshold, step)]
        if not todo:
            return {}
        ver = await self.engine.run(
            "rumor", rumor.veracity, [t.source_text for t in todo], [t.replies for t in todo]
        )
        return {t.root_id: v for t, v in zip(todo, ver, strict=True)}

    def _rumor_flags(
        self,
        result: BatchResult,
        decoded: list[tuple[Post, RawEvent]],
        rumor: RumorModel,
        scored: list[ThreadUpdate],
        scores: np.ndarray,
        veracity: dict[str, np.ndarray] | None = None,
        stamp: BatchStamp | None = None,
    ) -> dict[str, tuple[float, bool]]:
        """Add the flags worth re-emitting to `result`; returns root id -> (score, flagged) of those added."""
        stamp = stamp or BatchStamp()
        latest: dict[str, Post] = {p.root_id: p for p, _ in decoded}  # batch order: each thread's last post
        model = self.settings.model
        threshold = self._threshold(rumor)
        emitted: dict[str, tuple[float, bool]] = {}
        for thread, score in zip(scored, scores, strict=True):
            if not rumor_should_emit(
                float(score), thread.last_score, thread.last_flagged, threshold, model.rumor_step
            ):
                continue
            try:
                ver = (veracity or {}).get(thread.root_id)
                classes = None if ver is None else dict(zip(VERACITY_CLASSES, np.asarray(ver).tolist(),
                                                            strict=True))
                flag = rumor_body(
                    stamp, stamp.version(rumor.version), latest[thread.root_id], thread.root_id, float(score),
                    threshold, thread.replies_seen, classes,
                )
                add_record(result, "rumor", self.topics.rumor, thread.root_id, flag, stamp)
                emitted[thread.root_id] = (flag["score"], flag["flagged"])
            except Exception as exc:
                members = [(p, r) for p, r in decoded if p.root_id == thread.root_id]
                self._dead(result, members, "emit", exc)
        return emitted

    def _dead(
        self, result: BatchResult, decoded: list[tuple[Any, RawEvent]], stage: Any, exc: BaseException
    ) -> BatchResult:
        return result.add_dead_letters(decoded, stage, exc, self.topics.dead_letter)
