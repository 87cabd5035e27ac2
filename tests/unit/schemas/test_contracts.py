"""The JSON Schema files and the pydantic events agree: structure, and verdicts on generated instances."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import BaseModel

from seqsignal.schemas import export
from seqsignal.schemas.codec import InvalidEvent, decode_as, encode
from seqsignal.schemas.events import ALL_EVENTS, INT64_MAX, INT64_MIN

JSON_DIR = Path(export.__file__).resolve().parent / "json"
NAMES = sorted(ALL_EVENTS)
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.filter_too_much])

# An RFC 3339 date-time checker written apart from the production one (which is a regex plus
# datetime.fromisoformat): ABNF groups, then calendar and offset ranges by hand. Leap seconds (60) and
# instants outside years 1..9999 in UTC are refused on purpose, as the events do.
_DATE_TIME = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(\.[0-9]+)?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)


def _is_date_time(value: object) -> bool:
    if not isinstance(value, str):
        return True  # formats constrain strings only
    m = _DATE_TIME.fullmatch(value)
    if m is None:
        return False
    year, month, day, hour, minute, second = (int(g) for g in m.groups()[:6])
    if m.group(8) is None:
        off_h, off_m = int(m.group(10)), int(m.group(11))
        if off_h > 23 or off_m > 59:
            return False
        offset = timedelta(hours=off_h, minutes=off_m) * (1 if m.group(9) == "+" else -1)
    else:
        offset = timedelta(0)
    try:
        local = datetime(year, month, day, hour, minute, second)
        (local - offset).replace(tzinfo=UTC)  # must stay inside years 1..9999 in UTC
    except (ValueError, OverflowError):
        return False
    return True


FORMATS = FormatChecker(formats=())
FORMATS.checks("date-time")(_is_date_time)


def load(name: str) -> dict[str, Any]:
    return json.loads((JSON_DIR / f"{name}.schema.json").read_text(encoding="utf-8"))


VALIDATORS = {name: Draft202012Validator(load(name), format_checker=FORMATS) for name in NAMES}


# --------------------------------------------------------------------------------------------- structure
def test_every_event_has_exactly_one_schema_file() -> None:
    files = sorted(p.name.removesuffix(".schema.json") for p in JSON_DIR.glob("*.schema.json"))
    assert files == NAMES
    assert set(NAMES) == {"post", "action", "label", "behavior_prediction", "sentiment", "rumor_flag",
                          "dead_letter", "model_update"}


def test_files_are_what_the_export_writes() -> None:
    """Regenerate with `python -m seqsignal.schemas.export` after changing schemas/events.py."""
    for name, schema in export.json_schemas().items():
        assert (JSON_DIR / f"{name}.schema.json").read_bytes() == export.render(schema), name


@pytest.mark.parametrize("name", NAMES)
def test_schema_is_valid_2020_12_with_ids_titles_and_open_objects(name: str) -> None:
    schema = load(name)
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["$id"] == f"urn:seqsignal:schema:v1:{name}"
    assert schema["title"] == ALL_EVENTS[name].__name__
    assert schema["description"]
    objects = [schema, *schema.get("$defs", {}).values()]
    for obj in objects:
        # open: unknown fields are ignored within v1 (the evolution policy, docs/consumers.md)
        assert obj["type"] == "object" and obj["additionalProperties"] is True
    for prop, sub in schema["properties"].items():
        assert sub.get("description"), f"{name}.{prop} has no description"


def _sub_models(model: type[BaseModel]) -> dict[str, type[BaseModel]]:
    found: dict[str, type[BaseModel]] = {}

    def walk(arg: Any) -> None:  # through list[...] and ... | None, at any depth
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            found[arg.__name__] = arg
        for inner in getattr(arg, "__args__", ()):
            walk(inner)

    for field in model.model_fields.values():
        walk(field.annotation)
    return found


@pytest.mark.parametrize("name", NAMES)
def test_property_names_and_required_sets_agree(name: str) -> None:
    schema, model = load(name), ALL_EVENTS[name]
    pairs = [(schema, model)] + [(schema["$defs"][n], m) for n, m in _sub_models(model).items()]
    assert len(pairs) == 1 + len(schema.get("$defs", {}))
    for sub, cls in pairs:
        assert list(sub["properties"]) == list(cls.model_fields)
        required = {n for n, f in cls.model_fields.items() if f.is_required()}
        assert set(sub.get("required", [])) == required
        assert "schema_version" not in required  # absent means 1 (see schemas/codec.py)


@pytest.mark.parametrize("name", NAMES)
def test_timestamps_are_date_time_strings(name: str) -> None:
    schema = load(name)
    for prop, field in ALL_EVENTS[name].model_fields.items():
        if field.annotation is datetime:
            assert schema["properties"][prop]["type"] == "string"
            assert schema["properties"][prop]["format"] == "date-time"


def test_date_time_checker_is_not_vacuous() -> None:
    assert _is_date_time("2024-01-31T12:00:00Z") and _is_date_time("2024-01-31t12:00:00.5-05:30")
    for bad in ("2024-01-31 12:00:00Z", "2024-01-31T12:00:00", "2024-02-30T00:00:00Z", "1706702400",
                "2024-01-31T12:00:60Z", "2024-01-31T12:00:00+24:00", "9999-12-31T23:59:59-01:00"):
        assert not _is_date_time(bad), bad
    assert not VALIDATORS["action"].is_valid({"event_id": "e", "user_id": "u", "action": "like",
                                              "created_at": "2024-01-31 12:00:00Z"})


# ------------------------------------------------------------------------------- instances from schemas
def _date_times() -> st.SearchStrategy[str]:
    offsets = st.sampled_from([None, 0, 60, -300, 330, 14 * 60 - 1, -(12 * 60)])

    @st.composite
    def build(draw: st.DrawFn) -> str:
        when = draw(st.datetimes(min_value=datetime(1900, 1, 1), max_value=datetime(2100, 12, 31)))
        digits = draw(st.integers(0, 9))
        frac = f".{when.microsecond:06d}{draw(st.integers(0, 999)):03d}"[: digits + 1] if digits else ""
        sep = draw(st.sampled_from("Tt"))
        minutes = draw(offsets)
        if minutes is None:
            zone = draw(st.sampled_from("Zz"))
        else:
            zone = datetime(2000, 1, 1, tzinfo=timezone(timedelta(minutes=minutes))).strftime("%z")
            zone = zone[:3] + ":" + zone[3:]
        return when.strftime("%Y-%m-%d") + sep + when.strftime("%H:%M:%S") + frac + zone

    return build()


def from_schema(node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    """Instances of one schema node (the subset of 2020-12 our files use); `allOf` is left to a filter."""
    if "$ref" in node:
        return from_schema(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "const" in node:
        return st.just(node["const"])
    if "anyOf" in node:
        return st.one_of([from_schema(branch, defs) for branch in node["anyOf"]])
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    return st.one_of([_typed(t, node, defs) for t in types])


def _typed(kind: str, node: dict[str, Any], defs: dict[str, Any]) -> st.SearchStrategy[Any]:
    if kind == "null":
        return st.none()
    if kind == "boolean":
        return st.booleans()
    if kind == "string":
        if "enum" in node:
            return st.sampled_from([v for v in node["enum"] if isinstance(v, str)])
        if node.get("format") == "date-time":
            return _date_times()
        if "pattern" in node:
            return st.from_regex(node["pattern"] + r"\Z", fullmatch=True)
        lo = node.get("minLength", 0)
        return st.text(min_size=lo, max_size=min(node.get("maxLength", 30), lo + 30))
    if kind == "integer":
        return st.integers(node.get("minimum", INT64_MIN), node.get("maximum", INT64_MAX))
    if kind == "number":
        lo, hi = node.get("minimum"), node.get("maximum")
        ints = st.integers(int(lo) if lo is not None else INT64_MIN, int(hi) if hi is not None else INT64_MAX)
        return st.floats(lo and float(lo), hi and float(hi), allow_nan=False, allow_infinity=False) | ints
    if kind == "array":
        lo = node.get("minItems", 0)
        return st.lists(from_schema(node["items"], defs), min_size=lo,
                        max_size=min(node.get("maxItems", lo + 4), lo + 4))
    if kind == "object":
        if "properties" in node:
            required = set(node.get("required", []))
            props = {k: from_schema(v, defs) for k, v in node["properties"].items()}
            return st.fixed_dictionaries({k: v for k, v in props.items() if k in required},
                                         optional={k: v for k, v in props.items() if k not in required})
        names = node.get("propertyNames", {})
        key_lo = names.get("minLength", 0)
        keys = st.text(min_size=key_lo, max_size=min(names.get("maxLength", 20), key_lo + 20))
        return st.dictionaries(keys, from_schema(node["additionalProperties"], defs), max_size=4)
    raise AssertionError(f"unsupported type {kind}")


def instances(name: str) -> st.SearchStrategy[dict[str, Any]]:
    """Valid instances of one event's schema file (checked with jsonschema: `allOf` rules filter)."""
    schema = load(name)
    strategy = from_schema(schema, schema.get("$defs", {}))
    return strategy.filter(VALIDATORS[name].is_valid)


