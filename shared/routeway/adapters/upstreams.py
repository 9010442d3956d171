"""The Upstreams port: one OpenAI-compatible client per backend, made on first use and kept for the process.

OpenRouter's key comes from the settings or, in AWS, from SSM by name (read on first use); a
self-hosted backend's key from the variable its configuration names. The client's own
Authorization is never forwarded.
"""

from __future__ import annotations

from typing import Any

from routeway.adapters.openai_compat import ATTRIBUTION_HEADERS, OpenAICompatibleUpstream
from routeway.config import backend_base_url, backend_region
from routeway.domain.catalog import Backend
from routeway.errors import BackendUnavailable
from routeway.ports import SecretProvider, Upstream
from routeway.settings import Settings


class BackendUpstreams:
    """`client` over `pool`: `OpenAICompatibleUpstream` over an `http_client.HttpClientPool` (httpx: Lambda,
    the CLI, tests' transports) or, under `routeway serve`, `aiohttp_upstream.AiohttpUpstream` over its
    `AiohttpSessions`."""

    def __init__(
        self,
        settings: Settings,
        pool: Any,
        secrets: SecretProvider,
        client: Any = OpenAICompatibleUpstream,  # an openai_compat.OpenAICompatibleClient subclass
    ) -> None:
        self._settings = settings
        self._pool = pool
        self._client = client
        self._secrets = secrets
        self._upstreams: dict[str, Upstream] = {}

    def _key(self, backend: Backend) -> str | None:
        if backend.kind == "openrouter":
            if self._settings.openrouter_api_key:
                return self._settings.openrouter_api_key
            if self._settings.openrouter_key_param:
                return self._secrets.get(self._settings.openrouter_key_param)
            return None
        return self._settings.variable(backend.api_key_env)

    def for_backend(self, backend: Backend) -> Upstream:
        cached = self._upstreams.get(backend.name)
        # a Bedrock upstream maps catalog ids with its backend's `model_ids`: a catalog that maps them anew (a
        # refresh that read Bedrock's listing) gets a new one, never the mapping the process started with
        if cached is not None and (backend.kind != "bedrock" or getattr(cached, "backend", None) == backend):
            return cached
        if backend.status in ("deprecated", "planned"):
            raise BackendUnavailable(f"Backend {backend.name!r} is {backend.status}.")
        if backend.kind == "bedrock":
            bedrock = self._upstreams[backend.name] = self._bedrock(backend)
            return bedrock
        base_url = backend_base_url(backend, self._settings)
        if not base_url:
            raise BackendUnavailable(f"Backend {backend.name!r} is not configured (no base URL).")
        upstream: Upstream = self._client(
            base_url,
            key=lambda: self._key(backend),
            pool=self._pool,
            extra_headers=ATTRIBUTION_HEADERS if backend.kind == "openrouter" else None,
        )
        self._upstreams[backend.name] = upstream
        return upstream

    def _bedrock(self, backend: Backend) -> Upstream:
        """Amazon Bedrock through boto3 (its client made on the first call, not here)."""
        from routeway.adapters.bedrock import BedrockUpstream

        region = backend_region(backend, self._settings)
        if not region:
            raise BackendUnavailable(f"Backend {backend.name!r} is not configured (no region, no AWS_REGION).")
        return BedrockUpstream(
            backend,
            region,
            endpoint_url=self._settings.variable("AWS_ENDPOINT_URL_BEDROCK_RUNTIME"),
            api_key=lambda: self._settings.variable(backend.api_key_env),
            control_url=self._settings.variable("AWS_ENDPOINT_URL_BEDROCK"),
        )

    async def aclose(self) -> None:
        await self._pool.aclose()
