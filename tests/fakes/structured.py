"""What a real model answers to a structured request: JSON that validates against the schema it was given.

`instance_of` makes the smallest instance a model would plausibly write: every required property (strict
schemas list every property as required), the first of an enum,
`const`s, the first branch of `anyOf`/`oneOf`, `allOf` merged, `$ref`s into `$defs`/`definitions`, one
item per array (or `minItems`), 1 for numbers (or their nearest bound) and strings of a known `format`.
"""

from __future__ import annotations

from typing import Any

SAMPLE_STRING = "example"
FORMATS = {
    "date-time": "2026-01-01T00:00:00Z",
    "date": "2026-01-01",
    "time": "00:00:00",
    "email": "someone@example.com",
    "uri": "https://example.com/",
    "uuid": "00000000-0000-4000-8000-000000000000",
}
MAX_DEPTH = 32


def _resolve(schema: dict[str, Any], root: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if not isinstance(ref, str) or not ref.startswith("#/"):
        return schema
    target: Any = root
    for part in ref[2:].split("/"):
        target = target.get(part.replace("~1", "/").replace("~0", "~"), {}) if isinstance(target, dict) else {}
    rest = {k: v for k, v in schema.items() if k != "$ref"}
    return {**_resolve(target, root), **rest} if isinstance(target, dict) else rest


def _number(schema: dict[str, Any], integer: bool) -> int | float:
    """1, or the nearest bound when 1 is out of them (zod gives integers the safe-integer bounds)."""
    value: float = 1
    low, high = schema.get("minimum"), schema.get("maximum")
    above, below = schema.get("exclusiveMinimum"), schema.get("exclusiveMaximum")
    if isinstance(low, int | float) and value < low:
        value = low
    if isinstance(above, int | float) and value <= above:
        value = above + 1
    if isinstance(high, int | float) and value > high:
        value = high
    if isinstance(below, int | float) and value >= below:
        value = below - 1
    return int(value) if integer else value


def _string(schema: dict[str, Any]) -> str:
    text = FORMATS.get(str(schema.get("format")), SAMPLE_STRING)
    low, high = schema.get("minLength"), schema.get("maxLength")
    if isinstance(low, int) and len(text) < low:
        text = text + "x" * (low - len(text))
    if isinstance(high, int):
        text = text[:high]
    return text


def instance_of(schema: Any, root: Any = None, depth: int = 0) -> Any:
    """A minimal instance of a JSON schema (dict schemas; `True`/`{}` accept anything: a string)."""
    root = schema if root is None else root
    if not isinstance(schema, dict) or depth > MAX_DEPTH:
        return SAMPLE_STRING
    schema = _resolve(schema, root)
    if "const" in schema:
        return schema["const"]
    if isinstance(schema.get("enum"), list) and schema["enum"]:
        return schema["enum"][0]
    for branches in ("anyOf", "oneOf"):
        if isinstance(schema.get(branches), list) and schema[branches]:
            options = [b for b in schema[branches] if not (isinstance(b, dict) and b.get("type") == "null")]
            return instance_of((options or schema[branches])[0], root, depth + 1)
    if isinstance(schema.get("allOf"), list):
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        for part in schema["allOf"]:
            part = _resolve(part, root) if isinstance(part, dict) else {}
            merged.setdefault("properties", {}).update(part.get("properties") or {})
            merged["required"] = [*merged.get("required", []), *(part.get("required") or [])]
            merged.update({k: v for k, v in part.items() if k not in ("properties", "required")})
        return instance_of(merged, root, depth + 1)
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "null")
    if kind is None:
        kind = "object" if "properties" in schema else "array" if "items" in schema else "string"
    if kind == "object":
        properties = schema.get("properties") or {}
        return {name: instance_of(properties.get(name, {}), root, depth + 1) for name in schema.get("required") or []}
    if kind == "array":
        count = max(int(schema.get("minItems") or 0), 1)
        if isinstance(schema.get("maxItems"), int):
            count = min(count, schema["maxItems"])
        return [instance_of(schema.get("items", {}), root, depth + 1) for _ in range(count)]
    if kind in ("integer", "number"):
        return _number(schema, kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return _string(schema)


def structured_answer(response_format: Any) -> Any | None:
    """The JSON a model answers to `response_format`, or None when it asks for none."""
    if not isinstance(response_format, dict):
        return None
    if response_format.get("type") == "json_object":
        return {"answer": "Hello from the fake OpenRouter."}
    spec = response_format.get("json_schema")
    if response_format.get("type") != "json_schema" or not isinstance(spec, dict):
        return None
    return instance_of(spec.get("schema") or {"type": "object"})
