"""The secure stack's generated files: a CA that verifies the server certificate, 0600 secrets, the broker's
SASL_SSL config, Redis' TLS + ACL conf, and export lines that never print a password."""

from __future__ import annotations

import ipaddress
import ssl
import stat
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from seqsignal.commands.stack import _exports
from seqsignal.deploy.local import kafka, redis, secure, tls
from seqsignal.deploy.local.rundir import StackState, paths, save_state, write_env


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_certificate_chain_verifies_for_loopback(tmp_path: Path) -> None:
    files = tls.generate(tmp_path / "tls")
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    leaf, chained_ca = x509.load_pem_x509_certificates(files.cert.read_bytes())
    assert chained_ca == ca
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert ipaddress.ip_address("127.0.0.1") in san.get_values_for_type(x509.IPAddress)
    assert "localhost" in san.get_values_for_type(x509.DNSName)
    ca_key = ca.public_key()
    assert isinstance(ca_key, rsa.RSAPublicKey)
    assert leaf.signature_hash_algorithm is not None
    ca_key.verify(leaf.signature, leaf.tbs_certificate_bytes, padding.PKCS1v15(),
                  leaf.signature_hash_algorithm)
    # Python's own TLS stack accepts the pair: the key matches the certificate, the CA loads as a trust root.
    server = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server.load_cert_chain(files.cert, files.key)
    ssl.create_default_context(cafile=str(files.ca))
    assert _mode(files.key) == 0o600 and _mode(files.keystore) == 0o600
    keystore = files.keystore.read_bytes()
    assert b"PRIVATE KEY" in keystore and keystore.count(b"CERTIFICATE-") == 4  # key + leaf + CA
    assert not list((tmp_path / "tls").glob("ca.key"))  # the CA's key is never written


def test_passwords_are_random_private_and_loaded_back(tmp_path: Path) -> None:
    first, _ = secure.create(tmp_path / "a")
    second, _ = secure.create(tmp_path / "b")
    assert len({first.kafka, first.kafka_admin, first.redis, second.kafka}) == 4
    assert len(first.kafka) >= 32
    assert secure.load(tmp_path / "a") == first
    assert _mode(secure.secrets_dir(tmp_path / "a")) == 0o700
    for name in ("kafka", "kafka-admin", "redis"):
        assert _mode(secure.password_file(tmp_path / "a", name)) == 0o600
    assert first.kafka not in repr(first)


def test_broker_config_is_sasl_ssl_with_an_internal_controller(tmp_path: Path) -> None:
    sec = kafka.Security(keystore=tmp_path / "ks.pem", truststore=tmp_path / "ca.pem", admin_user="admin",
                         admin_password="s3cret-admin")
    cfg = kafka.write_config(tmp_path / "conf", tmp_path / "data", 41001, 41002, sec)
    props = dict(line.split("=", 1) for line in cfg.read_text().splitlines())
    assert props["listeners"] == "SASL_SSL://127.0.0.1:41001,CONTROLLER://127.0.0.1:41002"
    assert props["advertised.listeners"] == "SASL_SSL://127.0.0.1:41001"  # the only listener clients see
    assert props["listener.security.protocol.map"] == "CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL"
    assert props["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
    assert props["ssl.keystore.type"] == "PEM" and props["ssl.keystore.location"] == str(tmp_path / "ks.pem")
    assert 's3cret-admin";' in props["listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config"]
    assert _mode(cfg) == 0o600
    assert "s3cret-admin" not in repr(sec)
    plain = kafka.write_config(tmp_path / "plain", tmp_path / "data", 41001, 41002)
    assert "SASL" not in plain.read_text() and _mode(plain) != 0o600


def test_redis_conf_is_tls_only_with_the_default_user_off(tmp_path: Path) -> None:
    conf = redis.write_secure_conf(tmp_path / "redis.conf", tmp_path / "c.pem", tmp_path / "k.pem",
                                   tmp_path / "ca.pem", "seqsignal", "pw-123")
    lines = conf.read_text().splitlines()
    assert "user default off" in lines
    assert "user seqsignal on >pw-123 ~* &* +@all" in lines
    assert f"tls-cert-file {tmp_path / 'c.pem'}" in lines
    assert _mode(conf) == 0o600


def _state(run_dir: Path, secure_stack: bool) -> StackState:
    return StackState(run_dir=str(run_dir), kafka_version="4.1.2", cluster_id="x", kafka_port=1,
                      controller_port=2, redis_port=3, kafka_pid=10, redis_pid=11, started_at="now",
                      secure=secure_stack)


def test_env_and_exports(tmp_path: Path) -> None:
    creds, _ = secure.create(tmp_path)
    state = _state(tmp_path, True)
    env = state.env()
    assert env["SEQSIGNAL_REDIS__URL"] == "rediss://127.0.0.1:3/0"
    assert env["SEQSIGNAL_KAFKA__SECURITY_PROTOCOL"] == "SASL_SSL"
    assert env["SEQSIGNAL_KAFKA__SASL_PASSWORD"] == creds.kafka
    exports = _exports(state)
    assert creds.kafka not in exports and creds.redis not in exports
    assert f'SEQSIGNAL_KAFKA__SASL_PASSWORD="$(cat {secure.password_file(tmp_path, "kafka")})"' in exports
    write_env(state)
    assert _mode(paths(tmp_path)["env"]) == 0o600
    save_state(state)
    assert '"secure": true' in paths(tmp_path)["json"].read_text()
    plain = _state(tmp_path / "p", False)
    (tmp_path / "p").mkdir()
    save_state(plain)
    assert "secure" not in paths(tmp_path / "p")["json"].read_text()  # a plain stack.json is as before
    assert set(plain.env()) == {"SEQSIGNAL_KAFKA__BOOTSTRAP_SERVERS", "SEQSIGNAL_REDIS__URL"}
