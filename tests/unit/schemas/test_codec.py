"""The codec: every bad input ends as InvalidEvent with the right reason; valid events round-trip."""

from __future__ import annotations

import json
import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import orjson
import pytest
from hypothesis import event, given, settings
from hypothesis import strategies as st

from seqsignal.schemas import codec
from seqsignal.schemas.codec import (
    DEFAULT_MAX_BYTES,
    MAX_DETAIL_CHARS,
    REASONS,
    InvalidEvent,
    decode,
    decode_as,
    decode_many,
    encode,
)
from seqsignal.schemas.events import ACTION_TYPES, Action, ActionType, Label, ModelUpdate, Post

BAD_INPUTS = Path(__file__).resolve().parents[2] / "data" / "bad_inputs"
CORPUS = sorted(BAD_INPUTS.glob("*.bin"))
KINDS = ("posts", "actions", "labels")
SETTINGS = settings(max_examples=300, deadline=None)

POST = Post(post_id="1001", user_id="u42", text="Officials confirm the bridge is closed", lang="en",
            created_at=datetime(2024, 1, 31, 12, 0, tzinfo=UTC), root_id="1001", source="test")
ACTION = Action(event_id="a-1", user_id="u42", action="repost", target_id="1001",
                created_at=datetime(2024, 1, 31, 12, 0, 0, 250000, tzinfo=UTC))
LABEL = Label(label_id="l-1", task="rumor", post_id="1001", label="rumour", veracity="unverified",
              replies=["is this true?", "source?"], created_at=datetime(2024, 1, 31, 12, 0, tzinfo=UTC))
VALID = {"posts": POST, "actions": ACTION, "labels": LABEL}


def _case(path: Path) -> tuple[str, str]:
    reason, kind, _name = path.stem.split("__")
    return reason, kind


# ------------------------------------------------------------------------------------------ the corpus
def test_corpus_covers_every_reason_and_kind() -> None:
    assert len(CORPUS) >= 40
    reasons = {_case(p)[0] for p in CORPUS}
    assert reasons == set(REASONS)
    assert {_case(p)[1] for p in CORPUS} == set(KINDS)
    assert any(p.stat().st_size > DEFAULT_MAX_BYTES for p in CORPUS)


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: p.stem)
def test_bad_input_gives_its_reason(path: Path) -> None:
    reason, kind = _case(path)
    raw = path.read_bytes()
    with pytest.raises(InvalidEvent) as info:
        decode(kind, raw)
    assert info.value.reason == reason, info.value.detail
    assert 0 < len(info.value.detail) <= MAX_DETAIL_CHARS + 20
    assert "x" * 50 not in info.value.detail  # never echoes a big value
    if reason == "schema":
        assert info.value.field is None or info.value.field in info.value.detail


# -------------------------------------------------------------------------------------- valid events
@pytest.mark.parametrize("kind", KINDS)
def test_valid_events_round_trip(kind: str) -> None:
    event = VALID[kind]
    raw = encode(event)
    assert decode(kind, raw) == event
    assert decode(kind, bytearray(raw)) == event
    assert decode(kind, memoryview(raw)) == event
    assert decode_many(kind, [raw, b"", raw])[0::2] == [event, event]


def test_encoding_is_compact_with_every_field_and_utc_z() -> None:
    raw = encode(ACTION)
    assert raw == (b'{"schema_version":1,"event_id":"a-1","user_id":"u42","action":"repost",'
                   b'"target_id":"1001","created_at":"2024-01-31T12:00:00.250000Z","source":null}')


def test_offsets_are_normalised_to_utc() -> None:
    body = {"event_id": "e", "user_id": "u", "action": "like", "created_at": "2024-01-31t14:30:00.5+02:30"}
    event = decode("actions", orjson.dumps(body))
    assert event.created_at == datetime(2024, 1, 31, 12, 0, 0, 500000, tzinfo=UTC)
    assert event.created_at.utcoffset() == timedelta(0)
    assert orjson.loads(encode(event))["created_at"] == "2024-01-31T12:00:00.500000Z"
    local = Action(event_id="e", user_id="u", action="like",
                   created_at=datetime(2024, 1, 31, 14, 0, tzinfo=timezone(timedelta(hours=2))))
    assert orjson.loads(encode(local))["created_at"] == "2024-01-31T12:00:00Z"


