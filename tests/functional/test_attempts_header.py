"""`x-routeway-attempts` is on every completion answer of every dialect: successes, upstream failures, and
refusals at the edge (401, 400, 402, 404, 429), which say 0 because no upstream was called."""

from __future__ import annotations

import time
from typing import Any

import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret, seed_key
from tests.fakes.openrouter import Scripted

CHAT_MODEL = "openai/gpt-5.4-mini"
DIALECTS: dict[str, tuple[str, dict[str, Any], str]] = {  # path, a body that works, the upstream path it calls
    "chat": (
        "/v1/chat/completions",
        {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "hi"}]},
        "/chat/completions",
    ),
    "legacy": ("/v1/completions", {"model": CHAT_MODEL, "prompt": "hi"}, "/chat/completions"),
    "messages": (
        "/v1/messages",
        {"model": CHAT_MODEL, "max_tokens": 64, "messages": [{"role": "user", "content": "hi"}]},
        "/chat/completions",
    ),
    "responses": ("/v1/responses", {"model": CHAT_MODEL, "input": "hi"}, "/chat/completions"),
    "embeddings": ("/v1/embeddings", {"model": "openai/text-embedding-3-small", "input": "hi"}, "/embeddings"),
    "images": (
        "/v1/images/generations",
        {"model": "black-forest-labs/flux.2-klein-4b", "prompt": "a cat"},
        "/chat/completions",
    ),
}
BROKE_KEY = "rw-attempts-test-broke-key-0000000000"
SLOW_KEY = "rw-attempts-test-rpm-one-key-00000000"


class MinuteStartClock:
    """The system clock, moved so the test starts at the top of a minute: rpm's fixed window cannot turn over
    between the two rate-limited calls (it did once in CI, and the second call was admitted)."""

    def __init__(self) -> None:
        self.ahead = 60.0 - time.time() % 60.0

    def now(self) -> float:
        return time.time() + self.ahead

    def monotonic(self) -> float:
        return time.monotonic()


@pytest.fixture
def gateway(env: dict[str, str]) -> Gateway:
    return build_gateway(Settings.from_env(env), clock=MinuteStartClock())


@pytest.mark.both_stores
@pytest.mark.parametrize("dialect", list(DIALECTS))
def test_every_completion_answer_counts_its_attempts(
    dialect: str, gateway: Gateway, api_key: str, upstream: FakeUpstream
) -> None:
    path, body, upstream_path = DIALECTS[dialect]
    seed_key(gateway, register_secret(BROKE_KEY), name="broke", budget_usd=0.0)
    seed_key(gateway, register_secret(SLOW_KEY), name="slow", rpm=1)
    answers: dict[str, tuple[int, str | None]] = {}
    with TestClient(create_app(lambda: gateway), headers={"authorization": f"Bearer {api_key}"}) as client:

        def call(what: str, payload: Any = body, **headers: str) -> None:
            kwargs: dict[str, Any] = {"content": payload} if isinstance(payload, str) else {"json": payload}
            answer = client.post(path, headers=headers, **kwargs)
            answers[what] = (answer.status_code, answer.headers.get("x-routeway-attempts"))

        call("ok")
        upstream.fake.enqueue(Scripted(status=400, path=upstream_path, body={"error": {"code": 400, "message": "no"}}))
        call("upstream 400")
        upstream.fake.reset()
        call("unreadable body", "{")
        call("unknown model", {**body, "model": "nobody/no-such-model"})
        call("no key", authorization="Bearer rw-not-a-key-at-all-000000000")
        call("over budget", authorization=f"Bearer {BROKE_KEY}")
        call("rate limited 1", authorization=f"Bearer {SLOW_KEY}")
        call("rate limited 2", authorization=f"Bearer {SLOW_KEY}")
    assert answers == {
        "ok": (200, "1"),
        "upstream 400": (400, "1"),
        "unreadable body": (400, "0"),
        "unknown model": (404, "0"),
        "no key": (401, "0"),
        "over budget": (402, "0"),
        "rate limited 1": (200, "1"),
        "rate limited 2": (429, "0"),
    }
