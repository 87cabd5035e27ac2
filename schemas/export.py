"""Writes schemas/json/*.schema.json from the pydantic events: `python -m seqsignal.schemas.export`."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import orjson

from seqsignal.schemas.events import ALL_EVENTS, SCHEMA_VERSION

JSON_DIR = Path(__file__).resolve().parent / "json"
DIALECT = "https://json-schema.org/draft/2020-12/schema"
_FIRST_KEYS = ("$schema", "$id", "title", "description", "type", "required", "properties")
_LAST_KEYS = ("additionalProperties", "allOf", "$defs")


def schema_id(name: str) -> str:
    """The `$id` of one event's schema, e.g. urn:seqsignal:schema:v1:post."""
    return f"urn:seqsignal:schema:v{SCHEMA_VERSION}:{name}"


def _is_simple(branch: dict[str, Any]) -> bool:
    return isinstance(branch.get("type"), str) and not {"enum", "const", "$ref", "anyOf"} & branch.keys()


def _tidy(node: Any, *, in_properties: bool = False) -> Any:
    """Drop pydantic's per-property titles, fold `anyOf [X, null]` into `type: [X, "null"]`, order keys."""
    if isinstance(node, list):
        return [_tidy(item) for item in node]
    if not isinstance(node, dict):
        return node
    if in_properties:
        return {name: _tidy(prop) for name, prop in node.items()}
    out = {k: v for k, v in node.items() if not (k == "title" and "properties" not in node)}
    branches = out.get("anyOf")
    if (isinstance(branches, list) and len(branches) == 2 and branches[1] == {"type": "null"}
            and _is_simple(branches[0])):
        del out["anyOf"]
        out = {**branches[0], **out, "type": [branches[0]["type"], "null"]}
    # every event object is open: unknown fields are ignored (the evolution policy, schemas/events.py)
    if out.get("type") == "object" and "properties" in out:
        out.setdefault("additionalProperties", True)
    tidied = {k: _tidy(v, in_properties=k in ("properties", "$defs")) for k, v in out.items()}
    first = [k for k in _FIRST_KEYS if k in tidied]
    last = [k for k in _LAST_KEYS if k in tidied]
    middle = sorted(k for k in tidied if k not in first and k not in last)
    return {k: tidied[k] for k in (*first, *middle, *last)}


def json_schemas() -> dict[str, dict[str, Any]]:
    """Event name (`post`, `action`, ...) -> its JSON Schema, as committed under schemas/json/."""
    out: dict[str, dict[str, Any]] = {}
    for name, model in ALL_EVENTS.items():
        raw = model.model_json_schema(mode="validation")
        out[name] = _tidy({"$schema": DIALECT, "$id": schema_id(name), **raw})
    return out


def render(schema: dict[str, Any]) -> bytes:
    """The file content for one schema: 2-space indent, trailing newline."""
    return orjson.dumps(schema, option=orjson.OPT_INDENT_2) + b"\n"


def main(argv: list[str] | None = None) -> int:
    """Write every schema file; with --check, only report files that differ (exit 1)."""
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for name, schema in json_schemas().items():
        path = JSON_DIR / f"{name}.schema.json"
        content = render(schema)
        if path.exists() and path.read_bytes() == content:
            continue
        stale.append(path.name)
        if not check:
            path.write_bytes(content)
    if stale:
        print(("stale: " if check else "wrote: ") + ", ".join(stale))
    return 1 if check and stale else 0


if __name__ == "__main__":
    raise SystemExit(main())
