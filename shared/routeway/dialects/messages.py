"""Anthropic Messages (`POST /v1/messages`) in: a Messages body becomes a chat body, then a `ChatRequest`.

The translation is total and explicit: every block type Anthropic documents is either translated or
refused with a `param` that points into the client's own body (`messages[0].content[1].source.url`);
nothing is dropped silently.

- `cache_control` is kept on every block that carries it (PRODUCT.md "Prompt caching"): on the content part a
  block becomes (text, image, document), on a `tool_result`'s text part, on a `tool_use`'s tool call and on a
  tool definition, where OpenRouter passes it on to Anthropic and Gemini. A `cache_control` that is not an
  object is refused with its `param`, as is an unknown block type, with or without one.
- `system` (string or text blocks) → a system message of text parts.
- `text` → text part; `image` (base64 png/jpeg/gif/webp) → a data-URI `image_url` part, a `url` source →
  400 `image_url_not_supported`; `document` (base64) → a `file` part, a `url` source or any other unknown
  block → 400 `unsupported_content` (the content allow-list, `domain.content`); `tool_use` → the assistant's
  `tool_calls`; `tool_result` → `tool` messages, placed before the rest of that user turn.
- `thinking` / `redacted_thinking` blocks sent back in an assistant turn → that message's `reasoning_details`
  (OpenRouter's form, signature as the client sent it); `domain.reasoning_details` drops them for any attempt
  on a model of another family, and says so in `x-routeway-applied`.
- `tools`, `tool_choice`, `stop_sequences`, `thinking`, `metadata.user_id` → their OpenAI/OpenRouter
  names; `output_config.format` (or the beta `output_format`) → `response_format` (`domain.structured`);
  routing goals, `models` and `provider` come from the top level or `metadata`, as for chat.

The answer's side (the response body, the event stream, the error shape) is in `messages_render`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from routeway.domain.content import check_file_data_uri, check_image_data_uri
from routeway.domain.reasoning_details import anthropic_detail
from routeway.domain.structured import from_anthropic
from routeway.domain.wire import ROUTING_FIELDS, ChatRequest, parse_chat_request
from routeway.errors import ImageUrlNotSupported, InvalidRequest, UnsupportedContent

PASSED = ("model", "temperature", "top_p", "top_k", "stream", "max_tokens", "first_token_timeout_s")
ROUTEWAY_FIELDS = (*ROUTING_FIELDS, "models", "provider")
THINKING_BLOCKS = ("thinking", "redacted_thinking")


def _text_blocks(value: Any, param: str) -> list[dict[str, Any]]:
    """A string or a list of text blocks, as OpenAI text parts (cache_control kept)."""
    if isinstance(value, str):
        return [{"type": "text", "text": value}]
    if not isinstance(value, list):
        raise InvalidRequest(f"'{param}' must be a string or a list of text blocks.", param=param)
    parts = []
    for index, block in enumerate(value):
        if not isinstance(block, Mapping) or block.get("type") != "text" or not isinstance(block.get("text"), str):
            raise InvalidRequest("Only text blocks are accepted here.", param=f"{param}[{index}]")
        parts.append(_text_part(block, f"{param}[{index}]"))
    return parts


def _cached(block: Mapping[str, Any], out: dict[str, Any], param: str) -> dict[str, Any]:
    """`out` with the block's `cache_control`, if it has one (an object, else 400 naming it)."""
    control = block.get("cache_control")
    if control is None:
        return out
    if not isinstance(control, Mapping):
        raise InvalidRequest("'cache_control' must be an object.", param=f"{param}.cache_control")
    out["cache_control"] = dict(control)
    return out


