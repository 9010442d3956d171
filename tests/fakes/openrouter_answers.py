"""How the fake OpenRouter shapes an answer: its SSE pieces, the tool call a real model would make, and which
endpoints serve a request under `provider` preferences."""

from __future__ import annotations

from typing import Any

import orjson


def as_chunks(completion: dict[str, Any], fragment: int | None = None) -> list[bytes | str]:
    """A completion as OpenRouter streams it: a keep-alive comment, a role delta, the content word by
    word (JSON in `fragment`-character pieces), images, the finish reason, then usage in a last chunk
    with no choices, then [DONE]."""
    head = {k: completion[k] for k in ("id", "created", "model", "provider")} | {"object": "chat.completion.chunk"}
    message = completion["choices"][0]["message"]

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return "data: " + orjson.dumps({**head, "choices": [choice]}).decode() + "\n\n"

    pieces: list[bytes | str] = [": OPENROUTER PROCESSING\n\n", chunk({"role": "assistant", "content": ""})]
    content = message.get("content") or ""
    if fragment:
        pieces += [chunk({"content": content[i : i + fragment]}) for i in range(0, len(content), fragment)]
    else:
        words = content.split(" ")
        pieces += [chunk({"content": (" " if i else "") + w}) for i, w in enumerate(words) if w]
    for index, call in enumerate(message.get("tool_calls") or []):
        named = {
            "index": index,
            "id": call["id"],
            "type": "function",
            "function": {"name": call["function"]["name"], "arguments": ""},
        }
        pieces.append(chunk({"tool_calls": [named]}))
        arguments = call["function"]["arguments"]
        step = max(1, len(arguments) // 3)
        for start in range(0, len(arguments), step):
            fragment = {"index": index, "function": {"arguments": arguments[start : start + step]}}
            pieces.append(chunk({"tool_calls": [fragment]}))
    if message.get("images"):
        pieces.append(chunk({"images": message["images"]}))
    pieces.append(chunk({}, completion["choices"][0]["finish_reason"]))
    pieces.append("data: " + orjson.dumps({**head, "choices": [], "usage": completion["usage"]}).decode() + "\n\n")
    pieces.append("data: [DONE]\n\n")
    return pieces


def routable_endpoints(document: dict[str, Any], provider: Any) -> list[dict[str, Any]] | None:
    """OpenRouter's provider preferences: `order` first, `only`/`ignore`, no fallbacks when told."""
    endpoints = document.get("data", {}).get("endpoints", [])
    if not isinstance(provider, dict) or not endpoints:
        return endpoints

    def names(e: dict[str, Any]) -> set[str]:
        return {e["tag"].lower(), e["tag"].split("/")[0].lower(), e["provider_name"].lower()}

    only = {p.lower() for p in provider.get("only") or []}
    ignore = {p.lower() for p in provider.get("ignore") or []}
    usable = [e for e in endpoints if (not only or names(e) & only) and not names(e) & ignore]
    order = [p.lower() for p in provider.get("order") or []]
    ordered = [e for slug in order for e in usable if slug in names(e)]
    if order and provider.get("allow_fallbacks") is False:
        usable = ordered
    else:
        usable = ordered + [e for e in usable if e not in ordered]
    return usable or None


def tool_call_for(body: dict[str, Any]) -> dict[str, Any] | None:
    """The tool call a real model would make for this body, or None (no tools, or not the user's turn)."""
    tools = [t["function"] for t in body.get("tools") or [] if isinstance(t, dict) and "function" in t]
    messages = body.get("messages") or []
    choice = body.get("tool_choice")
    if not tools or choice == "none" or not messages or messages[-1].get("role") != "user":
        return None
    if any(m.get("role") == "assistant" and m.get("tool_calls") for m in messages):
        return None  # one call per conversation: once a result is in, the model answers (agents loop otherwise)
    content = messages[-1].get("content")
    prompt = content if isinstance(content, str) else " ".join(str(p.get("text", "")) for p in content or [])
    named = choice["function"]["name"] if isinstance(choice, dict) else None
    tool = next((t for t in tools if t["name"] == named), None)
    tool = tool or next((t for t in tools if t["name"].lower() in prompt.lower()), tools[0])
    samples: dict[str, Any] = {"string": "example", "integer": 1, "number": 1, "boolean": True}
    schema = tool.get("parameters") or {}
    properties = schema.get("properties") or {}
    arguments = {
        name: samples.get(str((properties.get(name) or {}).get("type")), {}) for name in schema.get("required") or []
    }
    call_id = f"call_fake_{len(messages)}"
    return {
        "id": call_id,
        "type": "function",
        "function": {"name": tool["name"], "arguments": orjson.dumps(arguments).decode()},
    }
