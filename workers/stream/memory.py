"""The worker's malloc arenas: at most two, set before the threads start (glibc only).

glibc gives every thread that allocates under contention an arena of its own (up to 8 per core), and memory
freed in one arena is not reused by another. The worker allocates from the event-loop thread (the behavior
batch runs inline), the inference thread (text models, model loads) and the Kafka consumer thread; with an
arena each its peak RSS was 700 MiB on the bench's drain, 682 MiB with two (`MALLOC_ARENA_MAX=2`, same run,
docs/benchmarks.md). `MALLOC_ARENA_MAX` in the environment, when set, wins (glibc read it at start).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import sys

M_ARENA_MAX = -8  # glibc's mallopt parameter number (malloc.h)
WORKER_ARENAS = 2


def limit_malloc_arenas(arenas: int = WORKER_ARENAS) -> bool:
    """Cap glibc's malloc arenas for this process; True when set (False off glibc or when the environment
    already chose). Call before any thread starts: arenas already made stay."""
    if not sys.platform.startswith("linux") or os.environ.get("MALLOC_ARENA_MAX"):
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        return bool(libc.mallopt(M_ARENA_MAX, arenas))
    except (OSError, AttributeError):  # not glibc (musl has no mallopt arenas)
        return False
