"""The config.json form of a model config dataclass: `to_dict` and `from_dict`, as a mixin."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self

from seqsignal.models.core.seq2seq import config_from_dict, config_to_dict


class JsonConfig:
    """Mixin for config dataclasses saved in config.json (tuple fields round-trip, unknown keys dropped)."""

    def to_dict(self) -> dict[str, Any]:
        return config_to_dict(self)

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        return config_from_dict(cls, d)
