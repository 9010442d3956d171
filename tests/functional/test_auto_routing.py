"""Issue #18 over HTTP: preview's task and candidates, /v1/info's pools, chat and bodybuilder through the fake
OpenRouter, and an override file whose pool names an unknown model (`routeway serve` as a real process)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from routeway.cli.app import app
from routeway.domain.goals import MAX_TOP_N
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.servers import answers, poll_until
from tests.unit.test_auto_routing import CHAT, CODE, REASONING, SPECIAL_IN_BUNDLE

PNG = "data:image/png;base64,iVBORw0KGgo="
OVERRIDE = """\
backends:
  - {name: openrouter, kind: openrouter, base_url_env: OPENROUTER_BASE_URL, api_key_env: OPENROUTER_API_KEY}
aliases: []
auto:
  pools:
    chat: [acme/not-a-model, openai/gpt-5.4-mini]
"""


@pytest.fixture
def local_env(tmp_path: Path, upstream: FakeUpstream) -> dict[str, str]:
    """One store is enough here: routing does not depend on it (tests/functional/test_stores.py covers both)."""
    return {
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "ROUTEWAY_STORE": "local",
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }


@pytest.fixture
def client(local_env: dict[str, str]) -> Iterator[TestClient]:
    from routeway.services.keys import create_key

    gateway: Gateway = build_gateway(Settings.from_env(local_env))
    key = register_secret(create_key(gateway.state.sync, gateway.clock, "tester")[0])
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {key}"}) as test_client:
        yield test_client


def preview(client: TestClient, model: str, text: str, **extra: Any) -> dict[str, Any]:
    body = {"model": model, "messages": [{"role": "user", "content": text}], **extra}
    response = client.post("/v1/route/preview", json=body)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


@pytest.mark.parametrize(("text", "task"), [(CHAT, "chat"), (CODE, "code"), (REASONING, "reasoning")])
def test_preview_never_puts_a_special_purpose_model_in_the_first_five(client: TestClient, text: str, task: str) -> None:
    pools = client.get("/v1/info").json()["auto"]["pools"]
    for objective in ("balanced", "cheapest", "fastest", "reliable"):
        for model in ("auto", "router", "openrouter/auto", "free"):
            answer = preview(client, model, text, objective=objective)
            firsts = [c["model"] for c in answer["candidates"][:5]]
            assert firsts and not set(firsts) & set(SPECIAL_IN_BUNDLE), (model, objective, firsts)
            assert answer["task"] == task
            if model != "free":  # free keeps its own pool of zero-price models (none of them special)
                assert firsts[0] in pools[task], (model, objective, firsts)
                assert answer["excluded"]["special_purpose"] > 0


def test_preview_task_for_a_vision_prompt_and_its_pool(client: TestClient) -> None:
    content = [{"type": "text", "text": "What is in this picture?"}, {"type": "image_url", "image_url": {"url": PNG}}]
    answer = preview(client, "auto", "", messages=[{"role": "user", "content": content}])
    assert answer["task"] == "vision"
    assert answer["candidates"][0]["model"] in client.get("/v1/info").json()["auto"]["pools"]["vision"]


def test_preview_of_a_named_model_has_no_task_and_a_named_special_model_works(client: TestClient) -> None:
    answer = preview(client, "openai/gpt-oss-safeguard-20b", "hello")
    assert answer["task"] is None and answer["candidates"][0]["model"] == "openai/gpt-oss-safeguard-20b"


@pytest.mark.parametrize("objective", ["cheapest", "balanced"])
def test_preview_says_which_candidates_are_in_the_pool_and_which_fall_back(client: TestClient, objective: str) -> None:
    """Issue 32: the pool orders before the score, so each candidate says which side of it it is on."""
    pools = client.get("/v1/info").json()["auto"]["pools"]
    answer = preview(client, "auto", CHAT, objective=objective, top_n=MAX_TOP_N)
    tiers = [c["reasons"][0] for c in answer["candidates"]]
    inside = tiers.count("in the chat pool")
    assert 0 < inside < len(tiers) and tiers[inside:] == ["outside the pool (fallback)"] * (len(tiers) - inside)
    assert all(c["model"] in pools["chat"] for c in answer["candidates"][:inside])
    assert not {c["model"] for c in answer["candidates"][inside:]} & set(pools["chat"])
    named = preview(client, "openai/gpt-4o-mini", CHAT, objective=objective)
    assert not [r for c in named["candidates"] for r in c["reasons"] if "pool" in r]  # a named model has no pool


def test_allowed_authors_with_auto(client: TestClient) -> None:
    answer = preview(client, "auto", CHAT, allowed_models=["meta-llama/*", "mistralai/*"], top_n=20)
    models = [c["model"] for c in answer["candidates"]]
    assert models and all(m.startswith(("meta-llama/", "mistralai/")) for m in models)
    assert not set(models) & set(SPECIAL_IN_BUNDLE) and answer["excluded"]["special_purpose"] > 0


def test_no_route_funnel_names_special_purpose(client: TestClient) -> None:
    messages = [{"role": "user", "content": "hi"}]
    body = {"model": "auto", "allowed_models": ["meta-llama/llama-guard-*"], "messages": messages}
    error = client.post("/v1/route/preview", json=body).json()["error"]
    assert error["code"] == "no_route"
    assert [step["filter"] for step in error["funnel"]] == ["not_allowed", "special_purpose"]


def test_chat_with_auto_is_answered_by_a_general_pool_model(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    route = response.json()["route"]
    assert route["task"] == "chat" and route["mode"] == "auto"
    assert route["model"] in client.get("/v1/info").json()["auto"]["pools"]["chat"]
    assert route["model"] not in SPECIAL_IN_BUNDLE
    assert [r.body["model"] for r in upstream.fake.chat_requests()] == [route["model"]]


def test_bodybuilder_top_n_4_answers_with_four_general_models(client: TestClient, upstream: FakeUpstream) -> None:
    body = {"model": "bodybuilder", "top_n": 4, "messages": [{"role": "user", "content": "hello"}]}
    response = client.post("/v1/chat/completions", json=body)
    assert response.status_code == 200, response.text
    models = [c["model"] for c in response.json()["choices"]]
    assert len(models) == 4 and len({m.split("/")[0] for m in models}) == 4
    assert not set(models) & set(SPECIAL_IN_BUNDLE)
    assert set(models) <= set(client.get("/v1/info").json()["auto"]["pools"]["chat"])
    assert len(upstream.fake.chat_requests()) == 4


def test_info_publishes_the_pools(client: TestClient) -> None:
    auto = client.get("/v1/info").json()["auto"]
    assert set(auto["pools"]) == {"chat", "code", "reasoning", "vision", "long_context", "tools", "image_generation"}
    assert "anthropic/claude-sonnet-4.6" in auto["pools"]["code"] and auto["missing_pool_entries"] == {}


def test_catalog_status_names_unknown_pool_entries(
    local_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    override = tmp_path / "routeway.yaml"
    override.write_text(OVERRIDE)
    for name, value in {**local_env, "ROUTEWAY_CONFIG": str(override)}.items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["catalog", "status"])
    assert result.exit_code == 0, result.output
    assert "auto pool chat: not in the live catalog, skipped: acme/not-a-model" in result.stdout
    status = json.loads(CliRunner().invoke(app, ["catalog", "status", "--json"]).stdout)
    assert status["missing_pool_entries"] == {"chat": ["acme/not-a-model"]}


def test_serve_starts_with_an_unknown_pool_entry_and_readyz_names_it(tmp_path: Path, upstream: FakeUpstream) -> None:
    override = tmp_path / "routeway.yaml"
    override.write_text(OVERRIDE)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **os.environ,
        "ROUTEWAY_HOME": str(tmp_path / "home"),
        "ROUTEWAY_CONFIG": str(override),
        "OPENROUTER_BASE_URL": upstream.base_url,
        "OPENROUTER_API_KEY": UPSTREAM_KEY,
    }
    env.pop("ROUTEWAY_AUTH", None)
    process = subprocess.Popen(
        [sys.executable, "-m", "routeway", "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert process.stdout is not None
        key = None
        deadline = time.monotonic() + 30
        for line in process.stdout:
            if line.startswith("routeway key: "):
                key = register_secret(line.removeprefix("routeway key: ").strip())
            if "listening on" in line or time.monotonic() > deadline:
                break
        assert key, "serve did not print a key"
        url = f"http://127.0.0.1:{port}"
        poll_until(lambda: answers(f"{url}/healthz"), what="routeway serve accepting connections")
        headers = {"Authorization": f"Bearer {key}"}
        ready = httpx.get(f"{url}/readyz", headers=headers).json()
        assert ready["catalog"]["missing_pool_entries"] == {"chat": ["acme/not-a-model"]}
        info = httpx.get(f"{url}/v1/info", headers=headers).json()["auto"]
        assert info["pools"]["chat"] == ["openai/gpt-5.4-mini"]
        assert info["pools"]["code"]  # tasks the override does not name keep the packaged pools
        body = {"model": "auto", "messages": [{"role": "user", "content": "hello"}]}
        reply = httpx.post(f"{url}/v1/chat/completions", json=body, headers=headers, timeout=30)
        assert reply.status_code == 200 and reply.json()["route"]["model"] == "openai/gpt-5.4-mini"
    finally:
        process.terminate()
        process.wait(timeout=10)