def named_instances() -> st.SearchStrategy[tuple[str, dict[str, Any]]]:
    return st.sampled_from(NAMES).flatmap(lambda n: st.tuples(st.just(n), instances(n)))


def pydantic_accepts(name: str, instance: Any) -> bool:
    try:
        # json, not orjson: cases include integers past 64 bits, which orjson refuses to write
        decode_as(ALL_EVENTS[name], json.dumps(instance, ensure_ascii=False, allow_nan=False).encode())
    except InvalidEvent:
        return False
    return True


def _instant(text: str) -> datetime:
    """An RFC 3339 string as a datetime, fraction cut to microseconds (as the events do)."""
    return datetime.fromisoformat(re.sub(r"(\.[0-9]{6})[0-9]+", r"\1", text.upper()))


def _same(expected: Any, got: Any) -> bool:
    """A JSON value from the instance equals the decoded model's value (timestamps as instants)."""
    if isinstance(got, datetime):
        return _instant(expected) == got
    if isinstance(got, BaseModel):
        return all(_same(v, getattr(got, k)) for k, v in expected.items())
    if isinstance(got, list):
        return len(expected) == len(got) and all(_same(e, g) for e, g in zip(expected, got, strict=True))
    if isinstance(got, dict):
        return expected.keys() == got.keys() and all(_same(v, got[k]) for k, v in expected.items())
    if type(got) is float and type(expected) is int:  # a JSON integer in a `number` field
        return float(expected) == got
    return type(expected) is type(got) and bool(expected == got)


