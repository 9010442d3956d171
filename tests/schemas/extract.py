"""Rebuild the schema files kept here (see README.md): `python -m tests.schemas.extract OPENAPI_YAML`.

openai.json: the named components of OpenAI's openapi.yaml and every component they reference.
anthropic.json: the anthropic SDK's `Message` and stream event types as JSON Schema, every field required.
Run by hand when the sources move on; the tests only read the files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
OPENAI_ROOTS = (
    "Response",
    "ResponseStreamEvent",
    "CompactResource",
    "CreateChatCompletionResponse",
    "CreateChatCompletionStreamResponse",
)


def _refs(node: Any) -> set[str]:
    if isinstance(node, dict):
        found = {node["$ref"].rsplit("/", 1)[-1]} if isinstance(node.get("$ref"), str) else set()
        return found.union(*(_refs(v) for v in node.values()))
    if isinstance(node, list):
        return set().union(*(_refs(v) for v in node))
    return set()


def openai_components(spec: dict[str, Any]) -> dict[str, Any]:
    schemas = spec["components"]["schemas"]
    wanted, todo = set(), list(OPENAI_ROOTS)
    while todo:
        name = todo.pop()
        if name not in wanted:
            wanted.add(name)
            todo += sorted(_refs(schemas[name]) - wanted)
    return {"components": {"schemas": {name: schemas[name] for name in sorted(wanted)}}}


def _all_required(node: Any) -> Any:
    """Every property required: Anthropic's API reference has every response field present (null when empty),
    where the SDK types the nullable ones as optional."""
    if isinstance(node, dict):
        node = {k: _all_required(v) for k, v in node.items()}
        if node.get("type") == "object" and isinstance(node.get("properties"), dict):
            node["required"] = sorted(node["properties"])
        return node
    if isinstance(node, list):
        return [_all_required(v) for v in node]
    return node


def anthropic_schema() -> dict[str, Any]:
    from anthropic.types import Message, RawMessageStreamEvent
    from pydantic import TypeAdapter

    message = Message.model_json_schema(mode="serialization", ref_template="#/$defs/{model}")
    events = TypeAdapter(RawMessageStreamEvent).json_schema(mode="serialization", ref_template="#/$defs/{model}")
    defs = {**message.pop("$defs", {}), **events.pop("$defs", {})}
    return _all_required({"$defs": {**defs, "Message": message, "RawMessageStreamEvent": events}})


def main(openapi_yaml: str) -> None:
    import yaml

    spec = yaml.safe_load(Path(openapi_yaml).read_text())
    (HERE / "openai.json").write_text(json.dumps(openai_components(spec), indent=1, sort_keys=True) + "\n")
    (HERE / "anthropic.json").write_text(json.dumps(anthropic_schema(), indent=1, sort_keys=True) + "\n")


if __name__ == "__main__":
    main(sys.argv[1])
