"""Where a refresh reads the catalog: OpenRouter's API, or a folder of its JSON responses.

OpenRouter's default /models list hides image-only models, so every output modality is asked for
(`output_modalities=all`, plus `image` on its own in case `all` is ever narrowed) and merged.
Embedding models have a list of their own (`GET /embeddings/models`, output modality `embeddings`),
merged in the same way; they have no per-provider endpoint rows.
Endpoints are fetched per model with bounded concurrency, retries with backoff on 429/5xx, and an
overall deadline that fits a Lambda run.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson

from routeway.domain.normalize import merge_model_lists
from routeway.ports import (
    Progress,
    RawCatalog,
    SourceError,
    Upstream,
    UpstreamNoAnswer,
    UpstreamResponse,
    UpstreamUnreachable,
)

MODALITY_QUERIES = ("all", "image")
EMBEDDINGS_LIST = "embeddings/models"
EMBEDDINGS_FILE = "embedding_models.json"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})


def _no_progress(_stage: str, _done: int, _total: int) -> None:
    return None


class DirectorySource:
    """A folder holding models.json (+ models_output_*.json, embedding_models.json), endpoints.json and
    providers.json."""

    name = "file"

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    async def fetch(self, progress: Progress | None = None) -> RawCatalog:
        report = progress or _no_progress

        def read(name: str) -> Any:
            try:
                return json.loads((self.directory / name).read_text(encoding="utf-8"))
            except OSError as exc:
                raise SourceError(f"{self.directory / name}: {exc.strerror}") from None
            except ValueError:
                raise SourceError(f"{self.directory / name}: not valid JSON") from None

        if not self.directory.is_dir():
            raise SourceError(f"{self.directory} is not a folder")
        lists = [read("models.json")] + [read(p.name) for p in sorted(self.directory.glob("models_output_*.json"))]
        if (self.directory / EMBEDDINGS_FILE).exists():
            lists.append(read(EMBEDDINGS_FILE))
        report("models", len(lists), len(lists))
        endpoints = read("endpoints.json") if (self.directory / "endpoints.json").exists() else {}
        report("endpoints", len(endpoints), len(endpoints))
        providers = read("providers.json") if (self.directory / "providers.json").exists() else {"data": []}
        return RawCatalog(model_lists=lists, endpoints_by_id=endpoints, providers=providers)


class OpenRouterSource:
    name = "openrouter"

    def __init__(
        self,
        api: Upstream,
        *,
        concurrency: int = 8,
        attempts: int = 4,
        deadline_s: float = 240.0,
        request_timeout_s: float = 20.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        rng: random.Random | None = None,
    ) -> None:
        self.api = api
        self.concurrency = concurrency
        self.attempts = attempts
        self.deadline_s = deadline_s
        self.request_timeout_s = request_timeout_s
        self._sleep = sleep
        self._rng = rng or random.Random(0)

    async def _get(self, path: str, params: dict[str, str] | None, deadline: float) -> UpstreamResponse:
        """GET with retries on 429/5xx and transport errors; backoff honours Retry-After."""
        last = "no attempt"
        for attempt in range(self.attempts):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SourceError(f"GET {path}: out of time ({last})")
            try:
                response = await self.api.get(path, params, timeout_s=min(self.request_timeout_s, remaining))
            except (UpstreamNoAnswer, UpstreamUnreachable) as exc:
                last = str(exc)
            else:
                if response.status not in RETRY_STATUSES:
                    return response
                last = f"HTTP {response.status}"
                retry_after = response.headers.get("retry-after", "")
                if retry_after.isdigit():
                    await self._sleep(min(float(retry_after), max(0.0, deadline - time.monotonic())))
                    continue
            if attempt + 1 < self.attempts:
                await self._sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + self._rng.random()))
        raise SourceError(f"GET {path}: gave up after {self.attempts} attempts ({last})")

    def _json(self, path: str, response: UpstreamResponse) -> Any:
        if response.status != 200:
            raise SourceError(f"GET {path}: HTTP {response.status}")
        try:
            return orjson.loads(response.body)
        except orjson.JSONDecodeError:
            raise SourceError(f"GET {path}: the answer is not JSON") from None

    async def fetch(self, progress: Progress | None = None) -> RawCatalog:
        report = progress or _no_progress
        deadline = time.monotonic() + self.deadline_s
        lists = []
        for done, modality in enumerate(MODALITY_QUERIES, start=1):
            response = await self._get("models", {"output_modalities": modality}, deadline)
            lists.append(self._json("models", response))
            report("models", done, len(MODALITY_QUERIES))
        ids = sorted(row["id"] for row in merge_model_lists(lists))  # garbage raises CatalogDataError
        lists.append(self._json(EMBEDDINGS_LIST, await self._get(EMBEDDINGS_LIST, None, deadline)))
        report("models", len(MODALITY_QUERIES) + 1, len(MODALITY_QUERIES) + 1)
        endpoints: dict[str, Any] = {}
        gate = asyncio.Semaphore(self.concurrency)
        done_count = 0

        async def one(model_id: str) -> None:
            nonlocal done_count
            async with gate:
                path = f"models/{model_id}/endpoints"
                response = await self._get(path, None, deadline)
                if response.status != 404:  # 404: OpenRouter has no endpoint rows for it
                    endpoints[model_id] = self._json(path, response)
                done_count += 1
                report("endpoints", done_count, len(ids))

        try:
            async with asyncio.TaskGroup() as group:  # the first failure cancels the rest
                for model_id in ids:
                    group.create_task(one(model_id))
        except* SourceError as failures:
            raise failures.exceptions[0] from None
        providers = self._json("providers", await self._get("providers", None, deadline))
        report("providers", 1, 1)
        return RawCatalog(model_lists=lists, endpoints_by_id=endpoints, providers=providers)
