"""Claude Code from npm, served by Amazon Bedrock through the gateway (issue 34): the real `claude` binary, a
`routeway` gateway whose configuration chains Bedrock first for its model, and the fake Bedrock checking every
request's SigV4 signature. Claude Code streams, runs the tool the model calls and sends its result back; every
turn reaches Bedrock, none reaches OpenRouter."""

from __future__ import annotations

from pathlib import Path

import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.contract.test_claude_code import claude_code, claude_code_env, run_claude_code  # noqa: F401 (fixture)
from tests.fakes.bedrock import FakeBedrock
from tests.functional.test_bedrock import (  # noqa: F401 (fixtures)
    ALIAS,
    CONFIG,
    PROFILE,
    _bedrock_server,
    bedrock,
    bedrock_env,
)
from tests.servers import serve_in_thread

pytestmark = pytest.mark.filterwarnings("ignore:The model .* is deprecated:DeprecationWarning")


@pytest.mark.parametrize("store_env", ["local"], indirect=True)
def test_claude_code_is_served_by_bedrock(
    claude_code: Path,  # noqa: F811
    bedrock_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    bedrock: FakeBedrock,  # noqa: F811
    upstream: FakeUpstream,
) -> None:
    Path(bedrock_env["ROUTEWAY_CONFIG"]).write_text(CONFIG + ALIAS)  # the Bedrock-first alias beside the backend
    gateway: Gateway = build_gateway(Settings.from_env(bedrock_env))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "claude-code")[0])
    with serve_in_thread(create_app(lambda: gateway)) as url:
        work, claude_env = claude_code_env(tmp_path, url, key)
        done = run_claude_code(claude_code, work, claude_env, "Say hello", "--model", "claude-own-first")
    assert done.returncode == 0, f"exit {done.returncode}\nout: {done.stdout[-2000:]}\nerr: {done.stderr[-2000:]}"
    assert "The tool said:" in done.stdout or "Hello from Bedrock." in done.stdout, done.stdout[-2000:]
    assert bedrock.seen and {seen.model_id for seen in bedrock.seen} == {PROFILE}
    assert len(bedrock.seen) >= 2  # the model called a tool; Claude Code ran it and sent the result back
    assert upstream.fake.chat_requests() == []  # nothing went to OpenRouter
