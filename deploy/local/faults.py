"""Scripted faults on the local stack: kill or freeze one service, restart it on the same port and data."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import signal
import time
from pathlib import Path

from seqsignal.deploy.local import kafka, process, redis
from seqsignal.deploy.local.rundir import StackSettings, StackState, load_state, locked, paths, save_state
from seqsignal.deploy.local.stack import StackError, log_tail

SERVICES = ("kafka", "redis")


def _service(state: StackState, service: str) -> tuple[int, str, int]:
    """(pid, command-line marker, port) of one recorded service."""
    if service == "kafka":
        return state.kafka_pid, state.kafka_marker, state.kafka_port
    if service == "redis":
        return state.redis_pid, redis.marker(state.redis_port), state.redis_port
    raise ValueError(f"unknown service {service!r}; services are {SERVICES}")


def _recorded(run_dir: Path) -> StackState:
    state = load_state(run_dir)
    if state is None:
        raise StackError(f"no stack recorded in {run_dir} (run `seqsignal stack up` first)")
    return state


def kill(run_dir: Path, service: str, sig: int = signal.SIGKILL) -> int:
    """Send `sig` to one service of the stack (SIGKILL by default; SIGSTOP / SIGCONT freeze and thaw it), for
    fault tests. The records stay: `restart` brings a killed service back on the same port and data.
    Returns the pid signalled. Only a pid whose command line still matches is touched."""
    run_dir = run_dir.resolve()
    with locked(run_dir):
        pid, marker, _ = _service(_recorded(run_dir), service)
        if not process.alive(pid, marker):
            raise StackError(f"{service} (pid {pid}) is not running")
        os.kill(pid, sig)
        if sig == signal.SIGKILL:
            deadline = time.monotonic() + 10
            while process.alive(pid) and time.monotonic() < deadline:
                process.reap(pid)
                time.sleep(0.05)
        return pid


def restart(settings: StackSettings | None = None, service: str = "kafka",
            run_dir: Path | None = None) -> tuple[StackState, float]:
    """Stop one service (SIGTERM, wait, SIGKILL; a frozen one is thawed first) and start it again on the same
    port with the same data: Kafka on its formatted log dirs (no new format, same cluster id), Redis on its
    AOF. Works on a killed service too. Returns (new state, seconds from start to ready)."""
    cfg = settings or StackSettings()
    run_dir = (run_dir or cfg.dir).resolve()
    with locked(run_dir):
        state = _recorded(run_dir)
        pid, marker, port = _service(state, service)
        if process.alive(pid, marker):
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGCONT)  # a SIGSTOPped process cannot handle SIGTERM
            if not process.stop(pid, marker):
                raise StackError(f"{service} (pid {pid}) did not stop")
        process.reap(pid)
        ports = [port, state.controller_port] if service == "kafka" else [port]
        for p_ in ports:
            if not process.wait_port_closed(p_, timeout_s=15):
                raise StackError(f"{service} port {p_} is still taken")
        p = paths(run_dir)
        t0 = time.monotonic()
        try:
            if service == "kafka":
                lib = kafka.ensure_classpath(state.kafka_version)
                new_pid = kafka.start(lib, p["conf"] / "server.properties", p["logs"], p["kafka_pid"])
                state = dataclasses.replace(state, kafka_pid=new_pid)
                save_state(state)
                kafka.wait_ready(state.bootstrap_servers, new_pid, cfg.ready_timeout_s)
            else:
                new_pid = redis.start(state.redis_port, p["redis_data"], p["logs"], p["redis_pid"])
                state = dataclasses.replace(state, redis_pid=new_pid)
                save_state(state)
                redis.wait_ready(state.redis_url, new_pid, cfg.ready_timeout_s)
        except TimeoutError as exc:
            log = p["logs"] / ("kafka-server.log" if service == "kafka" else "redis.log")
            raise StackError(f"{exc}\n--- last lines of {log} ---\n{log_tail(log)}") from exc
        return state, time.monotonic() - t0
