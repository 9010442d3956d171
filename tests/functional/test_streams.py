"""Streams real clients trust (issue 16, RELIABILITY 23 and 47-49), through the openai SDK on a real server.

The fake upstream plays OpenRouter's stream faults: an error event after the role chunk, a cut before
any data, a first token that never comes, usage on a chunk that also has choices, slow chunks.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import openai
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream, register_secret
from tests.fakes.openrouter import Scripted
from tests.servers import serve_in_thread

PRIMARY = "openai/gpt-5.4-mini"
FALLBACK = "openai/gpt-4o-mini"
HI = [{"role": "user", "content": "hi"}]


def sse(*documents: Any, done: bool = True) -> list[bytes | str]:
    pieces: list[bytes | str] = [": OPENROUTER PROCESSING\n\n"]
    pieces += [f"data: {json.dumps(d)}\n\n" for d in documents]
    return pieces + (["data: [DONE]\n\n"] if done else [])


def chunk(delta: dict[str, Any], finish: str | None = None, usage: dict[str, Any] | None = None) -> dict[str, Any]:
    document: dict[str, Any] = {
        "id": "gen-1",
        "object": "chat.completion.chunk",
        "created": 1,
        "model": PRIMARY,
        "provider": "OpenAI",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }
    if usage is not None:
        document["usage"] = usage
    return document


ROLE = chunk({"role": "assistant", "content": ""})
USAGE = {"prompt_tokens": 8, "completion_tokens": 3, "total_tokens": 11, "cost": 0.00002}


@pytest.fixture
def sdk(gateway: Gateway, api_key: str) -> Iterator[openai.OpenAI]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield openai.OpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)


def with_fallback(**extra: Any) -> dict[str, Any]:
    return {"model": PRIMARY, "messages": HI, "stream": True, "extra_body": {"models": [PRIMARY, FALLBACK], **extra}}


def collect(stream: Any) -> tuple[str, list[Any]]:
    chunks = list(stream)
    return "".join(c.choices[0].delta.content or "" for c in chunks), chunks  # the unguarded quickstart loop


def test_the_quickstart_loop_works_for_chat_and_legacy_completions(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    text, chunks = collect(sdk.chat.completions.create(model=PRIMARY, messages=HI, stream=True))  # type: ignore[arg-type]
    assert text == "Hello from the fake OpenRouter." and all(c.choices for c in chunks)
    legacy = list(sdk.completions.create(model=PRIMARY, prompt="hi", stream=True))
    assert "".join(c.choices[0].text for c in legacy) == "Hello from the fake OpenRouter."
    assert legacy[-1].model_extra["route"]["model"] == PRIMARY  # type: ignore[index]
    assert all(c.usage is None for c in legacy)


def test_usage_on_a_chunk_with_choices_is_sent_once(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    """OpenRouter may put usage on the finish chunk itself; the client still sees it exactly once."""
    script = sse(ROLE, chunk({"content": "Hi"}), chunk({}, "stop", USAGE))
    upstream.fake.enqueue(Scripted(stream=script), Scripted(stream=list(script)))
    plain = list(sdk.chat.completions.create(model=PRIMARY, messages=HI, stream=True))  # type: ignore[arg-type]
    assert all(c.usage is None for c in plain) and plain[-1].choices[0].finish_reason == "stop"
    counted = list(
        sdk.chat.completions.create(
            model=PRIMARY,
            messages=HI,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    with_usage = [c for c in counted if c.usage is not None]
    assert len(with_usage) == 1 and with_usage[0].choices == [] and with_usage[0].usage.total_tokens == 11


@pytest.mark.parametrize(
    "failure",
    [
        pytest.param(sse(ROLE, {"error": {"code": 502, "message": "provider died"}}), id="error-event-after-role"),
        pytest.param([": OPENROUTER PROCESSING\n\n"], id="cut-before-any-data"),
    ],
)
def test_rel_49_a_failure_before_content_falls_back_silently(
    sdk: openai.OpenAI, upstream: FakeUpstream, failure: list[bytes | str]
) -> None:
    upstream.fake.enqueue(Scripted(stream=failure, model=PRIMARY))
    raw = sdk.chat.completions.with_raw_response.create(**with_fallback())
    text, chunks = collect(raw.parse())
    assert text == "Hello from the fake OpenRouter."
    route = chunks[-1].model_extra["route"]  # type: ignore[index]
    first, *_, winner = route["attempts"]  # the next provider of the model, or the fallback model
    assert first["model"] == PRIMARY and first["error_code"] in ("upstream_error_in_body", "empty_stream")
    assert winner["status"] == 200 and winner["error_code"] is None and winner["stream_error"] is None
    assert raw.headers["x-routeway-model"] == route["model"] == winner["model"]
    assert raw.headers["x-routeway-attempts"] == str(len(route["attempts"]))


def test_rel_49_a_stalled_first_token_moves_on_after_first_token_timeout(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    release = threading.Event()
    stalled = Scripted(stream=sse(ROLE, chunk({"content": "late"}, "stop")), model=PRIMARY, gate=release, gate_after=2)
    upstream.fake.enqueue(stalled)
    started = time.monotonic()
    try:
        text, chunks = collect(sdk.chat.completions.create(**with_fallback(first_token_timeout_s=2)))
    finally:
        release.set()
    assert text == "Hello from the fake OpenRouter." and 2 <= time.monotonic() - started < 15
    attempts = chunks[-1].model_extra["route"]["attempts"]  # type: ignore[index]
    assert (attempts[0]["model"], attempts[0]["error_code"]) == (PRIMARY, "first_token_timeout")
    assert len(attempts) == 2 and attempts[1]["error_code"] is None


def test_a_failure_after_content_is_an_error_event_and_never_another_provider(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    upstream.fake.enqueue(
        Scripted(
            stream=sse(ROLE, chunk({"content": "Half"}), {"error": {"code": 502, "message": "gone"}}), model=PRIMARY
        )
    )
    seen: list[str] = []
    with pytest.raises(openai.APIError):
        for piece in sdk.chat.completions.create(**with_fallback()):
            seen.append(piece.choices[0].delta.content or "")
    assert "".join(seen) == "Half"
    assert [r.body["model"] for r in upstream.fake.chat_requests()] == [PRIMARY]


@pytest.mark.both_stores
def test_rel_48_every_attempt_rate_limited_is_a_429_with_retry_after(
    sdk: openai.OpenAI, upstream: FakeUpstream
) -> None:
    limited = {"error": {"code": 429, "message": "Rate limit exceeded"}}
    upstream.fake.enqueue(*[Scripted(status=429, headers={"Retry-After": "40"}, body=limited) for _ in range(8)])
    with pytest.raises(openai.RateLimitError) as caught:
        sdk.chat.completions.create(model=PRIMARY, messages=HI, extra_body={"models": [PRIMARY, FALLBACK]})  # type: ignore[arg-type]
    error = caught.value
    assert error.code == "upstream_rate_limited"
    assert 35 <= int(error.response.headers["retry-after"]) <= 40
    preview = sdk.post("/route/preview", body={"model": PRIMARY, "messages": HI}, cast_to=httpx.Response).json()
    cooling = [r for c in preview["candidates"] for r in c["reasons"] if r.startswith("cooling_down")]
    assert cooling and all(r.startswith("cooling_down (429, ") for r in cooling)
    assert 35 <= int(cooling[0].split(", ")[1].split(" ")[0]) <= 41


def test_n_gives_n_choices_or_a_clear_400(sdk: openai.OpenAI, upstream: FakeUpstream) -> None:
    reply = sdk.chat.completions.create(model=PRIMARY, messages=HI, n=2)  # type: ignore[arg-type]
    assert [c.index for c in reply.choices] == [0, 1]
    assert all(c.message.content == "Hello from the fake OpenRouter." for c in reply.choices)
    assert len(upstream.fake.chat_requests()) == 2  # the fake ignores n, as many upstreams do
    with pytest.raises(openai.BadRequestError) as caught:
        sdk.chat.completions.create(model=PRIMARY, messages=HI, n=2, stream=True)  # type: ignore[arg-type]
    assert caught.value.code == "unsupported_parameter" and caught.value.param == "n"


def test_rel_47_the_deadline_covers_the_whole_stream(env: dict[str, str], upstream: FakeUpstream) -> None:
    """The long entry (serve, Function URL) with a 4 s deadline: a stream still trickling at 4 s ends in an error."""
    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_LONG_DEADLINE_S": "4"}))
    key = register_secret(_key(gateway))
    words = [chunk({"content": f"w{i} "}) for i in range(40)]
    upstream.fake.enqueue(Scripted(stream=sse(ROLE, *words, chunk({}, "stop")), chunk_delay_s=0.25))
    with serve_in_thread(create_app(lambda: gateway, long_requests=True)) as url:
        client = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0)
        started = time.monotonic()
        seen = []
        with pytest.raises(openai.APIError) as caught:
            for piece in client.chat.completions.create(model=PRIMARY, messages=HI, stream=True):  # type: ignore[arg-type]
                seen.append(piece)
        took = time.monotonic() - started
    assert seen and took >= 3.5 and len(seen) < len(words)  # ended by the deadline, not by the stream's end
    assert "deadline" in str(caught.value.message)


def test_serve_gives_a_slow_request_the_long_deadline(env: dict[str, str], upstream: FakeUpstream) -> None:
    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_DEADLINE_S": "2"}))
    key = register_secret(_key(gateway))
    upstream.fake.enqueue(Scripted(delay_s=3.0, body=_completion()))
    with serve_in_thread(create_app(lambda: gateway, long_requests=True)) as url:
        reply = openai.OpenAI(base_url=f"{url}/v1", api_key=key, max_retries=0).chat.completions.create(
            model=PRIMARY,
            messages=HI,  # type: ignore[arg-type]
        )
    assert reply.choices[0].message.content == "slow but sure"


def _key(gateway: Gateway) -> str:
    from routeway.services.keys import create_key

    return create_key(gateway.state.sync, gateway.clock, "streams")[0]


def _completion() -> dict[str, Any]:
    return {
        "id": "gen-slow",
        "object": "chat.completion",
        "created": 1,
        "model": PRIMARY,
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "slow but sure"}, "finish_reason": "stop"}
        ],
        "usage": USAGE,
    }


@pytest.fixture
def quick_keepalive(env: dict[str, str], upstream: FakeUpstream) -> Iterator[tuple[str, str]]:
    """A server whose keep-alive interval is 1 s, so a slow first token goes down the late path quickly."""
    gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_KEEPALIVE_S": "1"}))
    key = register_secret(_key(gateway))
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield url, key


def test_a_first_token_slower_than_a_keepalive_starts_the_stream_with_comments(
    quick_keepalive: tuple[str, str], upstream: FakeUpstream
) -> None:
    url, key = quick_keepalive
    release = threading.Event()
    stalled = Scripted(stream=sse(ROLE, chunk({"content": "late"}, "stop")), model=PRIMARY, gate=release, gate_after=2)
    upstream.fake.enqueue(stalled)
    body = {"model": PRIMARY, "messages": HI, "stream": True, "models": [PRIMARY, FALLBACK], "first_token_timeout_s": 3}
    try:
        with httpx.stream(
            "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=30
        ) as response:
            assert response.status_code == 200 and "x-routeway-model" not in response.headers
            lines = [line for line in response.iter_lines() if line]
    finally:
        release.set()
    data = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    first_data = next(i for i, line in enumerate(lines) if line.startswith("data: "))
    assert lines[:first_data] and all(line.startswith(":") for line in lines[:first_data])  # comments only
    assert "".join(d["choices"][0]["delta"].get("content") or "" for d in data) == "Hello from the fake OpenRouter."
    route = data[-1]["route"]
    assert route["attempts"][0]["error_code"] == "first_token_timeout" and route["attempts"][-1]["status"] == 200
    assert lines[-1] == "data: [DONE]"


@pytest.mark.both_stores
def test_every_attempt_failing_after_the_stream_began_is_an_error_event_and_a_record(
    quick_keepalive: tuple[str, str], upstream: FakeUpstream, gateway: Gateway
) -> None:
    url, key = quick_keepalive
    upstream.fake.enqueue(*[Scripted(delay_s=1.5, status=503, body={"error": {"code": 503}}) for _ in range(8)])
    body = {"model": PRIMARY, "messages": HI, "stream": True}
    with httpx.stream(
        "POST", f"{url}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}, timeout=60
    ) as response:
        assert response.status_code == 200
        generation_id = response.headers["x-routeway-generation-id"]
        lines = [line for line in response.iter_lines() if line]
    events = [json.loads(line[6:]) for line in lines if line.startswith("data: {")]
    assert len(events) == 1 and events[0]["error"]["code"] == "upstream_error"
    assert len(events[0]["route"]["attempts"]) >= 2 and lines[-1] == "data: [DONE]"
    record = gateway.state.sync.get_generation(generation_id, 0)
    assert record is not None and record.status == "error" and record.error_code == "upstream_error"
