"""Kafka connection: the settings turned into what each client library takes (faust, aiokafka and others).

The one place that reads `KafkaSettings` for connecting, so TLS and SASL behave the same in the worker
(faust), the model-update listener (aiokafka), and replay, the trainer, `watch`, the topic admin and the
benchmarks (kafka-python; the bench's load generator: confluent-kafka). Secrets leave their `SecretStr`
only here, into the client kwargs.
"""

from __future__ import annotations

import logging
import ssl
from typing import TYPE_CHECKING, Any

from seqsignal.workers.settings import KafkaSettings

if TYPE_CHECKING:  # both are slow to import: loaded by the functions that need them
    from faust.auth import SASLCredentials, SSLCredentials
    from kafka import KafkaAdminClient


def servers(kafka: KafkaSettings) -> list[str]:
    """The bootstrap servers as a list of host:port."""
    return [server.strip() for server in kafka.bootstrap_servers.split(",") if server.strip()]


def uses_ssl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol in ("SSL", "SASL_SSL")


def uses_sasl(kafka: KafkaSettings) -> bool:
    return kafka.security_protocol.startswith("SASL")


def sasl_mechanism(kafka: KafkaSettings) -> str | None:
    """The configured SASL mechanism; PLAIN when the protocol uses SASL and none is set."""
    return kafka.sasl_mechanism or ("PLAIN" if uses_sasl(kafka) else None)


def _password(kafka: KafkaSettings) -> str | None:
    return kafka.sasl_password.get_secret_value() if kafka.sasl_password else None


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext | None:
    """A verifying TLS context when the protocol uses SSL, with the client certificate for mutual TLS."""
    if not uses_ssl(kafka):
        return None
    context = ssl.create_default_context(cafile=str(kafka.ssl_cafile) if kafka.ssl_cafile else None)
    if kafka.ssl_certfile:
        context.load_cert_chain(
            str(kafka.ssl_certfile), str(kafka.ssl_keyfile) if kafka.ssl_keyfile else None
        )
    return context


def _sasl_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """SASL kwargs, spelled the same by aiokafka and kafka-python."""
    mechanism = sasl_mechanism(kafka)
    if mechanism is None:
        return {}
    return {
        "sasl_mechanism": mechanism,
        "sasl_plain_username": kafka.sasl_username,
        "sasl_plain_password": _password(kafka),
    }


# ------------------------------------------------------------------------------ one method per library
def faust_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """`broker` and `broker_credentials` for `faust.App` (its aiokafka driver)."""
    urls = [f"kafka://{server}" for server in servers(kafka)]
    return {"broker": urls, "broker_credentials": faust_credentials(kafka)}


def faust_credentials(kafka: KafkaSettings) -> SASLCredentials | SSLCredentials | None:
    """faust credentials for SASL (plain or over TLS) or TLS only; None for PLAINTEXT."""
    from faust.auth import SASLCredentials, SSLCredentials

    context = ssl_context(kafka)
    if uses_sasl(kafka):
        return SASLCredentials(
            username=kafka.sasl_username,
            password=_password(kafka),
            ssl_context=context,
            mechanism=sasl_mechanism(kafka) or "PLAIN",
        )
    if context is not None:
        return SSLCredentials(context)
    return None


def aiokafka_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection kwargs for aiokafka clients (`AIOKafkaConsumer`, `AIOKafkaProducer`)."""
    return {
        "bootstrap_servers": servers(kafka),
        "security_protocol": kafka.security_protocol,
        "ssl_context": ssl_context(kafka),
        **_sasl_kwargs(kafka),
    }


def kafka_python_kwargs(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection kwargs for kafka-python clients (producer, consumer, admin); TLS from the file paths."""
    kw: dict[str, Any] = {"bootstrap_servers": servers(kafka), "security_protocol": kafka.security_protocol}
    kw |= _sasl_kwargs(kafka)
    for name in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        path = getattr(kafka, name)
        if path:
            kw[name] = str(path)
    return kw


def librdkafka_config(kafka: KafkaSettings) -> dict[str, Any]:
    """Connection config for confluent-kafka (librdkafka) clients: the same servers, TLS files and SASL."""
    conf: dict[str, Any] = {"bootstrap.servers": kafka.bootstrap_servers,
                            "security.protocol": kafka.security_protocol.lower()}
    if uses_sasl(kafka):
        conf |= {"sasl.mechanism": sasl_mechanism(kafka), "sasl.username": kafka.sasl_username,
                 "sasl.password": _password(kafka)}
    for name, key in (("ssl_cafile", "ssl.ca.location"), ("ssl_certfile", "ssl.certificate.location"),
                      ("ssl_keyfile", "ssl.key.location")):
        path = getattr(kafka, name)
        if path:
            conf[key] = str(path)
    return conf


class KafkaConnectError(RuntimeError):
    """The cluster could not be reached or refused the credentials; the message names what to check."""


class _AuthFailures(logging.Handler):
    """Collects what kafka-python logs while it retries until its timeout: SASL authentication failures, and
    connections the broker closed (it closes one after a failed login, often before the client reads why)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.seen: list[str] = []
        self.closed = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "SaslAuthenticationFailed" in message:
            self.seen.append(message.rsplit("SaslAuthenticationFailedError", 1)[-1].strip(": )"))
        elif record.name == "kafka.net.transport" and message.endswith("socket disconnected"):
            self.closed += 1


def _failure(kafka: KafkaSettings, exc: Exception, failures: _AuthFailures) -> KafkaConnectError:
    where = f"Kafka at {kafka.bootstrap_servers} ({kafka.security_protocol}"
    where += f", {sasl_mechanism(kafka)} user {kafka.sasl_username!r})" if uses_sasl(kafka) else ")"
    check = "check SEQSIGNAL_KAFKA__SASL_USERNAME and SEQSIGNAL_KAFKA__SASL_PASSWORD"
    if failures.seen:
        return KafkaConnectError(f"{where}: SASL login failed ({failures.seen[-1]}); {check}")
    if uses_sasl(kafka) and failures.closed:
        return KafkaConnectError(f"{where}: SASL login failed: the broker closed the connection during "
                                 f"the login ({failures.closed} attempts); {check}")
    return KafkaConnectError(f"{where}: not usable: {exc}")


def admin_client(kafka: KafkaSettings, client_id: str = "seqsignal-admin") -> KafkaAdminClient:
    """A kafka-python admin client on the configured cluster (close it after use).

    Raises KafkaConnectError, naming a refused login as such, when the cluster cannot be used."""
    from kafka import KafkaAdminClient  # imported late: kafka-python is slow to import
    from kafka.errors import KafkaError

    failures, logger = _AuthFailures(), logging.getLogger("kafka")
    logger.addHandler(failures)
    try:
        return KafkaAdminClient(client_id=client_id, **kafka_python_kwargs(kafka))
    except KafkaError as exc:
        raise _failure(kafka, exc, failures) from exc
    finally:
        logger.removeHandler(failures)