@SETTINGS
@given(named_instances())
def test_schema_instances_are_accepted_by_pydantic_and_round_trip(case: tuple[str, dict[str, Any]]) -> None:
    name, instance = case
    model = ALL_EVENTS[name]
    event = decode_as(model, orjson.dumps(instance), max_bytes=1 << 20)
    for key, value in instance.items():
        assert _same(value, getattr(event, key)), key
    raw = encode(event)
    out = orjson.loads(raw)
    assert VALIDATORS[name].is_valid(out), list(VALIDATORS[name].iter_errors(out))
    assert out["schema_version"] == 1 and set(out) == set(model.model_fields)
    assert all(v.endswith("Z") for k, v in out.items() if model.model_fields[k].annotation is datetime)
    assert decode_as(model, raw, max_bytes=1 << 20) == event


# ------------------------------------------------------------------------------------ invalid instances
@st.composite
def broken(draw: st.DrawFn) -> tuple[str, Any, str]:
    """A valid instance with one targeted defect that both sides must refuse."""
    name, instance = draw(named_instances())
    schema = load(name)
    props = schema["properties"]
    required = schema["required"]
    moves = ["missing", "wrong_type"]
    enums = [k for k, v in props.items()
             if "enum" in v or "const" in v or any("enum" in b for b in v.get("anyOf", []))]
    bounded = [k for k, v in props.items() if {"maximum", "maxLength", "maxItems", "minimum", "minLength",
                                               "minItems"} & v.keys()]
    if enums:
        moves.append("enum")
    if bounded:
        moves.append("range")
    move = draw(st.sampled_from(moves))
    out = dict(instance)
    if move == "missing":
        del out[draw(st.sampled_from(required))]
    elif move == "wrong_type":
        key = draw(st.sampled_from(required))
        types = props[key].get("type")
        wrong: dict[str, list[Any]] = {
            "string": [7, True, None, ["x"]], "integer": ["7", True, None, 7.5],
            "number": ["0.5", None, True],
            "boolean": [1, "true", None], "array": ["x", {}, None], "object": [[], "x", None]}
        if types is None or isinstance(types, list):  # $ref objects
            out[key] = draw(st.sampled_from([[], "x", None, 3]))
        else:
            out[key] = draw(st.sampled_from(wrong[types]))
    elif move == "enum":
        key = draw(st.sampled_from(enums))
        out[key] = draw(st.sampled_from(["POST", "nope", "", "Positive", 2] if key != "schema_version"
                                        else [0, 2, "1", True]))
    else:
        key = draw(st.sampled_from(bounded))
        sub = props[key]
        if "maximum" in sub:
            out[key] = sub["maximum"] + 1
        elif "minimum" in sub and sub["minimum"] > INT64_MIN:
            out[key] = sub["minimum"] - 1
        elif "maxLength" in sub:
            out[key] = "x" * (sub["maxLength"] + 1)
        elif sub.get("minLength", 0) > 0:
            out[key] = ""
        elif "minItems" in sub:
            out[key] = []
        else:
            assume(False)
    return name, out, move


