"""RELIABILITY 39: an upstream that echoes a key (in a 400, a 500, a mid-stream error event) never has it
reflected: not to the client (chat, Messages, Responses), not in the record, the logs or the telemetry."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.adapters.secrets import StaticSecrets
from routeway.domain.redact import REDACTED, Redactor
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted

MODEL = "openai/gpt-5.4-mini"
PLAIN_UPSTREAM_KEY = register_secret("PlainUpstreamKeyWithNoPrefix0123456789")  # only the exact match finds it
GATEWAY_KEY = register_secret("GatewayKeyFromTheEnvironment9876543210")  # ROUTEWAY_KEY
SHAPED = register_secret("sk-proj-someoneElsesKeyAbcdef123456")
ECHOED = (PLAIN_UPSTREAM_KEY, GATEWAY_KEY, SHAPED)
LEAK = f"invalid key {PLAIN_UPSTREAM_KEY}; also saw {SHAPED} and Bearer {GATEWAY_KEY}"
FIRST = b'data: {"id":"x","object":"chat.completion.chunk","choices":[{"index":0,"delta":{"content":"Hi"}}]}\n\n'


class RecordingTelemetry:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def completion(self, **fields: Any) -> None:
        self.calls.append(fields)


@pytest.fixture
def leaky(env: dict[str, str], upstream: FakeUpstream) -> Iterator[tuple[Gateway, RecordingTelemetry]]:
    """A gateway whose upstream key holds no `sk-` prefix, so only the exact known secret can catch it."""
    telemetry = RecordingTelemetry()
    settings = Settings.from_env({**env, "OPENROUTER_API_KEY": PLAIN_UPSTREAM_KEY, "ROUTEWAY_KEY": GATEWAY_KEY})
    previous, upstream.fake.api_key = upstream.fake.api_key, PLAIN_UPSTREAM_KEY
    try:
        yield build_gateway(settings, telemetry=telemetry), telemetry
    finally:
        upstream.fake.api_key = previous


def _dialect_call(path: str, stream: bool) -> dict[str, Any]:
    if path == "/v1/messages":
        return {"model": MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}], "stream": stream}
    if path == "/v1/responses":
        return {"model": MODEL, "input": "hi", "stream": stream}
    return {"model": MODEL, "messages": [{"role": "user", "content": "hi"}], "stream": stream}


def _leaks(text: str) -> list[str]:
    return [secret for secret in ECHOED if secret in text]


@pytest.mark.both_stores
@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/messages", "/v1/responses"])
def test_rel_39_upstream_echoed_keys_reach_no_client_record_log_or_metric(
    path: str, leaky: tuple[Gateway, RecordingTelemetry], api_key: str, upstream: FakeUpstream
) -> None:
    gateway, telemetry = leaky
    answers: dict[str, str] = {}
    generation_ids: list[str] = []
    with TestClient(create_app(lambda: gateway), headers={"x-api-key": api_key}) as client:
        upstream.fake.enqueue(Scripted(status=400, body={"error": {"code": 400, "message": LEAK}}))
        rejected = client.post(path, json=_dialect_call(path, stream=False))
        assert rejected.status_code == 400, rejected.text
        assert "Upstream rejected the request" in rejected.text and REDACTED in rejected.text
        answers["400"] = rejected.text
        generation_ids.append(rejected.headers["x-routeway-generation-id"])
        upstream.fake.reset()

        failing = {"error": {"code": f"bad_key_{SHAPED}", "message": LEAK}}
        upstream.fake.enqueue(*(Scripted(status=500, body=failing) for _ in range(8)))
        failed = client.post(path, json=_dialect_call(path, stream=False))
        assert failed.status_code == 502, failed.text
        answers["500"] = failed.text
        generation_ids.append(failed.headers["x-routeway-generation-id"])
        upstream.fake.reset()

        cut = b'data: {"error":{"code":502,"message":' + json.dumps(LEAK).encode() + b"}}\n\n"
        upstream.fake.enqueue(Scripted(stream=[FIRST, cut]))
        with client.stream("POST", path, json=_dialect_call(path, stream=True)) as response:
            assert response.status_code == 200
            streamed = response.read().decode()
            generation_ids.append(response.headers["x-routeway-generation-id"])
        assert "error" in streamed and REDACTED in streamed, streamed
        answers["mid-stream"] = streamed

        records = [client.get(f"/v1/route/explain/{g}") for g in generation_ids]
    assert {what: _leaks(text) for what, text in answers.items()} == {"400": [], "500": [], "mid-stream": []}
    assert all(r.status_code == 200 for r in records)
    assert [_leaks(r.text) for r in records] == [[], [], []]
    assert any("error_code" in r.text and REDACTED in r.text for r in records)  # the 500's echoed code, redacted
    assert telemetry.calls and not _leaks(repr(telemetry.calls))
    # the logs: the autouse fixture fails the test if any of ECHOED (registered above) reached a log record


@pytest.mark.both_stores
def test_rel_39_an_upstream_key_read_from_the_secret_store_is_redacted_too(
    env: dict[str, str], upstream: FakeUpstream, api_key: str
) -> None:
    """In AWS the key comes from SSM on first use, after the gateway was built: the redactor learns it then."""
    param = "/routeway/test-openrouter-key"
    settings = Settings.from_env(
        {k: v for k, v in env.items() if k != "OPENROUTER_API_KEY"} | {"OPENROUTER_API_KEY_PARAM": param}
    )
    gateway = build_gateway(settings, secrets=StaticSecrets({param: PLAIN_UPSTREAM_KEY}))
    previous, upstream.fake.api_key = upstream.fake.api_key, PLAIN_UPSTREAM_KEY
    try:
        with TestClient(create_app(lambda: gateway), headers={"x-api-key": api_key}) as client:
            upstream.fake.enqueue(Scripted(status=400, body={"error": {"code": 400, "message": LEAK}}))
            rejected = client.post("/v1/chat/completions", json=_dialect_call("/v1/chat/completions", stream=False))
    finally:
        upstream.fake.api_key = previous
    assert rejected.status_code == 400 and "invalid key [redacted]" in rejected.text
    assert _leaks(rejected.text) == []


def test_rel_39_redactor_removes_exact_secrets_and_key_shaped_tokens() -> None:
    redactor = Redactor(["backend-key-for-vllm-42", None, "short"])
    text = "vllm said backend-key-for-vllm-42; sk-or-v1-abcdef123 and rw-Zx9_abcdefgh, bearer tok123, short stays"
    assert redactor(text) == f"vllm said {REDACTED}; {REDACTED} and {REDACTED}, {REDACTED} short stays"
    redactor.learn("LearnedLaterFromSsm000")
    assert redactor("x LearnedLaterFromSsm000 y") == f"x {REDACTED} y"
    assert redactor.document({"message": ["sk-abcdef123456"], "code": 3}) == {"message": [REDACTED], "code": 3}
