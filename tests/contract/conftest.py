"""The gateway on a real uvicorn server and the official openai SDK pointed at it."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import openai
import pytest

from routeway.gateway import Gateway
from routeway.http.app import create_app
from tests.servers import serve_in_thread


@pytest.fixture
def gateway_url(gateway: Gateway) -> Iterator[str]:
    with serve_in_thread(create_app(lambda: gateway)) as url:
        yield url


@pytest.fixture
def sdk(gateway_url: str, api_key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gateway_url}/v1", api_key=api_key, max_retries=0)


def spend(gateway_url: str, api_key: str) -> float:
    """What the key has spent so far, as GET /v1/key tells its owner."""
    return float(httpx.get(f"{gateway_url}/v1/key", headers={"x-api-key": api_key}).json()["spend_usd"])
