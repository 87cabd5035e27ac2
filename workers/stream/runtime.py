"""The worker's composition root: Redis client, window store, models, pipelines and metrics, started once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from seqsignal.schemas.topics import Topics
from seqsignal.workers.input_history import TopicHistory
from seqsignal.workers.pipelines.actions import ActionPipeline
from seqsignal.workers.pipelines.posts import PostPipeline
from seqsignal.workers.serving.inference import InferenceEngine
from seqsignal.workers.settings import Settings
from seqsignal.workers.state.privacy import pseudonymize
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_rebuild import Source, WindowRebuild, action_items, post_items
from seqsignal.workers.state.window_store import Stream, WindowStore
from seqsignal.workers.stream.metrics import WorkerMetrics

log = logging.getLogger(__name__)


def user_key_function(settings: Settings) -> Callable[[str], str]:
    """Identity, or the keyed pseudonym of a user id when privacy.pseudonymize is on."""
    privacy = settings.privacy
    if not privacy.pseudonymize:
        return lambda user_id: user_id
    if privacy.hmac_key is None:
        raise ValueError("privacy.pseudonymize needs privacy.hmac_key")
    key = privacy.hmac_key.get_secret_value().encode()
    return lambda user_id: pseudonymize(user_id, key)


class Runtime:
    """Everything the agents need; `start()` connects Redis and loads the models (idempotent)."""

    def __init__(self, settings: Settings, metrics: WorkerMetrics | None = None) -> None:
        self.settings = settings
        self.topics = Topics(prefix=settings.kafka.topic_prefix)
        self.metrics = metrics or WorkerMetrics()
        self.redis: Any = None
        self.engine = InferenceEngine(settings.model, self.metrics)
        self.actions: ActionPipeline | None = None
        self.posts: PostPipeline | None = None
        self.rebuild: WindowRebuild | None = None
        self.group_joined = False
        self._started = asyncio.Event()
        self._lock = asyncio.Lock()

    @property
    def started(self) -> bool:
        return self._started.is_set()

    async def start(self, tasks: tuple[str, ...] = ()) -> None:
        """Connect Redis (a PING) and build the pipelines once, then make sure `tasks` have their models."""
        async with self._lock:
            if not self._started.is_set():
                self.redis = async_client(self.settings.redis)
                await self.redis.ping()
                store = WindowStore(self.redis, self.settings.window, self.settings.redis.key_prefix)
                self.actions = ActionPipeline(
                    store,
                    self.engine,
                    self.settings,
                    self.topics,
                    self.metrics,
                    user_key=user_key_function(self.settings),
                )
                self.posts = PostPipeline(store, self.engine, self.settings, self.topics, self.metrics)
                self.rebuild = self._window_rebuild(store, self.actions)
                store.guard = self.actions.rebuild = self.rebuild
                self._started.set()
                log.info("worker runtime started", extra={"device": self.engine.device})
            for task in tasks:
                await self.engine.ensure(task)

    def _window_rebuild(self, store: WindowStore, actions: ActionPipeline) -> WindowRebuild:
        """Windows rebuilt from the input topics after Redis lost its data (docs/window-rebuild.md): actions
        from `window.max_age_s` back, posts (threads have no age bound) from `window.idle_ttl_s` back."""
        w = self.settings.window
        sources: dict[Stream, Source] = {
            "actions": Source(
                self.topics.actions,
                w.max_age_s * 1000,
                lambda partition, records: action_items(partition, records, actions.keyed),
                store.apply_actions,
            ),
            "posts": Source(self.topics.posts, w.idle_ttl_s * 1000, post_items, store.apply_posts),
        }
        history = TopicHistory(self.settings.kafka)
        return WindowRebuild(self.redis, self.settings.redis.key_prefix, sources, history)

    async def redis_ok(self, timeout_s: float = 1.0) -> bool:
        """True when Redis answers a PING within `timeout_s`."""
        if self.redis is None:
            return False
        try:
            return bool(await asyncio.wait_for(self.redis.ping(), timeout_s))
        except Exception:
            return False

    async def ready(self) -> dict[str, bool]:
        """The readiness checks: consumer group joined, models warm, Redis reachable."""
        return {
            "group_joined": self.group_joined,
            "models_warm": self.engine.warm,
            "redis": await self.redis_ok(),
        }

    async def stop(self) -> None:
        """Close Redis and the inference thread (after the agents have drained and the last state write)."""
        if self.actions is not None:
            await self.actions.settle_states()
        if self.redis is not None:
            await self.redis.aclose()
        self.engine.close()
