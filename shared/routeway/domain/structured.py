"""Structured outputs in each dialect, as the one shape the upstream takes: chat's `response_format`.

- chat `response_format`: `json_schema` (`{"name", "schema", "strict"}`) and `json_object` pass as they came;
- Messages `output_config.format` and the beta `output_format` (`{"type": "json_schema", "schema"}`) become
  a strict `json_schema` named `response` (Anthropic's formats have no name, OpenAI's need one);
- Responses `text.format` (`{"type": "json_schema", "name", "schema", "strict"}`, `json_object`, `text`).

A schema that is not a JSON object is the client's mistake: 400 with a `param` in the client's own body,
never a request that reaches the upstream and comes back as free text. Routing then keeps only endpoints
that support structured outputs (`domain.requirements`, `no_structured_output`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from routeway.errors import InvalidRequest

STRUCTURED_TYPES = ("json_schema", "json_object")
ANTHROPIC_FORMAT_NAME = "response"


def is_structured(response_format: Any) -> bool:
    """Whether a chat `response_format` asks for JSON (a schema or any object)."""
    return isinstance(response_format, Mapping) and response_format.get("type") in STRUCTURED_TYPES


def _schema(holder: Mapping[str, Any], param: str, *, required: bool) -> dict[str, Any] | None:
    schema = holder.get("schema")
    if schema is None and not required:
        return None
    if not isinstance(schema, Mapping):
        raise InvalidRequest("The JSON schema must be an object.", param=f"{param}.schema")
    return dict(schema)


def _optional_string(holder: Mapping[str, Any], name: str, param: str) -> None:
    if holder.get(name) is not None and not isinstance(holder[name], str):
        raise InvalidRequest(f"'{param}.{name}' must be a string.", param=f"{param}.{name}")


def _strict(holder: Mapping[str, Any], param: str) -> None:
    if holder.get("strict") is not None and not isinstance(holder["strict"], bool):
        raise InvalidRequest(f"'{param}.strict' must be a boolean.", param=f"{param}.strict")


def check_chat_response_format(response_format: Any) -> None:
    """Chat's own: a `json_schema` needs a `json_schema` object whose schema, when given, is an object."""
    if not isinstance(response_format, Mapping) or response_format.get("type") != "json_schema":
        return
    spec = response_format.get("json_schema")
    if not isinstance(spec, Mapping):
        raise InvalidRequest("'response_format.json_schema' must be an object.", param="response_format.json_schema")
    _schema(spec, "response_format.json_schema", required=False)
    _optional_string(spec, "name", "response_format.json_schema")
    _strict(spec, "response_format.json_schema")


def from_anthropic(fmt: Any, param: str) -> dict[str, Any] | None:
    """Anthropic's `output_config.format` / `output_format` as chat's `response_format` (None: no format)."""
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise InvalidRequest(f"'{param}' must be an object.", param=param)
    if fmt.get("type") != "json_schema":
        raise InvalidRequest(f"'{param}.type' must be 'json_schema'.", param=f"{param}.type")
    schema = _schema(fmt, param, required=True)
    return {"type": "json_schema", "json_schema": {"name": ANTHROPIC_FORMAT_NAME, "schema": schema, "strict": True}}


def from_responses(text: Any) -> dict[str, Any] | None:
    """Responses' `text.format` as chat's `response_format` (None: plain text)."""
    if text is None:
        return None
    if not isinstance(text, Mapping):
        raise InvalidRequest("'text' must be an object.", param="text")
    fmt = text.get("format")
    if fmt is None:
        return None
    if not isinstance(fmt, Mapping):
        raise InvalidRequest("'text.format' must be an object.", param="text.format")
    kind = fmt.get("type")
    if kind == "text":
        return None
    if kind == "json_object":
        return {"type": "json_object"}
    if kind != "json_schema":
        raise InvalidRequest("'text.format.type' is text, json_object or json_schema.", param="text.format.type")
    _schema(fmt, "text.format", required=True)
    for name in ("name", "description"):
        _optional_string(fmt, name, "text.format")
    _strict(fmt, "text.format")
    spec = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": spec}
