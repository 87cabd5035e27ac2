"""The local stack as one unit: up / down / status of Kafka and Redis (and the optional Redis Cluster) in a
run directory (deploy/local/rundir.py: its settings and records)."""

from __future__ import annotations

import contextlib
import dataclasses
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from seqsignal.deploy.local import kafka, process, redis, redis_cluster, secure
from seqsignal.deploy.local.rundir import (
    StackSettings,
    StackState,
    default_stack_dir,
    load_state,
    locked,
    paths,
    save_state,
    write_env,
)

__all__ = [
    "DownReport", "StackError", "StackSettings", "StackState", "StackStatus", "default_stack_dir",
    "down", "load_state", "log_tail", "prepare", "status", "up",
]


@dataclass(frozen=True)
class StackStatus:
    """Liveness and readiness of each process of a stack."""

    state: StackState | None
    kafka_alive: bool
    redis_alive: bool
    kafka_ready: bool
    redis_ready: bool
    redis_cluster_ready: bool | None = None  # None: this stack runs no Redis Cluster

    @property
    def core_healthy(self) -> bool:
        """Kafka and Redis alive and answering (the optional cluster aside)."""
        return self.kafka_alive and self.redis_alive and self.kafka_ready and self.redis_ready

    @property
    def healthy(self) -> bool:
        return self.core_healthy and self.redis_cluster_ready is not False


class StackError(RuntimeError):
    """The stack failed to start; the message names the log to read."""


def _with_cluster(state: StackState, want: bool, ready: bool | None) -> tuple[StackState, bool]:
    """Start the Redis Cluster next to a ready stack when asked for (or recorded) and not healthy.

    Returns (state, unchanged). The core stack is left alone: others may be using it.
    """
    if state.redis_cluster_url is None and not want:
        return state, True
    cluster_dir = paths(Path(state.run_dir))["redis_cluster"]
    if ready is None and state.redis_cluster_url is not None:
        ready = redis_cluster.healthy(cluster_dir)
    if state.redis_cluster_url is not None and ready:
        return state, True
    try:
        cluster = redis_cluster.start(cluster_dir)
    except (redis_cluster.ClusterError, redis.RedisSetupError) as exc:
        raise StackError(str(exc)) from exc
    state = dataclasses.replace(state, redis_cluster_url=cluster.url, redis_cluster_ready_s=cluster.ready_s)
    save_state(state)
    write_env(state)
    return state, False


def probe_kwargs(state: StackState) -> tuple[dict[str, Any] | None, dict[str, Any] | None]:
    """(kafka-python, redis-py) client kwargs that reach this stack: None for a plain one; SASL_SSL and the
    ACL user with their generated passwords for a secure one."""
    if not state.secure:
        return None, None
    run_dir = Path(state.run_dir)
    try:
        return secure.kafka_client_kwargs(run_dir), secure.redis_client_kwargs(run_dir)
    except OSError:  # the secret files are gone: nothing can log in
        return {"security_protocol": "SASL_SSL"}, {}


def status(run_dir: Path) -> StackStatus:
    """Check the processes recorded in run_dir/stack.json, and whether each answers."""
    state = load_state(run_dir)
    if state is None:
        return StackStatus(None, False, False, False, False)
    k_alive = process.alive(state.kafka_pid, state.kafka_marker)
    r_alive = process.alive(state.redis_pid, redis.marker(state.redis_port))
    kafka_kw, redis_kw = probe_kwargs(state)
    return StackStatus(
        state, k_alive, r_alive,
        kafka_ready=k_alive and kafka.ready(state.bootstrap_servers, client_kwargs=kafka_kw),
        redis_ready=r_alive and redis.ready(state.redis_url, redis_kw),
        redis_cluster_ready=(redis_cluster.healthy(paths(run_dir)["redis_cluster"])
                             if state.redis_cluster_url else None),
    )


def prepare(kafka_version: str) -> Path:
    """Everything `up` needs on disk: the Kafka classpath (fetched once) and redis-server."""
    kafka.java_bin()
    redis.redis_server_bin()
    return kafka.ensure_classpath(kafka_version)