def test_missing_schema_version_means_1_and_is_written_back() -> None:
    body = orjson.loads(encode(POST))
    del body["schema_version"]
    event = decode("posts", orjson.dumps(body))
    assert event == POST and event.schema_version == 1
    assert orjson.loads(encode(event))["schema_version"] == 1


def test_paired_surrogate_escapes_are_fine() -> None:
    body = orjson.loads(encode(POST))
    raw = orjson.dumps(body).replace(b"bridge", b"\\ud83d\\ude00")
    assert decode("posts", raw).text == "Officials confirm the \U0001f600 is closed"


def test_size_limit_is_configurable_and_inclusive() -> None:
    raw = encode(POST)
    assert decode("posts", raw, max_bytes=len(raw)) == POST
    with pytest.raises(InvalidEvent) as info:
        decode("posts", raw, max_bytes=len(raw) - 1)
    assert info.value.reason == "too_large"


def test_tombstone_unknown_kind_and_output_types() -> None:
    with pytest.raises(InvalidEvent) as info:
        decode("posts", None)
    assert info.value.reason == "empty"
    with pytest.raises(KeyError):
        decode("nope", encode(POST))
    update = ModelUpdate(task="rumor", version="v3", manifest_sha256="ab" * 32, metrics={"f1": 0.8},
                         promoted_at=datetime(2024, 1, 1, tzinfo=UTC), registry_uri="file:///r")
    assert decode_as(ModelUpdate, encode(update)) == update
    with pytest.raises(InvalidEvent):
        decode_as(ModelUpdate, encode(POST))


def test_schema_detail_names_the_field_and_not_the_value() -> None:
    body = orjson.loads(encode(POST))
    body["text"] = "SECRET" * 4000
    with pytest.raises(InvalidEvent) as info:
        decode("posts", orjson.dumps(body))
    assert info.value.field == "text" and "text" in info.value.detail and "SECRET" not in info.value.detail
    body = orjson.loads(encode(POST))
    body["k" * 5000] = 1  # an unknown field is ignored (evolution policy), even with a huge name
    body["user_id"] = "SECRET" * 100
    with pytest.raises(InvalidEvent) as info:
        decode("posts", orjson.dumps(body))
    assert info.value.reason == "schema" and len(info.value.detail) <= MAX_DETAIL_CHARS + 20
    assert "kkkk" not in info.value.detail and "SECRET" not in info.value.detail


def test_label_must_fit_its_task() -> None:
    body = orjson.loads(encode(LABEL))
    body["label"] = "positive"
    with pytest.raises(InvalidEvent) as info:
        decode("labels", orjson.dumps(body))
    assert info.value.field == "label"


def test_invalid_event_is_a_value_error_that_pickles() -> None:
    err = InvalidEvent("schema", "text: too long", field="text")
    back = pickle.loads(pickle.dumps(err))
    assert isinstance(err, ValueError) and isinstance(back, InvalidEvent)
    assert back.to_dict() == {"reason": "schema", "detail": "text: too long", "field": "text"}
    assert str(back) == "schema: text: too long"


# --------------------------------------------------------------------------------------------- properties
def _decode_or_reason(kind: str, raw: bytes) -> object:
    """The event, or the InvalidEvent; any other exception fails the test."""
    try:
        decoded = decode(kind, raw)
    except InvalidEvent as exc:
        assert exc.reason in REASONS
        event(exc.reason)
        return exc
    event("accepted")
    # Anything accepted is plain RFC 8259 JSON, passes every transport check, and round-trips.
    json.loads(raw.decode("utf-8", errors="strict"))
    codec._diagnose(raw)
    assert decode(kind, encode(decoded)) == decoded
    return decoded