@SETTINGS
@given(broken())
def test_targeted_defects_are_refused_by_both(case: tuple[str, Any, str]) -> None:
    name, instance, _move = case
    assert not VALIDATORS[name].is_valid(instance)
    assert not pydantic_accepts(name, instance)


def test_nested_extra_field_is_accepted_and_nested_bound_refused_by_both() -> None:
    base = {"model_version": "m1", "source_event_id": "e1", "event_time": "2024-01-31T12:00:00Z",
            "emit_time": "2024-01-31T12:00:01Z", "user_id": "u", "horizon": 1,
            "actions": [{"step": 1, "action": "like", "probability": 0.5}], "sequence_probability": 0.5,
            "covers": ["e1"], "window_size": 3}
    assert VALIDATORS["behavior_prediction"].is_valid(base) and pydantic_accepts("behavior_prediction", base)
    newer = {**base, "actions": [{"step": 1, "action": "like", "probability": 0.5, "x": 1}], "y": [1]}
    assert VALIDATORS["behavior_prediction"].is_valid(newer)
    assert pydantic_accepts("behavior_prediction", newer)
    for action in ({"step": 65, "action": "like", "probability": 0.5},
                   {"step": 1, "action": "like", "probability": 1.5},
                   {"step": 1, "action": "like"}):
        bad = {**base, "actions": [action]}
        assert not VALIDATORS["behavior_prediction"].is_valid(bad)
        assert not pydantic_accepts("behavior_prediction", bad)
    # targets are optional (records without them stay valid), open to newer fields like the rest, bounded
    for targets in (None, [], [{"user_id": "u7", "probability": 0.25}],
                    [{"user_id": "u", "probability": 0, "x": 1}]):
        good = {**base, "targets": targets}
        assert VALIDATORS["behavior_prediction"].is_valid(good)
        assert pydantic_accepts("behavior_prediction", good)
    for target in ({"user_id": "", "probability": 0.2}, {"user_id": "u7", "probability": 2.0},
                   {"user_id": "u7"}):
        bad = {**base, "targets": [target]}
        assert not VALIDATORS["behavior_prediction"].is_valid(bad)
        assert not pydantic_accepts("behavior_prediction", bad)


# ------------------------------------------------------------------------- boundaries, exhaustively
def _branches(node: dict[str, Any], defs: dict[str, Any]) -> list[dict[str, Any]]:
    """The non-null alternatives of a node, `$ref`s resolved, one dict per JSON type."""
    if "$ref" in node:
        return _branches(defs[node["$ref"].rsplit("/", 1)[1]], defs)
    if "anyOf" in node:
        return [b for branch in node["anyOf"] for b in _branches(branch, defs)]
    types = node["type"] if isinstance(node["type"], list) else [node["type"]]
    return [{**node, "type": t} for t in types if t != "null"]


def _nullable(node: dict[str, Any]) -> bool:
    return "null" in (node.get("type") or []) or {"type": "null"} in node.get("anyOf", [])


def canonical(node: dict[str, Any], defs: dict[str, Any]) -> Any:
    """One valid value of a node, built without randomness (required properties only)."""
    if "const" in node:
        return node["const"]
    sub = _branches(node, defs)[0]
    kind = sub["type"]
    if "enum" in sub:
        return sub["enum"][0]
    if kind == "string":
        if sub.get("format") == "date-time":
            return "2024-01-31T12:00:00Z"
        return "0" * sub["minLength"] if "pattern" in sub else "a" * max(sub.get("minLength", 0), 2)
    if kind in ("integer", "number"):
        return sub.get("minimum", 0)
    if kind == "boolean":
        return False
    if kind == "array":
        return [canonical(sub["items"], defs)] * sub.get("minItems", 0)
    if "properties" in sub:
        return {k: canonical(sub["properties"][k], defs) for k in sub.get("required", [])}
    return {}


