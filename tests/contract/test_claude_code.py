"""Claude Code itself (`claude -p`, from npm) through the gateway, with the fake OpenRouter behind it.

Claude Code is installed once per session into `.cache/npm/claude-code` (gitignored) at a pinned
version. It runs with a throwaway HOME, no telemetry, no auto-update and no non-essential traffic, so
the only server it talks to is the gateway on loopback. Whatever else it calls (a small model for
titles, count_tokens, tool calls the fake makes) has to work, as it would for a user.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tests.conftest import FakeUpstream
from tests.npm import npm_package

CLAUDE_CODE_VERSION = "2.1.332"
RUN_TIMEOUT_S = 180


@pytest.fixture(scope="session")
def claude_code() -> Path:
    """The `claude` binary at the pinned version, from the repo's npm cache."""
    return npm_package("@anthropic-ai/claude-code", CLAUDE_CODE_VERSION) / "node_modules" / ".bin" / "claude"


def claude_code_env(tmp_path: Path, gateway_url: str, api_key: str) -> tuple[Path, dict[str, str]]:
    """A working folder and the environment Claude Code runs in: its own HOME, the gateway, nothing phoned home."""
    home, work = tmp_path / "claude-home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "ANTHROPIC_BASE_URL": gateway_url,
        "ANTHROPIC_API_KEY": api_key,
        "DISABLE_AUTOUPDATER": "1",
        "DISABLE_TELEMETRY": "1",
        "DISABLE_ERROR_REPORTING": "1",
        "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    }
    return work, env


def run_claude_code(claude: Path, work: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """`claude -p ...` in `work`, non-interactive (no stdin), output captured, bounded by RUN_TIMEOUT_S."""
    return subprocess.run(
        [str(claude), "-p", *args],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        stdin=subprocess.DEVNULL,
    )


@pytest.mark.parametrize("store_env", ["local"], indirect=True)
def test_claude_code_prints_the_answer(
    claude_code: Path, gateway_url: str, api_key: str, upstream: FakeUpstream, tmp_path: Path
) -> None:
    work, env = claude_code_env(tmp_path, gateway_url, api_key)
    done = run_claude_code(claude_code, work, env, "Say hello", "--model", "claude-sonnet-4-5")
    bodies = [r.body for r in upstream.fake.chat_requests() if isinstance(r.body, dict)]
    trace = [(b.get("model"), [m.get("role") for m in b.get("messages", [])][-3:]) for b in bodies]
    assert done.returncode == 0, (
        f"exit {done.returncode}\nout: {done.stdout[-2000:]}\nerr: {done.stderr[-2000:]}\n{trace}"
    )
    assert "Hello from the fake OpenRouter." in done.stdout
    assert bodies and {b["model"] for b in bodies} == {"anthropic/claude-sonnet-4.5"}
    assert all(b["stream"] is True and b["stream_options"] == {"include_usage": True} for b in bodies)
    # the fake called one of Claude Code's tools; Claude Code ran it and sent the result back
    assert any(m["role"] == "tool" for b in bodies for m in b["messages"])
