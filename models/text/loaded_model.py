"""A trained text network ready to serve: in eval mode on its device, with tokenizer, config and version."""

from __future__ import annotations

from typing import ClassVar, Generic, TypeVar

from torch import nn

M = TypeVar("M", bound=nn.Module)
T = TypeVar("T")
C = TypeVar("C")


class LoadedModel(Generic[M, T, C]):
    """What every text predictor holds; `batch_size` defaults to the subclass's `DEFAULT_BATCH_SIZE`."""

    DEFAULT_BATCH_SIZE: ClassVar[int] = 256

    def __init__(self, model: M, tokenizer: T, config: C, version: str, device: str = "cpu",
                 batch_size: int | None = None) -> None:
        self.model: M = model.eval().to(device)
        self.tokenizer = tokenizer
        self.config = config
        self.version = version
        self.device = device
        self.batch_size = self.DEFAULT_BATCH_SIZE if batch_size is None else batch_size
