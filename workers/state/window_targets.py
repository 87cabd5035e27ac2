"""Targets of a user window: each distinct target stored once, one index per record. Format 3 (written now)
packs a target id into an entry (canonical decimal ids as integers, lowercase hex ids such as pseudonyms as
bytes); format 2 (read only, and by the Lua scripts when they meet an old key) kept them as they came.
Mirrored by `lua/append_actions.lua` (pack_target, encode_dict / decode_dict there)."""

from __future__ import annotations

import re
from collections.abc import Sequence

_DECIMAL = re.compile(rb"0|[1-9][0-9]{0,14}")  # < 10**15: exact in the Lua scripts' doubles
_HEX = re.compile(rb"(?:[0-9a-f]{2}){1,32}")
DECIMAL_TAG, HEX_TAG = 128, 192  # entry tags: < 128 raw (its length), 128 + k decimal, 192 + k hex (k bytes)


def uvarint(v: int) -> bytes:
    """LEB128 of a non-negative integer (7 bits a byte, least significant first)."""
    out = bytearray()
    while v >= 128:
        out.append((v & 127) | 128)
        v >>= 7
    out.append(v)
    return bytes(out)


def read_uvarint(blob: bytes, pos: int) -> tuple[int, int]:
    """(value, position after it)."""
    v = shift = 0
    while True:
        b = blob[pos]
        pos += 1
        v |= (b & 127) << shift
        if b < 128:
            return v, pos
        shift += 7


def pack_target(t: bytes) -> bytes:
    """The stored entry of one target id (t non-empty, at most 64 bytes)."""
    if _DECIMAL.fullmatch(t):
        v = int(t)
        b = v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")
        return bytes([DECIMAL_TAG + len(b)]) + b
    if _HEX.fullmatch(t):
        b = bytes.fromhex(t.decode())
        return bytes([HEX_TAG + len(b)]) + b
    return bytes([len(t)]) + t


def _unpack_entry(blob: bytes, pos: int) -> tuple[bytes, int]:
    tag = blob[pos]
    if tag < DECIMAL_TAG:
        return blob[pos + 1 : pos + 1 + tag], pos + 1 + tag
    k = tag - (HEX_TAG if tag >= HEX_TAG else DECIMAL_TAG)
    raw = blob[pos + 1 : pos + 1 + k]
    text = raw.hex() if tag >= HEX_TAG else str(int.from_bytes(raw, "big"))
    return text.encode(), pos + 1 + k


def encode_dict(targets: Sequence[bytes]) -> bytes:
    """Format 3 targets: varint m, the m distinct targets in first-appearance order (packed entries), then,
    when m > 0, one varint index per record (0 = none, else 1..m)."""
    order = list(dict.fromkeys(t for t in targets if t))
    if not order:
        return b"\x00"
    index = {t: i + 1 for i, t in enumerate(order)}
    parts = [uvarint(len(order)), *(pack_target(t) for t in order)]
    if len(order) < 128:
        parts.append(bytes(index.get(t, 0) for t in targets))
    else:
        parts += [uvarint(index.get(t, 0)) for t in targets]
    return b"".join(parts)


def decode_dict(blob: bytes, pos: int, n: int) -> list[bytes]:
    """Inverse of `encode_dict` for n records starting at pos; the section must end the blob."""
    m, pos = read_uvarint(blob, pos)
    if m == 0:
        if pos != len(blob):
            raise ValueError("corrupt user window targets")
        return [b""] * n
    names = [b""]
    for _ in range(m):
        name, pos = _unpack_entry(blob, pos)
        names.append(name)
    if m < 128:
        ix = list(blob[pos : pos + n])
        pos += n
    else:
        ix = []
        for _ in range(n):
            i, pos = read_uvarint(blob, pos)
            ix.append(i)
    if pos != len(blob) or len(ix) != n:
        raise ValueError("corrupt user window targets")
    return [names[i] for i in ix]


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
