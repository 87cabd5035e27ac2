"""Online behavior baselines: global majority, per-user majority, first-order Markov chain with backoff."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Protocol

from seqsignal.schemas.events import ActionType


class OnlineBaseline(Protocol):
    """Sees every event in time order (`update`) and predicts a user's next k actions before each one."""

    name: str

    def predict(self, user: str, k: int) -> list[ActionType]: ...

    def update(self, user: str, action: ActionType) -> None: ...


def _argmax(counts: Counter[ActionType], fallback: Counter[ActionType]) -> ActionType | None:
    """Most frequent action; ties broken by the fallback counts, then by name (deterministic)."""
    if not counts:
        return None
    return max(counts, key=lambda a: (counts[a], fallback[a], a))


class GlobalMajority:
    """Always the most frequent action type seen so far."""

    name = "global_majority"

    def __init__(self) -> None:
        self.counts: Counter[ActionType] = Counter()

    def top(self) -> ActionType:
        return _argmax(self.counts, self.counts) or "repost"

    def predict(self, user: str, k: int) -> list[ActionType]:
        return [self.top()] * k

    def update(self, user: str, action: ActionType) -> None:
        self.counts[action] += 1


class UserMajority:
    """The user's most frequent action so far; the global majority for unseen users."""

    name = "user_majority"

    def __init__(self) -> None:
        self.glob = GlobalMajority()
        self.user: defaultdict[str, Counter[ActionType]] = defaultdict(Counter)

    def predict(self, user: str, k: int) -> list[ActionType]:
        c = self.user.get(user)
        top = _argmax(c, self.glob.counts) if c else None
        return [top or self.glob.top()] * k

    def update(self, user: str, action: ActionType) -> None:
        self.glob.update(user, action)
        self.user[user][action] += 1


class MarkovChain:
    """First-order Markov chain per user, backing off to the global chain, then to majorities.

    k steps are decoded greedily: each predicted action becomes the state for the next step.
    """

    name = "markov"

    def __init__(self) -> None:
        self.majority = UserMajority()
        self.last: dict[str, ActionType] = {}
        self.user: defaultdict[tuple[str, ActionType], Counter[ActionType]] = defaultdict(Counter)
        self.glob: defaultdict[ActionType, Counter[ActionType]] = defaultdict(Counter)

    def _next(self, user: str, prev: ActionType | None) -> ActionType:
        if prev is None:
            return self.majority.predict(user, 1)[0]
        c = self.user.get((user, prev))
        nxt = _argmax(c, self.glob[prev]) if c else None
        if nxt is None:
            nxt = _argmax(self.glob.get(prev, Counter()), self.majority.glob.counts)
        return nxt or self.majority.predict(user, 1)[0]

    def predict(self, user: str, k: int) -> list[ActionType]:
        out: list[ActionType] = []
        prev = self.last.get(user)
        for _ in range(k):
            prev = self._next(user, prev)
            out.append(prev)
        return out

    def update(self, user: str, action: ActionType) -> None:
        prev = self.last.get(user)
        if prev is not None:
            self.user[(user, prev)][action] += 1
            self.glob[prev][action] += 1
        self.last[user] = action
        self.majority.update(user, action)


def all_baselines() -> list[OnlineBaseline]:
    return [GlobalMajority(), UserMajority(), MarkovChain()]
