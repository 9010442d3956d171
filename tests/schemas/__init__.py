"""The official response schemas kept in the repo (README.md says where each comes from), as validators.

`problems(kind, name, document)` lists how `document` breaks schema `name` of `kind` (openai, anthropic,
openresponses): an empty list is a pass. Validators are built on first use.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from jsonschema.exceptions import ValidationError, best_match

HERE = Path(__file__).parent
WHERE = {"openai": "#/components/schemas/", "anthropic": "#/$defs/", "openresponses": "#/$defs/"}


def _nullable(node: Any) -> Any:
    """OpenAPI's `nullable: true` (which OpenAI's spec still uses in places) as JSON Schema says it."""
    if isinstance(node, list):
        return [_nullable(v) for v in node]
    if not isinstance(node, dict):
        return node
    node = {k: _nullable(v) for k, v in node.items()}
    if node.pop("nullable", False) is True:
        if isinstance(node.get("type"), str):
            node["type"] = [node["type"], "null"]
        if isinstance(node.get("enum"), list):
            node["enum"] = [*node["enum"], None]
        if "$ref" in node or "allOf" in node or "anyOf" in node or "oneOf" in node:
            node = {"anyOf": [node, {"type": "null"}]}
    return node


@cache
def _document(kind: str) -> dict[str, Any]:
    loaded: dict[str, Any] = _nullable(json.loads((HERE / f"{kind}.json").read_text()))
    return loaded


@cache
def validator(kind: str, name: str) -> Draft202012Validator:
    return Draft202012Validator({**_document(kind), "$ref": WHERE[kind] + name})


def _deepest(error: ValidationError) -> ValidationError:
    """Inside a oneOf/anyOf, the branch's error that says what is wrong (not "is not valid under any")."""
    while error.context:
        error = best_match(error.context)
    return error


def problems(kind: str, name: str, document: Any) -> list[str]:
    errors = [_deepest(e) for e in validator(kind, name).iter_errors(document)]
    return [f"{'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message[:200]}" for e in errors]


@cache
def _branches(kind: str, union: str) -> dict[str, str]:
    """A union of events (OpenAI's ResponseStreamEvent, Anthropic's RawMessageStreamEvent): type → schema name."""
    schemas = _document(kind)["components"]["schemas"] if kind == "openai" else _document(kind)["$defs"]
    union_schema = schemas[union]
    refs = [b["$ref"].rsplit("/", 1)[-1] for b in union_schema.get("anyOf") or union_schema.get("oneOf") or []]
    named: dict[str, str] = {}
    for ref in refs:
        kind_of = schemas[ref]["properties"]["type"]
        for value in kind_of.get("enum") or [kind_of.get("const")]:
            named[value] = ref
    return named


def event_problems(kind: str, union: str, event: dict[str, Any]) -> list[str]:
    """`event` against the member of the event union its `type` names (an unknown type is a problem)."""
    name = _branches(kind, union).get(event.get("type"))
    return problems(kind, name, event) if name else [f"no {union} has type {event.get('type')!r}"]
