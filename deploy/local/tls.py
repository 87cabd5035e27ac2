"""TLS material for the secure local stack: a throwaway CA and a server certificate for 127.0.0.1, as PEM."""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

VALID_DAYS = 30  # a local stack lives hours; a month leaves room for one left running


@dataclass(frozen=True)
class TlsFiles:
    """Where the PEM files are: clients trust `ca`; servers present `cert` (+ chain) with `key`."""

    ca: Path  # the CA certificate (public; what clients verify against)
    cert: Path  # server certificate followed by the CA certificate (chain)
    key: Path  # server private key, PKCS#8, unencrypted, mode 0600
    keystore: Path  # key + chain in one file: Kafka's ssl.keystore.type=PEM, mode 0600


def write_private(path: Path, data: bytes) -> None:
    """Write data to a file created with mode 0600 (never readable by others, not even for an instant)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


_CA_USAGE = x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                          key_encipherment=False, data_encipherment=False, key_agreement=False,
                          encipher_only=False, decipher_only=False)


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "seqsignal local stack"),
                      x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _ca(now: dt.datetime) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    name = _name("seqsignal local CA")
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_CA_USAGE, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def _server(ca_key: rsa.RSAPrivateKey, ca: x509.Certificate, now: dt.datetime,
            hosts: tuple[str, ...]) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    key = _key()
    san: list[x509.GeneralName] = []
    for host in hosts:
        try:
            san.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            san.append(x509.DNSName(host))
    cert = (
        x509.CertificateBuilder().subject_name(_name(hosts[0])).issuer_name(ca.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=VALID_DAYS))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH,
                                              ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                       critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    return key, cert


def generate(tls_dir: Path, hosts: tuple[str, ...] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """A new CA and a server certificate for `hosts` (IP or DNS SANs), written to tls_dir as PEM.

    The CA's private key is never written: nothing else is signed with it, so it dies with this call."""
    now = dt.datetime.now(dt.UTC)
    ca_key, ca = _ca(now)
    key, cert = _server(ca_key, ca, now, hosts)
    pem = serialization.Encoding.PEM
    key_pem = key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    chain = cert.public_bytes(pem) + ca.public_bytes(pem)
    files = files_in(tls_dir)
    tls_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(tls_dir, 0o700)
    files.ca.write_bytes(ca.public_bytes(pem))
    files.cert.write_bytes(chain)
    write_private(files.key, key_pem)
    write_private(files.keystore, key_pem + chain)
    return files


def files_in(tls_dir: Path) -> TlsFiles:
    """The TlsFiles that `generate` writes to tls_dir (whether they exist or not)."""
    return TlsFiles(ca=tls_dir / "ca.pem", cert=tls_dir / "server.pem", key=tls_dir / "server.key",
                    keystore=tls_dir / "kafka-keystore.pem")