def _values(node: dict[str, Any], defs: dict[str, Any]) -> list[Any]:
    """Values on and just past every bound of a node, plus wrong types; valid and invalid mixed."""
    out: list[Any] = [None, True, 1, 0.5, "x", [], {}]
    if "const" in node:
        return [*out, node["const"], node["const"] + 1, "1", 1.5]
    for sub in _branches(node, defs):
        kind = sub["type"]
        if "enum" in sub:
            out += [*sub["enum"], "X" + sub["enum"][0], sub["enum"][0].upper(), ""]
        elif kind == "string" and sub.get("format") == "date-time":
            out += ["2024-01-31T12:00:00Z", "2024-01-31t12:00:00.123456789+05:30", "2024-01-31T12:00:00",
                    "2024-01-31 12:00:00Z", "2024-02-30T00:00:00Z", "1706702400", 1706702400,
                    "2024-01-31T12:00:00+24:00", "2024-01-31T12:00Z"]
        elif kind == "string" and "pattern" in sub:
            out += ["0" * 64, "f" * 64, "0" * 63 + "g", "0" * 63, "0" * 65, "0" * 64 + "\n", "A" * 64]
        elif kind == "string":
            lo, hi = sub.get("minLength", 0), sub.get("maxLength")
            out += ["a" * lo, "a" * (lo + 1)] + (["a" * (lo - 1)] if lo else [])
            out += ["b" * hi, "b" * (hi + 1), "\u00e9" * hi, "\U0001f600" * (hi + 1)] if hi else []
        elif kind in ("integer", "number"):
            lo, hi = sub.get("minimum", INT64_MIN), sub.get("maximum", INT64_MAX)
            out += [lo, hi, lo - 1, hi + 1, 7]
            out += [lo + 0.25, hi - 0.25, hi + 0.25, lo - 0.25] if kind == "number" else [2.5]
        elif kind == "array":
            lo, hi = sub.get("minItems", 0), sub.get("maxItems")
            item = canonical(sub["items"], defs)
            out += [[item] * lo, [item] * (lo + 1), [item, 5]] + ([[item] * (lo - 1)] if lo else [])
            out += [[item] * hi, [item] * (hi + 1)] if hi else []
            out += [[v] for v in _values(sub["items"], defs)]
        elif kind == "object" and "properties" in sub:
            out += _cases(sub, defs, canonical(sub, defs))
        elif kind == "object":
            names = sub.get("propertyNames", {})
            good = canonical(sub["additionalProperties"], defs)
            out += [{"k": good}, {"k": good, "l": good}, {"": good}, {"n" * names.get("maxLength", 64): good},
                    {"n" * (names.get("maxLength", 64) + 1): good}]
            out += [{"k": v} for v in _values(sub["additionalProperties"], defs)]
    return out


def _cases(schema: dict[str, Any], defs: dict[str, Any], base: dict[str, Any]) -> list[Any]:
    """`base` (a valid object) with one property changed, removed or added, for every property."""
    out: list[Any] = [base, {**base, "extra": 1}, {**base, "extra": None}]
    for key, node in schema["properties"].items():
        out += [{k: v for k, v in base.items() if k != key}]
        out += [{**base, key: value} for value in _values(node, defs)]
    return out


@pytest.mark.parametrize("name", NAMES)
def test_schema_and_pydantic_agree_on_every_bound_enum_type_and_field(name: str) -> None:
    schema = load(name)
    defs = schema.get("$defs", {})
    base = canonical(schema, defs)
    cases = _cases(schema, defs, base)
    verdicts = [VALIDATORS[name].is_valid(case) for case in cases]
    assert verdicts[0] and pydantic_accepts(name, base)
    disagreements = [(case, ok) for case, ok in zip(cases, verdicts, strict=True)
                     if pydantic_accepts(name, case) != ok]
    assert not disagreements, disagreements[:3]
    assert sum(verdicts) >= 10 and len(verdicts) - sum(verdicts) >= 50  # both sides really exercised


# ------------------------------------------------------------------------------ agreement on anything
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers(INT64_MIN, INT64_MAX) | st.text(max_size=12)
    # Floats with an integral value are left out: JSON Schema's `integer` takes 3.0, the codec does not
    # (documented in schemas/codec.py).
    | st.floats(-1e12, 1e12, allow_nan=False).filter(lambda f: not f.is_integer())
    | _date_times() | st.sampled_from(["like", "rumour", "negative", "0" * 64, "2024-01-31 12:00:00Z"]),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
    max_leaves=6,
)


@SETTINGS
@given(named_instances(), st.data())
def test_schema_and_pydantic_agree_when_one_value_is_replaced(case: tuple[str, dict[str, Any]],
                                                              data: st.DataObject) -> None:
    name, instance = case
    props = list(load(name)["properties"])
    key = data.draw(st.sampled_from(props))
    mutated = {**instance, key: data.draw(JSON_VALUES)}
    assert VALIDATORS[name].is_valid(mutated) == pydantic_accepts(name, mutated), mutated


def test_topics_all_names_every_topic_once_under_the_prefix() -> None:
    from seqsignal.schemas.topics import Topics

    names = Topics(prefix="p.").all()
    assert len(names) == len(set(names)) == 9
    assert all(n.startswith("p.") for n in names) and "p.models.updates.v1" in names
