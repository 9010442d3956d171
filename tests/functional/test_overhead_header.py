"""`x-routeway-overhead-ms` on every completion answer (each dialect, streams, errors), and never the
upstream's own time (routeway/overhead.py)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.http.middleware import RequestLog
from routeway.http.serve_timeouts import header_timeout_protocol
from routeway.overhead import BEGAN, HEADER, RequestTimer
from tests.conftest import FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.functional.test_handlers import invoke, lambda_env  # noqa: F401 (a fixture)
from tests.servers import serve_in_thread

CHAT = {"model": "openai/gpt-5.4-mini", "messages": [{"role": "user", "content": "Say hello"}]}
ANSWERS: dict[str, dict[str, Any]] = {
    "/v1/chat/completions": CHAT,
    "/v1/completions": {"model": "openai/gpt-5.4-mini", "prompt": "Say hello"},
    "/v1/messages": {**CHAT, "max_tokens": 64},
    "/v1/responses": {"model": "openai/gpt-5.4-mini", "input": "Say hello"},
    "/v1/embeddings": {"model": "openai/text-embedding-3-small", "input": "hello"},
    "/v1/images/generations": {"model": "black-forest-labs/flux.2-klein-4b", "prompt": "a red fox"},
}


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[TestClient]:
    with TestClient(create_app(lambda: gateway), headers={"Authorization": f"Bearer {api_key}"}) as test_client:
        yield test_client


def overhead(response: Any) -> float:
    value = float(response.headers[HEADER])
    assert value >= 0
    return value


@pytest.mark.parametrize("path", sorted(ANSWERS))
def test_every_completion_answer_carries_the_overhead(client: TestClient, upstream: FakeUpstream, path: str) -> None:
    response = client.post(path, json=ANSWERS[path])
    assert response.status_code == 200, response.text
    overhead(response)


@pytest.mark.parametrize("path", ["/v1/chat/completions", "/v1/completions", "/v1/messages", "/v1/responses"])
def test_streams_carry_it_in_their_headers(client: TestClient, upstream: FakeUpstream, path: str) -> None:
    with client.stream("POST", path, json={**ANSWERS[path], "stream": True}) as response:
        assert response.status_code == 200
        overhead(response)
        assert b"".join(response.iter_bytes())


def test_errors_carry_it_and_other_routes_do_not(client: TestClient) -> None:
    refused = client.post("/v1/chat/completions", content=b"{not json")
    assert refused.status_code == 400 and overhead(refused) >= 0
    unknown = client.post("/v1/messages", json={**CHAT, "model": "no/such-model", "max_tokens": 8})
    assert unknown.status_code == 404 and overhead(unknown) >= 0
    assert HEADER not in client.get("/v1/models").headers
    assert HEADER not in client.post("/v1/route/preview", json=CHAT).headers


def test_the_upstreams_own_time_is_not_counted(client: TestClient, upstream: FakeUpstream) -> None:
    """The fake upstream waits 400 ms before it answers: that wait is the upstream's, so the overhead is at
    most the whole request's time less those 400 ms (a bound that holds whatever the machine's speed)."""
    upstream.fake.enqueue(Scripted(delay_s=0.4))
    started = time.perf_counter()
    response = client.post("/v1/chat/completions", json=CHAT)
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    assert elapsed_ms >= 400
    assert overhead(response) <= elapsed_ms - 400


def test_overlapping_upstream_waits_count_once() -> None:
    """A fan-out's parallel attempts: two waits that overlap are one stretch of upstream time."""
    ticks = iter([0.0, 1.0, 5.0, 10.0])  # arrival; A starts waiting (B joins at 2, A ends at 4); B ends; headers
    timer = RequestTimer(clock=lambda: next(ticks))
    timer.begin_wait()
    timer.begin_wait()
    timer.end_wait()
    timer.end_wait()
    assert timer.overhead_ms() == pytest.approx((10.0 - 4.0) * 1000)  # 10 s in all, 1 s to 5 s upstream


def test_the_lambda_handler_carries_it_counted_from_the_handlers_start(
    lambda_env: Gateway,  # noqa: F811 (the fixture imported above)
    upstream: FakeUpstream,
) -> None:
    """Through `functions/completions/app.handler` (Mangum, Powertools): the header is there, and it is at most the
    whole invocation's time less the upstream's 400 ms (the timer starts in the handler, before Mangum)."""
    upstream.fake.enqueue(Scripted(delay_s=0.4))
    started = time.perf_counter()
    status, headers, body = invoke("completions", "completions_chat.json")
    elapsed_ms = (time.perf_counter() - started) * 1000
    assert status == 200, body
    assert 0 <= float(headers[HEADER]) <= elapsed_ms - 400


def test_serve_counts_it_from_its_outermost_wrapper(gateway: Gateway, api_key: str, upstream: FakeUpstream) -> None:
    """`serve`'s app (the request log around the FastAPI app): the header is there and within the request's time."""
    app = RequestLog(create_app(lambda: gateway), lambda line: None)
    with TestClient(app, headers={"Authorization": f"Bearer {api_key}"}) as served:
        upstream.fake.enqueue(Scripted(delay_s=0.4))
        started = time.perf_counter()
        response = served.post("/v1/chat/completions", json=CHAT)
        elapsed_ms = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, response.text
    assert 0 <= overhead(response) <= elapsed_ms - 400


def test_serve_counts_it_from_the_requests_first_byte(gateway: Gateway, api_key: str, upstream: FakeUpstream) -> None:
    """The time `serve`'s protocol read the request's first byte (`BEGAN` in the scope) is where the timer starts:
    a request said to have begun a second before it reached the request log is timed from then."""
    inner = RequestLog(create_app(lambda: gateway), lambda line: None)

    async def began_a_second_ago(scope: Any, receive: Any, send: Any) -> None:
        await inner({**scope, BEGAN: time.perf_counter() - 1.0}, receive, send)

    with TestClient(began_a_second_ago, headers={"Authorization": f"Bearer {api_key}"}) as served:
        response = served.post("/v1/chat/completions", json=CHAT)
    assert response.status_code == 200, response.text
    assert overhead(response) >= 1000


def test_serves_protocol_says_when_each_request_began() -> None:
    """`serve`'s protocol (serve_timeouts.py) puts the time of each request's first byte in its scope, on the
    timer's clock: after the client began sending, before the app was called."""
    seen: list[float] = []

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            seen.append(time.perf_counter() - scope[BEGAN])
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

    with serve_in_thread(app, http=header_timeout_protocol(10.0)) as url, httpx.Client() as client:
        sent = time.perf_counter()
        assert client.get(f"{url}/a").status_code == 204
        assert client.get(f"{url}/b").status_code == 204  # the same connection: each request its own time
        whole = time.perf_counter() - sent
    assert len(seen) == 2 and all(0 <= age <= whole for age in seen)
