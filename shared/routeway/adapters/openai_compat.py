"""An OpenAI-compatible chat upstream: OpenRouter, vLLM and Ollama all speak this.

The client's own Authorization is never forwarded: the key comes from configuration only.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from routeway.adapters.http_client import HttpClientPool
from routeway.ports import UpstreamResponse, UpstreamTimedOut, UpstreamUnreachable

ATTRIBUTION_HEADERS = {"HTTP-Referer": "https://github.com/routeway/routeway", "X-Title": "Routeway"}


class OpenAICompatibleUpstream:
    def __init__(
        self,
        base_url: str,
        key: Callable[[], str | None],
        pool: HttpClientPool,
        extra_headers: Mapping[str, str] | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = key
        self._pool = pool
        self._extra_headers = dict(extra_headers or {})

    def _headers(self) -> dict[str, str]:
        headers = {"Content-Type": "application/json", **self._extra_headers}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return headers

    async def chat(self, payload: Mapping[str, Any], *, timeout_s: float) -> UpstreamResponse:
        import httpx

        started = time.perf_counter()
        try:
            response = await self._pool.get().post(
                f"{self.base_url}/chat/completions",
                content=orjson.dumps(payload),
                headers=self._headers(),
                timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 5.0)),
            )
        except httpx.TimeoutException:
            raise UpstreamTimedOut(f"no answer within {timeout_s:.1f} s") from None
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(exc.__class__.__name__) from None
        return UpstreamResponse(
            status=response.status_code,
            body=response.content,
            headers=dict(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
        )

    async def get(self, path: str, params: Mapping[str, str] | None = None, *, timeout_s: float) -> UpstreamResponse:
        """GET a catalog document (models, endpoints, providers)."""
        import httpx

        started = time.perf_counter()
        try:
            response = await self._pool.get().get(
                f"{self.base_url}/{path.lstrip('/')}", params=params, headers=self._headers(), timeout=timeout_s
            )
        except httpx.TimeoutException:
            raise UpstreamTimedOut(f"GET {path}: no answer within {timeout_s:.1f} s") from None
        except httpx.TransportError as exc:
            raise UpstreamUnreachable(f"GET {path}: {exc.__class__.__name__}") from None
        return UpstreamResponse(
            status=response.status_code,
            body=response.content,
            headers=dict(response.headers),
            latency_ms=(time.perf_counter() - started) * 1000,
        )
