"""Responses tools on chat: function tools, custom (free-form) tools and tool namespaces.

Chat has only function tools, so the other kinds are carried as functions and turned back on the way
out, by the name the model called:
- `custom` (free-form input, e.g. Codex's apply_patch) → a function taking `{"input": string}`; its
  calls come back as `custom_tool_call` items with the raw `input`.
- `namespace` (a group of function tools, as Codex sends) → one function per member, named
  `<namespace>__<name>`; its calls come back as `function_call` with `namespace` and the member's name.
Hosted tools (web search, file search, ...) have no chat equivalent and are left out, except
`image_generation`: it asks for image output (`modalities`), and images come back as `image_generation_call`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from routeway.errors import InvalidRequest

NAMESPACE_SEPARATOR = "__"
ECHOED = ("function", "custom", "namespace", "image_generation")  # the kinds Routeway honours
CUSTOM_PARAMETERS = {
    "type": "object",
    "properties": {"input": {"type": "string", "description": "The tool's whole input, as free-form text."}},
    "required": ["input"],
    "additionalProperties": False,
}


@dataclass(frozen=True)
class ToolRef:
    kind: str  # function | custom
    name: str
    namespace: str | None = None


def chat_name(name: str, namespace: str | None) -> str:
    return f"{namespace}{NAMESPACE_SEPARATOR}{name}" if namespace else name


def _name(tool: dict[str, Any], param: str) -> str:
    value = tool.get("name")
    if not isinstance(value, str) or not value:
        raise InvalidRequest("'name' must be a non-empty string.", param=f"{param}.name")
    return value


def _function(tool: dict[str, Any], name: str) -> dict[str, Any]:
    function: dict[str, Any] = {"name": name}
    for field in ("description", "parameters", "strict"):
        if tool.get(field) is not None:
            function[field] = tool[field]
    return {"type": "function", "function": function}


def _custom(tool: dict[str, Any], name: str) -> dict[str, Any]:
    description = str(tool.get("description") or "")
    fmt = tool.get("format")
    if isinstance(fmt, dict) and fmt.get("type") == "grammar" and isinstance(fmt.get("definition"), str):
        description += f"\n\nThe input must follow this {fmt.get('syntax') or 'grammar'}:\n{fmt['definition']}"
    function = {"name": name, "description": description.strip(), "parameters": CUSTOM_PARAMETERS}
    return {"type": "function", "function": function}


def translate_tools(tools: Any) -> tuple[list[dict[str, Any]], dict[str, ToolRef]]:
    """The chat tools, and what each chat name stands for."""
    if tools is None:
        return [], {}
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    converted: list[dict[str, Any]] = []
    refs: dict[str, ToolRef] = {}
    for index, tool in enumerate(tools):
        param = f"tools[{index}]"
        kind = tool.get("type") if isinstance(tool, dict) else None
        if kind == "function":
            name = _name(tool, param)
            converted.append(_function(tool, name))
            refs[name] = ToolRef("function", name)
        elif kind == "custom":
            name = _name(tool, param)
            converted.append(_custom(tool, name))
            refs[name] = ToolRef("custom", name)
        elif kind == "namespace" and isinstance(tool.get("tools"), list):
            namespace = _name(tool, param)
            for inner_index, inner in enumerate(tool["tools"]):
                inner_param = f"{param}.tools[{inner_index}]"
                if not isinstance(inner, dict) or inner.get("type") not in ("function", "custom"):
                    continue
                name = _name(inner, inner_param)
                flat = chat_name(name, namespace)
                is_custom = inner.get("type") == "custom"
                converted.append(_custom(inner, flat) if is_custom else _function(inner, flat))
                refs[flat] = ToolRef("custom" if is_custom else "function", name, namespace)
    return converted, refs


def translate_tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice if choice in ("auto", "none", "required") else None
    if (
        isinstance(choice, dict)
        and choice.get("type") in ("function", "custom")
        and isinstance(choice.get("name"), str)
    ):
        return {"type": "function", "function": {"name": choice["name"]}}
    return None


def call_from_item(item: dict[str, Any], call_id: str, name: str, param: str) -> dict[str, Any]:
    """A `function_call` / `custom_tool_call` input item as a chat tool call."""
    if item.get("type") == "custom_tool_call":
        arguments = orjson.dumps({"input": str(item.get("input") or "")}).decode()
    else:
        arguments = item.get("arguments") or "{}"
        if not isinstance(arguments, str):  # a JSON string, as the model wrote it: never an object
            raise InvalidRequest("'arguments' must be a string of JSON.", param=f"{param}.arguments")
    namespace = item.get("namespace") if isinstance(item.get("namespace"), str) else None
    return {"id": call_id, "type": "function", "function": {"name": chat_name(name, namespace), "arguments": arguments}}


def custom_input(arguments: str) -> str:
    """The raw input of a custom tool, out of the `{"input": ...}` arguments the model wrote."""
    try:
        parsed = orjson.loads(arguments)
    except orjson.JSONDecodeError:
        return arguments
    value = parsed.get("input") if isinstance(parsed, dict) else None
    return value if isinstance(value, str) else arguments


def call_item(
    item_id: str, call_id: str, name: str, arguments: str, refs: dict[str, ToolRef], status: str = "completed"
) -> dict[str, Any]:
    """A chat tool call as the output item its tool's kind calls for."""
    ref = refs.get(name, ToolRef("function", name))
    item: dict[str, Any] = {"id": item_id, "type": "function_call", "call_id": call_id, "name": ref.name}
    if ref.kind == "custom":
        item.update(type="custom_tool_call", input=custom_input(arguments))
    else:
        item["arguments"] = arguments
    if ref.namespace:
        item["namespace"] = ref.namespace
    item["status"] = status
    return item


def is_custom(name: str, refs: dict[str, ToolRef]) -> bool:
    ref = refs.get(name)
    return ref is not None and ref.kind == "custom"


def echoed_tools(tools: Any) -> list[dict[str, Any]]:
    """The client's tools as the response shows them (the kinds Routeway passed on); a function tool has its
    `parameters` and `strict`, null when the client sent none, as the schema requires."""
    if not isinstance(tools, list):
        return []
    echoed = [t for t in tools if isinstance(t, dict) and t.get("type") in ECHOED]
    return [
        {**t, "parameters": t.get("parameters"), "strict": t.get("strict")} if t["type"] == "function" else t
        for t in echoed
    ]
