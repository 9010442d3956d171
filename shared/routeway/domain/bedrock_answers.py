"""Amazon Bedrock's answers, as the core reads an OpenAI-compatible upstream's: a `converse` answer as a chat
completion, ConverseStream's events as chat chunks, usage as OpenAI usage, and Bedrock's errors as the status and
message the core acts on (fallback, cooldown), naming the model, the region and the missing permission, never the
credentials (PRODUCT.md "Bedrock in the team's own account"). The requests are domain/bedrock_wire.py's."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from routeway.domain.bedrock_wire import FINISH_REASONS, PROVIDER_NAME, model_arn
from routeway.domain.reasoning_details import ANTHROPIC_FORMAT


def openai_usage(usage: Any) -> dict[str, Any] | None:
    """Converse's usage as OpenAI's: prompt tokens count the cached ones, as OpenAI's do. No `cost`: the core
    prices it from the catalog (services/usage.py), capped at the hold."""
    if not isinstance(usage, Mapping):
        return None

    def count(name: str) -> int:
        value = usage.get(name)
        return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

    cache_read, cache_write = count("cacheReadInputTokens"), count("cacheWriteInputTokens")
    prompt = count("inputTokens") + cache_read + cache_write
    completion = count("outputTokens")
    result: dict[str, Any] = {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }
    if cache_read or cache_write:
        result["prompt_tokens_details"] = {"cached_tokens": cache_read, "cache_write_tokens": cache_write}
    return result


def completion_id(request_id: str | None, created: int) -> str:
    return f"gen-bedrock-{request_id or created}"


def to_chat_completion(
    answer: Mapping[str, Any], model: str, request_id: str | None = None, *, created: int
) -> dict[str, Any]:
    """A `converse` answer as an OpenAI chat completion named after the catalog model the core asked for."""
    message = ((answer.get("output") or {}).get("message") or {}) if isinstance(answer, Mapping) else {}
    text: list[str] = []
    reasoning: list[str] = []
    details: list[dict[str, Any]] = []
    calls: list[dict[str, Any]] = []
    for block in message.get("content") or []:
        if not isinstance(block, Mapping):
            continue
        if "text" in block:
            text.append(str(block["text"]))
        elif "toolUse" in block:
            use = block["toolUse"]
            calls.append(
                {
                    "id": str(use.get("toolUseId") or f"call_{len(calls)}"),
                    "type": "function",
                    "function": {"name": str(use.get("name") or ""), "arguments": json.dumps(use.get("input") or {})},
                }
            )
        elif "reasoningContent" in block:
            said = (block["reasoningContent"] or {}).get("reasoningText") or {}
            reasoning.append(str(said.get("text") or ""))
            details.append(_detail(str(said.get("text") or ""), said.get("signature"), len(details)))
    reply: dict[str, Any] = {"role": "assistant", "content": "".join(text) if text or not calls else None}
    if reasoning:
        reply["reasoning"] = "".join(reasoning)
        reply["reasoning_details"] = details
    if calls:
        reply["tool_calls"] = calls
    completion: dict[str, Any] = {
        "id": completion_id(request_id, created),
        "object": "chat.completion",
        "created": created,
        "model": model,
        "provider": PROVIDER_NAME,
        "choices": [{"index": 0, "message": reply, "finish_reason": finish_reason(answer.get("stopReason"), calls)}],
    }
    usage = openai_usage(answer.get("usage"))
    if usage is not None:
        completion["usage"] = usage
    return completion


def _detail(text: str, signature: Any, index: int) -> dict[str, Any]:
    """Reasoning as OpenRouter's `reasoning_details`: a signed one (Anthropic's models sign their thinking) in
    Anthropic's format, so the client's next turn sends it back to that family only (domain/reasoning_details.py)."""
    detail: dict[str, Any] = {"type": "reasoning.text", "text": text, "index": index}
    if isinstance(signature, str) and signature:
        detail |= {"signature": signature, "format": ANTHROPIC_FORMAT}
    return detail


def finish_reason(stop_reason: Any, calls: list[Any] | None = None) -> str:
    reason = FINISH_REASONS.get(str(stop_reason), "stop")
    return "tool_calls" if calls and reason == "stop" else reason


@dataclass
class StreamTranslator:
    """ConverseStream's events, one by one, as OpenAI chat completion chunks (dicts; the adapter writes SSE)."""

    model: str
    request_id: str | None = None
    created: int = 0  # epoch seconds, the adapter's clock (the domain reads none)
    stopped: bool = False  # messageStop arrived: a stream that ends before it was cut
    finished: bool = False  # metadata (usage) arrived after the stop: nothing more will come
    _tools: dict[int, int] = field(default_factory=dict)  # content block index → tool call index

    def _chunk(self, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        return {
            "id": completion_id(self.request_id, self.created),
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "provider": PROVIDER_NAME,
            "choices": [choice],
        }

    def take(self, event: Mapping[str, Any]) -> list[dict[str, Any]]:
        if "messageStart" in event:
            return [self._chunk({"role": "assistant", "content": ""})]
        if "contentBlockStart" in event:
            start = event["contentBlockStart"]
            use = (start.get("start") or {}).get("toolUse")
            if not isinstance(use, Mapping):
                return []
            index = self._tools.setdefault(int(start.get("contentBlockIndex") or 0), len(self._tools))
            call = {
                "index": index,
                "id": str(use.get("toolUseId") or f"call_{index}"),
                "type": "function",
                "function": {"name": str(use.get("name") or ""), "arguments": ""},
            }
            return [self._chunk({"role": "assistant", "tool_calls": [call]})]
        if "contentBlockDelta" in event:
            block = event["contentBlockDelta"]
            delta = block.get("delta") or {}
            if "text" in delta:
                return [self._chunk({"content": str(delta["text"])})] if delta["text"] else []
            if "toolUse" in delta:
                index = self._tools.setdefault(int(block.get("contentBlockIndex") or 0), len(self._tools))
                arguments = str((delta["toolUse"] or {}).get("input") or "")
                return [self._chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})]
            if "reasoningContent" in delta:  # its text, then (Anthropic's models) its signature, as deltas
                said = delta["reasoningContent"] or {}
                index = int(block.get("contentBlockIndex") or 0)
                if said.get("text"):
                    text = str(said["text"])
                    return [self._chunk({"reasoning": text, "reasoning_details": [_detail(text, None, index)]})]
                if said.get("signature"):
                    return [self._chunk({"reasoning_details": [_detail("", said["signature"], index)]})]
            return []
        if "messageStop" in event:
            self.stopped = True
            reason = finish_reason(event["messageStop"].get("stopReason"), list(self._tools) or None)
            return [self._chunk({}, reason)]
        if "metadata" in event:
            usage = openai_usage(event["metadata"].get("usage"))
            self.finished = self.stopped
            if usage is None:
                return []
            closing = self._chunk({})
            closing["choices"] = []
            closing["usage"] = usage
            return [closing]
        return []


