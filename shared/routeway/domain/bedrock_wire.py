"""Amazon Bedrock's Converse API, both ways, as pure functions: the OpenAI-shaped chat payload the core sends
becomes a `converse` / `converse_stream` request, and Bedrock's answers (a whole one, or its stream's events)
become an OpenAI chat completion or its SSE chunks, so everything above the Upstream port works unchanged.

Also here: what a Bedrock error means to the core (domain/fallback.py): its HTTP status and a message that
names the model, the region and the missing permission, never the credentials (PRODUCT.md "Bedrock in the
team's own account"; RELIABILITY 66).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping
from typing import Any

from routeway.errors import RoutewayError

PROVIDER_NAME = "Amazon Bedrock (own account)"
PROVIDER_SLUG = "amazon-bedrock-own"  # what `provider.only` / `provider.order` accept (OpenRouter's is amazon-bedrock)
# OpenAI parameters Converse has no field for: a Bedrock row does not claim them (domain/candidates.py)
UNSUPPORTED_PARAMETERS = frozenset(
    {
        "response_format",
        "structured_outputs",
        "logprobs",
        "top_logprobs",
        "seed",
        "frequency_penalty",
        "presence_penalty",
        "repetition_penalty",
        "logit_bias",
        "min_p",
        "top_a",
        "web_search_options",
    }
)
IMAGE_FORMATS = {
    "image/png": "png",
    "image/jpeg": "jpeg",
    "image/jpg": "jpeg",
    "image/gif": "gif",
    "image/webp": "webp",
}
DOCUMENT_FORMATS = {
    "application/pdf": "pdf",
    "text/csv": "csv",
    "application/msword": "doc",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": "docx",
    "application/vnd.ms-excel": "xls",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": "xlsx",
    "text/html": "html",
    "text/plain": "txt",
    "text/markdown": "md",
}
EFFORT_BUDGET = {"minimal": 1024, "low": 2048, "medium": 8192, "high": 16384, "xhigh": 32000}
MIN_THINKING_BUDGET = 1024  # Anthropic's floor for budget_tokens
DEFAULT_MAX_TOKENS_WITH_THINKING = 4096
FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "tool_use": "tool_calls",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "content_filtered": "content_filter",
    "guardrail_intervened": "content_filter",
}


class BedrockRequestError(RoutewayError, ValueError):
    """The chat payload cannot be said in Converse (an image by URL, a malformed data URL): the client's 400."""


def bedrock_model_id(model: str, mapping: Mapping[str, str]) -> str:
    """The Bedrock model or inference profile id for the model the core names: the configured mapping (a catalog
    id, its `:variant` ignored), else the name as it is (an alias's `backend_models` may give a Bedrock id)."""
    if model in mapping:
        return mapping[model]
    base = model.split(":", 1)[0] if "/" in model else model  # "anthropic/x:nitro"; Bedrock ids carry ":0"
    return mapping.get(base, model)


def model_arn(region: str, model_id: str) -> str:
    """The ARN an IAM policy must allow for `model_id` (an inference profile's ids start with a geography)."""
    if model_id.startswith("arn:"):
        return model_id
    if model_id.split(".", 1)[0] in {"us", "eu", "apac", "us-gov", "global", "jp", "au", "ca"}:
        return f"arn:aws:bedrock:{region}:<account>:inference-profile/{model_id}"
    return f"arn:aws:bedrock:{region}::foundation-model/{model_id}"


# ---- requests ---------------------------------------------------------------------------------------------


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(
            str(p.get("text") or "") for p in content if isinstance(p, Mapping) and p.get("type") in ("text", None)
        )
    return "" if content is None else str(content)


def _image_block(part: Mapping[str, Any]) -> dict[str, Any]:
    image = part.get("image_url")
    media, raw = _data_url(image.get("url") if isinstance(image, Mapping) else image, "images")
    image_format = IMAGE_FORMATS.get(media)
    if image_format is None:
        raise BedrockRequestError(f"Amazon Bedrock takes png, jpeg, gif or webp images, not {media or 'this'}.")
    return {"image": {"format": image_format, "source": {"bytes": raw}}}


def _data_url(url: Any, what: str) -> tuple[str, bytes]:
    """(media type, bytes) of a base64 data URL."""
    if not isinstance(url, str) or not url.startswith("data:"):
        raise BedrockRequestError(f"Amazon Bedrock takes {what} as base64 data URLs only, not by http(s) URL.")
    head, _, data = url.partition(",")
    if ";base64" not in head:
        raise BedrockRequestError(f"Amazon Bedrock takes {what} as base64 data URLs only.")
    try:
        return head[5:].split(";", 1)[0].lower(), base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise BedrockRequestError(f"The base64 data of {what} is malformed.") from None