def _distinct_ports(n: int) -> list[int]:
    ports: list[int] = []
    while len(ports) < n:
        port = process.free_port()
        if port not in ports:
            ports.append(port)
    return ports


def log_tail(path: Path, n: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-n:])
    except OSError:
        return ""


def up(settings: StackSettings | None = None, run_dir: Path | None = None) -> tuple[StackState, bool]:
    """Start Kafka and Redis (and the Redis Cluster if asked for) in run_dir unless a healthy stack runs.

    Returns (state, already_up). On a healthy stack, `redis_cluster=True` starts only the missing cluster.
    """
    cfg = settings or StackSettings()
    run_dir = (run_dir or cfg.dir).resolve()
    with locked(run_dir):
        current = status(run_dir)
        if cfg.secure and current.state is not None and not current.state.secure and current.core_healthy:
            raise StackError(f"a plain (not --secure) stack runs in {run_dir}: `seqsignal stack down` it "
                             "first, or give --secure another --dir")
        if current.core_healthy and current.state is not None:
            return _with_cluster(current.state, cfg.redis_cluster, current.redis_cluster_ready)
        if current.state is not None and current.kafka_alive and current.redis_alive:
            # Alive but slow to answer (a loaded box): wait rather than restart a stack others may use.
            old = current.state
            kafka_kw, redis_kw = probe_kwargs(old)
            with contextlib.suppress(TimeoutError):
                redis.wait_ready(old.redis_url, old.redis_pid, client_kwargs=redis_kw)
                kafka.wait_ready(old.bootstrap_servers, old.kafka_pid, cfg.ready_timeout_s, kafka_kw)
                return _with_cluster(old, cfg.redis_cluster, None)
        return _start_fresh(cfg, run_dir), False


@dataclass(frozen=True)
class DownReport:
    """What `down` stopped and whether anything is left."""

    stopped: list[str]
    leftovers: list[str]


def _down_unlocked(run_dir: Path) -> DownReport:
    p = paths(run_dir)
    state = load_state(run_dir)
    stopped: list[str] = []
    leftovers: list[str] = []
    kafka_marker = str(run_dir / "conf" / "server.properties")
    redis_pid = state.redis_pid if state else process.read_pid(p["redis_pid"])
    if not state and redis_pid and not process.alive(redis_pid, "redis-server", cwd=p["redis_data"]):
        redis_pid = None  # no record of its port: only a redis-server working in our data dir is ours
    targets = [
        ("kafka", state.kafka_pid if state else process.read_pid(p["kafka_pid"]), kafka_marker,
         state.kafka_port if state else None),
        ("redis", redis_pid, redis.marker(state.redis_port) if state else "redis-server",
         state.redis_port if state else None),
    ]
    if state:
        targets.append(("kafka-controller", None, "", state.controller_port))
    for name, pid, marker, port in targets:
        if pid and process.alive(pid, marker):
            if process.stop(pid, marker):
                stopped.append(f"{name} (pid {pid})")
            else:
                leftovers.append(f"{name} pid {pid} still alive")
        if port and not process.wait_port_closed(port, timeout_s=10):
            leftovers.append(f"{name} port {port} still open")
    cluster = redis_cluster.stop(p["redis_cluster"])  # whether recorded in stack.json or not
    stopped += cluster.stopped
    leftovers += cluster.leftovers
    for key in ("kafka_pid", "redis_pid", "env", "json"):
        p[key].unlink(missing_ok=True)
    if state is None or state.secure:  # passwords and keys die with a secure stack
        for folder in (secure.secrets_dir(run_dir), secure.tls_dir(run_dir)):
            shutil.rmtree(folder, ignore_errors=True)
        p["redis_secure_conf"].unlink(missing_ok=True)
        if state is not None:
            (p["conf"] / "server.properties").unlink(missing_ok=True)  # it holds the admin password
    return DownReport(stopped, leftovers)


