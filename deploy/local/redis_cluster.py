"""A local Redis Cluster on loopback: 3 masters, no replicas, no persistence; start, readiness, clean stop.

Each node is Debian's `redis-server` with `cluster-enabled yes`, a client port and an explicit cluster-bus
port (`cluster-port`, Redis 7+; both OS-assigned), its `cluster-config-file` under <run dir>/conf. The cluster
is formed from Python (CLUSTER SET-CONFIG-EPOCH, ADDSLOTSRANGE, MEET, as `redis-cli --cluster create` does)
and is ready when CLUSTER INFO reports `cluster_state:ok`, every slot and every node on each node.

Run dir: cluster.json (ports, pids, url, ready_s), conf/nodes-<port>.conf, logs/redis-cluster-<port>.log,
pids/redis-cluster-<i>.pid, data/ (the nodes' working directory). Callers serialise up/stop per run dir.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from seqsignal.deploy.local import process
from seqsignal.deploy.local import redis as local_redis

MASTERS = 3
SLOTS = 16384
READY_TIMEOUT_S = 60.0


class ClusterError(RuntimeError):
    """The cluster did not form; the message carries the tail of a node's log."""


@dataclass(frozen=True)
class ClusterState:
    """What cluster.json records about a running cluster."""

    run_dir: str
    ports: tuple[int, ...]
    bus_ports: tuple[int, ...]
    pids: tuple[int, ...]
    started_at: str
    ready_s: float | None = None  # first node spawned -> cluster_state:ok on every node

    @property
    def url(self) -> str:
        """A startup node for redis.RedisCluster.from_url (the client discovers the others)."""
        return f"redis://127.0.0.1:{self.ports[0]}"

    def node_urls(self) -> list[str]:
        return [f"redis://127.0.0.1:{port}" for port in self.ports]


@dataclass(frozen=True)
class StopReport:
    stopped: list[str]
    leftovers: list[str]


def _paths(run_dir: Path) -> dict[str, Path]:
    return {"json": run_dir / "cluster.json", "conf": run_dir / "conf", "logs": run_dir / "logs",
            "pids": run_dir / "pids", "data": run_dir / "data"}


def load_state(run_dir: Path) -> ClusterState | None:
    """The cluster.json of run_dir, or None when there is none (or it is unreadable)."""
    try:
        raw = json.loads(_paths(run_dir)["json"].read_text())
        return ClusterState(**{**raw, **{k: tuple(raw[k]) for k in ("ports", "bus_ports", "pids")}})
    except (OSError, ValueError, TypeError, KeyError):
        return None


def _save(state: ClusterState) -> None:
    path = _paths(Path(state.run_dir))["json"]
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(dataclasses.asdict(state), indent=2) + "\n")
    os.replace(tmp, path)


def _info(port: int) -> dict[str, str]:
    """CLUSTER INFO of one node as a dict ({} when it does not answer)."""
    import redis  # imported late, as in redis.py

    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=2, socket_connect_timeout=2)
    try:
        raw = client.execute_command("CLUSTER", "INFO")
    except redis.RedisError:
        return {}
    finally:
        client.close()
    text = raw.decode() if isinstance(raw, bytes) else str(raw)
    return dict(line.split(":", 1) for line in text.split() if ":" in line)


def node_ok(port: int, masters: int = MASTERS) -> bool:
    """Whether one node sees the whole cluster: state ok, every slot served, every node known."""
    info = _info(port)
    return (info.get("cluster_state") == "ok" and info.get("cluster_slots_ok") == str(SLOTS)
            and info.get("cluster_known_nodes") == str(masters))


def healthy(run_dir: Path) -> bool:
    """Whether the cluster recorded in run_dir runs and every node reports cluster_state:ok."""
    state = load_state(run_dir)
    if state is None:
        return False
    return all(process.alive(pid, local_redis.marker(port)) and node_ok(port, len(state.ports))
               for pid, port in zip(state.pids, state.ports, strict=True))


def _spawn_node(server: str, paths: dict[str, Path], i: int, port: int, bus_port: int) -> int:
    argv = [
        server, "--bind", "127.0.0.1", "--port", str(port), "--protected-mode", "yes",
        "--daemonize", "no", "--save", "", "--appendonly", "no", "--dir", str(paths["data"]),
        "--logfile", "", "--maxmemory-policy", "noeviction",
        "--cluster-enabled", "yes", "--cluster-port", str(bus_port),
        "--cluster-config-file", str(paths["conf"] / f"nodes-{port}.conf"),
        "--cluster-node-timeout", "5000", "--cluster-announce-ip", "127.0.0.1",
    ]
    return process.spawn(argv, paths["logs"] / f"redis-cluster-{port}.log",
                         paths["pids"] / f"redis-cluster-{i}.pid")


