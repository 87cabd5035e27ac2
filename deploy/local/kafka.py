"""The local Kafka broker: classpath from Maven Central, KRaft combined config, format, start, readiness."""

from __future__ import annotations

import base64
import contextlib
import logging
import os
import shutil
import subprocess
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from seqsignal.deploy.local import process

DEFAULT_VERSION = "4.1.2"
FALLBACK_VERSION = "3.9.1"  # tested fallback: SEQSIGNAL_STACK_KAFKA_VERSION=3.9.1
NODE_ID = 1
# A small box: 512 MiB heap, G1 with short pauses (as Kafka's own scripts), fewer JIT/GC threads on 2 cores.
HEAP_OPTS = ("-Xmx512m", "-Xms256m")
JVM_OPTS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-XX:CICompilerCount=2",
    "-XX:ParallelGCThreads=2",
    "-XX:ConcGCThreads=1",
    "-XX:+ExitOnOutOfMemoryError",
    "-Djava.awt.headless=true",
)
_COMPLETE = ".complete"

log = logging.getLogger(__name__)


class KafkaSetupError(RuntimeError):
    """The Kafka classpath could not be resolved, or the storage could not be formatted."""


def cache_root() -> Path:
    """Where fetched Kafka classpaths live: ~/.cache/seqsignal (SEQSIGNAL_CACHE_DIR overrides)."""
    return Path(os.environ.get("SEQSIGNAL_CACHE_DIR", Path.home() / ".cache" / "seqsignal"))


def lib_dir(version: str) -> Path:
    """The classpath folder of one Kafka version."""
    return cache_root() / f"kafka-{version}" / "lib"


def java_bin() -> str:
    """The java executable ($JAVA_HOME/bin/java, else the one on PATH)."""
    home = os.environ.get("JAVA_HOME")
    if home and (Path(home) / "bin" / "java").exists():
        return str(Path(home) / "bin" / "java")
    found = shutil.which("java")
    if not found:
        raise KafkaSetupError("java not found: install a JDK 17+ (apt-get install openjdk-17-jre-headless)")
    return found


def ensure_classpath(version: str = DEFAULT_VERSION) -> Path:
    """Resolve the runtime classpath of kafka_2.13:<version> (+ log4j2) with Maven, once; return lib/."""
    lib = lib_dir(version)
    if (lib / _COMPLETE).exists():
        return lib
    mvn = shutil.which("mvn")
    if not mvn:
        raise KafkaSetupError("mvn not found: install Maven (apt-get install maven)")
    lib.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=lib.parent) as tmp:
        pom = Path(tmp) / "pom.xml"  # copied so Maven writes nothing into the source tree
        pom.write_bytes(resources.files("seqsignal.deploy.local").joinpath("pom.xml").read_bytes())
        out = Path(tmp) / "lib"
        cmd = [mvn, "-B", "-q", "-f", str(pom), "dependency:copy-dependencies",
               f"-Dkafka.version={version}", "-DincludeScope=runtime", f"-DoutputDirectory={out}"]
        log.info("resolving kafka_2.13:%s from Maven Central", version)
        done = subprocess.run(cmd, cwd=tmp, capture_output=True, text=True, check=False)
        if done.returncode != 0 or not any(out.glob(f"kafka_2.13-{version}.jar")):
            tail = f"{done.stdout[-3000:]}{done.stderr[-2000:]}"
            raise KafkaSetupError(f"mvn failed for kafka {version}:\n{tail}")
        (out / _COMPLETE).write_text(version + "\n")
        if lib.exists():
            shutil.rmtree(lib)
        out.rename(lib)
    return lib


@dataclass(frozen=True)
class Security:
    """A SASL_SSL client listener (SCRAM) instead of PLAINTEXT: PEM keystore and truststore, and the broker's
    own SCRAM user for the inter-broker listener (the same SASL_SSL one)."""

    keystore: Path  # PEM: private key + certificate chain
    truststore: Path  # PEM: the CA (the broker verifies itself as an inter-broker client)
    admin_user: str
    admin_password: str = field(repr=False)
    mechanism: str = "SCRAM-SHA-512"


def _security_props(port: int, controller_port: int, sec: Security) -> dict[str, str]:
    jaas = (f'org.apache.kafka.common.security.scram.ScramLoginModule required username="{sec.admin_user}" '
            f'password="{sec.admin_password}";')
    return {
        "listeners": f"SASL_SSL://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"SASL_SSL://127.0.0.1:{port}",
        "inter.broker.listener.name": "SASL_SSL",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
        "sasl.enabled.mechanisms": sec.mechanism,
        "sasl.mechanism.inter.broker.protocol": sec.mechanism,
        f"listener.name.sasl_ssl.{sec.mechanism.lower()}.sasl.jaas.config": jaas,
        "ssl.keystore.type": "PEM",
        "ssl.keystore.location": str(sec.keystore),
        "ssl.truststore.type": "PEM",
        "ssl.truststore.location": str(sec.truststore),
        "ssl.client.auth": "none",
        "ssl.endpoint.identification.algorithm": "https",
    }


