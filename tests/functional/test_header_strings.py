"""Upstream strings never break an answer (issue 29, RELIABILITY 72), on a real uvicorn server.

OpenRouter's chat answer names who served it (`provider`), and that name becomes `x-routeway-provider`.
A name with CR/LF, non-Latin-1 text or 100 kB gives a 200 whose headers are printable Latin-1, bounded and
not split; the body's route proof keeps the name as the upstream sent it, and the record is written.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from tests.conftest import FakeUpstream
from tests.servers import poll_until, serve_in_thread

MODEL = "openai/gpt-5.4-mini"
HI = [{"role": "user", "content": "hi"}]
HOSTILE = {  # what OpenRouter says served the answer → what the header shows
    "crlf": ("Evil\r\nSet-Cookie: x=1", "Evil??Set-Cookie: x=1"),
    "non-latin-1": ("東京 Provider", "?? Provider"),
    "latin-1 and beyond": ("Prövider—Őrség", "Prövider?Orség"),
    "100 kB": ("p" * 100_000, "p" * 200),
}
REQUESTS = {  # dialect: path, body
    "chat": ("/v1/chat/completions", {"model": MODEL, "messages": HI}),
    "chat stream": ("/v1/chat/completions", {"model": MODEL, "messages": HI, "stream": True}),
    "messages": ("/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": HI}),
    "messages stream": ("/v1/messages", {"model": MODEL, "max_tokens": 64, "messages": HI, "stream": True}),
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"}, timeout=30) as client:
            yield client


def route_of(response: httpx.Response) -> dict[str, Any]:
    """The route proof of an answer: the body's, or the last stream event that carries one."""
    if response.headers["content-type"].startswith("application/json"):
        return dict(response.json()["route"])
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    return dict(next(e for e in reversed(events) if e.get("route"))["route"])


def raw_header(response: httpx.Response, name: str) -> bytes:
    """A header's bytes as sent (httpx would decode them all as UTF-8 when they happen to be)."""
    return next(value for key, value in response.headers.raw if key.decode().lower() == name)


def assert_printable_latin1(response: httpx.Response) -> None:
    for name, value in response.headers.raw:
        assert all(0x20 <= b <= 0x7E or b >= 0xA0 for b in value), (name, value)
        assert len(value) <= 1000, name
    assert "set-cookie" not in response.headers


@pytest.mark.both_stores
@pytest.mark.parametrize("hostile", list(HOSTILE))
def test_rel_72_an_upstream_provider_string_never_breaks_an_answer(
    hostile: str, client: httpx.Client, upstream: FakeUpstream, gateway: Gateway
) -> None:
    provider, shown = HOSTILE[hostile]
    upstream.fake.answered_by = provider
    for dialect, (path, body) in REQUESTS.items():
        response = client.post(path, json=body)
        assert response.status_code == 200, (dialect, response.text[:300])
        assert_printable_latin1(response)
        assert raw_header(response, "x-routeway-provider") == shown.encode("latin-1"), dialect
        assert route_of(response)["provider"] == provider, dialect  # the body keeps what the upstream said
        generation_id = response.headers["x-routeway-generation-id"]
        poll_until(lambda: gateway.state.sync.get_generation(generation_id, 0) is not None, what="the record")  # noqa: B023


def test_header_safe_names_pass_unchanged(client: httpx.Client, upstream: FakeUpstream) -> None:
    upstream.fake.answered_by = "DeepInfra"
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": HI})
    assert response.status_code == 200 and response.headers["x-routeway-provider"] == "DeepInfra"
    assert response.headers["x-routeway-model"] == route_of(response)["model"] == MODEL
