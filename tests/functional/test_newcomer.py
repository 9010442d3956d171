"""The first hour of a new user (issue 20): one store from any directory, `serve` as a real process."""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from routeway.cli.app import app
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.http.serve_app import serve_app
from routeway.services.keys import create_key
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import UPSTREAM_KEY, FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted
from tests.servers import bare_env, free_port, routeway_serve

runner = CliRunner()


def test_a_key_made_in_another_directory_works_against_serve(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, upstream: FakeUpstream
) -> None:
    user_home = tmp_path / "user"
    repo, elsewhere = tmp_path / "repo", tmp_path / "elsewhere"
    for folder in (user_home, repo, elsewhere):
        folder.mkdir()
    env = bare_env(HOME=str(user_home), OPENROUTER_BASE_URL=upstream.base_url, OPENROUTER_API_KEY=UPSTREAM_KEY)
    with routeway_serve(env, repo, free_port()) as served:
        store = user_home / ".routeway"
        assert f"store: {store}" in "".join(served.lines)
        for name in list(os.environ):
            if name.startswith(("ROUTEWAY_", "OPENROUTER_")):
                monkeypatch.delenv(name)
        monkeypatch.setenv("HOME", str(user_home))
        monkeypatch.chdir(elsewhere)
        created = runner.invoke(app, ["keys", "create", "from-elsewhere"])
        assert created.exit_code == 0, created.output
        key = created.stdout.strip().splitlines()[-1]
        response = httpx.get(f"{served.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
        assert response.status_code == 200, response.text
    assert not (repo / ".routeway").exists() and not (elsewhere / ".routeway").exists()


@pytest.fixture
def keyless_client(tmp_path: Path) -> Iterator[tuple[TestClient, str]]:
    """The HTTP app of a gateway with no OpenRouter key, and a gateway key for it."""
    gateway = build_gateway(Settings.from_env({"ROUTEWAY_HOME": str(tmp_path / "home"), "HOME": str(tmp_path)}))
    key, _ = create_key(gateway.state.sync, gateway.clock, "newcomer")
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {register_secret(key)}"}) as client:
        yield client, key


def test_preview_without_an_upstream_key_ranks_and_warns(keyless_client: tuple[TestClient, str]) -> None:
    client, _ = keyless_client
    response = client.post(
        "/v1/route/preview", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}], "top_n": 3}
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert len(body["candidates"]) == 3 and all(c["backend"] == "openrouter" for c in body["candidates"])
    assert any("OPENROUTER_API_KEY" in w for w in body["warnings"])


