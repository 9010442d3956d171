"""A ten-turn Claude Code session through the gateway (PRODUCT.md "Prompt caching", "Sticky providers"): every
turn after the first is served by the same provider, `cache_control` reaches the upstream where Claude Code puts
it (the system prompt, tool results, the last message), and the cached tokens the upstream reports are in
Claude Code's own usage. The Anthropic SDK test below marks every kind of block, tools included.

Each turn is one `claude -p … --resume <session>`: Claude Code resends the whole conversation, with its cache
breakpoints, as it does in an interactive session.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import FakeUpstream
from tests.contract.test_claude_code import (  # noqa: F401 (fixture)
    CLAUDE_CODE_VERSION,
    claude_code,
    claude_code_env,
    run_claude_code,
)

TURNS = 10
MODEL = "anthropic/claude-sonnet-4.5"


def _run(claude: Path, env: dict[str, str], work: Path, prompt: str, session: str | None) -> dict[str, Any]:
    resume = ["--resume", session] if session else []
    done = run_claude_code(
        claude, work, env, prompt, "--model", "claude-sonnet-4-5", "--output-format", "json", *resume
    )
    assert done.returncode == 0, f"exit {done.returncode}\nout: {done.stdout[-2000:]}\nerr: {done.stderr[-2000:]}"
    result: dict[str, Any] = json.loads(done.stdout)
    return result


def _marked(value: Any) -> bool:
    if isinstance(value, dict):
        return "cache_control" in value or any(_marked(v) for v in value.values())
    return isinstance(value, list) and any(_marked(v) for v in value)


@pytest.mark.parametrize("store_env", ["local"], indirect=True)
def test_a_ten_turn_claude_code_session_stays_on_one_provider_and_hits_its_cache(
    claude_code: Path,  # noqa: F811
    gateway_url: str,
    api_key: str,
    upstream: FakeUpstream,
    tmp_path: Path,
) -> None:
    work, env = claude_code_env(tmp_path, gateway_url, api_key)
    session: str | None = None
    results = []
    turns_sent = []
    for turn in range(TURNS):
        before = len(upstream.fake.chat_requests())
        result = _run(claude_code, env, work, f"Turn {turn}: say hello", session)
        session = result["session_id"]
        results.append(result)
        turns_sent.append([r.body for r in upstream.fake.chat_requests()[before:] if r.body.get("model") == MODEL])
    main = turns_sent
    assert all(main), "every turn called the session's model"
    providers = [body["provider"]["order"][0] for bodies in main for body in bodies]
    assert len(set(providers)) == 1, providers  # one provider for the whole session: its cache hits
    every = [body for bodies in main for body in bodies]
    system = [m for body in every for m in body["messages"] if m["role"] == "system"]
    assert system and all(_marked(m) for m in system), "cache_control on the system prompt"
    tool_results = [m for body in every for m in body["messages"] if m["role"] == "tool"]
    assert tool_results and any(_marked(m) for m in tool_results), "cache_control on a tool result"
    # Claude Code (this version) marks no tool itself: its tools come first in the cache's order, so the system
    # prompt's mark caches them; a tool's own mark is kept too (test_anthropic_sdk_cache_control_on_every_block)
    assert all(body.get("tools") for body in every), "the tools are resent every turn, inside the cached prefix"
    usages = [result["usage"] for result in results]
    assert usages[0]["cache_creation_input_tokens"] > 0
    assert all(usage["cache_read_input_tokens"] > 0 for usage in usages[1:]), usages
