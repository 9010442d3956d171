"""OpenAI Responses API (what Codex and the Agents SDK call) on top of chat: items in, a `response` out.

`parse_responses` checks the body and turns its `input` into items; `to_chat_request` builds the chat
body the core routes (an earlier conversation, loaded by the caller from the store, goes first). The
answer's message, tool calls and reasoning become output items (`render_response`). Streams are
rendered by `dialects.responses_stream`. Pure: no I/O, no clock, no randomness of its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from routeway.dialects.responses_fields import check_fields, echoed_settings
from routeway.dialects.responses_items import (
    compaction_message,
    image_item,
    image_url_of,
    message_item,
    reasoning_item,
)
from routeway.dialects.responses_tools import (
    ToolRef,
    call_from_item,
    call_item,
    echoed_tools,
    translate_tool_choice,
    translate_tools,
)
from routeway.domain.client_ids import response_id
from routeway.domain.content import check_file_data_uri, check_image_data_uri
from routeway.domain.structured import from_responses
from routeway.domain.wire import ROUTING_FIELDS, ChatRequest, parse_chat_request
from routeway.errors import ImageUrlNotSupported, InvalidRequest, UnsupportedContent
from routeway.services.results import Completion

# Responses fields that have a chat equivalent with the same name and meaning.
SAME_FIELDS = (
    "model",
    "models",
    "provider",
    "temperature",
    "top_p",
    "presence_penalty",
    "frequency_penalty",
    "parallel_tool_calls",
    "metadata",
    "user",
)
MESSAGE_ROLES = {"user": "user", "assistant": "assistant", "system": "system", "developer": "system"}
SKIPPED_ITEMS = {"reasoning"}  # sent back by clients (Codex) for continuity: the chat upstream has no place for it
GENERATED = {"type": "text", "text": "The image generated earlier in this conversation:"}
INCOMPLETE_REASONS = {"length": "max_output_tokens", "content_filter": "content_filter"}


@dataclass(frozen=True)
class ResponsesRequest:
    body: dict[str, Any]  # as the client sent it
    items: list[dict[str, Any]]  # `input` as items
    previous_response_id: str | None
    store: bool
    stream: bool
    chat_tools: list[dict[str, Any]] = field(default_factory=list)
    tool_refs: dict[str, ToolRef] = field(default_factory=dict)  # chat tool name → the client's tool


def parse_responses(body: Any) -> ResponsesRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    check_fields(body)
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
    chat_tools, refs = translate_tools(body.get("tools"))
    store, stream = body.get("store") is not False, body.get("stream") is True
    return ResponsesRequest(body, items, previous, store, stream, chat_tools, refs)


def to_chat_request(request: ResponsesRequest, history: list[dict[str, Any]] | None = None) -> ChatRequest:
    """The chat request for this Responses request, after the stored `history` items (if any)."""
    return parse_chat_request(chat_body(request, history or []))


def chat_body(request: ResponsesRequest, history: list[dict[str, Any]]) -> dict[str, Any]:
    body = request.body
    chat: dict[str, Any] = {
        k: body[k] for k in (*SAME_FIELDS, *ROUTING_FIELDS, *CACHE_FIELDS) if body.get(k) is not None
    }
    messages: list[dict[str, Any]] = []
    if isinstance(body.get("instructions"), str) and body["instructions"]:
        messages.append({"role": "system", "content": body["instructions"]})
    messages += messages_from_items(history, "previous_response_id")
    messages += messages_from_items(request.items, "input")
    chat["messages"] = messages
    if body.get("max_output_tokens") is not None:
        chat["max_tokens"] = body["max_output_tokens"]
    if body.get("top_logprobs"):
        chat.update(logprobs=True, top_logprobs=body["top_logprobs"])
    if request.chat_tools:
        chat["tools"] = request.chat_tools
        choice = translate_tool_choice(body.get("tool_choice"))
        if choice is not None:
            chat["tool_choice"] = choice
    else:
        chat.pop("parallel_tool_calls", None)
    response_format = from_responses(body.get("text"))
    if response_format is not None:
        chat["response_format"] = response_format
    if wants_images(body):
        chat["modalities"] = ["image", "text"]  # the core keeps what the routed model takes (FLUX: image only)
    reasoning = body.get("reasoning")
    if isinstance(reasoning, dict) and reasoning.get("effort"):
        chat["reasoning"] = {"effort": reasoning["effort"]}
    if request.stream:
        chat["stream"] = True
        chat["stream_options"] = {"include_usage": True}  # the last chunk carries usage and route
    return chat


def wants_images(body: dict[str, Any]) -> bool:
    """Images are asked for with the hosted `image_generation` tool (OpenAI) or `modalities` (OpenRouter)."""
    tools, modalities = body.get("tools"), body.get("modalities")
    tools = tools if isinstance(tools, list) else []
    return (isinstance(modalities, list) and "image" in modalities) or any(
        isinstance(t, dict) and t.get("type") == "image_generation" for t in tools
    )


def messages_from_items(items: list[dict[str, Any]], where: str) -> list[dict[str, Any]]:
    """Items as chat messages: consecutive function calls join one assistant message, outputs are tool messages."""
    messages: list[dict[str, Any]] = []
    images: list[dict[str, Any]] = []  # returned by tools: a user turn after the run of tool messages
    for index, item in enumerate(items):
        param = f"{where}[{index}]"
        kind = item.get("type", "message" if "role" in item else None)
        if images and kind not in ("function_call_output", "custom_tool_call_output"):
            messages.append(_tool_images(images))
            images = []
        if kind == "message":
            messages.append(_message(item, param))
        elif kind in ("function_call", "custom_tool_call"):
            call = call_from_item(item, _text_field(item, "call_id", param), _text_field(item, "name", param), param)
            last = messages[-1] if messages else None
            if last is not None and last["role"] == "assistant":  # parallel calls: one assistant message
                last.setdefault("tool_calls", []).append(call)
            else:
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
        elif kind in ("function_call_output", "custom_tool_call_output"):
            message, returned = _tool_output(item, param)
            messages.append(message)
            images += returned
        elif kind == "compaction":  # what /v1/responses/compact answered: its summary
            messages.append(compaction_message(item, param))
        elif kind == "image_generation_call":  # an image made earlier: shown to the model, which may edit it
            messages.append({"role": "user", "content": [GENERATED, _generated_image(item, param)]})
        elif kind in SKIPPED_ITEMS:
            continue
        else:
            raise InvalidRequest(f"Input items of type {kind!r} are not supported.", param=f"{param}.type")
    if images:
        messages.append(_tool_images(images))
    return messages


def _generated_image(item: dict[str, Any], param: str) -> dict[str, Any]:
    result, kind = item.get("result"), item.get("output_format") or "png"
    if not isinstance(result, str) or not result or not isinstance(kind, str):
        raise InvalidRequest("An image_generation_call needs its base64 'result'.", param=f"{param}.result")
    return _part({"type": "input_image", "image_url": f"data:image/{kind};base64,{result}"}, f"{param}.result")


def _tool_images(parts: list[dict[str, Any]]) -> dict[str, Any]:
    return {"role": "user", "content": [{"type": "text", "text": "Images the tools returned:"}, *parts]}


def _tool_output(item: dict[str, Any], param: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """A tool's output as a tool message, and the images it returned (chat tool messages hold text only)."""
    call_id = _text_field(item, "call_id", param)
    output = item.get("output")
    if isinstance(output, str):
        return {"role": "tool", "tool_call_id": call_id, "content": output}, []
    if not isinstance(output, list):
        raise InvalidRequest("A tool's output must be a string or a list of parts.", param=f"{param}.output")
    images = [i for i, p in enumerate(output) if isinstance(p, dict) and p.get("type") == "input_image"]
    text = _joined_text([p for i, p in enumerate(output) if i not in images], f"{param}.output")
    parts = [_part(output[i], f"{param}.output[{i}]") for i in images]
    content = text or (f"(the tool returned {len(parts)} image(s), shown next)" if parts else "")
    return {"role": "tool", "tool_call_id": call_id, "content": content}, parts


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


