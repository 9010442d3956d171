"""Anthropic Messages out: the core's `Completion` as a `message`, its stream as Anthropic's events,
and any `GatewayError` in Anthropic's error shape with Routeway's code.

The stream renderer is a small state machine over the core's OpenAI chunks. Anthropic's content
blocks are sequential (one open at a time), so each kind of delta (reasoning, text, a tool call)
closes the open block and opens its own. A tool call's id and name may come before its arguments and
its arguments in fragments: a tool_use block opens once its name is known, with whatever arguments
were held, and later fragments become `input_json_delta`s. Usage and `route` come in the core's last
chunk and go out in `message_delta`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from routeway.domain.client_ids import message_id
from routeway.errors import GatewayError
from routeway.services.results import Completion, CompletionStream, KeepAlive, StreamFailure

KEEPALIVE_COMMENT = b": keep-alive\n\n"
STOP_REASONS = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use", "content_filter": "refusal"}
ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    402: "permission_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    422: "invalid_request_error",
    429: "rate_limit_error",
    503: "overloaded_error",
}


def _obj(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, dict | Mapping) else {}  # a dict is the common case: checked first, cheaply


def error_type_for(status: int) -> str:
    return ERROR_TYPES.get(status, "api_error")


def error_body(exc: GatewayError) -> dict[str, Any]:
    """`{"type": "error", "error": {type, message, code, param?, ...extra}}`."""
    error: dict[str, Any] = {"type": error_type_for(exc.status), "message": exc.message, "code": exc.code}
    if exc.param is not None:
        error["param"] = exc.param
    error.update(exc.extra)
    return {"type": "error", "error": error}


def tool_input(arguments: Any) -> dict[str, Any]:
    """A tool call's arguments as an object; unparseable or non-object arguments become {}."""
    if isinstance(arguments, Mapping):
        return dict(arguments)
    try:
        parsed = orjson.loads(arguments) if isinstance(arguments, str | bytes) and arguments else {}
    except orjson.JSONDecodeError:
        return {}
    return parsed if isinstance(parsed, dict) else {}


def usage_from(usage: Any) -> dict[str, Any]:
    """OpenAI usage as Anthropic's: input_tokens excludes what was read from or written to the cache. Every field
    of Anthropic's schema is present: cache writes are counted as the default 5-minute ones (chat does not say
    which), no server tools run here, null where nothing is known."""
    usage = usage if isinstance(usage, Mapping) else {}
    details = usage.get("prompt_tokens_details")
    details = details if isinstance(details, Mapping) else {}

    def count(source: Mapping[str, Any], name: str) -> int:
        value = source.get(name)
        return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else 0

    read, written = count(details, "cached_tokens"), count(details, "cache_write_tokens")
    return {
        "input_tokens": max(0, count(usage, "prompt_tokens") - read - written),
        "output_tokens": count(usage, "completion_tokens"),
        "cache_read_input_tokens": read,
        "cache_creation_input_tokens": written,
        "cache_creation": {"ephemeral_5m_input_tokens": written, "ephemeral_1h_input_tokens": 0},
        "server_tool_use": {"web_search_requests": 0, "web_fetch_requests": 0},
        "service_tier": "standard",
        "output_tokens_details": _output_details(usage),
        "inference_geo": None,
        "speed": None,
    }


def _output_details(usage: Mapping[str, Any]) -> dict[str, int] | None:
    details = usage.get("completion_tokens_details")
    thinking = details.get("reasoning_tokens") if isinstance(details, Mapping) else None
    return {"thinking_tokens": int(thinking)} if isinstance(thinking, int) and not isinstance(thinking, bool) else None


def stop_reason(choice: Mapping[str, Any], stops: Any) -> tuple[str, str | None]:
    """(stop_reason, stop_sequence): a `stop` that hit one of the request's stop sequences is `stop_sequence`."""
    finish = choice.get("finish_reason")
    stops = [s for s in stops if isinstance(s, str)] if isinstance(stops, list) else []
    if finish == "stop" and stops:
        matched = choice.get("stop_reason")  # vLLM names the sequence; OpenRouter gives the native reason
        if isinstance(matched, str) and matched in stops:
            return "stop_sequence", matched
        if choice.get("native_finish_reason") == "stop_sequence":
            return "stop_sequence", stops[0] if len(stops) == 1 else None
    return STOP_REASONS.get(str(finish), "end_turn"), None


