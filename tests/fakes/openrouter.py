"""A fake OpenRouter that behaves like the real one, built from the real catalog data.

Quirks it enforces (UPSTREAM.md, SEEDS 000/001):
- GET /models without `output_modalities` hides image-only models (the default list);
  `output_modalities=image` lists them, `all` lists everything.
- Chat needs a Bearer key. An unknown model id is a 400 ("not a valid model ID").
- `modalities` must match the model exactly when they ask for images: FLUX takes only ["image"],
  Gemini image only ["image","text"]; a text-only request to an image-only model finds no endpoint.
- `tools` sent to a model without tool support: 404 "No endpoints found that support tool use".
- Reasoning models spend a hidden thinking pass: a small max_tokens gives empty content and
  finish_reason "length".
- Embedding models have their own list (GET /embeddings/models) and POST /embeddings: deterministic
  vectors (the same text always gives the same vector), `dimensions` only where the model supports it,
  float or base64, usage with tokens and cost; an unknown model id is a 400 as in chat.
- Real models call tools: when `tools` are offered, `tool_choice` is not "none" and the last message is
  the user's, the answer is one tool call (the tool `tool_choice` names, else the first tool whose name
  the prompt mentions, else the first tool) with arguments made from the schema's required properties,
  finish_reason "tool_calls". Streamed, the call comes in pieces: index, id and name first, then the
  arguments in fragments. Once the conversation holds a tool call (its result is in), the answer is
  text again, even when an agent adds a user note after the result (Claude Code does).
- Structured outputs: a `response_format` (json_schema or json_object) is answered with JSON that validates
  against the schema (`tests.fakes.structured`), streamed in small fragments, by an endpoint whose
  supported_parameters include them; one without them ignores the schema and answers free text, and with
  `provider.require_parameters` such endpoints are skipped (none left: 404).
- Prompt caching: a provider that has seen a prefix marked with `cache_control` reports it as cached on the
  next request (`cached_tokens`), the first one reports `cache_write_tokens` (`tests.fakes.prompt_cache`).

Tests script individual answers with `enqueue(Scripted(...))` and read `requests` to see exactly
what the gateway sent.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import random
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from routeway.domain.normalize import complete_endpoints
from tests.fakes.data import load
from tests.fakes.embeddings import embeddings_answer
from tests.fakes.openrouter_answers import as_chunks, routable_endpoints, tool_call_for
from tests.fakes.prompt_cache import PromptCache
from tests.fakes.structured import structured_answer

# 1x1 transparent PNG: what an image model "generates"
PNG_1X1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg=="
)
REASONING_TOKENS = 120  # the hidden thinking pass of a reasoning model
ROUTING_SUFFIXES = (":nitro", ":floor", ":exacto")
STRUCTURED = {"response_format", "structured_outputs"}  # an endpoint's supported_parameters for JSON answers


@dataclass
class Scripted:
    """One scripted answer: used for the next chat request (optionally only for one model)."""

    status: int = 200
    body: Any = None  # dict → JSON; bytes/str → raw
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    model: str | None = None  # only for chat requests naming this model
    path: str = "/chat/completions"  # only for requests whose path ends with this
    stream: list[bytes | str] | None = None  # raw SSE pieces, sent one by one
    chunk_delay_s: float = 0.0  # pause before each piece
    gate: threading.Event | None = None  # after `gate_after` pieces, hold the rest until the test sets it
    gate_after: int = 1
    through: bool = False  # answered as usual: holds a place in the script (the next call is the scripted one)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


def _json(document: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(orjson.dumps(document), status_code=status, media_type="application/json", headers=headers)


def _error(status: int, message: str, **metadata: Any) -> Response:
    error: dict[str, Any] = {"code": status, "message": message}
    if metadata:
        error["metadata"] = metadata
    return _json({"error": error}, status)


class FakeOpenRouter:
    def __init__(self, api_key: str | None = None) -> None:
        self.api_key = api_key  # None: any Bearer key is accepted
        self.ignores_output_modalities = False  # a broken mirror that always returns the default list
        self.fault_mix: dict[str, float] = {}  # e.g. {"500": 0.1, "timeout": 0.05, "429": 0.05}, drawn per request
        self.hang_s = 5.0  # how long a "timeout" fault keeps the request waiting
        self.answered_by: str | None = None  # the `provider` every chat answer names, whatever served it
        self._rng = random.Random(7)
        self.requests: list[Received] = []
        self._script: deque[Scripted] = deque()
        self.generations: dict[str, dict[str, Any]] = {}  # GET /generation?id=: what each generation billed
        self.streams_cancelled = 0  # streams whose reader went away before the last piece
        self._ids = itertools.count(1)
        self.prompt_cache = PromptCache()  # prefixes each provider has cached (tests.fakes.prompt_cache)
        self.providers = load("providers.json")
        self._serve_catalog(None)
        self.app = Starlette(
            routes=[
                Route("/api/v1/models", self.list_models),
                Route("/api/v1/models/count", self.count_models),
                Route("/api/v1/models/{author}/{slug:path}/endpoints", self.model_endpoints),
                Route("/api/v1/providers", self.list_providers),
                Route("/api/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/api/v1/embeddings/models", self.list_embedding_models),
                Route("/api/v1/embeddings", self.embeddings, methods=["POST"]),
                Route("/api/v1/generation", self.generation),
            ]
        )

    # scripting
    def enqueue(self, *answers: Scripted) -> None:
        self._script.extend(answers)

    def _serve_catalog(self, only: frozenset[str] | None) -> None:
        """The catalog this fake lists: the whole real capture, or only the models named."""

        def kept(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
            return [row for row in rows if only is None or row["id"] in only]

        default = kept(load("models.json")["data"])
        image = kept(load("models_output_image.json")["data"])
        self.default_list = default
        self.image_list = image
        merged: dict[str, dict[str, Any]] = {}
        for row in [*default, *image]:
            merged.setdefault(row["id"], row)
        self.models = merged
        # the capture lacks FLUX's endpoint rows; the real OpenRouter serves them (their maker, per-image price)
        captured = {key: rows for key, rows in load("endpoints.json").items() if only is None or key in only}
        self.endpoints = complete_endpoints([{"data": default}, {"data": image}], captured)
        self.embedding_models = {m["id"]: m for m in kept(load("embedding_models.json")["data"])}
        self.restricted = only is not None

    def serve_only(self, ids: frozenset[str]) -> None:
        """List only these models (until reset): a refresh then fetches a few dozen endpoints, not 359."""
        self._serve_catalog(ids)

    def reset(self) -> None:
        if self.restricted:
            self._serve_catalog(None)
        self._script.clear()
        self.requests.clear()
        self.generations.clear()
        self.streams_cancelled = 0
        self.ignores_output_modalities = False
        self.fault_mix = {}
        self.answered_by = None
        self.prompt_cache.reset()

    def chat_requests(self) -> list[Received]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    def embedding_requests(self) -> list[Received]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def _next_script(self, path: str, model: str | None = None) -> Scripted | None:
        for index, answer in enumerate(self._script):
            if path.endswith(answer.path) and (answer.model is None or answer.model == model):
                del self._script[index]
                return answer
        return None

    async def _play(self, scripted: Scripted) -> Response:
        if scripted.delay_s:
            await asyncio.sleep(scripted.delay_s)
        if scripted.stream is not None:
            return self._sse(
                scripted.stream,
                scripted.chunk_delay_s,
                scripted.status,
                scripted.headers,
                scripted.gate,
                scripted.gate_after,
            )
        content = scripted.body
        if isinstance(content, dict | list):
            return _json(content, scripted.status, scripted.headers)
        raw_body = content.encode() if isinstance(content, str) else (content or b"")
        return Response(raw_body, status_code=scripted.status, headers=scripted.headers)

    async def generation(self, request: Request) -> Response:
        """OpenRouter's generation stats: 404 until the generation is known (its stats come a moment later)."""
        self._log(request, None)
        found = self.generations.get(request.query_params.get("id", ""))
        if found is None:
            return _error(404, "Generation not found")
        return _json({"data": {"id": request.query_params["id"], **found}})

    # catalog
    def _listed(self, request: Request) -> list[dict[str, Any]]:
        wanted = request.query_params.get("output_modalities")
        if not wanted or self.ignores_output_modalities:
            return self.default_list
        if wanted == "all":
            return list(self.models.values())
        modalities = {m.strip() for m in wanted.split(",")}
        return [m for m in self.models.values() if modalities & set(m["architecture"]["output_modalities"])]

    async def list_models(self, request: Request) -> Response:
        self._log(request, None)
        scripted = self._next_script(request.url.path)
        return await self._play(scripted) if scripted else _json({"data": self._listed(request)})

    async def count_models(self, request: Request) -> Response:
        return _json({"data": {"count": len(self._listed(request))}})

    async def model_endpoints(self, request: Request) -> Response:
        self._log(request, None)
        scripted = self._next_script(request.url.path)
        if scripted:
            return await self._play(scripted)
        model_id = f"{request.path_params['author']}/{request.path_params['slug']}"
        if model_id not in self.endpoints:
            return _error(404, f"Model {model_id} not found")
        return _json(self.endpoints[model_id])

    async def list_providers(self, request: Request) -> Response:
        self._log(request, None)
        scripted = self._next_script(request.url.path)
        return await self._play(scripted) if scripted else _json(self.providers)

    # embeddings
    async def list_embedding_models(self, request: Request) -> Response:
        self._log(request, None)
        scripted = self._next_script(request.url.path)
        return await self._play(scripted) if scripted else _json({"data": list(self.embedding_models.values())})

    async def embeddings(self, request: Request) -> Response:
        try:
            body = orjson.loads(await request.body())
        except orjson.JSONDecodeError:
            return _error(400, "Invalid JSON body")
        self._log(request, body)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.api_key and auth != f"Bearer {self.api_key}"):
            return _error(401, "No auth credentials found")
        scripted = self._next_script(request.url.path, body.get("model") if isinstance(body, dict) else None)
        if scripted is not None:
            return await self._play(scripted)
        return embeddings_answer(body, self.embedding_models)

    # chat
    def _log(self, request: Request, body: Any) -> None:
        self.requests.append(Received(request.method, request.url.path, dict(request.headers), body))

    async def chat(self, request: Request) -> Response:
        raw = await request.body()
        try:
            body = orjson.loads(raw)
        except orjson.JSONDecodeError:
            self._log(request, raw)
            return _error(400, "Invalid JSON body")
        self._log(request, body)
        auth = request.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or (self.api_key and auth != f"Bearer {self.api_key}"):
            return _error(401, "No auth credentials found")
        model_id = body.get("model") if isinstance(body, dict) else None
        scripted = self._next_script(request.url.path, model_id)
        if scripted is not None and not scripted.through:
            return await self._play(scripted)
        fault = self._draw_fault()
        if fault == "500":
            return _error(500, "Internal Server Error")
        if fault == "429":
            return _json({"error": {"code": 429, "message": "Rate limit exceeded"}}, 429, {"Retry-After": "1"})
        if fault == "timeout":
            await asyncio.sleep(self.hang_s)
        return self._answer(body)

    def _draw_fault(self) -> str | None:
        draw = self._rng.random()
        for fault, share in self.fault_mix.items():
            if draw < share:
                return fault
            draw -= share
        return None

    def _answer(self, body: dict[str, Any]) -> Response:
        model_id = str(body.get("model", ""))
        base_id = next((model_id.removesuffix(s) for s in ROUTING_SUFFIXES if model_id.endswith(s)), model_id)
        model = self.models.get(base_id)
        if model is None:
            return _error(400, f"{model_id} is not a valid model ID")
        outputs = set(model["architecture"]["output_modalities"])
        requested = set(body.get("modalities") or ["text"])
        if ("image" in requested and requested != outputs) or not requested <= outputs:
            return _error(
                404,
                "No endpoints found that support the requested output modalities: " + ", ".join(sorted(requested)),
                routing_funnel={"output_modalities": 0},
                failed_routing_step="output_modalities",
            )
        if body.get("tools") and "tools" not in model.get("supported_parameters", []):
            return _error(404, "No endpoints found that support tool use")
        endpoints = routable_endpoints(self.endpoints.get(model["id"], {}), body.get("provider"))
        if endpoints is None:
            return _error(404, "No endpoints found for the request with manual order")
        structured = structured_answer(body.get("response_format"))
        provider_prefs = body.get("provider") if isinstance(body.get("provider"), dict) else {}
        serving = [e.get("supported_parameters") or [] for e in endpoints] or [model.get("supported_parameters", [])]
        if structured is not None and provider_prefs.get("require_parameters") is True:
            endpoints = [e for e, params in zip(endpoints, serving, strict=False) if STRUCTURED & set(params)]
            serving = [params for params in serving if STRUCTURED & set(params)]
            if not serving:
                return _error(404, "No endpoints found that can handle the requested parameters.")
        if structured is not None and not STRUCTURED & set(serving[0]):
            structured = None  # an endpoint without structured outputs ignores the schema: free text, as for real
        provider = endpoints[0]["provider_name"] if endpoints else model["name"].split(":")[0]
        provider = self.answered_by if self.answered_by is not None else provider
        completion = self._completion(model, body, provider, structured)
        self.prompt_cache.account(completion, body, model)
        self.generations[completion["id"]]["total_cost"] = completion["usage"]["cost"]  # as billed, cache included
        if body.get("stream"):
            return self._sse(as_chunks(completion, fragment=8 if structured is not None else None), 0.0)
        return _json(completion)

    def _sse(
        self,
        pieces: list[bytes | str],
        delay_s: float,
        status: int = 200,
        headers: dict[str, str] | None = None,
        gate: threading.Event | None = None,
        gate_after: int = 1,
    ) -> Response:
        async def body() -> Any:
            sent = 0
            try:
                for index, piece in enumerate(pieces):
                    if gate is not None and index == gate_after:
                        for _ in range(1500):  # the test releases it once it saw the first bytes (30 s at most)
                            if gate.is_set():
                                break
                            await asyncio.sleep(0.02)
                    if delay_s:
                        await asyncio.sleep(delay_s)
                    yield piece.encode() if isinstance(piece, str) else piece
                    sent += 1
            finally:
                if sent < len(pieces):
                    self.streams_cancelled += 1

        return StreamingResponse(body(), status_code=status, media_type="text/event-stream", headers=headers)

    def _completion(
        self, model: dict[str, Any], body: dict[str, Any], provider: str, structured: Any = None
    ) -> dict[str, Any]:
        prompt_tokens = sum(len(str(m.get("content", ""))) for m in body.get("messages", [])) // 4 + 1
        max_tokens = body.get("max_tokens") or body.get("max_completion_tokens") or 256
        message: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        finish = "stop"
        completion_tokens = 0
        outputs = set(model["architecture"]["output_modalities"])
        if "image" in set(body.get("modalities") or []):
            url = "data:image/png;base64," + base64.b64encode(PNG_1X1).decode()
            message["images"] = [{"type": "image_url", "image_url": {"url": url}}]
            completion_tokens = 1290
        tool_call = tool_call_for(body) if "text" in outputs else None
        if tool_call is not None:
            message["content"] = None
            message["tool_calls"] = [tool_call]
            finish = "tool_calls"
            completion_tokens += len(tool_call["function"]["arguments"]) // 4 + 5
        elif "text" in outputs:
            reasoning = "reasoning" in model.get("supported_parameters", [])
            budget = max_tokens - (REASONING_TOKENS if reasoning else 0)
            if budget <= 0:
                finish = "length"  # the thinking pass ate the whole budget
                completion_tokens += max_tokens
            else:
                answer = "Hello from the fake OpenRouter."
                if structured is not None:
                    answer = orjson.dumps(structured).decode()
                message["content"] = answer
                completion_tokens += len(answer) // 4 + (REASONING_TOKENS if reasoning else 0)
        prompt_price = float(model["pricing"].get("prompt", 0) or 0)
        completion_price = float(model["pricing"].get("completion", 0) or 0)
        image_price = float(model["pricing"].get("image", 0) or 0)
        images = len(message.get("images") or [])
        cost = max(0.0, prompt_tokens * prompt_price + completion_tokens * completion_price + image_price * images)
        generation_id = f"gen-{int(time.time() * 1000)}-{next(self._ids)}"
        self.generations[generation_id] = {
            "total_cost": cost,
            "tokens_prompt": prompt_tokens,
            "tokens_completion": completion_tokens,
        }
        return {
            "id": generation_id,
            "object": "chat.completion",
            "created": int(time.time()),
            "model": model["id"],
            "provider": provider,
            "system_fingerprint": None,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": completion_tokens,
                "total_tokens": prompt_tokens + completion_tokens,
                "cost": cost,
            },
        }
