"""`seqsignal stack up | down | status | env | setup`: the local Kafka + Redis stack."""

from __future__ import annotations

import dataclasses
import json
import shlex
import signal
import time
from pathlib import Path
from typing import Annotated

import typer

from seqsignal.deploy.local import faults, secure, stack

stack_app = typer.Typer(help="The local stack: Apache Kafka (KRaft) and Redis on 127.0.0.1.",
                        no_args_is_help=True)

DirOption = Annotated[Path | None, typer.Option("--dir", help="Run directory [default: $SEQSIGNAL_STACK_DIR "
                                                              "or ~/.cache/seqsignal/stack]")]
_VERSION_HELP = f"Kafka version [default: $SEQSIGNAL_STACK_KAFKA_VERSION or {stack.kafka.DEFAULT_VERSION}]"
VersionOption = Annotated[str | None, typer.Option("--kafka-version", help=_VERSION_HELP)]
TimeoutOption = Annotated[float | None, typer.Option("--timeout", help="Seconds to wait for the broker")]
ClusterOption = Annotated[bool | None, typer.Option(
    "--redis-cluster/--no-redis-cluster", show_default=False,
    help="Also run a 3-master Redis Cluster; exports SEQSIGNAL_TEST_REDIS_CLUSTER_URL "
         "[default: $SEQSIGNAL_STACK_REDIS_CLUSTER or off]")]
SecureOption = Annotated[bool | None, typer.Option(
    "--secure/--no-secure", show_default=False,
    help="Kafka on SASL_SSL (SCRAM-SHA-512) and Redis on TLS with an ACL user; passwords and certificates "
         "generated in the run dir (docs/security.md) [default: $SEQSIGNAL_STACK_SECURE or off]")]


def _settings(
    run_dir: Path | None, kafka_version: str | None, timeout_s: float | None = None,
    redis_cluster: bool | None = None, secure_stack: bool | None = None,
) -> stack.StackSettings:
    base = stack.StackSettings()
    updates: dict[str, object] = {}
    if run_dir is not None:
        updates["dir"] = run_dir
    if kafka_version is not None:
        updates["kafka_version"] = kafka_version
    if timeout_s is not None:
        updates["ready_timeout_s"] = timeout_s
    if redis_cluster is not None:
        updates["redis_cluster"] = redis_cluster
    if secure_stack is not None:
        updates["secure"] = secure_stack
    return base.model_copy(update=updates)


def _exports(state: stack.StackState) -> str:
    """export lines for eval; a password is a read of its 0600 file, so the value is never printed."""
    lines = []
    for key, value in state.env().items():
        if key in secure.PASSWORD_VARS:
            path = secure.password_file(Path(state.run_dir), secure.PASSWORD_VARS[key])
            value = f'"$(cat {shlex.quote(str(path))})"'
        lines.append(f"export {key}={value}\n")
    return "".join(lines)