def _signature(message: Mapping[str, Any]) -> str:
    """The signature OpenRouter passes on from Anthropic in `reasoning_details`: the client sends it back."""
    details = message.get("reasoning_details")
    signatures = [
        d["signature"] for d in details or () if isinstance(d, Mapping) and isinstance(d.get("signature"), str)
    ]
    return signatures[-1] if signatures and isinstance(details, list) else ""


def _redacted(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    details = message.get("reasoning_details")
    return [
        {"type": "redacted_thinking", "data": d["data"]}
        for d in (details if isinstance(details, list) else ())
        if isinstance(d, Mapping) and d.get("type") == "reasoning.encrypted" and isinstance(d.get("data"), str)
    ]


def _reasoning_text(message: Mapping[str, Any]) -> str:
    reasoning = message.get("reasoning")
    if isinstance(reasoning, str):
        return reasoning
    details = message.get("reasoning_details")
    if isinstance(details, list):
        return "".join(d["text"] for d in details if isinstance(d, Mapping) and isinstance(d.get("text"), str))
    return ""


# Message fields of features Routeway does not offer (code execution containers, refusal details, cache
# diagnostics): present, as Anthropic's schema has them, and null.
UNUSED_FIELDS: dict[str, Any] = {"stop_details": None, "container": None, "diagnostics": None}


def tool_use_block(call_id: str, name: str, arguments: dict[str, Any]) -> dict[str, Any]:
    return {"type": "tool_use", "id": call_id, "name": name, "input": arguments, "caller": None, "toolset_name": None}


def render_message(completion: Completion, stops: Any = None) -> dict[str, Any]:
    body = completion.body
    choices = body.get("choices") or [{}]
    choice = _obj(choices[0])
    message = _obj(choice.get("message"))
    content: list[dict[str, Any]] = []
    thinking = _reasoning_text(message)
    if thinking:
        content.append({"type": "thinking", "thinking": thinking, "signature": _signature(message)})
    content += _redacted(message)
    if isinstance(message.get("content"), str) and message["content"]:
        content.append({"type": "text", "text": message["content"], "citations": None})
    for call in message.get("tool_calls") or []:
        function = call.get("function") if isinstance(call, Mapping) else None
        if isinstance(function, Mapping):
            name = str(function.get("name") or "")
            call_id = str(call.get("id") or f"toolu_{len(content)}")
            content.append(tool_use_block(call_id, name, tool_input(function.get("arguments"))))
    reason, sequence = stop_reason(choice, stops)
    return {
        "id": message_id(completion.proof.generation_id),
        "type": "message",
        "role": "assistant",
        "model": completion.proof.model or body.get("model"),
        "content": content,
        "stop_reason": reason,
        "stop_sequence": sequence,
        **UNUSED_FIELDS,
        "usage": usage_from(body.get("usage")),
        "route": body.get("route"),
    }


def sse(event: str, data: dict[str, Any]) -> bytes:
    return b"event: " + event.encode() + b"\ndata: " + orjson.dumps({"type": event, **data}) + b"\n\n"


@dataclass
class _Tool:
    block: int | None = None  # the content block index once opened
    id: str = ""
    name: str = ""
    held: list[str] = field(default_factory=list)  # argument fragments that came before the name


@dataclass
class _Blocks:
    """Anthropic's sequential content blocks, opened and closed as the core's deltas arrive."""

    out: list[bytes] = field(default_factory=list)
    count: int = 0
    open_kind: str | None = None
    open_tool: int | None = None
    pinged: bool = False
    tools: dict[int, _Tool] = field(default_factory=dict)

    def close(self) -> None:
        if self.open_kind is not None:
            self.out.append(sse("content_block_stop", {"index": self.count - 1}))
            self.open_kind, self.open_tool = None, None

    def open(self, kind: str, block: dict[str, Any], tool: int | None = None) -> int:
        self.close()
        self.out.append(sse("content_block_start", {"index": self.count, "content_block": block}))
        if not self.pinged:
            self.out.append(sse("ping", {}))
            self.pinged = True
        self.open_kind, self.open_tool = kind, tool
        self.count += 1
        return self.count - 1

    def delta(self, delta: dict[str, Any]) -> None:
        self.out.append(sse("content_block_delta", {"index": self.count - 1, "delta": delta}))

    def text(self, kind: str, text: str) -> None:
        if self.open_kind != kind:
            start = (
                {"type": "thinking", "thinking": "", "signature": ""}
                if kind == "thinking"
                else {"type": "text", "text": "", "citations": None}
            )
            self.open(kind, start)
        self.delta(
            {"type": "thinking_delta", "thinking": text} if kind == "thinking" else {"type": "text_delta", "text": text}
        )

    def tool_fragment(self, position: int, fragment: Mapping[str, Any]) -> None:
        index = fragment.get("index")
        tool = self.tools.setdefault(index if isinstance(index, int) else position, _Tool())
        function = _obj(fragment.get("function"))
        if isinstance(fragment.get("id"), str) and fragment["id"]:
            tool.id = tool.id or fragment["id"]
        if isinstance(function.get("name"), str) and function["name"]:
            tool.name = tool.name or function["name"]
        arguments = function.get("arguments")
        if isinstance(arguments, str) and arguments:
            tool.held.append(arguments)
        if tool.block is None and tool.name:
            self.open_tool_block(tool)
        elif tool.block is not None and tool.block == self.count - 1 and self.open_kind == "tool_use":
            self.flush(tool)

    def open_tool_block(self, tool: _Tool) -> None:
        call_id = tool.id or f"toolu_{self.count}"
        tool.block = self.open("tool_use", tool_use_block(call_id, tool.name, {}))
        self.flush(tool)

    def flush(self, tool: _Tool) -> None:
        if tool.held:
            self.delta({"type": "input_json_delta", "partial_json": "".join(tool.held)})
            tool.held.clear()

    def finish(self) -> None:
        for tool in self.tools.values():
            if tool.block is None:  # never named: still shown, so the client sees every call
                self.open_tool_block(tool)
        self.close()

    def take(self) -> list[bytes]:
        out, self.out = self.out, []
        return out


def _message_start(stream: CompletionStream, model: Any) -> bytes:
    message: dict[str, Any] = {
        "id": message_id(stream.proof.generation_id),
        "type": "message",
        "role": "assistant",
        "model": stream.proof.model or model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        **UNUSED_FIELDS,
        "usage": usage_from(None),
    }
    return sse("message_start", {"message": message})


async def render_message_stream(stream: CompletionStream, stops: Any = None) -> AsyncIterator[bytes]:
    """The core's events as Anthropic's SSE: message_start … message_stop, or an `error` event."""
    blocks = _Blocks()
    started = False
    usage: Any = None
    route: Any = None
    last_choice: dict[str, Any] = {}
    async for event in stream.events:
        if isinstance(event, KeepAlive):
            yield KEEPALIVE_COMMENT
            continue
        if isinstance(event, StreamFailure):  # before any content, it is the only event
            for chunk in blocks.take():
                yield chunk
            shown = {"type": "api_error", "message": event.error.message, "code": event.error.code}
            yield sse("error", {"error": shown, "route": event.route})
            return
        document = event.document
        if not started:
            started = True
            yield _message_start(stream, document.get("model"))
        usage = document.get("usage", usage)
        route = document.get("route", route)
        for choice in document.get("choices") or []:
            if not isinstance(choice, dict | Mapping) or choice.get("index", 0) != 0:
                continue
            delta = _obj(choice.get("delta"))
            reasons = "reasoning" in delta or "reasoning_details" in delta  # most chunks carry text only
            thinking = _reasoning_text(delta) if reasons else ""
            if thinking:
                blocks.text("thinking", thinking)
            signature = _signature(delta) if reasons else ""
            if signature:
                if blocks.open_kind != "thinking":
                    blocks.open("thinking", {"type": "thinking", "thinking": "", "signature": ""})
                blocks.delta({"type": "signature_delta", "signature": signature})
            if isinstance(delta.get("content"), str) and delta["content"]:
                blocks.text("text", delta["content"])
            for position, fragment in enumerate(delta.get("tool_calls") or []):
                if isinstance(fragment, Mapping):
                    blocks.tool_fragment(position, fragment)
            if choice.get("finish_reason"):
                last_choice = dict(choice)
        for chunk in blocks.take():
            yield chunk
    if not started:
        yield _message_start(stream, None)
    blocks.finish()
    for chunk in blocks.take():
        yield chunk
    reason, sequence = stop_reason(last_choice or {"finish_reason": "stop"}, stops)
    yield sse(
        "message_delta",
        {
            "delta": {"stop_reason": reason, "stop_sequence": sequence, "stop_details": None, "container": None},
            "usage": usage_from(usage),
            "route": route,
        },
    )
    yield sse("message_stop", {})
