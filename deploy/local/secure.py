"""The secure local stack's credentials: generated passwords in 0600 files, the TLS files, and what a client
needs (probe kwargs, SEQSIGNAL_* settings). Passwords are read from their files and never logged."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqsignal.deploy.local import tls

KAFKA_USER = "seqsignal"  # the clients' SCRAM user
KAFKA_ADMIN = "admin"  # the broker's own SCRAM user (inter-broker listener)
REDIS_USER = "seqsignal"  # the Redis ACL user (the default user is off)
MECHANISM = "SCRAM-SHA-512"
# environment variable -> the secret file (under <run dir>/secrets) that holds its value
PASSWORD_VARS = {"SEQSIGNAL_KAFKA__SASL_PASSWORD": "kafka", "SEQSIGNAL_REDIS__PASSWORD": "redis"}


@dataclass(frozen=True)
class Secrets:
    """The generated passwords of one secure stack (repr shows no value)."""

    kafka_admin: str = field(repr=False)
    kafka: str = field(repr=False)
    redis: str = field(repr=False)


def secrets_dir(run_dir: Path) -> Path:
    return run_dir / "secrets"


def tls_dir(run_dir: Path) -> Path:
    return run_dir / "tls"


def password_file(run_dir: Path, name: str) -> Path:
    """<run dir>/secrets/<name>.password (name: kafka, kafka-admin or redis), mode 0600."""
    return secrets_dir(run_dir) / f"{name}.password"


def create(run_dir: Path) -> tuple[Secrets, tls.TlsFiles]:
    """New random passwords (0600 files in a 0700 dir) and a new CA + server certificate."""
    creds = Secrets(kafka_admin=secrets.token_urlsafe(24), kafka=secrets.token_urlsafe(24),
                    redis=secrets.token_urlsafe(24))
    folder = secrets_dir(run_dir)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    for name, value in (("kafka-admin", creds.kafka_admin), ("kafka", creds.kafka), ("redis", creds.redis)):
        tls.write_private(password_file(run_dir, name), (value + "\n").encode())
    return creds, tls.generate(tls_dir(run_dir))


def load(run_dir: Path) -> Secrets:
    """The passwords that `create` wrote for the stack in run_dir."""
    def read(name: str) -> str:
        return password_file(run_dir, name).read_text().strip()

    return Secrets(kafka_admin=read("kafka-admin"), kafka=read("kafka"), redis=read("redis"))


def kafka_client_kwargs(run_dir: Path) -> dict[str, Any]:
    """kafka-python kwargs (SASL_SSL, SCRAM, the stack's CA) for the seqsignal user."""
    return {"security_protocol": "SASL_SSL", "sasl_mechanism": MECHANISM, "sasl_plain_username": KAFKA_USER,
            "sasl_plain_password": load(run_dir).kafka, "ssl_cafile": str(tls.files_in(tls_dir(run_dir)).ca)}


def redis_client_kwargs(run_dir: Path) -> dict[str, Any]:
    """redis-py kwargs (ACL user, password, the stack's CA) for a rediss:// URL."""
    return {"username": REDIS_USER, "password": load(run_dir).redis,
            "ssl_ca_certs": str(tls.files_in(tls_dir(run_dir)).ca)}


def client_env(run_dir: Path) -> dict[str, str]:
    """The SEQSIGNAL_* settings a client needs besides the addresses, passwords included (for stack.env,
    mode 0600; `seqsignal stack env` prints the passwords as reads of their files instead)."""
    creds = load(run_dir)
    ca = str(tls.files_in(tls_dir(run_dir)).ca)
    return {
        "SEQSIGNAL_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "SEQSIGNAL_KAFKA__SASL_MECHANISM": MECHANISM,
        "SEQSIGNAL_KAFKA__SASL_USERNAME": KAFKA_USER,
        "SEQSIGNAL_KAFKA__SASL_PASSWORD": creds.kafka,
        "SEQSIGNAL_KAFKA__SSL_CAFILE": ca,
        "SEQSIGNAL_REDIS__USERNAME": REDIS_USER,
        "SEQSIGNAL_REDIS__PASSWORD": creds.redis,
        "SEQSIGNAL_REDIS__SSL_CA_CERTS": ca,
    }
