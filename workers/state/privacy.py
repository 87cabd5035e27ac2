"""Pseudonymisation of user ids: a keyed HMAC-SHA256, truncated, in hex."""

from __future__ import annotations

import hashlib
import hmac

DEFAULT_HEX_CHARS = 32  # 128 bits: collisions are negligible for any realistic number of users


def pseudonymize(user_id: str, key: bytes, *, hex_chars: int = DEFAULT_HEX_CHARS) -> str:
    """A stable pseudonym of `user_id` under `key`; without the key it cannot be linked back."""
    if not key:
        raise ValueError("pseudonymisation needs a non-empty key")
    if not 16 <= hex_chars <= 64:
        raise ValueError("hex_chars must be between 16 and 64")
    return hmac.new(key, user_id.encode(), hashlib.sha256).hexdigest()[:hex_chars]
