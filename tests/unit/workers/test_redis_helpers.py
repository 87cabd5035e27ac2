"""Redis key format, client construction from settings (no secrets leaked) and the retry helper."""

from __future__ import annotations

import asyncio
import logging

import pytest
import redis.exceptions
from pydantic import SecretStr
from redis.crc import key_slot

from seqsignal.workers.retry import with_retry
from seqsignal.workers.settings import RedisSettings
from seqsignal.workers.state import redis_keys
from seqsignal.workers.state.redis_client import async_client, client_kwargs, redacted_url, sync_client


@pytest.mark.parametrize("entity", ["123", "user:7", "a{b", "}x", "{}", "~tilde", "é ü"])
def test_every_key_of_one_entity_shares_a_slot_and_ids_stay_distinct(entity: str) -> None:
    keys = redis_keys.thread_keys("ss:", entity) + redis_keys.user_keys("ss:", entity)
    assert len({key_slot(k.encode()) for k in keys}) == 1
    tag = redis_keys.hash_tag(entity)
    assert "{" not in tag and "}" not in tag
    assert redis_keys.user_key("ss:", entity) == f"ss:u:{{{tag}}}"
    assert redis_keys.user_key("ss:", entity) != redis_keys.user_key("ss:", entity + "x")


def test_plain_ids_are_verbatim_and_escaped_ids_cannot_collide_with_plain_ones() -> None:
    assert redis_keys.user_key("p:", "42") == "p:u:{42}"
    assert redis_keys.thread_replies_key("p:", "9") == "p:t:{9}:r"
    assert redis_keys.hash_tag("}x").startswith("~")
    assert redis_keys.hash_tag("~abc") != "~abc"
    assert redis_keys.all_keys_pattern("a*b:") == "a\\*b:*"


def test_client_kwargs_carry_auth_tls_and_timeouts_but_logs_do_not(caplog: pytest.LogCaptureFixture) -> None:
    s = RedisSettings(url="redis://h:6380/1", username="u", password=SecretStr("hunter2"), socket_timeout_s=2)
    kw = client_kwargs(s)
    assert kw["password"] == "hunter2" and kw["username"] == "u" and kw["socket_timeout"] == 2
    assert kw["decode_responses"] is False
    with caplog.at_level(logging.DEBUG):
        c = async_client(s)
        sc = sync_client(s)
    assert c.get_connection_kwargs()["password"] == "hunter2"
    assert sc.get_connection_kwargs()["db"] == 1
    assert "hunter2" not in caplog.text and "h:6380" in caplog.text
    with pytest.raises(ValueError, match="rediss"):
        client_kwargs(RedisSettings(ssl_ca_certs="/tmp/ca.pem"))
    assert "ssl_ca_certs" in client_kwargs(RedisSettings(url="rediss://h", ssl_ca_certs="/tmp/ca.pem"))


def test_redacted_url_hides_only_the_password() -> None:
    assert redacted_url("redis://u:secret@h:1/0") == "redis://u:***@h:1/0"
    assert redacted_url("redis://h:1/0") == "redis://h:1/0"


def test_with_retry_retries_transient_errors_then_gives_up() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise redis.exceptions.ConnectionError("down")
        return "ok"

    seen: list[int] = []
    assert (
        asyncio.run(with_retry(flaky, attempts=3, base_delay=0.001, on_retry=lambda n, e: seen.append(n)))
        == "ok"
    )
    assert len(calls) == 3 and seen == [1, 2]

    async def always() -> None:
        calls.append(1)
        raise redis.exceptions.TimeoutError("slow")

    calls.clear()
    with pytest.raises(redis.exceptions.TimeoutError):
        asyncio.run(with_retry(always, attempts=2, base_delay=0.001))
    assert len(calls) == 2

    async def bug() -> None:
        calls.append(1)
        raise KeyError("not transient")

    calls.clear()
    with pytest.raises(KeyError):
        asyncio.run(with_retry(bug, attempts=5, base_delay=0.001))
    assert len(calls) == 1

    async def down_then_up() -> str:
        calls.append(1)
        if len(calls) <= 50:
            raise redis.exceptions.ConnectionError("down")
        return "ok"

    calls.clear()  # attempts=None: no bound, the delay is capped
    assert asyncio.run(with_retry(down_then_up, attempts=None, base_delay=0.001, max_delay=0.001)) == "ok"
    assert len(calls) == 51
    with pytest.raises(ValueError):
        asyncio.run(with_retry(down_then_up, attempts=0, base_delay=0.001))


def test_redis_full_or_failing_over_is_an_outage_not_bad_data() -> None:
    """OOM under noeviction, READONLY during a failover, cluster TRYAGAIN/CLUSTERDOWN: retried, never raised
    to the pipeline (which would dead-letter valid events)."""
    for error in (
        redis.exceptions.OutOfMemoryError("OOM command not allowed"),
        redis.exceptions.ReadOnlyError("READONLY"),
        redis.exceptions.TryAgainError("TRYAGAIN"),
        redis.exceptions.ClusterDownError("CLUSTERDOWN"),
        redis.exceptions.BusyLoadingError("LOADING"),
    ):
        calls: list[int] = []

        async def flaky(error: Exception = error, calls: list[int] = calls) -> str:
            calls.append(1)
            if len(calls) < 4:
                raise error
            return "ok"

        assert asyncio.run(with_retry(flaky, attempts=None, base_delay=0.001, max_delay=0.001)) == "ok"
        assert len(calls) == 4