def _document_block(part: Mapping[str, Any], index: int) -> dict[str, Any]:
    found = part.get("file")
    file: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    media, raw = _data_url(file.get("file_data"), "files")
    document_format = DOCUMENT_FORMATS.get(media)
    if document_format is None:
        raise BedrockRequestError(f"Amazon Bedrock takes pdf, csv, doc(x), xls(x), html, txt or md files, not {media}.")
    stem = str(file.get("filename") or f"document {index}").rsplit(".", 1)[0]
    name = re.sub(r"[^A-Za-z0-9 ()\[\]-]+", " ", stem).strip()[:100] or f"document {index}"
    return {"document": {"format": document_format, "name": name, "source": {"bytes": raw}}}


def _content_blocks(content: Any) -> list[dict[str, Any]]:
    """A message's content as Converse blocks; a part Converse cannot carry is refused, never dropped."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    blocks: list[dict[str, Any]] = []
    for index, part in enumerate(content or []):
        if not isinstance(part, Mapping):
            continue
        kind = part.get("type")
        if kind == "text":
            if part.get("text"):
                blocks.append({"text": str(part["text"])})
        elif kind == "image_url":
            blocks.append(_image_block(part))
        elif kind == "file":
            blocks.append(_document_block(part, index))
        else:
            raise BedrockRequestError(f"Amazon Bedrock's Converse cannot take a {str(kind)[:40]!r} content part.")
        if isinstance(part.get("cache_control"), Mapping) and blocks:
            blocks.append({"cachePoint": {"type": "default"}})
    return blocks


def _arguments(raw: Any) -> Any:
    if isinstance(raw, Mapping):
        return dict(raw)
    if not raw:
        return {}
    try:
        parsed = json.loads(raw)
    except (TypeError, ValueError):
        return {"arguments": raw}
    return parsed if isinstance(parsed, dict) else {"value": parsed}


def _signed_reasoning(details: Any) -> list[dict[str, Any]]:
    """Signed reasoning sent back, as Converse's reasoningContent blocks: details of one `index` are one block
    (a streamed answer's deltas, echoed as they came: its text pieces, then its signature); unsigned ones are
    left out (Bedrock refuses reasoning it did not sign)."""
    merged: dict[Any, dict[str, str]] = {}
    for position, detail in enumerate(details if isinstance(details, list) else []):
        if not isinstance(detail, Mapping) or detail.get("type") != "reasoning.text":
            continue
        block = merged.setdefault(detail.get("index", f"at {position}"), {"text": "", "signature": ""})
        block["text"] += str(detail.get("text") or "")
        block["signature"] = str(detail.get("signature") or "") or block["signature"]
    return [{"reasoningContent": {"reasoningText": b}} for b in merged.values() if b["signature"]]


def _assistant_blocks(message: Mapping[str, Any]) -> list[dict[str, Any]]:
    blocks = _signed_reasoning(message.get("reasoning_details"))
    blocks += _content_blocks(message.get("content"))
    for call in message.get("tool_calls") or []:
        if not isinstance(call, Mapping):
            continue
        function = call.get("function") or {}
        blocks.append(
            {
                "toolUse": {
                    "toolUseId": str(call.get("id") or ""),
                    "name": str(function.get("name") or ""),
                    "input": _arguments(function.get("arguments")),
                }
            }
        )
    return blocks


def _tool_result(message: Mapping[str, Any]) -> dict[str, Any]:
    content = message.get("content")
    parts: list[dict[str, Any]]
    if isinstance(content, list):
        parts = [b for b in _content_blocks(content) if "cachePoint" not in b] or [{"text": ""}]
    else:
        parts = [{"text": _text_of(content)}]
    return {"toolResult": {"toolUseId": str(message.get("tool_call_id") or ""), "content": parts}}


def _messages(messages: list[Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(system blocks, Converse messages): consecutive turns of one role merged, as Converse requires."""
    system: list[dict[str, Any]] = []
    turns: list[dict[str, Any]] = []

    def add(role: str, blocks: list[dict[str, Any]]) -> None:
        if not blocks:
            return
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})

    for message in messages:
        if not isinstance(message, Mapping):
            continue
        role = message.get("role")
        if role in ("system", "developer"):
            text = _text_of(message.get("content"))
            if text:
                system.append({"text": text})
        elif role == "assistant":
            add("assistant", _assistant_blocks(message))
        elif role in ("tool", "function"):
            add("user", [_tool_result(message)])
        else:
            add("user", _content_blocks(message.get("content")))
    return system, turns