def test_chat_without_an_upstream_key_is_503_naming_what_to_set(keyless_client: tuple[TestClient, str]) -> None:
    client, _ = keyless_client
    response = client.post(
        "/v1/chat/completions", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert response.status_code == 503, response.text
    error = response.json()["error"]
    assert error["code"] == "backend_unavailable"
    assert "OPENROUTER_API_KEY" in error["message"] and "routeway configure" in error["message"]
    unknown = client.post(
        "/v1/chat/completions", json={"model": "nobody/nothing", "messages": [{"role": "user", "content": "hi"}]}
    )
    assert unknown.status_code == 404  # a wrong id is still a wrong id, key or not


def test_preview_with_an_upstream_key_has_no_warning(gateway: Gateway, api_key: str) -> None:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": api_key}) as client:
        body = client.post("/v1/route/preview", json={"model": "auto", "messages": [{"role": "user", "content": "hi"}]})
    assert body.status_code == 200 and body.json()["warnings"] == []


def test_serve_on_a_taken_port_is_one_line_naming_it(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = subprocess.run(
            [sys.executable, "-m", "routeway", "serve", "--port", str(port)],
            env=bare_env(ROUTEWAY_HOME=str(tmp_path / "home")),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 1, result
    assert "listening on" not in result.stdout
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and str(port) in lines[0] and lines[0].startswith("error: port_unavailable:"), lines
    assert "--port" in lines[0] and "make serve PORT=" in lines[0]  # both ways of starting it (issue 32)


@pytest.mark.both_stores
def test_a_key_sees_only_the_models_its_list_allows(
    gateway: Gateway, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    limited, _ = create_key(gateway.state.sync, gateway.clock, "openai-only", models=("openai/*",))
    everything, _ = create_key(gateway.state.sync, gateway.clock, "everything")
    app_ = create_app(lambda: gateway)
    with TestClient(app_, headers={"x-api-key": register_secret(limited)}) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    with TestClient(app_, headers={"x-api-key": register_secret(everything)}) as client:
        all_ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert ids and all(i.startswith("openai/") or "/" not in i for i in ids)  # models, and aliases onto them
    assert {i for i in ids if "/" in i} == {i for i in all_ids if i.startswith("openai/")}
    assert len(all_ids) > len(ids)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cli = runner.invoke(app, ["models", "--key", limited, "--json"])
    assert cli.exit_code == 0, cli.output
    assert {m["id"] for m in json.loads(cli.stdout)["data"] if "/" in m["id"]} == {i for i in ids if "/" in i}
    bad = runner.invoke(app, ["models", "--key", "rw-nope"])
    assert bad.exit_code == 1 and bad.stderr.startswith("error: invalid_api_key:")


def test_image_only_models_are_listed_with_their_provider_and_per_image_price(
    gateway: Gateway, api_key: str, monkeypatch: pytest.MonkeyPatch, env: dict[str, str]
) -> None:
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": api_key}) as client:
        listing = client.get("/v1/models", params={"output_modalities": "image"}).json()["data"]
    flux = {m["id"]: m for m in listing if m["id"].startswith("black-forest-labs/")}
    assert len(flux) == 3
    for model in flux.values():
        assert model["providers"] == ["Black Forest Labs"] and model["pricing"]["image"] > 0
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    table = runner.invoke(app, ["models", "--output", "image"])
    row = next(line for line in table.stdout.splitlines() if "flux.2-pro" in line)
    assert "Black Forest Labs" in row and f"{flux['black-forest-labs/flux.2-pro']['pricing']['image']:.4f}" in row


CHAT_MODEL = "openai/gpt-5.4-mini"
LEAKY = {"error": {"code": 503, "message": "overloaded; key sk-or-v1-leakedleakedleaked refused"}}


def upstream_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "routeway.attempts" and r.levelno == logging.WARNING]


def test_upstream_errors_are_logged_with_their_facts_plain_and_streamed(
    gateway: Gateway, api_key: str, upstream: FakeUpstream, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="routeway")
    chat = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]}
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": api_key}) as client:
        upstream.fake.enqueue(Scripted(status=503, body=LEAKY))
        assert client.post("/v1/chat/completions", json=chat).status_code == 200  # the next provider answered
        plain = upstream_warnings(caplog)
        caplog.clear()
        upstream.fake.enqueue(Scripted(status=503, body=LEAKY))
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as response:
            assert response.status_code == 200 and "[DONE]" in response.read().decode()
        streamed = upstream_warnings(caplog)
        caplog.clear()
        first = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}'
        first += b"\n\n"
        cut = b'data: {"error":{"code":502,"message":"provider went away"}}\n\n'
        upstream.fake.enqueue(Scripted(stream=[first, cut]))
        with client.stream("POST", "/v1/chat/completions", json={**chat, "stream": True}) as response:
            response.read()
        mid_stream = upstream_warnings(caplog)
    for records, stream in ((plain, False), (streamed, True)):
        assert len(records) == 1, [r.getMessage() for r in records]
        record = records[0]
        facts = (record.status, record.model, record.backend, record.stream)  # type: ignore[attr-defined]
        assert facts == (503, CHAT_MODEL, "openrouter", stream)
        assert record.provider  # type: ignore[attr-defined]
        assert record.getMessage() == "upstream error"  # what log queries match; the facts are fields
        message = record.upstream_error  # type: ignore[attr-defined]
        assert "overloaded" in message and "sk-or-v1-leaked" not in message and "[redacted]" in message
    assert len(mid_stream) == 1 and "provider went away" in mid_stream[0].upstream_error  # type: ignore[attr-defined]


