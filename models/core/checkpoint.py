"""Checkpoint files: safetensors weights and JSON config as bytes, and the pickle-free checks on loading."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load as st_load
from safetensors.torch import save as st_save
from torch import nn

WEIGHTS = "model.safetensors"
CONFIG = "config.json"
# Only these file kinds may live in a model version; anything else (.pt, .pkl, .bin, ...) is refused.
ALLOWED_SUFFIXES = frozenset({".safetensors", ".json", ".txt", ".png", ".md", ".csv", ".tsv", ".sha256"})
_PICKLE_MAGIC = (b"\x80\x02", b"\x80\x03", b"\x80\x04", b"\x80\x05")
_ZIP_MAGIC = b"PK\x03\x04"  # torch.save's default container holds a pickle


class UnsafeFileError(ValueError):
    """A file that could hold a pickle (by name or by content) was found where none is allowed."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _is_safetensors(data: bytes, size: int) -> bool:
    """Structural check: u64 little-endian header length, then a JSON object header of that length."""
    if len(data) < 10:
        return False
    n = int.from_bytes(data[:8], "little")
    if n < 2 or 8 + n > size or len(data) < 8 + n:
        return False
    try:
        return isinstance(json.loads(data[8: 8 + n]), dict)
    except ValueError:
        return False


def check_safe(name: str, data: bytes, size: int | None = None) -> None:
    """Refuse a file whose name, or content, could be a pickle (or a torch.save archive).

    `data` is the file's bytes (at least its safetensors header for .safetensors); `size` the file size.
    Safetensors files are checked structurally (their header length can begin with pickle-like bytes);
    every other allowed kind is text or PNG and must not start like a pickle or a zip archive.
    """
    suffix = Path(name).suffix.lower()
    if suffix not in ALLOWED_SUFFIXES:
        kind = suffix or "(none)"
        raise UnsafeFileError(f"{name}: file type {kind} is not allowed in a model (no pickles)")
    if suffix == ".safetensors":
        if not _is_safetensors(data, len(data) if size is None else size):
            raise UnsafeFileError(f"{name}: not a valid safetensors file (pickle or torch.save?); refused")
    elif data.startswith(_PICKLE_MAGIC) or data.startswith(_ZIP_MAGIC):
        raise UnsafeFileError(f"{name}: content looks like a pickle or torch.save archive; refused")


def check_safe_file(name: str, path: Path) -> None:
    """check_safe on a file, reading only its head (the safetensors header when there is one)."""
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(8)
        if Path(name).suffix.lower() == ".safetensors" and len(head) == 8:
            n = int.from_bytes(head, "little")
            head += f.read(n) if 8 + n <= size else b""
    check_safe(name, head, size)


def weights_bytes(model: nn.Module) -> bytes:
    """The model's state dict as safetensors bytes (contiguous CPU copies; deterministic)."""
    state = {k: v.detach().to("cpu").contiguous().clone() for k, v in model.state_dict().items()}
    return st_save(state)


def json_bytes(obj: Any) -> bytes:
    return (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()


def model_files(model: nn.Module, config: Mapping[str, Any]) -> dict[str, bytes]:
    """The two files every checkpoint has: weights and config."""
    return {WEIGHTS: weights_bytes(model), CONFIG: json_bytes(dict(config))}


def load_weights(data: bytes, device: str | torch.device = "cpu") -> dict[str, torch.Tensor]:
    """Tensors from safetensors bytes (never unpickles)."""
    check_safe(WEIGHTS, data)
    return {k: v.to(device) for k, v in st_load(data).items()}


def load_into(model: nn.Module, data: bytes, device: str | torch.device = "cpu") -> nn.Module:
    """Load safetensors bytes into model strictly (every key present, no extra keys)."""
    model.load_state_dict(load_weights(data, device), strict=True)
    return model.to(device)

