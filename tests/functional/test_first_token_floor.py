"""A request's `first_token_timeout_s` below 1 s is raised to 1 s (issue 29's first-token-timeout burn).

Without the floor, 0.2 s abandons every attempt before its first token, each one billed upstream. The fake
OpenRouter answers the first candidate's stream after 0.5 s: the floored wait lets it serve in one attempt.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from routeway.domain.wire import FIRST_TOKEN_FLOORED, parse_chat_request
from routeway.errors import InvalidRequest
from routeway.gateway import Gateway
from routeway.http.app import create_app
from tests.conftest import FakeUpstream
from tests.fakes.openrouter import Scripted
from tests.servers import serve_in_thread

PRIMARY = "openai/gpt-5.4-mini"
FALLBACK = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "hi"}]


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> str:
    document: dict[str, Any] = {
        "id": "gen-slow-first",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": PRIMARY,
        "provider": "OpenAI",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        document["usage"] = usage
    return f"data: {json.dumps(document)}\n\n"


SLOW_FIRST = Scripted(  # headers and first content after 0.5 s
    delay_s=0.5,
    model=PRIMARY,
    stream=[
        chunk({"role": "assistant", "content": "slow"}),
        chunk({}, "stop", {"prompt_tokens": 8, "completion_tokens": 1, "total_tokens": 9, "cost": 0.00001}),
        "data: [DONE]\n\n",
    ],
)


@pytest.fixture
def client(gateway: Gateway, api_key: str) -> Iterator[httpx.Client]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        with httpx.Client(base_url=url, headers={"authorization": f"Bearer {api_key}"}, timeout=30) as client:
            yield client


def streamed(client: httpx.Client, first_token_timeout_s: Any) -> tuple[httpx.Response, str, dict[str, Any]]:
    """The answer, its text and the route of its last event."""
    body = {"model": PRIMARY, "models": [PRIMARY, FALLBACK], "messages": HI, "stream": True}
    response = client.post("/v1/chat/completions", json={**body, "first_token_timeout_s": first_token_timeout_s})
    assert response.status_code == 200, response.text[:300]
    events = [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: {")]
    text = "".join(e["choices"][0]["delta"].get("content") or "" for e in events if e.get("choices"))
    return response, text, events[-1]["route"]


def test_a_first_token_timeout_below_a_second_waits_a_second_and_says_so(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(SLOW_FIRST)
    response, text, route = streamed(client, 0.2)
    assert text == "slow"  # the first candidate served it: 0.2 s would have abandoned it and called the next
    assert [(a["model"], a["error_code"]) for a in route["attempts"]] == [(PRIMARY, None)]
    assert FIRST_TOKEN_FLOORED in route["applied"]
    assert FIRST_TOKEN_FLOORED in response.headers["x-routeway-applied"].split(",")
    assert len(upstream.fake.chat_requests()) == 1


def test_a_first_token_timeout_of_a_second_or_more_is_kept_and_not_reported(
    client: httpx.Client, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(SLOW_FIRST)
    response, text, route = streamed(client, 5)
    assert text == "slow" and len(route["attempts"]) == 1
    assert FIRST_TOKEN_FLOORED not in route["applied"]
    assert FIRST_TOKEN_FLOORED not in response.headers.get("x-routeway-applied", "")


@pytest.mark.parametrize(
    ("given", "kept", "notes"),
    [(0.2, 1.0, (FIRST_TOKEN_FLOORED,)), ("0.001", 1.0, (FIRST_TOKEN_FLOORED,)), (1, 1.0, ()), (5, 5.0, ())],
)
def test_the_floor_is_applied_where_the_value_is_read(given: Any, kept: float, notes: tuple[str, ...]) -> None:
    request = parse_chat_request({"model": PRIMARY, "messages": HI, "metadata": {"first_token_timeout_s": given}})
    assert (request.first_token_timeout_s, request.notes) == (kept, notes)


@pytest.mark.parametrize("given", [0, -1, 601, "soon", True])
def test_invalid_first_token_timeouts_are_still_refused(given: Any) -> None:
    with pytest.raises(InvalidRequest) as refused:
        parse_chat_request({"model": PRIMARY, "messages": HI, "first_token_timeout_s": given})
    assert refused.value.param == "first_token_timeout_s"