def write_config(conf_dir: Path, data_dir: Path, port: int, controller_port: int,
                 security: Security | None = None) -> Path:
    """server.properties of a single combined broker+controller on 127.0.0.1; returns its path.

    With `security`, the client listener is SASL_SSL and the file (it holds the admin password) is 0600;
    the controller listener stays PLAINTEXT on loopback."""
    listeners = f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}"
    props = {
        "process.roles": "broker,controller",
        "node.id": str(NODE_ID),
        # A static voter set works on 3.9 and 4.x alike and needs no --standalone at format time.
        "controller.quorum.voters": f"{NODE_ID}@127.0.0.1:{controller_port}",
        "listeners": listeners,
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "inter.broker.listener.name": "PLAINTEXT",
        "listener.security.protocol.map": "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT",
        "log.dirs": str(data_dir),
        "num.partitions": "6",
        "default.replication.factor": "1",
        "min.insync.replicas": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "6",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "share.coordinator.state.topic.replication.factor": "1",
        "share.coordinator.state.topic.min.isr": "1",
        "group.initial.rebalance.delay.ms": "0",
        "auto.create.topics.enable": "true",
        "delete.topic.enable": "true",
        "num.network.threads": "2",
        "num.io.threads": "4",
        "background.threads": "4",
        "log.retention.hours": "24",
        "log.segment.bytes": str(64 * 1024 * 1024),
    }
    if security is not None:
        props |= _security_props(port, controller_port, security)
    conf_dir.mkdir(parents=True, exist_ok=True)
    path = conf_dir / "server.properties"
    text = "".join(f"{k}={v}\n" for k, v in props.items())
    if security is not None:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    log4j = conf_dir / "log4j2.xml"
    log4j.write_bytes(resources.files("seqsignal.deploy.local").joinpath("log4j2.xml").read_bytes())
    return path


def random_cluster_id() -> str:
    """A Kafka cluster id as `StorageTool random-uuid` prints it (url-safe base64 of 16 random bytes).

    Made here rather than by a JVM: one JVM start less, which is seconds on a loaded 2-core box.
    """
    while True:
        cid = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not cid.startswith("-"):  # Kafka avoids ids that look like a command-line flag
            return cid


def _java_argv(lib: Path, conf_dir: Path, logs_dir: Path, heap: tuple[str, ...], main: str) -> list[str]:
    return [
        java_bin(), *heap, *JVM_OPTS,
        f"-Dlog4j2.configurationFile={conf_dir / 'log4j2.xml'}",
        f"-Dkafka.logs.dir={logs_dir}",
        "-cp", f"{lib}/*", main,
    ]


def format_storage(lib: Path, config: Path, logs_dir: Path, cluster_id: str,
                   scram_users: Sequence[tuple[str, str, str]] = ()) -> None:
    """Format the KRaft storage (`kafka.tools.StorageTool format`); output goes to logs/kafka-format.log.

    scram_users: (mechanism, name, password) credentials written into the bootstrap metadata (KRaft's
    `--add-scram`), so the broker authenticates them from its first start."""
    argv = [*_java_argv(lib, config.parent, logs_dir, ("-Xmx256m",), "kafka.tools.StorageTool"),
            "format", "-t", cluster_id, "-c", str(config), "--ignore-formatted"]
    for mechanism, name, password in scram_users:
        argv += ["--add-scram", f"{mechanism}=[name={name},password={password}]"]
    logs_dir.mkdir(parents=True, exist_ok=True)
    with open(logs_dir / "kafka-format.log", "ab") as out:
        done = subprocess.run(argv, stdout=out, stderr=subprocess.STDOUT, check=False, timeout=180)
    if done.returncode != 0:
        raise KafkaSetupError(f"StorageTool format failed (rc={done.returncode}); see kafka-format.log")


def start(lib: Path, config: Path, logs_dir: Path, pid_path: Path) -> int:
    """Start the broker (`kafka.Kafka server.properties`) in the background; stdout to logs/kafka.out."""
    argv = [*_java_argv(lib, config.parent, logs_dir, HEAP_OPTS, "kafka.Kafka"), str(config)]
    return process.spawn(argv, logs_dir / "kafka.out", pid_path)


def ready(bootstrap: str, timeout_ms: int = 5000, client_kwargs: dict[str, Any] | None = None) -> bool:
    """Whether a kafka-python admin client can describe the cluster and list topics (client_kwargs: SASL and
    TLS settings of a secure stack)."""
    from kafka import KafkaAdminClient  # imported late: kafka-python is slow to import

    try:
        admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=timeout_ms,
                                 client_id="seqsignal-stack-probe", **(client_kwargs or {}))
    except Exception:  # NoBrokersAvailable, KafkaTimeoutError, connection errors: not ready yet
        return False
    try:
        cluster = admin.describe_cluster()
        admin.list_topics()
        return bool(cluster.get("brokers"))
    except Exception:
        return False
    finally:
        with contextlib.suppress(Exception):
            admin.close()


def wait_ready(bootstrap: str, pid: int, timeout_s: float,
               client_kwargs: dict[str, Any] | None = None) -> float:
    """Poll until the broker is ready; returns seconds waited. Raises if it dies or times out."""
    t0 = time.monotonic()
    port = int(bootstrap.rsplit(":", 1)[1])
    while time.monotonic() - t0 < timeout_s:
        if not process.alive(pid):
            raise TimeoutError("the Kafka broker exited during start-up (see logs/kafka.out)")
        if process.port_open(port) and ready(bootstrap, client_kwargs=client_kwargs):
            return time.monotonic() - t0
        time.sleep(0.5)
    raise TimeoutError(f"Kafka at {bootstrap} not ready after {timeout_s:.0f} s")
