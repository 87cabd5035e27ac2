"""Pseudonymisation: keyed, stable, truncated hex."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from seqsignal.workers.state.privacy import pseudonymize


def test_pseudonym_is_keyed_hmac_sha256_truncated_hex() -> None:
    p = pseudonymize("alice", b"k1")
    assert p == hmac.new(b"k1", b"alice", hashlib.sha256).hexdigest()[:32]
    assert len(p) == 32 and int(p, 16) >= 0
    assert pseudonymize("alice", b"k1") == p  # stable
    assert pseudonymize("alice", b"k2") != p  # keyed
    assert pseudonymize("bob", b"k1") != p
    assert "alice" not in p
    assert len(pseudonymize("alice", b"k1", hex_chars=64)) == 64


@pytest.mark.parametrize(
    "kwargs", [{"key": b""}, {"key": b"k", "hex_chars": 8}, {"key": b"k", "hex_chars": 65}]
)
def test_pseudonym_rejects_empty_key_and_odd_lengths(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        pseudonymize("alice", **kwargs)