def _text_part(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    return _cached(block, {"type": "text", "text": block["text"]}, param)


def _source(block: Mapping[str, Any], param: str) -> Mapping[str, Any]:
    source = block.get("source")
    if not isinstance(source, Mapping):
        raise InvalidRequest("The block needs a 'source' object.", param=f"{param}.source")
    return source


def _image_part(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    source = _source(block, param)
    if source.get("type") == "url":
        raise ImageUrlNotSupported(
            "Image URLs are not accepted: send the image inline as a base64 source.", param=f"{param}.source.url"
        )
    media, data = source.get("media_type"), source.get("data")
    if source.get("type") != "base64" or not isinstance(media, str) or not isinstance(data, str):
        raise InvalidRequest("An image source must be base64 with a media_type.", param=f"{param}.source")
    url = f"data:{media};base64,{data}"
    check_image_data_uri(url, f"{param}.source")
    return _cached(block, {"type": "image_url", "image_url": {"url": url}}, param)


def _document_part(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    source = _source(block, param)
    media, data = source.get("media_type"), source.get("data")
    if source.get("type") == "url":
        raise UnsupportedContent(
            "Document URLs are not accepted: send it as a base64 source.", param=f"{param}.source.url"
        )
    if source.get("type") != "base64" or not isinstance(media, str) or not isinstance(data, str):
        raise UnsupportedContent("Only base64 documents are accepted.", param=f"{param}.source.type")
    check_file_data_uri(f"data:{media};base64,{data}", f"{param}.source")
    title = block.get("title")
    filename = title if isinstance(title, str) and title else "document.pdf"
    file = {"filename": filename, "file_data": f"data:{media};base64,{data}"}
    return _cached(block, {"type": "file", "file": file}, param)


def _tool_message(block: Mapping[str, Any], param: str, extra_parts: list[dict[str, Any]]) -> dict[str, Any]:
    """A tool_result as a `tool` message; images it carries join the user turn that follows."""
    tool_use_id = block.get("tool_use_id")
    if not isinstance(tool_use_id, str) or not tool_use_id:
        raise InvalidRequest("A tool_result needs its 'tool_use_id'.", param=f"{param}.tool_use_id")
    content = block.get("content", "")
    marked = _cached(block, {}, param)  # the block's cache_control, else its last text's
    if isinstance(content, str):
        text = content
    elif isinstance(content, list):
        texts = []
        for index, inner in enumerate(content):
            kind = inner.get("type") if isinstance(inner, Mapping) else None
            if kind == "text" and isinstance(inner.get("text"), str):
                texts.append(inner["text"])
                marked = _cached(inner, {}, f"{param}.content[{index}]") or marked
            elif kind == "image":
                extra_parts.append(_image_part(inner, f"{param}.content[{index}]"))
            else:
                raise UnsupportedContent("A tool_result holds text or image blocks.", param=f"{param}.content[{index}]")
        text = "\n".join(texts)
    else:
        raise InvalidRequest("A tool_result's content is a string or a list of blocks.", param=f"{param}.content")
    if block.get("is_error") is True and not text.startswith("Error"):
        text = f"Error: {text}"
    if marked:  # a text part carries the mark: chat's tool content may be a list of text parts
        return {"role": "tool", "tool_call_id": tool_use_id, "content": [{"type": "text", "text": text, **marked}]}
    return {"role": "tool", "tool_call_id": tool_use_id, "content": text}


def _tool_call(block: Mapping[str, Any], param: str) -> dict[str, Any]:
    call_id, name, arguments = block.get("id"), block.get("name"), block.get("input", {})
    if not isinstance(call_id, str) or not isinstance(name, str) or not isinstance(arguments, Mapping):
        raise InvalidRequest("A tool_use block needs 'id', 'name' and an 'input' object.", param=param)
    encoded = orjson.dumps(arguments).decode()
    return _cached(block, {"id": call_id, "type": "function", "function": {"name": name, "arguments": encoded}}, param)


def _user_turn(content: list[Any], param: str) -> list[dict[str, Any]]:
    tool_messages: list[dict[str, Any]] = []
    parts: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        where = f"{param}[{index}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            parts.append(_text_part(block, where))
        elif kind == "image":
            parts.append(_image_part(block, where))
        elif kind == "document":
            parts.append(_document_part(block, where))
        elif kind == "tool_result":
            tool_messages.append(_tool_message(block, where, parts))
        elif kind in THINKING_BLOCKS:
            continue  # Anthropic ignores thinking outside the assistant's turn
        else:
            raise UnsupportedContent(f"Unsupported content block type {str(kind)[:40]!r} in a user turn.", param=where)
    return tool_messages + ([{"role": "user", "content": parts}] if parts else [])


def _assistant_turn(content: list[Any], param: str) -> dict[str, Any]:
    texts: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    reasoning: list[dict[str, Any]] = []
    for index, block in enumerate(content):
        where = f"{param}[{index}]"
        kind = block.get("type") if isinstance(block, Mapping) else None
        if kind == "text" and isinstance(block.get("text"), str):
            texts.append(_text_part(block, where))
        elif kind == "tool_use":
            calls.append(_tool_call(block, where))
        elif kind in THINKING_BLOCKS:
            reasoning.append(anthropic_detail(block, len(reasoning), where))
        else:
            raise UnsupportedContent(
                f"Unsupported content block type {str(kind)[:40]!r} in an assistant turn.", param=where
            )
    joined: Any = "".join(t["text"] for t in texts) or (None if calls else "")
    marked = any("cache_control" in t for t in texts)  # a marked text keeps its part, and the mark
    message: dict[str, Any] = {"role": "assistant", "content": texts if marked else joined}
    if calls:
        message["tool_calls"] = calls
    if reasoning:
        message["reasoning_details"] = reasoning
    return message


def chat_messages(body: Mapping[str, Any]) -> list[dict[str, Any]]:
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise InvalidRequest("'messages' must be a non-empty list.", param="messages")
    out: list[dict[str, Any]] = []
    if body.get("system") not in (None, "", []):
        out.append({"role": "system", "content": _text_blocks(body["system"], "system")})
    for index, message in enumerate(messages):
        role = message.get("role") if isinstance(message, Mapping) else None
        if role == "system":  # Claude Code sends its environment as a system turn among the messages
            out.append(
                {"role": "system", "content": _text_blocks(message.get("content"), f"messages[{index}].content")}
            )
            continue
        if role not in ("user", "assistant"):
            raise InvalidRequest(
                "Each message's role is 'user', 'assistant' or 'system'.", param=f"messages[{index}].role"
            )
        content = message.get("content")
        if isinstance(content, str):
            out.append({"role": role, "content": content})
        elif isinstance(content, list):
            param = f"messages[{index}].content"
            out.extend(_user_turn(content, param) if role == "user" else [_assistant_turn(content, param)])
        else:
            raise InvalidRequest("'content' is a string or a list of blocks.", param=f"messages[{index}].content")
    return out


def _tools(tools: Any) -> list[dict[str, Any]]:
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    out = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, Mapping) or not isinstance(tool.get("name"), str):
            raise InvalidRequest("Each tool needs a 'name'.", param=f"tools[{index}]")
        if tool.get("type") not in (None, "custom"):
            raise InvalidRequest(
                f"Anthropic server tools ({str(tool['type'])[:40]}) are not available through Routeway.",
                param=f"tools[{index}].type",
            )
        function: dict[str, Any] = {"name": tool["name"]}
        if isinstance(tool.get("description"), str):
            function["description"] = tool["description"]
        schema = tool.get("input_schema")
        function["parameters"] = dict(schema) if isinstance(schema, Mapping) else {"type": "object", "properties": {}}
        out.append(_cached(tool, {"type": "function", "function": function}, f"tools[{index}]"))
    return out


def _tool_choice(choice: Any) -> tuple[Any, bool | None]:
    """(OpenAI tool_choice, parallel_tool_calls) for Anthropic's tool_choice."""
    kind = choice.get("type") if isinstance(choice, Mapping) else None
    parallel = False if isinstance(choice, Mapping) and choice.get("disable_parallel_tool_use") is True else None
    if kind == "auto":
        return "auto", parallel
    if kind == "any":
        return "required", parallel
    if kind == "none":
        return "none", None
    if kind == "tool" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}, parallel
    raise InvalidRequest("'tool_choice' is auto, any, none or tool with a name.", param="tool_choice")


def _reasoning(thinking: Any) -> dict[str, Any] | None:
    kind = thinking.get("type") if isinstance(thinking, Mapping) else None
    if kind == "enabled":
        budget = thinking.get("budget_tokens")
        if isinstance(budget, bool) or not isinstance(budget, int) or budget < 1:
            raise InvalidRequest("'thinking.budget_tokens' must be a positive integer.", param="thinking.budget_tokens")
        return {"max_tokens": budget}
    if kind == "adaptive":
        return {"enabled": True}
    if kind == "disabled":
        return None
    raise InvalidRequest("'thinking.type' is enabled or disabled.", param="thinking.type")


def _output_format(body: Mapping[str, Any]) -> dict[str, Any] | None:
    """`output_config.format`, or the beta's top-level `output_format`, as chat's `response_format`."""
    config = body.get("output_config")
    if config is not None and not isinstance(config, Mapping):
        raise InvalidRequest("'output_config' must be an object.", param="output_config")
    current = config.get("format") if config else None
    if current is not None and body.get("output_format") is not None:
        raise InvalidRequest(
            "Give 'output_config.format' or the beta 'output_format', not both.", param="output_format"
        )
    if current is not None:
        return from_anthropic(current, "output_config.format")
    return from_anthropic(body.get("output_format"), "output_format")


def chat_body_from(body: Any, *, require_max_tokens: bool = True) -> dict[str, Any]:
    """The chat body a Messages body means; `count_tokens` bodies have no max_tokens."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    if require_max_tokens and body.get("max_tokens") is None:
        raise InvalidRequest("'max_tokens' is required.", param="max_tokens")
    chat: dict[str, Any] = {k: body[k] for k in (*PASSED, *ROUTEWAY_FIELDS) if k in body}
    chat["messages"] = chat_messages(body)
    metadata = body.get("metadata")
    if metadata is not None and not isinstance(metadata, Mapping):
        raise InvalidRequest("'metadata' must be an object.", param="metadata")
    if metadata:
        if isinstance(metadata.get("user_id"), str):
            chat["user"] = metadata["user_id"]
        goals = {k: v for k, v in metadata.items() if k in ROUTING_FIELDS}
        if goals:
            chat["metadata"] = goals
        for field in ("models", "provider"):
            if field in metadata and field not in chat:
                chat[field] = metadata[field]
    if body.get("tools"):
        chat["tools"] = _tools(body["tools"])
    if body.get("tool_choice") is not None:
        chat["tool_choice"], parallel = _tool_choice(body["tool_choice"])
        if parallel is not None:
            chat["parallel_tool_calls"] = parallel
    stops = body.get("stop_sequences")
    if stops:
        if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
            raise InvalidRequest("'stop_sequences' must be a list of strings.", param="stop_sequences")
        chat["stop"] = stops
    if body.get("thinking") is not None:
        reasoning = _reasoning(body["thinking"])
        if reasoning is not None:
            chat["reasoning"] = reasoning
    response_format = _output_format(body)
    if response_format is not None:
        chat["response_format"] = response_format
    if chat.get("stream") is True:
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usage and the route
    return chat


def parse_messages(body: Any) -> ChatRequest:
    return parse_chat_request(chat_body_from(body))


def parse_count_tokens(body: Any) -> ChatRequest:
    return parse_chat_request(chat_body_from(body, require_max_tokens=False))
