"""The fake upstream's prompt cache behaves like a real provider's: write first, read the prefix later, per provider."""

from __future__ import annotations

from typing import Any

from tests.fakes.prompt_cache import PromptCache

MARK = {"type": "ephemeral"}
MODEL = {"pricing": {"prompt": "0.000003", "input_cache_read": "0.0000003", "input_cache_write": "0.00000375"}}


def turn(messages: list[dict[str, Any]]) -> dict[str, Any]:
    system = {"role": "system", "content": [{"type": "text", "text": "You are a coder. " * 200, "cache_control": MARK}]}
    tools = [{"type": "function", "function": {"name": "read"}, "cache_control": MARK}]
    return {"tools": tools, "messages": [system, *messages]}


def answer(cache: PromptCache, body: dict[str, Any], provider: str = "Anthropic") -> dict[str, Any]:
    completion = {"provider": provider, "model": "anthropic/claude", "usage": {"prompt_tokens": 1000, "cost": 0.003}}
    cache.account(completion, body, MODEL)
    return dict(completion["usage"])


def user(text: str, marked: bool = False) -> dict[str, Any]:
    part: dict[str, Any] = {"type": "text", "text": text}
    return {"role": "user", "content": [part | ({"cache_control": MARK} if marked else {})]}


def test_the_first_turn_writes_and_later_turns_read_the_moving_prefix() -> None:
    cache = PromptCache()
    first = answer(cache, turn([user("hi", marked=True)]))
    assert first["prompt_tokens_details"]["cached_tokens"] == 0
    assert first["prompt_tokens_details"]["cache_write_tokens"] > 900
    history = [user("hi"), {"role": "assistant", "content": "hello"}, user("more", marked=True)]
    second = answer(cache, turn(history))
    assert second["prompt_tokens_details"]["cached_tokens"] > 900  # the previous turn's whole prefix
    assert 0 < second["prompt_tokens_details"]["cache_write_tokens"] < 100  # only what this turn added
    assert second["cost"] < first["cost"]


def test_another_provider_starts_cold() -> None:
    cache = PromptCache()
    answer(cache, turn([user("hi", marked=True)]))
    elsewhere = answer(cache, turn([user("hi", marked=True)]), provider="Google")
    assert elsewhere["prompt_tokens_details"]["cached_tokens"] == 0


def test_a_request_without_marks_reports_no_cache() -> None:
    cache = PromptCache()
    assert "prompt_tokens_details" not in answer(cache, {"messages": [{"role": "user", "content": "hi"}]})
