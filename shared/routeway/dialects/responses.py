"""OpenAI Responses API (what Codex and the Agents SDK call) on top of chat: items in, a `response` out.

`parse_responses` checks the body and turns its `input` into items; `to_chat_request` builds the chat
body the core routes (an earlier conversation, loaded by the caller from the store, goes first). The
answer's message, tool calls and reasoning become output items (`render_response`). Streams are
rendered by `dialects.responses_stream`. Pure: no I/O, no clock, no randomness of its own.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routeway.domain.wire import ROUTING_FIELDS, ChatRequest, parse_chat_request
from routeway.errors import ImageUrlNotSupported, InvalidRequest
from routeway.services.results import Completion

# Responses fields that have a chat equivalent with the same name and meaning.
SAME_FIELDS = ("model", "models", "provider", "temperature", "top_p", "parallel_tool_calls", "metadata", "user")
MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
SKIPPED_ITEMS = {"reasoning"}  # sent back by clients (Codex) for continuity: the chat upstream has no place for it
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True)
class ResponsesRequest:
    body: dict[str, Any]  # as the client sent it
    items: list[dict[str, Any]]  # `input` as items
    previous_response_id: str | None
    store: bool
    stream: bool


def parse_responses(body: Any) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    raw_input = body.get("input")
    if isinstance(raw_input, str):
        items: list[dict[str, Any]] = [{"type": "message", "role": "user", "content": raw_input}]
    elif isinstance(raw_input, list) and all(isinstance(i, dict) for i in raw_input):
        items = list(raw_input)
    else:
        raise InvalidRequest("'input' must be a string or a list of items.", param="input")
    previous = body.get("previous_response_id")
    if previous is not None and (not isinstance(previous, str) or not previous):
        raise InvalidRequest("'previous_response_id' must be a response id.", param="previous_response_id")
    for field in ("store", "stream"):
        if not isinstance(body.get(field, False), bool):
            raise InvalidRequest(f"'{field}' must be a boolean.", param=field)
    instructions = body.get("instructions")
    if instructions is not None and not isinstance(instructions, str):
        raise InvalidRequest("'instructions' must be a string.", param="instructions")
    return ResponsesRequest(body, items, previous, bool(body.get("store", True)), bool(body.get("stream", False)))


def to_chat_request(request: ResponsesRequest, history: list[dict[str, Any]] | None = None) -> ChatRequest:
    """The chat request for this Responses request, after the stored `history` items (if any)."""
    return parse_chat_request(chat_body(request, history or []))


def chat_body(request: ResponsesRequest, history: list[dict[str, Any]]) -> dict[str, Any]:
    body = request.body
    chat: dict[str, Any] = {k: body[k] for k in (*SAME_FIELDS, *ROUTING_FIELDS) if body.get(k) is not None}
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    messages += messages_from_items(history, "previous_response_id")
    messages += messages_from_items(request.items, "input")
    chat["messages"] = messages
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    tools = _tools(body.get("tools"))
    if tools:
        chat["tools"] = tools
        choice = _tool_choice(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
    else:
        chat.pop("parallel_tool_calls", None)
    response_format = _response_format(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning"] = {"effort": reasoning["effort"]}
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usage and route
    return chat


def messages_from_items(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Items as chat messages: consecutive function calls join one assistant message, outputs are tool messages."""
    messages: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        param = f"{where}[{index}]"
        kind = item.get("type", "message" if "role" in item else None)
        if kind == "message":
            messages.append(_message(item, param))
        elif kind == "function_call":
            call = {
                "id": _text_field(item, "call_id", param),
                "type": "function",
                "function": {"name": _text_field(item, "name", param), "arguments": item.get("arguments") or "{}"},
            }
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # parallel calls: one assistant message
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind == "function_call_output":
            output = item.get("output")
            content = output if isinstance(output, str) else _joined_text(output, f"{param}.output")
            messages.append({"role": "tool", "tool_call_id": _text_field(item, "call_id", param), "content": content})
        elif kind in SKIPPED_ITEMS:
            continue
        else:
            raise InvalidRequest(f"Input items of type {kind!r} are not supported.", param=f"{param}.type")
    return messages


def _text_field(item: dict[str, Any], field: str, param: str) -> str:
    value = item.get(field)
    if not isinstance(value, str) or not value:
        raise InvalidRequest(f"'{field}' must be a non-empty string.", param=f"{param}.{field}")
    return value


def _message(item: dict[str, Any], param: str) -> dict[str, Any]:
    role = MESSAGE_ROLES.get(str(item.get("role")))
    if role is None:
        raise InvalidRequest("A message's role must be user, assistant, system or developer.", param=f"{param}.role")
    content = item.get("content")
    if isinstance(content, str):
        return {"role": role, "content": content}
    if not isinstance(content, list):
        raise InvalidRequest("A message's content must be a string or a list of parts.", param=f"{param}.content")
    if role != "user":
        return {"role": role, "content": _joined_text(content, f"{param}.content")}
    return {"role": role, "content": [_part(p, f"{param}.content[{i}]") for i, p in enumerate(content)]}


def _part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise InvalidRequest("Only inline images (a data: URL in 'image_url') are supported.", param=param)
        if not url.startswith("data:"):
            raise ImageUrlNotSupported(
                "Image URLs are not accepted: send the image inline as a data:image/...;base64, URL.",
                param=f"{param}.image_url",
            )
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        return {"type": "file", "file": {"filename": part.get("filename") or "file", "file_data": part["file_data"]}}
    raise InvalidRequest(f"Content parts of type {kind!r} are not supported here.", param=param)


