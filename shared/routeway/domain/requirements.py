"""What a request needs from a model, derived from the request itself (never from guesses about intent)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.estimate import DEFAULT_COMPLETION_TOKENS, estimate_prompt_tokens
from routeway.domain.structured import is_structured

# OpenRouter's parameter names, as listed in each endpoint's supported_parameters.
KNOWN_PARAMETERS = frozenset(
    {
        "temperature", "top_p", "top_k", "min_p", "top_a", "frequency_penalty", "presence_penalty",
        "repetition_penalty", "seed", "max_tokens", "logit_bias", "logprobs", "top_logprobs", "response_format",
        "structured_outputs", "stop", "tools", "tool_choice", "parallel_tool_calls", "reasoning",
        "include_reasoning", "web_search_options", "verbosity",
    }
)  # fmt: skip
# One parameter under another name in some endpoints' lists (Azure's OpenAI models list only
# max_completion_tokens): an endpoint listing either supports it.
SAME_PARAMETER = {"max_tokens": "max_completion_tokens"}
IMAGE_PART_TYPES = ("image_url", "input_image")
AUDIO_PART_TYPES = ("input_audio",)
FILE_PART_TYPES = ("file",)


@dataclass(frozen=True)
class Requirements:
    input_modalities: frozenset[str]
    output_modalities: frozenset[str]
    tools: bool
    structured_output: bool
    prompt_tokens: int
    completion_tokens: int
    max_tokens_given: bool
    parameters: frozenset[str]  # the OpenRouter parameters the request sends
    reasoning_asked: bool = False  # a `reasoning` object or `reasoning_effort` that is not "off"


def _content_modalities(messages: list[Any]) -> set[str]:
    found = {"text"}
    for message in messages:
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for part in content:
            kind = part.get("type") if isinstance(part, Mapping) else None
            if kind in IMAGE_PART_TYPES:
                found.add("image")
            elif kind in AUDIO_PART_TYPES:
                found.add("audio")
            elif kind in FILE_PART_TYPES:
                found.add("file")
    return found


def asks_for_reasoning(body: Mapping[str, Any]) -> bool:
    """A `reasoning` object (OpenRouter) or `reasoning_effort` (OpenAI), unless it turns reasoning off."""
    reasoning, effort = body.get("reasoning"), body.get("reasoning_effort")
    if isinstance(reasoning, Mapping) and (reasoning.get("enabled") is False or reasoning.get("effort") == "none"):
        return False
    return reasoning not in (None, False) or effort not in (None, "none")


def derive_requirements(body: Mapping[str, Any], messages: list[Any], max_tokens: int | None) -> Requirements:
    modalities = body.get("modalities")
    outputs = {m for m in modalities if isinstance(m, str)} if isinstance(modalities, list) else set()
    sent = {k for k in body if k in KNOWN_PARAMETERS}
    if "max_completion_tokens" in body:
        sent.add("max_tokens")
    tools = body.get("tools")
    return Requirements(
        input_modalities=frozenset(_content_modalities(messages)),
        output_modalities=frozenset(outputs - {"text"}),  # text output is what every chat answer has
        tools=isinstance(tools, list) and bool(tools),
        structured_output=is_structured(body.get("response_format")),
        prompt_tokens=estimate_prompt_tokens(messages),
        completion_tokens=max_tokens or DEFAULT_COMPLETION_TOKENS,
        max_tokens_given=max_tokens is not None,
        parameters=frozenset(sent),
        reasoning_asked=asks_for_reasoning(body),
    )
