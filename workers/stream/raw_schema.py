"""Input topics' schema: the record's bytes as they came, without faust's per-record decode.

faust decodes every consumed record through its schema (`Schema.compile` -> `loads_key` / `loads_value` via
the serializer registry, here the "raw" codec: bytes in, the same bytes out) before it builds the `Event`.
The worker never reads the decoded key or value: the agents take the bytes off `event.message`
(`agents.raw_event`) and validate them themselves (dead-lettering what fails). `RawSchema` builds the same
`Event` from the message's key and value as they are: the decode was ~3.5 % of the loop thread in the
bench's drain (py-spy, docs/benchmarks.md). An extension point faust offers (`app.topic(schema=...)`).
"""

from __future__ import annotations

from typing import Any

import faust
from faust.serializers.schemas import DecodeFunction
from faust.types import AppT


class RawSchema(faust.Schema):
    """key and value as bytes, exactly as fetched (None stays None)."""

    def __init__(self) -> None:
        super().__init__(key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
                         allow_empty=True)

    def compile(self, app: AppT, *, on_key_decode_error: Any = None, on_value_decode_error: Any = None,
                default_propagate: bool = False) -> DecodeFunction:
        create_event = app.create_event

        async def decode(message: Any, *, propagate: bool = default_propagate) -> Any:
            return create_event(message.key, message.value, message.headers, message)

        return decode
