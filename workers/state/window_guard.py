"""The guard every window append passes: the items' input partitions are whole under Redis's epoch first.

`WindowRebuild` (window_rebuild.py) implements it; `WindowStore.append_*` (window_store.py) calls it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal, Protocol

Stream = Literal["actions", "posts"]


class WindowGuard(Protocol):
    """Runs before every guarded append: makes the windows of the items' input partitions whole first
    (workers/state/window_rebuild.py rebuilds them after Redis lost its data)."""

    async def ensure(self, stream: Stream, starts: Mapping[int, int]) -> str:
        """`starts`: partition -> the first offset the append is about to apply; returns the epoch under
        which they are whole."""
        ...

    def known_epoch(self, stream: Stream, starts: Mapping[int, int]) -> str | None:
        """The epoch under which this process last made every partition of `starts` whole (no round trip),
        or None: the append then checks it atomically (`EpochChanged`)."""
        ...


class EpochChanged(Exception):
    """The append found another epoch marker than the one it was given: it wrote nothing."""


def first_offsets(items: Sequence[tuple[Any, int, int]]) -> dict[int, int]:
    """Partition -> the lowest offset among (event, partition, offset) items."""
    out: dict[int, int] = {}
    for _, p, o in items:
        out[p] = min(o, out.get(p, o))
    return out