# OpenAI's own caching hint, passed on as chat has it; it also names a conversation for stickiness (domain/sticky.py)
CACHE_FIELDS = ("prompt_cache_key",)


def _part(part: Any, param: str) -> dict[str, Any]:
    """An input part as chat's, its `cache_control` kept (prompt caching on Anthropic and Gemini)."""
    chat_part = _bare_part(part, param)
    if isinstance(part.get("cache_control"), dict):
        chat_part["cache_control"] = part["cache_control"]
    return chat_part


def _bare_part(part: Any, param: str) -> dict[str, Any]:
    kind = part.get("type") if isinstance(part, dict) else None
    if kind in ("input_text", "output_text", "text") and isinstance(part.get("text"), str):
        return {"type": "text", "text": part["text"]}
    if kind == "input_image":
        url = part.get("image_url")
        if not isinstance(url, str):
            raise UnsupportedContent("Only inline images (a data: URL in 'image_url') are supported.", param=param)
        if not url.startswith("data:"):
            raise ImageUrlNotSupported(
                "Image URLs are not accepted: send the image inline as a data:image/...;base64, URL.",
                param=f"{param}.image_url",
            )
        check_image_data_uri(url, f"{param}.image_url")
        image: dict[str, Any] = {"url": url}
        if part.get("detail") in ("low", "high", "auto"):
            image["detail"] = part["detail"]
        return {"type": "image_url", "image_url": image}
    if kind == "input_file" and isinstance(part.get("file_data"), str):
        check_file_data_uri(part["file_data"], f"{param}.file_data")
        return {"type": "file", "file": {"filename": part.get("filename") or "file", "file_data": part["file_data"]}}
    raise UnsupportedContent(f"Content parts of type {str(kind)[:40]!r} are not supported here.", param=param)


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