# ---- errors -----------------------------------------------------------------------------------------------

THROTTLED = frozenset({"ThrottlingException", "TooManyRequestsException", "ServiceQuotaExceededException"})
NOT_READY = frozenset({"ModelNotReadyException", "ServiceUnavailableException", "ServiceUnavailable"})
SIGNING = frozenset(
    {
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "IncompleteSignature",
        "ExpiredTokenException",
        "InvalidClientTokenId",
        "MissingAuthenticationTokenException",
    }
)
NOT_ENABLED_HINTS = ("model identifier is invalid", "not found", "isn't supported", "is not supported", "not enabled")


@dataclass(frozen=True)
class BedrockError:
    """What a Bedrock error is to the core: `status` for an answer, or `kind` for an attempt that could not be
    made (raised by the adapter as its GatewayError, so the request moves on to another backend when it may):
    "access_denied" (403), "credentials" (503), "not_served" (400: the account or region lacks the model)."""

    status: int
    message: str
    code: str
    kind: str = "answer"  # "answer" | "access_denied" | "credentials"

    def body(self) -> bytes:
        return json.dumps({"error": {"message": self.message, "code": self.code}}).encode()


def bedrock_error(
    code: str, status: int | None, model_id: str, region: str, *, stream: bool, detail: str = ""
) -> BedrockError:
    """Bedrock's error (its code, e.g. ThrottlingException, its HTTP status and message) as the core reads it.
    Bedrock's own message is repeated only for a request it found invalid: an AccessDenied one names the role,
    a signing one the key id."""
    where = f"Amazon Bedrock ({region})"
    action = "bedrock:InvokeModelWithResponseStream" if stream else "bedrock:InvokeModel"
    if code in THROTTLED:
        return BedrockError(429, f"{where} throttled model {model_id!r} ({code}).", "rate_limited")
    if code == "AccessDeniedException":
        message = (
            f"{where} denied {action} on {model_arn(region, model_id)}: the gateway's role needs that permission on"
            f" the model (and the model must be enabled in the account's Bedrock model access)."
        )
        return BedrockError(403, message, "access_denied", "access_denied")
    if code in SIGNING:
        message = (
            f"{where} refused the gateway's credentials ({code}): give the function's role {action} on"
            f" {model_arn(region, model_id)}, or set the backend's api_key_env to a valid Bedrock API key."
        )
        return BedrockError(503, message, "backend_unavailable", "credentials")
    if code == "ValidationException" and not validation_means_not_served(detail):
        return BedrockError(400, f"{where} rejected the request: {detail[:300]}", "bad_request")
    if code in ("ValidationException", "ResourceNotFoundException"):
        message = (
            f"{where} does not serve model {model_id!r} to this account: enable it in Bedrock's model access, or map"
            f" the catalog model to a model or inference profile id this region serves in ROUTEWAY_CONFIG."
        )
        return BedrockError(400, message, "model_not_enabled", "not_served")
    if code in NOT_READY:
        return BedrockError(503, f"{where}: model {model_id!r} is not ready ({code}).", "model_not_ready")
    if code == "ModelTimeoutException":
        return BedrockError(408, f"{where}: model {model_id!r} timed out.", "timeout")
    answered = status if status and status >= 400 else 502
    return BedrockError(answered, f"{where}: {code or 'error'} from model {model_id!r}.", code or "upstream_error")


def validation_means_not_served(message: str) -> bool:
    """A ValidationException about the model itself (not enabled, unknown id, needs an inference profile)."""
    lowered = message.lower()
    return "model" in lowered and any(hint in lowered for hint in NOT_ENABLED_HINTS)
