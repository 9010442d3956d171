"""Codex (`@openai/codex` from npm) through the gateway, with a Routeway model provider (`wire_api = "responses"`).

The CLI is installed once, pinned, into the repo's gitignored `.cache/npm/codex`, and run as a user
would: `codex exec "Say hello"` with a config.toml in a temporary CODEX_HOME. The gateway serves it
from a real uvicorn server with the fake OpenRouter behind it (the local store: the AWS store's
Responses path is covered by test_responses.py).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from routeway.gateway import Gateway
from tests.conftest import FakeUpstream
from tests.contract.test_responses import sse_chunks
from tests.fakes.openrouter import Scripted
from tests.npm import npm_package

CODEX_VERSION = "0.171.0"  # `npm view @openai/codex version` when this was written
CODEX_TIMEOUT_S = 180
MODEL = "openai/gpt-5.4-mini"
ANSWER = "Hello from Routeway, Codex."


@pytest.fixture(scope="session")
def codex_bin() -> Path:
    """The pinned Codex CLI, from the repo's npm cache."""
    return npm_package("@openai/codex", CODEX_VERSION) / "node_modules" / ".bin" / "codex"


@pytest.fixture
def store_env(tmp_path: Path) -> Iterator[dict[str, str]]:
    yield {"ROUTEWAY_HOME": str(tmp_path / "home"), "ROUTEWAY_STORE": "local"}


def codex_home(root: Path, base_url: str, model: str = MODEL) -> Path:
    home = root / "codex-home"
    home.mkdir()
    (home / "config.toml").write_text(
        f"""model = "{model}"
model_provider = "routeway"
approval_policy = "never"
sandbox_mode = "read-only"

[model_providers.routeway]
name = "Routeway"
base_url = "{base_url}/v1"
env_key = "ROUTEWAY_API_KEY"
wire_api = "responses"
request_max_retries = 0
stream_max_retries = 0
""",
        encoding="utf-8",
    )
    return home


def run_codex(
    codex_bin: Path, gateway_url: str, api_key: str, root: Path, prompt: str, model: str = MODEL
) -> subprocess.CompletedProcess[str]:
    home = codex_home(root, gateway_url, model)
    workdir = root / "work"
    workdir.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(root),
        "CODEX_HOME": str(home),
        "ROUTEWAY_API_KEY": api_key,
        "NO_COLOR": "1",
        "RUST_LOG": "error",
    }
    result = subprocess.run(
        [str(codex_bin), "exec", "--skip-git-repo-check", "--sandbox", "read-only", prompt],
        cwd=workdir,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=CODEX_TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"codex exited {result.returncode}: {result.stderr[-3000:]}"
    return result


def test_codex_exec_says_hello_through_the_gateway(
    codex_bin: Path, gateway_url: str, api_key: str, upstream: FakeUpstream, gateway: Gateway, tmp_path: Path
) -> None:
    # Codex always offers tools: the answer is scripted, so a fake that calls tools on its own changes nothing
    upstream.fake.enqueue(
        Scripted(stream=sse_chunks([{"content": "Hello from Routeway,"}, {"content": " Codex."}], "stop"))
    )
    result = run_codex(codex_bin, gateway_url, api_key, tmp_path, "Say hello")
    assert ANSWER in result.stdout
    chats = upstream.fake.chat_requests()
    assert len(chats) == 1, "Codex's request never reached the upstream"
    sent = chats[-1].body
    assert sent["model"] == MODEL and sent["stream"] is True
    assert {t["function"]["name"] for t in sent["tools"]} >= {"exec_command"}  # Codex's shell tool, as a chat tool
    assert any(m["role"] == "user" and "Say hello" in str(m["content"]) for m in sent["messages"])
    spent = gateway.state.sync.list_keys()[0].spend_usd
    assert spent > 0


def test_codex_runs_a_tool_the_model_called_and_sends_its_output_back(
    codex_bin: Path, gateway_url: str, api_key: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    arguments = json.dumps({"cmd": "echo routeway-tool-ok"})
    call = {"index": 0, "id": "call_codex_1", "type": "function", "function": {"name": "exec_command"}}
    pieces = [{"tool_calls": [{**call, "function": {**call["function"], "arguments": arguments[:9]}}]}]
    pieces.append({"tool_calls": [{"index": 0, "function": {"arguments": arguments[9:]}}]})
    upstream.fake.enqueue(
        Scripted(stream=sse_chunks(pieces, "tool_calls")),
        Scripted(stream=sse_chunks([{"content": "Done: it printed."}], "stop")),
    )
    result = run_codex(codex_bin, gateway_url, api_key, tmp_path, "Print routeway-tool-ok with echo")
    assert "Done: it printed." in result.stdout
    first, second = (r.body for r in upstream.fake.chat_requests())
    assert first["messages"][-1]["role"] == "user"
    assistant, tool = second["messages"][-2:]
    assert assistant["role"] == "assistant" and assistant["tool_calls"][0]["id"] == "call_codex_1"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {"cmd": "echo routeway-tool-ok"}
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_codex_1" and tool["content"]