def test_serve_writes_upstream_errors_to_stderr(tmp_path: Path, upstream: FakeUpstream) -> None:
    env = bare_env(
        ROUTEWAY_HOME=str(tmp_path / "home"),
        ROUTEWAY_AUTH="off",
        OPENROUTER_BASE_URL=upstream.base_url,
        OPENROUTER_API_KEY=UPSTREAM_KEY,
    )
    with routeway_serve(env, tmp_path, free_port()) as served:
        upstream.fake.enqueue(Scripted(status=503, body=LEAKY))
        response = httpx.post(
            f"{served.url}/v1/chat/completions",
            json={"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]},
            timeout=30,
        )
        assert response.status_code == 200, response.text
    assert served.process.stderr is not None
    stderr = served.process.stderr.read()
    (line,) = [line for line in stderr.splitlines() if "upstream error" in line]
    assert line.startswith("WARNING routeway.attempts: upstream error: status=503 "), stderr  # serve's handler
    assert f"model='{CHAT_MODEL}'" in line and "backend='openrouter'" in line and "provider=" in line
    assert "overloaded" in line
    assert "sk-or-v1-leaked" not in stderr


ALLOWED_ORIGIN = "https://app.example.com"


@pytest.mark.parametrize("cors", ["https://app.example.com, http://localhost:5173/", ""])
def test_cors_from_routeway_cors_origins(gateway: Gateway, api_key: str, env: dict[str, str], cors: str) -> None:
    settings = Settings.from_env({**env, "ROUTEWAY_CORS_ORIGINS": cors})
    app_ = serve_app(gateway, settings, lambda line: None)
    preflight_headers = {"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization"}
    with TestClient(app_, headers={"x-api-key": api_key}) as client:
        listed = client.options("/v1/chat/completions", headers={"Origin": ALLOWED_ORIGIN, **preflight_headers})
        other = client.options("/v1/chat/completions", headers={"Origin": "https://evil.example", **preflight_headers})
        plain = client.get("/v1/models", headers={"Origin": ALLOWED_ORIGIN})
        plain_other = client.get("/v1/models", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    assert "access-control-allow-origin" not in plain_other.headers and plain_other.status_code == 200
    if not cors:  # unset: no CORS at all
        assert listed.status_code == 405 and "access-control-allow-origin" not in listed.headers
        assert "access-control-allow-origin" not in plain.headers
        return
    assert settings.cors_origins == (ALLOWED_ORIGIN, "http://localhost:5173")
    assert listed.status_code == 200 and listed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in listed.headers["access-control-allow-methods"]
    assert plain.status_code == 200 and plain.headers["access-control-allow-origin"] == ALLOWED_ORIGIN


# What the official SDKs send from a browser page, as their own preflights ask for it.
OPENAI_JS_PREFLIGHT = (
    "authorization,content-type,openai-beta,x-stainless-arch,x-stainless-lang,x-stainless-os,"
    "x-stainless-package-version,x-stainless-retry-count,x-stainless-runtime,x-stainless-runtime-version,"
    "x-stainless-timeout,x-stainless-helper-method"
)
ANTHROPIC_JS_PREFLIGHT = (
    "anthropic-beta,anthropic-dangerous-direct-browser-access,anthropic-version,content-type,x-api-key,"
    "x-stainless-arch,x-stainless-lang,x-stainless-os,x-stainless-package-version,x-stainless-retry-count,"
    "x-stainless-runtime,x-stainless-runtime-version,x-stainless-timeout"
)


@pytest.mark.parametrize(
    ("method", "path", "headers"),
    [
        ("POST", "/v1/chat/completions", OPENAI_JS_PREFLIGHT),
        ("POST", "/v1/responses", OPENAI_JS_PREFLIGHT),
        ("DELETE", "/v1/responses/resp_x", OPENAI_JS_PREFLIGHT),
        ("POST", "/v1/messages", ANTHROPIC_JS_PREFLIGHT),
    ],
)
def test_cors_admits_the_official_sdks_preflights(
    gateway: Gateway, env: dict[str, str], method: str, path: str, headers: str
) -> None:
    """A page on a listed origin using the OpenAI or Anthropic JS SDK passes preflight for every route's method."""
    settings = Settings.from_env({**env, "ROUTEWAY_CORS_ORIGINS": ALLOWED_ORIGIN})
    app_ = serve_app(gateway, settings, lambda line: None)
    asked = {
        "Origin": ALLOWED_ORIGIN,
        "Access-Control-Request-Method": method,
        "Access-Control-Request-Headers": headers,
    }
    with TestClient(app_) as client:
        answer = client.options(path, headers=asked)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert method in answer.headers["access-control-allow-methods"]
    allowed = {h.strip().lower() for h in answer.headers["access-control-allow-headers"].split(",")}
    assert set(headers.split(",")) <= allowed


def test_a_malformed_cors_origin_is_a_settings_error() -> None:
    from routeway.settings import SettingsError

    with pytest.raises(SettingsError, match="ROUTEWAY_CORS_ORIGINS"):
        Settings.from_env({"ROUTEWAY_CORS_ORIGINS": "app.example.com"})


def test_the_upstream_client_is_a_setting_and_lambda_keeps_httpx(tmp_path: Path) -> None:
    """ROUTEWAY_UPSTREAM_CLIENT picks the transport the gateway's upstream calls run on (the tests' fault suite
    runs on both with ROUTEWAY_TEST_UPSTREAM_CLIENT); Lambda's layer has no aiohttp, so there it is always httpx."""
    from routeway.adapters.aiohttp_upstream import AiohttpUpstream
    from routeway.adapters.openai_compat import OpenAICompatibleUpstream
    from routeway.domain.catalog import Backend
    from routeway.settings import SettingsError

    home = {"ROUTEWAY_HOME": str(tmp_path)}
    assert Settings.from_env(home).upstream_client == "httpx"
    chosen = Settings.from_env(home | {"ROUTEWAY_UPSTREAM_CLIENT": "aiohttp"})
    assert chosen.upstream_client == "aiohttp"
    in_lambda = {"ROUTEWAY_UPSTREAM_CLIENT": "aiohttp", "AWS_LAMBDA_FUNCTION_NAME": "f"}
    assert Settings.from_env(in_lambda).upstream_client == "httpx"
    with pytest.raises(SettingsError, match="ROUTEWAY_UPSTREAM_CLIENT"):
        Settings.from_env({"ROUTEWAY_UPSTREAM_CLIENT": "requests"})

    def client_of(gateway: Gateway) -> object:
        return gateway.upstreams.for_backend(Backend(name="openrouter", kind="openrouter"))

    assert isinstance(client_of(build_gateway(chosen)), AiohttpUpstream)
    assert isinstance(client_of(build_gateway(Settings.from_env(home))), OpenAICompatibleUpstream)
    assert isinstance(client_of(build_gateway(chosen, aiohttp_client=False)), OpenAICompatibleUpstream)  # caller first
