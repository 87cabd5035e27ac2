"""`seqsignal forget USER` on the real stack, privacy on: no trace of the user in Redis or the buffer."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from pathlib import Path

import redis
from pydantic import SecretStr
from support.trainer_harness import higgs_actions, run_cli, send_actions
from support.worker_harness import worker_env

from seqsignal.schemas.events import Action
from seqsignal.schemas.topics import Topics
from seqsignal.workers.settings import PrivacySettings, Settings
from seqsignal.workers.state.privacy import pseudonymize
from seqsignal.workers.state.redis_client import async_client
from seqsignal.workers.state.window_store import WindowStore
from seqsignal.workers.stream.runtime import user_key_function
from seqsignal.workers.trainer.service import BUFFER_FILE, Trainer, TrainerConfig

KEY = "test-hmac-key-0123456789abcdef"


async def _fill_redis(settings: Settings, actions: list[Action]) -> None:
    """Windows and cached states keyed exactly as the worker keys them (pseudonyms)."""
    key_of = user_key_function(settings)
    client = async_client(settings.redis)
    try:
        store = WindowStore(client, settings.window, settings.redis.key_prefix)
        keyed = [a.model_copy(update={"user_id": key_of(a.user_id),
                                      "target_id": key_of(a.target_id) if a.target_id else None})
                 for a in actions]  # the worker pseudonymises targets too (they are user ids)
        items = [(a, 0, i) for i, a in enumerate(keyed)]
        updates = await store.append_actions(items)
        await store.put_states({u: (b"\x00" * 16, "v1", 0.0) for u in updates})
    finally:
        await client.aclose()


def _redis_dump(client: redis.Redis, prefix: str) -> bytes:
    out = b""
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        out += key + b"=" + (client.dump(key) or b"") + b"\n"
    return out


def test_forget_removes_user_from_redis_and_buffer(settings: Settings, topics: Topics,
                                                   redis_client: redis.Redis, redis_prefix: str,
                                                   tmp_path: Path) -> None:
    s = settings.model_copy(update={"privacy": PrivacySettings(pseudonymize=True, hmac_key=SecretStr(KEY))})
    actions = higgs_actions(0, 3000)
    user, n_user = Counter(a.user_id for a in actions).most_common(1)[0]
    alias = pseudonymize(user, KEY.encode())
    asyncio.run(_fill_redis(s, actions))
    send_actions(s, topics, actions)
    state = tmp_path / "trainer"
    trainer = Trainer(s, TrainerConfig(state_dir=state, tasks=("behavior",)))
    try:
        trainer.catch_up(timeout_s=120)
        assert trainer.buffer.count() == len(actions)
        assert alias in trainer.buffer.users() and user not in trainer.buffer.users()  # pseudonymised
    finally:
        trainer.close()
    before = _redis_dump(redis_client, redis_prefix)
    assert alias.encode() in before and user.encode() not in before

    env = worker_env(s, tmp_path / "registry", SEQSIGNAL_PRIVACY__PSEUDONYMIZE="true",
                     SEQSIGNAL_PRIVACY__HMAC_KEY=KEY)
    r = run_cli(env, "forget", user, "--state-dir", str(state))
    assert r.returncode == 0, r.stderr[-3000:]
    assert json.loads(r.stdout.strip().splitlines()[-1]) == {"redis_keys": 1, "buffer_rows": n_user}
    assert user not in r.stdout + r.stderr and alias not in r.stdout + r.stderr  # never echoed or logged

    after = _redis_dump(redis_client, redis_prefix)
    assert alias.encode() not in after and user.encode() not in after
    others = {pseudonymize(a.user_id, KEY.encode()) for a in actions} - {alias}
    assert sum(1 for _ in redis_client.scan_iter(match=f"{redis_prefix}u:*", count=1000)) == len(others)
    raw = b"".join(p.read_bytes() for p in state.glob(BUFFER_FILE + "*"))
    assert alias.encode() not in raw and user.encode() not in raw  # not even in freed pages or the WAL
    trainer = Trainer(s, TrainerConfig(state_dir=state, tasks=("behavior",)))
    try:
        assert trainer.buffer.count() == len(actions) - n_user and trainer.buffer.users() == others
    finally:
        trainer.close()
