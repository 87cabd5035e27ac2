"""The targets section of a user window (format 2): each distinct target once, then one index per record.
Mirrored by `lua/append_actions.lua` (encode_targets / decode_targets there)."""

from __future__ import annotations

from collections.abc import Sequence


def encode_targets(targets: Sequence[bytes]) -> bytes:
    """The targets section of format 2 (b"" when no record has a target): uint16 m, the m distinct targets
    in first-appearance order (uint8 len + bytes), then one index per record (0 = none, else 1..m; uint8
    when m < 255, else uint16), so a target acted on repeatedly is stored once."""
    order = list(dict.fromkeys(t for t in targets if t))
    if not order:
        return b""
    index = {t: i + 1 for i, t in enumerate(order)}
    width = 1 if len(order) < 255 else 2
    parts = [len(order).to_bytes(2, "big"), *(bytes([len(t)]) + t for t in order)]
    parts += [index.get(t, 0).to_bytes(width, "big") for t in targets]
    return b"".join(parts)


def decode_targets(section: bytes, n: int) -> list[bytes]:
    """Inverse of `encode_targets` for n records."""
    if not section:
        return [b""] * n
    m, pos = int.from_bytes(section[:2], "big"), 2
    names = [b""]
    for _ in range(m):
        names.append(section[pos + 1 : pos + 1 + section[pos]])
        pos += 1 + section[pos]
    width = 1 if m < 255 else 2
    if len(section) != pos + n * width:
        raise ValueError("corrupt user window targets")
    return [names[int.from_bytes(section[pos + i * width : pos + (i + 1) * width], "big")] for i in range(n)]
