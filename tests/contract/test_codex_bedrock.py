"""Codex from npm, served by Amazon Bedrock through the gateway (issue 34): the real `codex` binary speaking
Responses to a `routeway` gateway whose alias chains Bedrock first, and the fake Bedrock checking every request's
SigV4 signature. The fake calls Codex's first tool; Codex runs it and sends its output back; every turn reaches
Bedrock, none reaches OpenRouter."""

from __future__ import annotations

from pathlib import Path

import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.contract.test_codex import codex_bin, run_codex  # noqa: F401 (fixture)
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


@pytest.mark.parametrize("store_env", ["local"], indirect=True)
def test_codex_is_served_by_bedrock_with_a_tool_round_trip(
    codex_bin: Path,  # noqa: F811
    bedrock_env: dict[str, str],  # noqa: F811
    tmp_path: Path,
    bedrock: FakeBedrock,  # noqa: F811
    upstream: FakeUpstream,
) -> None:
    Path(bedrock_env["ROUTEWAY_CONFIG"]).write_text(CONFIG + ALIAS)  # the Bedrock-first alias beside the backend
    gateway: Gateway = build_gateway(Settings.from_env(bedrock_env))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "codex")[0])
    with serve_in_thread(create_app(lambda: gateway)) as url:
        done = run_codex(codex_bin, url, key, tmp_path, "Say hello", model="claude-own-first")
    assert "The tool said:" in done.stdout, done.stdout[-2000:]
    assert {seen.model_id for seen in bedrock.seen} == {PROFILE}
    assert len(bedrock.seen) >= 2  # the model called a tool; Codex ran it and sent its output back
    assert upstream.fake.chat_requests() == []  # nothing went to OpenRouter
