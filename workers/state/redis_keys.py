"""The Redis key format: every key seqsignal writes is built here and nowhere else.

Layout (``P`` is ``RedisSettings.key_prefix``, default ``ss:``; ``{...}`` is a Redis Cluster hash tag so
that every key of one user or one thread lands in one slot and one Lua script may touch them all):

- ``P u:{<user>}``      string, one per user: the packed action window, the (partition, offset)
                        high-water mark and the cached encoder state (format in ``window_rules``).
                        TTL ``window.idle_ttl_s``, refreshed on every append.
- ``P t:{<root>}``      hash, one per thread: ``src`` source text, ``seen`` distinct replies ever seen,
                        ``hwp``/``hwo`` high-water mark, ``score``/``flag`` last emitted rumour score,
                        ``r:<post id>`` text of each kept reply. TTL ``window.idle_ttl_s``.
- ``P t:{<root>}:r``    sorted set of kept reply post ids scored by created time (ms). Same TTL.
- ``P {epoch}``         string: this Redis' epoch, a random id set with SET NX by the first worker that
                        finds none. Missing on a Redis that had one = the data was lost
                        (docs/window-rebuild.md). No TTL.
- ``P {epoch}:w:<topic>:<partition>``  string ``<epoch> <since ms>``: the input partition's windows were
                        rebuilt (or found whole) under that epoch, complete from that log time (0: whole).
                        Same slot as the epoch (one node on a cluster: they are lost together). No TTL.

An id is used verbatim inside the tag unless it contains ``{``, ``}`` or ``~`` (which would break the
tag or be ambiguous); such ids are written as ``~`` + urlsafe base64 of their UTF-8 bytes.
"""

from __future__ import annotations

import base64
import re

_SAFE = re.compile(r"[^{}~]+")


def hash_tag(entity_id: str) -> str:
    """The id as it appears between the braces of a hash tag (escaped when it would break the tag)."""
    if _SAFE.fullmatch(entity_id):
        return entity_id
    return "~" + base64.urlsafe_b64encode(entity_id.encode()).decode().rstrip("=")


def user_key(prefix: str, user_id: str) -> str:
    """The single key that holds everything about one user (window, high-water mark, encoder state)."""
    return f"{prefix}u:{{{hash_tag(user_id)}}}"


def thread_key(prefix: str, root_id: str) -> str:
    """The hash of one thread (source text, counters, reply texts, last score)."""
    return f"{prefix}t:{{{hash_tag(root_id)}}}"


def thread_replies_key(prefix: str, root_id: str) -> str:
    """The sorted set of one thread's kept reply ids, scored by created time in ms."""
    return f"{prefix}t:{{{hash_tag(root_id)}}}:r"


def epoch_key(prefix: str) -> str:
    """The marker whose disappearance tells that Redis lost its data."""
    return f"{prefix}{{epoch}}"


def partition_key(prefix: str, topic: str, partition: int) -> str:
    """The epoch under which one input partition's windows were last made whole (same slot as the epoch)."""
    return f"{prefix}{{epoch}}:w:{topic}:{partition}"


def user_keys(prefix: str, user_id: str) -> list[str]:
    """Every key that holds data about one user (what `forget` deletes)."""
    return [user_key(prefix, user_id)]


def thread_keys(prefix: str, root_id: str) -> list[str]:
    """Every key of one thread, hash first (the order the Lua scripts expect)."""
    return [thread_key(prefix, root_id), thread_replies_key(prefix, root_id)]


def all_keys_pattern(prefix: str) -> str:
    """A SCAN MATCH pattern for every key this app writes under `prefix` (tests, cleanup)."""
    escaped = re.sub(r"([*?\[\]\\])", r"\\\1", prefix)
    return f"{escaped}*"