# rendering


def response_id_for(generation_id: str) -> str:
    """The response's id, derived from the generation id (so explain and the stored response line up)."""
    return response_id(generation_id)


def usage_from(usage: Any) -> dict[str, Any] | None:
    if not isinstance(usage, dict):
        return None
    prompt, completion = int(usage.get("prompt_tokens") or 0), int(usage.get("completion_tokens") or 0)
    prompt_details = usage.get("prompt_tokens_details") or {}
    completion_details = usage.get("completion_tokens_details") or {}
    shaped: dict[str, Any] = {
        "input_tokens": prompt,
        "input_tokens_details": {
            "cached_tokens": int(prompt_details.get("cached_tokens") or 0),
            "cache_write_tokens": int(prompt_details.get("cache_write_tokens") or 0),
        },
        "output_tokens": completion,
        "output_tokens_details": {"reasoning_tokens": int(completion_details.get("reasoning_tokens") or 0)},
        "total_tokens": int(usage.get("total_tokens") or prompt + completion),
    }
    if isinstance(usage.get("cost"), int | float):
        shaped["cost"] = usage["cost"]
    return shaped


def output_items(
    response_id: str, message: dict[str, Any], refs: dict[str, ToolRef], logprobs: Any = None
) -> list[dict[str, Any]]:
    """A chat message as output items: reasoning, the text, the images made, then one item per tool call
    (the order a stream delivers them in)."""
    suffix = response_id.removeprefix("resp_")
    items: list[dict[str, Any]] = []
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        items.append(reasoning_item(f"rs_{suffix}", reasoning))
    content = message.get("content")
    if isinstance(content, str) and content:
        items.append(message_item(f"msg_{suffix}", content, logprobs=logprobs))
    for index, image in enumerate(message.get("images") or []):
        items.append(image_item(f"ig_{suffix}_{index}", image_url_of(image)))
    for index, call in enumerate(message.get("tool_calls") or []):
        function = call.get("function") or {}
        call_id = call.get("id") or f"call_{suffix}_{index}"
        name, arguments = function.get("name") or "", function.get("arguments") or ""
        items.append(call_item(f"fc_{suffix}_{index}", call_id, name, arguments, refs))
    return items


def response_object(
    request: ResponsesRequest,
    *,
    response_id: str,
    created_at: int,
    completed_at: int | None,
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
        "completed_at": completed_at if status == "completed" else None,
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
        "text": text,
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": echoed_tools(body.get("tools")),
        **echoed_settings(body),
        "usage": usage,
        "metadata": body.get("metadata") if isinstance(body.get("metadata"), dict) else {},
        "route": route,
    }


def status_for(finish_reason: Any) -> str:
    return "incomplete" if finish_reason in INCOMPLETE_REASONS else "completed"


def render_response(completion: Completion, request: ResponsesRequest, now: int) -> dict[str, Any]:
    """The core's chat completion as a `response` object, completed at `now`."""
    chat = completion.body
    choice = (chat.get("choices") or [{}])[0]
    response_id = response_id_for(completion.proof.generation_id)
    finish = choice.get("finish_reason")
    return response_object(
        request,
        response_id=response_id,
        created_at=min(int(chat.get("created") or now), now),
        completed_at=now,
        model=str(chat.get("model") or completion.proof.model),
        status=status_for(finish),
        output=output_items(response_id, choice.get("message") or {}, request.tool_refs, choice.get("logprobs")),
        usage=usage_from(chat.get("usage")),
        finish_reason=finish,
        route=chat.get("route"),
    )