def up(
    run_dir: DirOption = None,
    kafka_version: VersionOption = None,
    timeout_s: TimeoutOption = None,
    redis_cluster: ClusterOption = None,
    secure_stack: SecureOption = None,
) -> None:
    """Start Kafka and Redis (or report the healthy stack already running). Prints export lines on stdout."""
    cfg = _settings(run_dir, kafka_version, timeout_s, redis_cluster, secure_stack)
    t0 = time.monotonic()
    try:
        state, already = stack.up(cfg)
    except (stack.StackError, stack.kafka.KafkaSetupError, stack.redis.RedisSetupError) as exc:
        typer.echo(f"stack up failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    if already:
        typer.echo(f"stack already up in {state.run_dir} (since {state.started_at})", err=True)
    else:
        typer.echo(f"stack up in {state.run_dir}: Kafka {state.kafka_version} ready "
                   f"{state.broker_ready_s or 0:.1f} s after broker start (format {state.format_s:.1f} s, "
                   f"whole up {time.monotonic() - t0:.1f} s)", err=True)
    typer.echo(f"kafka {state.bootstrap_servers} (pid {state.kafka_pid}), redis {state.redis_url} "
               f"(pid {state.redis_pid}); settings in {Path(state.run_dir) / 'stack.env'}", err=True)
    if state.secure:
        typer.echo(f"secure: Kafka SASL_SSL {secure.MECHANISM} user {secure.KAFKA_USER}, Redis TLS ACL user "
                   f"{secure.REDIS_USER}; CA {secure.tls_dir(Path(state.run_dir)) / 'ca.pem'}, passwords in "
                   f"{secure.secrets_dir(Path(state.run_dir))} (0600)", err=True)
    if state.redis_cluster_url:
        typer.echo(f"redis cluster {state.redis_cluster_url} (3 masters): cluster_state:ok "
                   f"{state.redis_cluster_ready_s or 0:.1f} s after start", err=True)
    typer.echo(_exports(state), nl=False)


def down(run_dir: DirOption = None) -> None:
    """Stop the stack: SIGTERM, wait, SIGKILL; no process and no listening port is left."""
    report = stack.down(_settings(run_dir, None).dir)
    typer.echo(f"stopped: {', '.join(report.stopped) or 'nothing was running'}", err=True)
    if report.leftovers:
        typer.echo(f"left over: {'; '.join(report.leftovers)}", err=True)
        raise typer.Exit(1)


def status(
    run_dir: DirOption = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object")] = False,
) -> None:
    """Show the stack's processes and whether each answers; exit 1 unless healthy."""
    st = stack.status(_settings(run_dir, None).dir)
    if as_json:
        out = {"healthy": st.healthy, "kafka_alive": st.kafka_alive, "redis_alive": st.redis_alive,
               "kafka_ready": st.kafka_ready, "redis_ready": st.redis_ready,
               "redis_cluster_ready": st.redis_cluster_ready,
               "state": dataclasses.asdict(st.state) if st.state else None}
        typer.echo(json.dumps(out, indent=2))
    elif st.state is None:
        typer.echo("stack is down (no stack.json)")
    else:
        s = st.state
        typer.echo(f"stack in {s.run_dir}, started {s.started_at}, Kafka {s.kafka_version}"
                   + (" (secure: SASL_SSL, Redis TLS + ACL)" if s.secure else ""))
        typer.echo(f"  kafka {s.bootstrap_servers} pid {s.kafka_pid}: "
                   f"{'ready' if st.kafka_ready else 'alive, not ready' if st.kafka_alive else 'dead'}")
        typer.echo(f"  redis {s.redis_url} pid {s.redis_pid}: "
                   f"{'ready' if st.redis_ready else 'alive, not ready' if st.redis_alive else 'dead'}")
        if s.redis_cluster_url:
            typer.echo(f"  redis cluster {s.redis_cluster_url}: "
                       f"{'ok' if st.redis_cluster_ready else 'not ok'}")
    if not st.healthy:
        raise typer.Exit(1)


def env(run_dir: DirOption = None) -> None:
    """Print the running stack's connection settings as export lines (eval "$(seqsignal stack env)")."""
    state = stack.load_state(_settings(run_dir, None).dir)
    if state is None:
        typer.echo("stack is down", err=True)
        raise typer.Exit(1)
    typer.echo(_exports(state), nl=False)


def setup(kafka_version: VersionOption = None) -> None:
    """Install redis-server where missing and fetch the Kafka classpath (once); quick when done."""
    cfg = _settings(None, kafka_version)
    try:
        lib = stack.prepare(cfg.kafka_version)
    except (stack.kafka.KafkaSetupError, stack.redis.RedisSetupError) as exc:
        typer.echo(f"stack setup failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"Kafka {cfg.kafka_version}: {len(list(lib.glob('*.jar')))} jars in {lib}; "
               f"redis-server: {stack.redis.redis_server_bin(install=False)}")


ServiceArg = Annotated[str, typer.Argument(help="kafka or redis", show_default=False)]


def _check_service(service: str) -> None:
    if service not in faults.SERVICES:
        typer.echo(f"unknown service {service!r}: one of {', '.join(faults.SERVICES)}", err=True)
        raise typer.Exit(2)


def restart(service: ServiceArg, run_dir: DirOption = None, timeout_s: TimeoutOption = None) -> None:
    """Restart kafka or redis in place: same port, same data (Kafka's log dirs, Redis' AOF); also brings back
    a killed one. The other service and every client's settings are left as they are."""
    _check_service(service)
    cfg = _settings(run_dir, None, timeout_s)
    recorded = stack.load_state(cfg.dir)
    if recorded is not None and recorded.secure:
        typer.echo("stack restart is not supported on a --secure stack yet (docs/security.md); "
                   "use `stack down` and `stack up --secure`", err=True)
        raise typer.Exit(1)
    try:
        state, ready_s = faults.restart(cfg, service)
    except stack.StackError as exc:
        typer.echo(f"stack restart {service} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    kafka = service == "kafka"
    pid, port = (state.kafka_pid, state.kafka_port) if kafka else (state.redis_pid, state.redis_port)
    typer.echo(f"{service} restarted on port {port} (pid {pid}), ready {ready_s:.1f} s after start", err=True)


_SIGNALS = {"KILL": signal.SIGKILL, "TERM": signal.SIGTERM, "STOP": signal.SIGSTOP, "CONT": signal.SIGCONT}


def kill(
    service: ServiceArg,
    run_dir: DirOption = None,
    sig: Annotated[str, typer.Option("--signal", help="KILL, TERM, STOP (freeze) or CONT (thaw)")] = "KILL",
) -> None:
    """Signal kafka or redis for fault tests (SIGKILL by default); `stack restart` brings it back."""
    _check_service(service)
    if sig.upper() not in _SIGNALS:
        typer.echo(f"unknown signal {sig!r}: one of {', '.join(_SIGNALS)}", err=True)
        raise typer.Exit(2)
    try:
        pid = faults.kill(_settings(run_dir, None).dir, service, _SIGNALS[sig.upper()])
    except stack.StackError as exc:
        typer.echo(f"stack kill {service} failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    typer.echo(f"sent SIG{sig.upper()} to {service} (pid {pid})", err=True)


stack_app.command("up")(up)
stack_app.command("restart")(restart)
stack_app.command("kill")(kill)
stack_app.command("down")(down)
stack_app.command("status")(status)
stack_app.command("env")(env)
stack_app.command("setup")(setup)


def register(app: typer.Typer) -> None:
    app.add_typer(stack_app, name="stack")
