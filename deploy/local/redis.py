"""The local Redis: redis-server (apt-get installs it where missing), AOF persistence, readiness."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

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


def write_secure_conf(path: Path, cert: Path, key: Path, ca: Path, user: str, password: str) -> Path:
    """A redis.conf (mode 0600: it holds the password) for TLS only and one ACL user, the default user off.

    The password lives in this file rather than on the command line, where `ps` would show it."""
    text = (f"tls-cert-file {cert}\ntls-key-file {key}\ntls-ca-cert-file {ca}\ntls-auth-clients no\n"
            f"user default off\nuser {user} on >{password} ~* &* +@all\n")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    return path


def start(port: int, data_dir: Path, logs_dir: Path, pid_path: Path, secure_conf: Path | None = None) -> int:
    """Start redis-server on 127.0.0.1:port in the foreground of a tracked background process.

    AOF with appendfsync everysec (what a production Redis needs too, docs/reliability.md): a restart on the
    same data dir (`seqsignal stack restart redis`) keeps the windows, losing at most the last second of
    writes after a crash. `up` starts from an empty data dir (a fresh stack), like Kafka.

    With `secure_conf` (write_secure_conf): TLS on `port` only (`--port 0 --tls-port <port>`), ACL user."""
    data_dir.mkdir(parents=True, exist_ok=True)
    head = [redis_server_bin(), "--bind", "127.0.0.1", "--port", str(port)]
    if secure_conf is not None:
        head = [redis_server_bin(), str(secure_conf), "--bind", "127.0.0.1", "--port", "0",
                "--tls-port", str(port)]
    argv = [
        *head, "--protected-mode", "yes",
        "--daemonize", "no", "--save", "", "--appendonly", "yes", "--appendfsync", "everysec",
        "--dir", str(data_dir),
        "--logfile", "", "--maxmemory-policy", "noeviction", "--databases", "16",
    ]
    return process.spawn(argv, logs_dir / "redis.log", pid_path)


def ready(url: str, client_kwargs: dict[str, Any] | None = None) -> bool:
    """Whether Redis answers PING (client_kwargs: user, password and CA of a secure stack)."""
    import redis  # imported late, like kafka-python

    client = redis.Redis.from_url(url, socket_timeout=2, socket_connect_timeout=2, **(client_kwargs or {}))
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        with contextlib.suppress(Exception):
            client.close()


def wait_ready(url: str, pid: int, timeout_s: float = 30.0,
               client_kwargs: dict[str, Any] | None = None) -> float:
    """Poll until Redis answers PING; returns seconds waited. Raises if it dies or times out."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout_s:
        if not process.alive(pid):
            raise TimeoutError("redis-server exited during start-up; see logs/redis.log")
        if ready(url, client_kwargs):
            return time.monotonic() - t0
        time.sleep(0.1)
    raise TimeoutError(f"Redis at {url} not ready after {timeout_s:.0f} s")