def down(run_dir: Path | None = None) -> DownReport:
    """Stop the stack in run_dir (SIGTERM, wait, SIGKILL), remove pid files, stack.env and stack.json."""
    run_dir = (run_dir or StackSettings().dir).resolve()
    with locked(run_dir):
        return _down_unlocked(run_dir)


def _secure_files(run_dir: Path) -> tuple[kafka.Security, list[tuple[str, str, str]], Path]:
    """New passwords and certificates; the broker's security settings, its SCRAM users and Redis' conf."""
    creds, files = secure.create(run_dir)
    security = kafka.Security(keystore=files.keystore, truststore=files.ca, admin_user=secure.KAFKA_ADMIN,
                              admin_password=creds.kafka_admin, mechanism=secure.MECHANISM)
    scram = [(secure.MECHANISM, secure.KAFKA_ADMIN, creds.kafka_admin),
             (secure.MECHANISM, secure.KAFKA_USER, creds.kafka)]
    conf = redis.write_secure_conf(paths(run_dir)["redis_secure_conf"], files.cert, files.key, files.ca,
                                   secure.REDIS_USER, creds.redis)
    return security, scram, conf


def _start_fresh(cfg: StackSettings, run_dir: Path) -> StackState:
    """Clear what is left of an earlier stack, format a new Kafka cluster, start both and wait until ready
    (the caller holds the run-dir lock)."""
    _down_unlocked(run_dir)  # clear whatever is left of an earlier stack
    lib = prepare(cfg.kafka_version)
    p = paths(run_dir)
    for key in ("logs", "conf"):
        p[key].mkdir(parents=True, exist_ok=True)
    p["kafka_pid"].parent.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(p["kafka_data"], ignore_errors=True)  # a fresh cluster every up (restart keeps data)
    shutil.rmtree(p["redis_data"], ignore_errors=True)  # and an empty Redis (its AOF lives here)
    kafka_port, controller_port, redis_port = _distinct_ports(3)
    security, scram, redis_conf = _secure_files(run_dir) if cfg.secure else (None, [], None)
    config = kafka.write_config(p["conf"], p["kafka_data"], kafka_port, controller_port, security)
    cluster_id = kafka.random_cluster_id()
    t_format = time.monotonic()
    kafka.format_storage(lib, config, p["logs"], cluster_id, scram)
    format_s = time.monotonic() - t_format

    redis_pid = redis.start(redis_port, p["redis_data"], p["logs"], p["redis_pid"], redis_conf)
    t_broker = time.monotonic()
    kafka_pid = kafka.start(lib, config, p["logs"], p["kafka_pid"])
    state = StackState(
        run_dir=str(run_dir), kafka_version=cfg.kafka_version, cluster_id=cluster_id,
        kafka_port=kafka_port, controller_port=controller_port, redis_port=redis_port,
        kafka_pid=kafka_pid, redis_pid=redis_pid,
        started_at=datetime.now(UTC).isoformat(timespec="seconds"),
        format_s=round(format_s, 2), secure=cfg.secure,
    )
    save_state(state)  # recorded before readiness so that `down` can clean up a failed start
    kafka_kw, redis_kw = probe_kwargs(state)
    try:
        redis.wait_ready(state.redis_url, redis_pid, client_kwargs=redis_kw)
        kafka.wait_ready(state.bootstrap_servers, kafka_pid, cfg.ready_timeout_s, kafka_kw)
    except TimeoutError as exc:
        tail = log_tail(p["logs"] / "kafka-server.log") or log_tail(p["logs"] / "kafka.out")
        _down_unlocked(run_dir)
        raise StackError(f"{exc}\n--- last lines of the Kafka log ({p['logs']}) ---\n{tail}") from exc
    state = dataclasses.replace(state, broker_ready_s=round(time.monotonic() - t_broker, 2))
    save_state(state)
    write_env(state)
    if cfg.redis_cluster:
        try:
            state, _ = _with_cluster(state, True, None)
        except StackError:
            _down_unlocked(run_dir)
            raise
    return state
