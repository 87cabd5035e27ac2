"""Topic names (versioned) and partition keys: the one place that names them."""

from __future__ import annotations

from dataclasses import dataclass

from seqsignal.schemas.events import Action, Post


@dataclass(frozen=True)
class Topics:
    """Topic names, optionally prefixed (tests give each run its own prefix)."""

    prefix: str = ""

    def _name(self, base: str) -> str:
        return f"{self.prefix}{base}"

    @property
    def posts(self) -> str:
        return self._name("events.posts.v1")

    @property
    def actions(self) -> str:
        return self._name("events.actions.v1")

    @property
    def labels(self) -> str:
        return self._name("events.labels.v1")

    @property
    def dead_letter(self) -> str:
        return self._name("events.deadletter.v1")

    @property
    def dead_letter_replays(self) -> str:
        """Ledger of replayed dead letters (compacted, keyed by the dead letter's partition/offset)."""
        return self._name("events.deadletter.replays.v1")

    @property
    def behavior(self) -> str:
        return self._name("signals.behavior.v1")

    @property
    def sentiment(self) -> str:
        return self._name("signals.sentiment.v1")

    @property
    def rumor(self) -> str:
        return self._name("signals.rumor.v1")

    @property
    def model_updates(self) -> str:
        return self._name("models.updates.v1")

    def all(self) -> list[str]:
        """Every topic name, inputs, outputs and model updates (for creating and deleting them)."""
        return [getattr(self, name) for name, v in vars(Topics).items() if isinstance(v, property)]

    def inputs(self) -> dict[str, str]:
        """Input kind ('posts', 'actions', 'labels') -> topic name."""
        return {"posts": self.posts, "actions": self.actions, "labels": self.labels}


def action_key(action: Action) -> bytes:
    """Actions are keyed by user id: one user's window is owned by one partition."""
    return action.user_id.encode()


def post_key(post: Post) -> bytes:
    """Posts are keyed by thread root id: a thread's replies stay in order on one partition."""
    return post.root_id.encode()