def _joined_text(parts: Any, param: str) -> str:
    if not isinstance(parts, list):
        raise InvalidRequest("Expected a string or a list of text parts.", param=param)
    texts = []
    for index, part in enumerate(parts):
        text = part.get("text") if isinstance(part, dict) else None
        if not isinstance(text, str):
            text = part.get("refusal") if isinstance(part, dict) else None
        if not isinstance(text, str):
            raise InvalidRequest("Only text parts are accepted here.", param=f"{param}[{index}]")
        texts.append(text)
    return "".join(texts)


def _tools(tools: Any) -> list[dict[str, Any]]:
    """Function tools as chat tools. Hosted tools (web search, file search...) have no chat equivalent: dropped."""
    if tools is None:
        return []
    if not isinstance(tools, list):
        raise InvalidRequest("'tools' must be a list.", param="tools")
    converted = []
    for index, tool in enumerate(tools):
        if not isinstance(tool, dict) or tool.get("type") != "function":
            continue
        function: dict[str, Any] = {"name": _text_field(tool, "name", f"tools[{index}]")}
        for field in ("description", "parameters", "strict"):
            if tool.get(field) is not None:
                function[field] = tool[field]
        converted.append({"type": "function", "function": function})
    return converted


def _tool_choice(choice: Any) -> Any:
    if isinstance(choice, str):
        return choice if choice in ("auto", "none", "required") else None
    if isinstance(choice, dict) and choice.get("type") == "function" and isinstance(choice.get("name"), str):
        return {"type": "function", "function": {"name": choice["name"]}}
    return None


def _response_format(text: Any) -> dict[str, Any] | None:
    fmt = text.get("format") if isinstance(text, dict) else None
    if not isinstance(fmt, dict):
        return None
    if fmt.get("type") == "json_object":
        return {"type": "json_object"}
    if fmt.get("type") != "json_schema":
        return None
    schema = {k: fmt[k] for k in ("name", "schema", "strict", "description") if fmt.get(k) is not None}
    return {"type": "json_schema", "json_schema": schema}


# rendering


def response_id_for(generation_id: str) -> str:
    """The response's id, derived from the generation id (so explain and the stored response line up)."""
    return "resp_" + generation_id.removeprefix("gen-rw-").replace("-", "")


def usage_from(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    shaped: dict[str, Any] = {
        "input_tokens": prompt,
        "input_tokens_details": {"cached_tokens": int(prompt_details.get("cached_tokens") or 0)},
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    if isinstance(usage.get("cost"), int | float):
        shaped["cost"] = usage["cost"]
    return shaped


def message_item(item_id: str, text: str, status: str = "completed") -> dict[str, Any]:
    part = {"type": "output_text", "text": text, "annotations": [], "logprobs": []}
    return {"id": item_id, "type": "message", "role": "assistant", "status": status, "content": [part]}


def function_call_item(
    item_id: str, call_id: str, name: str, arguments: str, status: str = "completed"
) -> dict[str, Any]:
    return {
        "id": item_id,
        "type": "function_call",
        "call_id": call_id,
        "name": name,
        "arguments": arguments,
        "status": status,
    }


def reasoning_item(item_id: str, text: str) -> dict[str, Any]:
    return {"id": item_id, "type": "reasoning", "summary": [{"type": "summary_text", "text": text}]}


def output_items(response_id: str, message: dict[str, Any]) -> list[dict[str, Any]]:
    """A chat message as output items: reasoning, then the text, then one function_call per tool call."""
    suffix = response_id.removeprefix("resp_")
    items: list[dict[str, Any]] = []
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(f"rs_{suffix}", reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        items.append(message_item(f"msg_{suffix}", content))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        call_id = call.get("id") or f"call_{suffix}_{index}"
        items.append(
            function_call_item(
                f"fc_{suffix}_{index}", call_id, function.get("name") or "", function.get("arguments") or ""
            )
        )
    return items


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    model: str,
    status: str,
    output: list[dict[str, Any]],
    usage: dict[str, Any] | None,
    finish_reason: str | None = None,
    error: dict[str, Any] | None = None,
    route: dict[str, Any] | None = None,
) -> dict[str, Any]:
    body = request.body
    incomplete = INCOMPLETE_REASONS.get(finish_reason or "") if status == "incomplete" else None
    text = body.get("text") if isinstance(body.get("text"), dict) else {"format": {"type": "text"}}
    return {
        "id": response_id,
        "object": "response",
        "created_at": created_at,
        "status": status,
        "error": error,
        "incomplete_details": {"reason": incomplete} if incomplete else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "model": model,
        "output": output,
        "parallel_tool_calls": body.get("parallel_tool_calls", True) is not False,
        "previous_response_id": request.previous_response_id,
        "reasoning": body.get("reasoning") if isinstance(body.get("reasoning"), dict) else None,
        "store": request.store,
        "temperature": body.get("temperature"),
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": [t for t in body.get("tools") or [] if isinstance(t, dict) and t.get("type") == "function"],
        "top_p": body.get("top_p"),
        "truncation": "disabled",
        "usage": usage,
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "route": route,
    }


def status_for(finish_reason: Any) -> str:
    return "incomplete" if finish_reason in INCOMPLETE_REASONS else "completed"


def render_response(completion: Completion, request: ResponsesRequest) -> dict[str, Any]:
    """The core's chat completion as a `response` object."""
    chat = completion.body
    choice = (chat.get("choices") or [{}])[0]
    response_id = response_id_for(completion.proof.generation_id)
    finish = choice.get("finish_reason")
    return response_object(
        request,
        response_id=response_id,
        created_at=int(chat.get("created") or 0),
        model=str(chat.get("model") or completion.proof.model),
        status=status_for(finish),
        output=output_items(response_id, choice.get("message") or {}),
        usage=usage_from(chat.get("usage")),
        finish_reason=finish,
        route=chat.get("route"),
    )