def _form(ports: tuple[int, ...], bus_ports: tuple[int, ...]) -> None:
    """Give each master a config epoch and a contiguous slot range, then MEET them all from the first."""
    import redis

    clients = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5) for p in ports]
    try:
        n = len(ports)
        for i, client in enumerate(clients):
            client.execute_command("CLUSTER", "SET-CONFIG-EPOCH", i + 1)
            client.execute_command("CLUSTER", "ADDSLOTSRANGE", SLOTS * i // n, SLOTS * (i + 1) // n - 1)
        for port, bus_port in zip(ports[1:], bus_ports[1:], strict=True):
            clients[0].execute_command("CLUSTER", "MEET", "127.0.0.1", port, bus_port)
    finally:
        for client in clients:
            client.close()


def _log_tail(paths: dict[str, Path], port: int, n: int = 20) -> str:
    with contextlib.suppress(OSError):
        lines = (paths["logs"] / f"redis-cluster-{port}.log").read_text(errors="replace").splitlines()
        return "\n".join(lines[-n:])
    return ""


def start(run_dir: Path, masters: int = MASTERS, timeout_s: float = READY_TIMEOUT_S) -> ClusterState:
    """Start a fresh cluster in run_dir (stopping whatever an earlier one left) and wait until it is ok."""
    run_dir = run_dir.resolve()
    server = local_redis.redis_server_bin()  # RedisSetupError before anything starts
    stop(run_dir)
    paths = _paths(run_dir)
    shutil.rmtree(paths["conf"], ignore_errors=True)  # stale nodes.conf files would rejoin an old cluster
    shutil.rmtree(paths["data"], ignore_errors=True)
    for key in ("conf", "logs", "pids", "data"):
        paths[key].mkdir(parents=True, exist_ok=True)
    ports: list[int] = []
    while len(ports) < 2 * masters:  # client ports, then bus ports
        port = process.free_port()
        if port not in ports:
            ports.append(port)
    client_ports, bus_ports = tuple(ports[:masters]), tuple(ports[masters:])
    t0 = time.monotonic()
    pids = tuple(_spawn_node(server, paths, i, port, bus)
                 for i, (port, bus) in enumerate(zip(client_ports, bus_ports, strict=True)))
    state = ClusterState(run_dir=str(run_dir), ports=client_ports, bus_ports=bus_ports, pids=pids,
                         started_at=datetime.now(UTC).isoformat(timespec="seconds"))
    _save(state)  # recorded before readiness so that stop() can clean up a failed start
    try:
        for pid, port in zip(pids, client_ports, strict=True):
            local_redis.wait_ready(f"redis://127.0.0.1:{port}", pid, timeout_s)
        _form(client_ports, bus_ports)
        deadline = t0 + timeout_s
        pending = list(client_ports)
        while pending:
            if time.monotonic() > deadline:
                raise TimeoutError(f"nodes {pending} not cluster_state:ok after {timeout_s:g} s")
            if not all(process.alive(pid) for pid in pids):
                raise TimeoutError("a cluster node exited during start-up")
            pending = [p for p in pending if not node_ok(p, masters)]
            if pending:
                time.sleep(0.1)
    except Exception as exc:
        dead = [port for pid, port in zip(pids, client_ports, strict=True) if not process.alive(pid)]
        log_port = (dead or list(client_ports))[0]
        tail = _log_tail(paths, log_port)
        stop(run_dir)
        raise ClusterError(f"Redis Cluster in {run_dir} did not form: {exc}\n--- last lines of "
                           f"{paths['logs']}/redis-cluster-{log_port}.log ---\n{tail}") from exc
    state = dataclasses.replace(state, ready_s=round(time.monotonic() - t0, 2))
    _save(state)
    return state


def up(
    run_dir: Path, masters: int = MASTERS, timeout_s: float = READY_TIMEOUT_S
) -> tuple[ClusterState, bool]:
    """The healthy cluster of run_dir, or a fresh one; returns (state, already_up)."""
    state = load_state(run_dir.resolve())
    if state is not None and healthy(run_dir.resolve()):
        return state, True
    return start(run_dir, masters, timeout_s), False


def stop(run_dir: Path) -> StopReport:
    """SIGTERM (then SIGKILL) every node; wait until no client or bus port listens; remove json and pids."""
    run_dir = run_dir.resolve()
    paths = _paths(run_dir)
    state = load_state(run_dir)
    targets: list[tuple[int | None, str, tuple[int, ...]]] = []
    if state is not None:
        targets = [(pid, local_redis.marker(port), (port, bus))
                   for pid, port, bus in zip(state.pids, state.ports, state.bus_ports, strict=True)]
    else:  # no record of the ports: only a redis-server working in our data dir is ours
        for pid_file in sorted(paths["pids"].glob("redis-cluster-*.pid")):
            pid = process.read_pid(pid_file)
            if pid and process.alive(pid, "redis-server", cwd=paths["data"]):
                targets.append((pid, "redis-server", ()))
    stopped: list[str] = []
    leftovers: list[str] = []
    for pid, marker, ports in targets:
        if pid and process.alive(pid, marker):
            if process.stop(pid, marker, term_wait_s=10.0):
                stopped.append(f"redis-cluster node (pid {pid})")
            else:
                leftovers.append(f"redis-cluster pid {pid} still alive")
        leftovers += [f"redis-cluster port {p} still open" for p in ports
                      if not process.wait_port_closed(p, timeout_s=10)]
    for pid_file in paths["pids"].glob("redis-cluster-*.pid"):
        pid_file.unlink(missing_ok=True)
    paths["json"].unlink(missing_ok=True)
    return StopReport(stopped, leftovers)
