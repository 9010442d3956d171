"""Costly bodies never stall the others (PRODUCT.md "Robust under load"; docs/RELIABILITY.md): bodies just under
5 MB that would be costly to parse (a million `{}` in an unknown field, a million token arrays) are refused by
cheap limits before the work, and large bodies are parsed off the event loop, so `/healthz` keeps answering.

Not a speed test: the bound on `/healthz` is generous (it was seconds before, it is milliseconds now); what is
checked is that one request cannot hold the event loop."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from routeway.domain.body_shape import MAX_JSON_CONTAINERS
from routeway.domain.content import HEAVY_PARTS
from routeway.domain.embeddings import MAX_INPUT_TOKENS, MAX_REQUEST_TOKENS
from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.services.keys import create_key
from routeway.settings import MAX_BODY_BYTES
from tests.conftest import FakeUpstream, register_secret
from tests.functional.test_serve_timeouts import serving
from tests.servers import Served

MODEL = "openai/gpt-5.4-mini"
EMBEDDING_MODEL = "openai/text-embedding-3-small"
HEALTHZ_BOUND_S = 1.0  # generous: four costly bodies held it 2.8-4.3 s before the fix, 35-90 ms after (run alone)


def near_limit(prefix: bytes, item: bytes, suffix: bytes) -> bytes:
    """`prefix` + as many `item`s (comma-separated) as fit just under the 5 MB limit + `suffix`."""
    count = (MAX_BODY_BYTES - 1024 - len(prefix) - len(suffix)) // (len(item) + 1)
    return prefix + b",".join([item] * count) + suffix


CHAT_HEAD = orjson.dumps({"model": MODEL, "messages": [{"role": "user", "content": "hi"}]})[:-1]
COSTLY: dict[str, tuple[str, bytes]] = {  # name -> (path, body)
    "chat_empty_objects": ("/v1/chat/completions", near_limit(CHAT_HEAD + b',"junk":[', b"{}", b"]}")),
    "messages_empty_objects": (
        "/v1/messages",
        near_limit(CHAT_HEAD + b',"max_tokens":16,"junk":[', b"{}", b"]}"),
    ),
    "embeddings_token_arrays": (
        "/v1/embeddings",
        near_limit(b'{"model":"' + EMBEDDING_MODEL.encode() + b'","input":[', b"[1]", b"]}"),
    ),
    "embeddings_one_long_array": (
        "/v1/embeddings",
        near_limit(b'{"model":"' + EMBEDDING_MODEL.encode() + b'","input":[[', b"1", b"]]}"),
    ),
}


@pytest.fixture
def served(tmp_path: Path, upstream: FakeUpstream) -> Iterator[tuple[Served, str]]:
    """`routeway serve` in its own process (its own GIL: what the client does here cannot slow it), and a key."""
    with serving(tmp_path, upstream) as server:
        yield server


def _healthz_latencies(url: str, stop: threading.Event) -> list[float]:
    """Seconds each `/healthz` took, asked back to back until `stop` is set."""
    latencies: list[float] = []
    with httpx.Client(timeout=30) as client:
        while not stop.is_set():
            started = time.perf_counter()
            assert client.get(f"{url}/healthz").status_code == 200
            latencies.append(time.perf_counter() - started)
    return latencies


@pytest.mark.heavy  # alone, not beside a full core of other tests: it reads how long /healthz waits
def test_four_costly_bodies_in_parallel_never_hold_healthz(served: tuple[Served, str]) -> None:
    server, key = served
    stop = threading.Event()
    headers = {"authorization": f"Bearer {key}", "content-type": "application/json", "anthropic-version": "2023-06-01"}

    def post(name: str) -> tuple[str, httpx.Response]:
        path, body = COSTLY[name]
        return name, httpx.post(f"{server.url}{path}", content=body, headers=headers, timeout=60)

    with ThreadPoolExecutor(len(COSTLY) + 1) as pool:
        probe = pool.submit(_healthz_latencies, server.url, stop)
        answers = dict(pool.map(post, COSTLY))
        stop.set()
        latencies = probe.result()
    for name, response in answers.items():
        assert response.status_code == 400, (name, response.text[:300])
        error: dict[str, Any] = response.json()["error"]
        assert error["code"] == "invalid_request", (name, error)
    assert answers["messages_empty_objects"].json()["type"] == "error"  # Anthropic's shape on its route
    assert "objects and arrays" in answers["chat_empty_objects"].json()["error"]["message"]
    assert "values" in answers["embeddings_one_long_array"].json()["error"]["message"]
    assert latencies and max(latencies) < HEALTHZ_BOUND_S, f"/healthz took up to {max(latencies):.3f} s"


JUNK = b"[" + b",".join([b"{}"] * (MAX_JSON_CONTAINERS + 1)) + b"]"  # 300 kB: refused by its count, not its size
ROUTES_WITH_BODIES = [  # path, its body's known fields, whether it answers in Anthropic's shape
    ("/v1/chat/completions", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, False),
    ("/v1/completions", {"model": MODEL, "prompt": "hi"}, False),
    ("/v1/messages", {"model": MODEL, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}, True),
    ("/v1/messages/count_tokens", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, True),
    ("/v1/responses", {"model": MODEL, "input": "hi"}, False),
    ("/v1/responses/compact", {"model": MODEL, "input": "hi"}, False),
    ("/v1/embeddings", {"model": EMBEDDING_MODEL, "input": "hi"}, False),
    ("/v1/images/generations", {"model": "black-forest-labs/flux.2-pro", "prompt": "a cat"}, False),
    ("/v1/route/preview", {"model": MODEL, "messages": [{"role": "user", "content": "hi"}]}, False),
]


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


@pytest.mark.parametrize(("path", "fields", "anthropic"), ROUTES_WITH_BODIES, ids=[r[0] for r in ROUTES_WITH_BODIES])
def test_every_route_refuses_too_many_objects_in_its_own_shape(
    client: TestClient, upstream: FakeUpstream, path: str, fields: dict[str, Any], anthropic: bool
) -> None:
    body = orjson.dumps(fields)[:-1] + b',"junk":' + JUNK + b"}"
    response = client.post(path, content=body, headers={"content-type": "application/json"})
    assert response.status_code == 400, response.text[:300]
    document = response.json()
    assert document["error"]["code"] == "invalid_request"
    assert f"more than {MAX_JSON_CONTAINERS:,} objects and arrays" in document["error"]["message"]
    assert (document.get("type") == "error") is anthropic
    assert upstream.fake.requests == []  # refused before any upstream call


def test_the_admin_api_refuses_a_costly_body_by_its_size_first(client: TestClient, gateway: Gateway) -> None:
    admin, _ = create_key(gateway.state.sync, gateway.clock, "admin", admin=True)
    headers = {"authorization": f"Bearer {register_secret(admin)}"}
    response = client.post("/admin/v1/keys", content=b'{"name":"x","junk":' + JUNK + b"}", headers=headers)
    assert response.status_code == 413 and response.json()["error"]["code"] == "request_too_large"


def test_a_large_sound_body_is_parsed_off_the_loop_and_answered(client: TestClient, upstream: FakeUpstream) -> None:
    """Over 1 MB, a body is parsed in a thread: what it holds reaches the upstream unchanged."""
    content = 'a long prompt, {with} [brackets] and "quotes", ' * 30_000  # 1.5 MB, many commas in its string
    messages = [{"role": "user", "content": content}]
    response = client.post("/v1/chat/completions", json={"model": MODEL, "messages": messages, "max_tokens": 16})
    assert response.status_code == 200, response.text[:300]


def test_a_long_conversation_is_checked_and_planned_off_the_loop_with_the_same_answers(
    client: TestClient, upstream: FakeUpstream
) -> None:
    """Past HEAVY_PARTS messages and parts, the content checks and the planning run in a thread: the answer,
    a refusal's `param`, and a preview are what they would be on the loop."""
    turns = [{"role": "user", "content": [{"type": "text", "text": f"turn {i}"}]} for i in range(HEAVY_PARTS)]
    answered = client.post("/v1/chat/completions", json={"model": MODEL, "messages": turns})
    assert answered.status_code == 200, answered.text[:300]
    preview = client.post("/v1/route/preview", json={"model": MODEL, "messages": turns})
    assert preview.status_code == 200 and preview.json()["candidates"]
    counted = client.post("/v1/messages/count_tokens", json={"model": MODEL, "messages": turns})
    assert counted.status_code == 200 and counted.json()["input_tokens"] > HEAVY_PARTS
    hostile = [*turns, {"role": "user", "content": [{"type": "video_url", "video_url": {"url": "http://10.0.0.1/"}}]}]
    refused = client.post("/v1/chat/completions", json={"model": MODEL, "messages": hostile})
    assert refused.status_code == 400 and refused.json()["error"]["param"] == f"messages[{HEAVY_PARTS}].content[0]"


@pytest.mark.parametrize(
    ("inputs", "param", "says"),
    [
        ([[1] * (MAX_INPUT_TOKENS + 1)], "input[0]", "at most 8192 tokens"),
        ([1] * (MAX_INPUT_TOKENS + 1), "input", "at most 8192 tokens"),
        ([[1] * MAX_INPUT_TOKENS] * (MAX_REQUEST_TOKENS // MAX_INPUT_TOKENS + 1), "input", "300,000 tokens in all"),
        ([[1, "a"]], "input[0]", "non-empty string or token array"),
    ],
    ids=["one_array_too_long", "flat_array_too_long", "too_many_tokens_in_all", "not_tokens"],
)
def test_embeddings_token_arrays_follow_openais_limits(
    client: TestClient, inputs: list[Any], param: str, says: str
) -> None:
    response = client.post("/v1/embeddings", json={"model": EMBEDDING_MODEL, "input": inputs})
    assert response.status_code == 400, response.text[:300]
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and error["param"] == param and says in error["message"]
