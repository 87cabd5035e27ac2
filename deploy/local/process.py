"""Tracked background processes of the local stack: start detached, check, and stop without leftovers."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Mapping, Sequence
from pathlib import Path


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that nothing listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def port_open(port: int, host: str = "127.0.0.1", timeout_s: float = 0.5) -> bool:
    """Whether something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            return True
    except OSError:
        return False


def spawn(
    argv: Sequence[str],
    log_path: Path,
    pid_path: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> int:
    """Start argv in its own session (it outlives the caller), output to log_path; write the pid file."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(
            list(argv),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(env) if env is not None else None,
            cwd=cwd,
            start_new_session=True,
        )
    pid_path.write_text(f"{proc.pid}\n")
    # The Popen object is dropped on purpose: `reap` collects the exit status if we are still the parent.
    return proc.pid


def reap(pid: int) -> None:
    """Collect the exit status of a child of this process so it does not linger as a zombie."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""


def _state(pid: int) -> str:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[0] if ")" in stat else ""


def cwd_of(pid: int) -> Path | None:
    """The working directory of pid (None when it cannot be read)."""
    try:
        return Path(os.readlink(f"/proc/{pid}/cwd"))
    except OSError:
        return None


def alive(pid: int | None, marker: str = "", cwd: Path | None = None) -> bool:
    """Whether pid runs (not a zombie) and, if given, its command line contains marker and it works in cwd."""
    if not pid or pid <= 0:
        return False
    reap(pid)
    state = _state(pid)
    if state in ("Z", "X"):
        reap(pid)  # it may have exited after the first reap
        return False
    if not state:
        return False
    if cwd is not None and cwd_of(pid) != cwd.resolve():
        return False
    return marker in _cmdline(pid) if marker else True


def read_pid(pid_path: Path) -> int | None:
    """The pid stored in a pid file, or None when there is no (valid) file."""
    try:
        return int(pid_path.read_text().strip())
    except (OSError, ValueError):
        return None


def stop(pid: int | None, marker: str = "", term_wait_s: float = 30.0, kill_wait_s: float = 10.0) -> bool:
    """SIGTERM the process group, wait, then SIGKILL; True when it is gone. Only touches a matching pid."""
    if not alive(pid, marker):
        return True
    assert pid is not None
    for sig, wait_s in ((signal.SIGTERM, term_wait_s), (signal.SIGKILL, kill_wait_s)):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            # spawn() made pid a session (and group) leader: signal the group, children included.
            if os.getpgid(pid) == pid:
                os.killpg(pid, sig)
            else:
                os.kill(pid, sig)
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            if not alive(pid):
                return True
            time.sleep(0.1)
    return not alive(pid)


def wait_port_closed(port: int, timeout_s: float = 10.0) -> bool:
    """Wait until nothing listens on 127.0.0.1:port; True if it closed in time."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not port_open(port, timeout_s=0.2):
            return True
        time.sleep(0.1)
    return not port_open(port, timeout_s=0.2)
