"""Kafka connection kwargs: the same servers, TLS and SASL for faust, aiokafka, kafka-python and
librdkafka; no secret in a repr."""

from __future__ import annotations

import ssl

from faust.auth import SASLCredentials, SSLCredentials

from seqsignal.workers.kafka import (
    aiokafka_kwargs,
    faust_credentials,
    faust_kwargs,
    kafka_python_kwargs,
    librdkafka_config,
    ssl_context,
)
from seqsignal.workers.settings import KafkaSettings


def test_broker_urls_and_plaintext_has_no_credentials() -> None:
    k = KafkaSettings(bootstrap_servers=" a:1 , b:2 ")
    assert faust_kwargs(k) == {"broker": ["kafka://a:1", "kafka://b:2"], "broker_credentials": None}
    assert ssl_context(k) is None
    assert aiokafka_kwargs(k) == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT",
                                  "ssl_context": None}
    assert kafka_python_kwargs(k) == {"bootstrap_servers": ["a:1", "b:2"], "security_protocol": "PLAINTEXT"}


def test_sasl_ssl_credentials_and_no_secret_in_repr() -> None:
    k = KafkaSettings(
        security_protocol="SASL_SSL",
        sasl_mechanism="SCRAM-SHA-512",
        sasl_username="svc",
        sasl_password="hunter2-secret",
    )
    creds = faust_credentials(k)
    assert isinstance(creds, SASLCredentials)
    assert creds.ssl_context is not None and creds.mechanism.value == "SCRAM-SHA-512"
    assert creds.password == "hunter2-secret"
    assert "hunter2" not in repr(creds)
    sasl = {"sasl_mechanism": "SCRAM-SHA-512", "sasl_plain_username": "svc",
            "sasl_plain_password": "hunter2-secret"}
    aio = aiokafka_kwargs(k)
    assert isinstance(aio["ssl_context"], ssl.SSLContext) and aio["security_protocol"] == "SASL_SSL"
    assert {name: aio[name] for name in sasl} == sasl
    assert {name: kafka_python_kwargs(k)[name] for name in sasl} == sasl


def test_sasl_without_mechanism_is_plain_everywhere() -> None:
    k = KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="svc", sasl_password="pw")
    creds = faust_credentials(k)
    assert isinstance(creds, SASLCredentials) and creds.ssl_context is None
    assert creds.mechanism.value == "PLAIN"
    assert aiokafka_kwargs(k)["sasl_mechanism"] == kafka_python_kwargs(k)["sasl_mechanism"] == "PLAIN"


def test_tls_only_uses_one_verifying_context_and_the_files_for_kafka_python() -> None:
    k = KafkaSettings(security_protocol="SSL")
    creds = faust_credentials(k)
    assert isinstance(creds, SSLCredentials)
    context = aiokafka_kwargs(k)["ssl_context"]
    assert context.verify_mode == ssl.CERT_REQUIRED and context.check_hostname
    assert "sasl_mechanism" not in kafka_python_kwargs(k)


def test_librdkafka_config_maps_servers_sasl_and_tls_files() -> None:
    assert librdkafka_config(KafkaSettings(bootstrap_servers="a:1,b:2")) == {
        "bootstrap.servers": "a:1,b:2", "security.protocol": "plaintext"}
    k = KafkaSettings(security_protocol="SASL_SSL", sasl_mechanism="SCRAM-SHA-256", sasl_username="svc",
                      sasl_password="pw", ssl_cafile="/ca.pem", ssl_certfile="/c.pem", ssl_keyfile="/k.pem")
    conf = librdkafka_config(k)
    assert conf["security.protocol"] == "sasl_ssl" and conf["sasl.mechanism"] == "SCRAM-SHA-256"
    assert (conf["sasl.username"], conf["sasl.password"]) == ("svc", "pw")
    assert (conf["ssl.ca.location"], conf["ssl.certificate.location"], conf["ssl.key.location"]) == (
        "/ca.pem", "/c.pem", "/k.pem")
    assert librdkafka_config(KafkaSettings(security_protocol="SASL_PLAINTEXT", sasl_username="u",
                                           sasl_password="p"))["sasl.mechanism"] == "PLAIN"
