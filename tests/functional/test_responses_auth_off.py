"""ROUTEWAY_AUTH=off (local serve): stored responses belong to no key, and still continue and delete."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from routeway.settings import Settings
from routeway.wiring import build_gateway
from tests.conftest import FakeUpstream
from tests.servers import serve_in_thread

pytestmark = pytest.mark.both_stores  # the store is under test: each runs on both


@pytest.fixture
def open_url(env: dict[str, str]) -> Iterator[str]:
    gateway: Gateway = build_gateway(Settings.from_env({**env, "ROUTEWAY_AUTH": "off"}))
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield url


def test_without_auth_responses_are_stored_under_no_key(open_url: str, upstream: FakeUpstream) -> None:
    first = httpx.post(f"{open_url}/v1/responses", json={"model": "openai/gpt-5.4-mini", "input": "My name is Ada."})
    assert first.status_code == 200, first.text
    response_id = first.json()["id"]
    assert httpx.get(f"{open_url}/v1/responses/{response_id}").json()["id"] == response_id
    second = httpx.post(
        f"{open_url}/v1/responses",
        json={"model": "openai/gpt-5.4-mini", "input": "Name?", "previous_response_id": response_id},
    )
    assert second.status_code == 200
    assert [m["content"] for m in upstream.fake.chat_requests()[-1].body["messages"]][0] == "My name is Ada."
    assert httpx.delete(f"{open_url}/v1/responses/{response_id}").json()["deleted"] is True
    gone = httpx.get(f"{open_url}/v1/responses/{response_id}")
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "response_not_found"
