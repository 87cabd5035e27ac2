"""The local Redis: redis-server (apt-get installs it where missing), AOF persistence, readiness."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path

from seqsignal.deploy.local import process


class RedisSetupError(RuntimeError):
    """redis-server is missing and could not be installed."""


def redis_server_bin(install: bool = True) -> str:
    """Path of redis-server; installs Debian's `redis-server` package with apt-get when missing (as root)."""
    found = shutil.which("redis-server") or ("/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists()
                                             else None)
    if found:
        return found
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise RedisSetupError("redis-server not found: apt-get install redis-server")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "redis-server"]):
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise RedisSetupError(f"{' '.join(cmd)} failed:\n{done.stderr[-2000:]}")
    found = shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).exists():
        raise RedisSetupError("redis-server still missing after apt-get install")
    return found


def marker(port: int) -> str:
    """What the redis-server command line (its process title) contains, to recognise our process."""
    return f"127.0.0.1:{port}"


def start(port: int, data_dir: Path, logs_dir: Path, pid_path: Path) -> int:
    """Start redis-server on 127.0.0.1:port in the foreground of a tracked background process.

    AOF with appendfsync everysec (what a production Redis needs too, docs/reliability.md): a restart on the
    same data dir (`seqsignal stack restart redis`) keeps the windows, losing at most the last second of
    writes after a crash. `up` starts from an empty data dir (a fresh stack), like Kafka."""
    data_dir.mkdir(parents=True, exist_ok=True)
    argv = [
        redis_server_bin(), "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
        "--daemonize", "no", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        "--dir", str(data_dir),
        "--logfile", "", "--maxmemory-policy", "noeviction", "--databases", "16",
    ]
    return process.spawn(argv, logs_dir / "redis.log", pid_path)


def ready(url: str) -> bool:
    """Whether Redis answers PING."""
    import redis  # imported late, like kafka-python

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2)
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


def wait_ready(url: str, pid: int, timeout_s: float = 30.0) -> float:
    """Poll until Redis answers PING; returns seconds waited. Raises if it dies or times out."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if not process.alive(pid):
            raise TimeoutError("redis-server exited during start-up; see logs/redis.log")
        if ready(url):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise TimeoutError(f"Redis at {url} not ready after {timeout_s:.0f} s")
