"""After start-up the worker freezes its heap: full collections no longer walk faust, torch and the models."""

from __future__ import annotations

import gc

from seqsignal.workers.stream.agents import freeze_heap


def test_freeze_heap_moves_the_live_heap_to_the_permanent_generation() -> None:
    gc.unfreeze()
    assert gc.get_freeze_count() == 0
    try:
        freeze_heap()
        frozen = gc.get_freeze_count()
        assert frozen > 1000  # every tracked object alive now (this test process holds thousands)
        assert sum(gc.get_count()) < frozen  # what a collection still scans is what came after
    finally:
        gc.unfreeze()
