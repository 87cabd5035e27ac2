"""Input topics' schema: the event carries the fetched bytes as they are, no registry decode."""

from __future__ import annotations

import faust
from faust.types.tuples import Message

from seqsignal.workers.stream.raw_schema import RawSchema


def _message(key: bytes | None, value: bytes | None) -> Message:
    return Message("events.actions.v1", 2, 41, 1.7e9, 0, [("h", b"1")], key, value, None)


async def test_the_event_holds_the_messages_bytes_and_the_message() -> None:
    app = faust.App("raw-schema-test", autodiscover=False)
    decode = RawSchema().compile(app)
    for key, value in ((b"user-1", b'{"not": "decoded"}'), (None, b"\xff\xfe not utf-8"), (b"k", None)):
        message = _message(key, value)
        event = await decode(message)
        assert (event.key, event.value, event.message) == (key, value, message)
        assert event.headers == {"h": b"1"}  # faust's Event keeps headers as a dict


def test_the_input_topics_use_it() -> None:
    from seqsignal.workers.stream.agents import _raw_topic

    topic = _raw_topic(faust.App("raw-schema-test-2", autodiscover=False), "events.actions.v1")
    assert isinstance(topic.schema, RawSchema)
