"""Redis clients (asyncio for the worker, sync for the CLI) built from RedisSettings; secrets never logged."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import redis
import redis.asyncio as aioredis

from seqsignal.workers.settings import RedisSettings

log = logging.getLogger(__name__)


def redacted_url(url: str) -> str:
    """The URL with any password replaced by ``***`` (safe to log)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def client_kwargs(settings: RedisSettings) -> dict[str, Any]:
    """Keyword arguments shared by every client kind (bytes responses: the window store needs them)."""
    kw: dict[str, Any] = {
        "socket_timeout": settings.socket_timeout_s,
        "socket_connect_timeout": settings.socket_timeout_s,
        "health_check_interval": 30,
        "decode_responses": False,
    }
    if settings.username is not None:
        kw["username"] = settings.username
    if settings.password is not None:
        kw["password"] = settings.password.get_secret_value()
    if settings.ssl_ca_certs is not None:
        if not settings.url.startswith("rediss://"):
            raise ValueError("redis.ssl_ca_certs is set but redis.url is not rediss:// (TLS)")
        kw["ssl_ca_certs"] = str(settings.ssl_ca_certs)
    return kw


def _describe(settings: RedisSettings) -> str:
    kind = "cluster" if settings.cluster else "server"
    auth = "with auth" if settings.password is not None else "no auth"
    return f"{kind} {redacted_url(settings.url)} ({auth})"


def async_client(settings: RedisSettings) -> aioredis.Redis | aioredis.RedisCluster:
    """An asyncio client for a single server or a cluster (connects lazily, on first command)."""
    log.info("redis client: %s", _describe(settings))
    kw = client_kwargs(settings)
    if settings.cluster:
        kw.pop("health_check_interval")  # not a cluster-level option
        return aioredis.RedisCluster.from_url(settings.url, **kw)
    return aioredis.Redis.from_url(settings.url, **kw)


def sync_client(settings: RedisSettings) -> redis.Redis | redis.RedisCluster:
    """A blocking client for CLI commands (forget, check-config, benchmarks)."""
    log.info("redis client: %s", _describe(settings))
    kw = client_kwargs(settings)
    if settings.cluster:
        kw.pop("health_check_interval")
        return redis.RedisCluster.from_url(settings.url, **kw)
    return redis.Redis.from_url(settings.url, **kw)