def _tool_config(payload: Mapping[str, Any]) -> dict[str, Any] | None:
    tools = []
    for tool in payload.get("tools") or []:
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if not isinstance(function, Mapping) or not function.get("name"):
            continue
        schema = function.get("parameters") or {"type": "object", "properties": {}}
        spec: dict[str, Any] = {"name": str(function["name"]), "inputSchema": {"json": schema}}
        if function.get("description"):
            spec["description"] = str(function["description"])
        tools.append({"toolSpec": spec})
    if not tools:
        return None
    config: dict[str, Any] = {"tools": tools}
    choice = payload.get("tool_choice")
    if choice == "required":
        config["toolChoice"] = {"any": {}}
    elif choice == "auto":
        config["toolChoice"] = {"auto": {}}
    elif isinstance(choice, Mapping) and isinstance(choice.get("function"), Mapping):
        config["toolChoice"] = {"tool": {"name": str(choice["function"].get("name") or "")}}
    return config


def _thinking_budget(payload: Mapping[str, Any]) -> int | None:
    reasoning = payload.get("reasoning")
    effort = payload.get("reasoning_effort")
    budget: Any = None
    if isinstance(reasoning, Mapping):
        if reasoning.get("enabled") is False or reasoning.get("exclude") is True and not reasoning.get("max_tokens"):
            return None
        budget = reasoning.get("max_tokens")
        effort = reasoning.get("effort", effort)
        if budget is None and effort is None and reasoning.get("enabled"):
            effort = "medium"
    if budget is None and isinstance(effort, str):
        budget = EFFORT_BUDGET.get(effort)
    if isinstance(budget, bool) or not isinstance(budget, int) or budget <= 0:
        return None
    return max(budget, MIN_THINKING_BUDGET)


def _unsigned_tool_turn(messages: list[dict[str, Any]]) -> bool:
    """The last assistant turn calls tools but carries no signed reasoning (a client dropped it, as Anthropic's
    Messages API lets clients do): Anthropic's models then refuse a request with thinking enabled."""
    for message in reversed(messages):
        if message["role"] == "assistant":
            blocks = message["content"]
            return any("toolUse" in b for b in blocks) and not any("reasoningContent" in b for b in blocks)
    return False


def to_converse(payload: Mapping[str, Any], model_id: str, *, reasoning: bool = True) -> dict[str, Any]:
    """The keyword arguments of boto3's `converse` / `converse_stream` for an OpenAI chat payload.

    `reasoning`: the catalog says the model thinks; only Anthropic's models on Bedrock take the `thinking`
    field (`additionalModelRequestFields`), others are sent without it."""
    system, messages = _messages(list(payload.get("messages") or []))
    request: dict[str, Any] = {"modelId": model_id, "messages": messages}
    if system:
        request["system"] = system
    inference: dict[str, Any] = {}
    max_tokens = payload.get("max_completion_tokens") or payload.get("max_tokens")
    if isinstance(max_tokens, int) and not isinstance(max_tokens, bool) and max_tokens > 0:
        inference["maxTokens"] = max_tokens
    for name, wire in (("temperature", "temperature"), ("top_p", "topP")):
        value = payload.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            inference[wire] = value
    stop = payload.get("stop")
    if isinstance(stop, str) and stop:
        inference["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        inference["stopSequences"] = [str(s) for s in stop if s][:4]
    budget = _thinking_budget(payload) if reasoning and "anthropic" in model_id else None
    if budget is not None and _unsigned_tool_turn(messages):
        budget = None  # Anthropic refuses thinking when the last tool-use turn lost its signed thinking block
    if budget is not None:
        ceiling = inference.get("maxTokens") or DEFAULT_MAX_TOKENS_WITH_THINKING
        if budget >= ceiling:
            ceiling = budget + DEFAULT_MAX_TOKENS_WITH_THINKING
        inference["maxTokens"] = ceiling
        inference.pop("temperature", None)  # Anthropic refuses a temperature beside thinking
        inference.pop("topP", None)
        request["additionalModelRequestFields"] = {"thinking": {"type": "enabled", "budget_tokens": budget}}
    if inference:
        request["inferenceConfig"] = inference
    tool_config = _tool_config(payload)
    if tool_config is not None:
        request["toolConfig"] = tool_config
    return request


# ---- answers ----------------------------------------------------------------------------------------------