@SETTINGS
@given(st.sampled_from(KINDS), st.binary(max_size=300))
def test_arbitrary_bytes_only_raise_invalid_event(kind: str, raw: bytes) -> None:
    assert isinstance(_decode_or_reason(kind, raw), InvalidEvent)


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=20,
)


@SETTINGS
@given(st.sampled_from(KINDS), JSON)
def test_arbitrary_json_only_raises_invalid_event(kind: str, value: object) -> None:
    _decode_or_reason(kind, json.dumps(value).encode())


@st.composite
def mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    kind = draw(st.sampled_from(KINDS))
    raw = bytearray(encode(VALID[kind]))
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(raw)))
        op = draw(st.sampled_from(["insert", "delete", "replace", "escape"]))
        chunk = draw(st.binary(min_size=1, max_size=4) | st.sampled_from(
            [b"\\", b'"', b"{", b"]", b",", b"\\ud800", b"\\udfff", b"\xed\xa0\x80", b"9" * 20]))
        if op == "insert":
            raw[at:at] = chunk
        elif op == "delete":
            del raw[at : at + len(chunk)]
        elif op == "replace":
            raw[at : at + len(chunk)] = chunk
        else:
            unit = draw(st.integers(0xD800, 0xDFFF))
            raw[at:at] = f"\\u{unit:04x}".encode()
    return kind, bytes(raw)


@settings(max_examples=500, deadline=None)
@given(mutated())
def test_mutated_valid_events_only_raise_invalid_event(case: tuple[str, bytes]) -> None:
    _decode_or_reason(*case)


@SETTINGS
@given(st.text(max_size=200), st.sampled_from(ACTION_TYPES), st.datetimes(
    min_value=datetime(1970, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.timezones()),
    st.text(min_size=1, max_size=40))
def test_generated_events_round_trip(text: str, action: ActionType, when: datetime, ident: str) -> None:
    try:
        post = Post(post_id=ident, user_id=ident, text=text, created_at=when, root_id=ident)
    except ValueError:  # e.g. a local time that leaves years 1..9999 in UTC
        return
    assert decode("posts", encode(post)) == post
    act = Action(event_id=ident, user_id=ident, action=action, created_at=when)
    assert decode("actions", encode(act)) == act


# ----------------------------------------------------------------------------------- schema evolution
# The policy (docs/consumers.md): within v1 a producer may add fields; readers ignore them. These two were
# dead-lettered before the policy (`schema: unknown field`); now they decode, without the extra field.
NEWER_PRODUCERS = {
    "posts": b'{"schema_version":1,"post_id":"1001","user_id":"u42","text":"Officials confirm the bridge is '
             b'closed","lang":"en","created_at":"2024-01-31T12:00:00Z","reply_to":null,"root_id":"1001",'
             b'"source":"corpus","retweets":3,"geo":{"lat":1.5,"lon":2}}',
    "labels": b'{"schema_version":1,"label_id":"l-1","task":"sentiment","post_id":"1001","text":"love it",'
              b'"label":"positive","veracity":null,"replies":[],"labeller":"corpus",'
              b'"created_at":"2024-01-31T12:00:00Z","confidence":null}',
    "actions": b'{"event_id":"e1","user_id":"u1","action":"like","created_at":"2012-07-01T00:00:00Z",'
               b'"device":"ios"}',
}


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_input_fields_are_ignored(kind: str) -> None:
    event = decode(kind, NEWER_PRODUCERS[kind])
    dumped = orjson.loads(encode(event))
    assert not {"retweets", "geo", "confidence", "device"} & dumped.keys()


def test_breaking_changes_still_fail() -> None:
    with pytest.raises(InvalidEvent) as info:  # a v2 producer must use the v2 topic
        decode("posts", NEWER_PRODUCERS["posts"].replace(b'"schema_version":1', b'"schema_version":2'))
    assert info.value.reason == "unsupported_version"
    with pytest.raises(InvalidEvent) as info:  # a renamed (so: missing) required field
        decode("actions", NEWER_PRODUCERS["actions"].replace(b'"user_id"', b'"user"'))
    assert info.value.reason == "schema"
