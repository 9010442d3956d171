"""A fake vLLM / Ollama: the OpenAI-compatible `GET /v1/models`, `POST /v1/chat/completions` and
`POST /v1/embeddings` (every served model embeds, in `dimensions` long vectors, no cost reported)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.fakes.embeddings import embeddings_answer

LOCAL_DIMENSIONS = 384


class FakeOpenAICompatible:
    def __init__(self, served_models: list[str], owned_by: str = "vllm") -> None:
        self.served_models = served_models
        self.owned_by = owned_by
        self.chats: list[dict[str, Any]] = []
        self.embeddings_asked: list[dict[str, Any]] = []
        self.app = Starlette(
            routes=[
                Route("/v1/models", self.models),
                Route("/v1/chat/completions", self.chat, methods=["POST"]),
                Route("/v1/embeddings", self.embeddings, methods=["POST"]),
            ]
        )

    async def models(self, _request: Request) -> Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": self.owned_by} for m in self.served_models]
        return Response(orjson.dumps({"object": "list", "data": data}), media_type="application/json")

    async def chat(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.chats.append({"body": body, "authorization": request.headers.get("authorization")})
        if body.get("model") not in self.served_models:
            error = {"error": {"message": f"The model `{body.get('model')}` does not exist.", "code": 404}}
            return Response(orjson.dumps(error), status_code=404, media_type="application/json")
        completion = {
            "id": "chatcmpl-local",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body["model"],
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": "Hello from vLLM."}, "finish_reason": "stop"}
            ],
            "usage": {"prompt_tokens": 5, "completion_tokens": 4, "total_tokens": 9},
        }
        return Response(orjson.dumps(completion), media_type="application/json")

    async def embeddings(self, request: Request) -> Response:
        body = orjson.loads(await request.body())
        self.embeddings_asked.append({"body": body, "authorization": request.headers.get("authorization")})
        served = {
            m: {"id": m, "supported_parameters": ["dimensions"], "embedding_dimensions": LOCAL_DIMENSIONS}
            for m in self.served_models
        }
        return embeddings_answer(body, served)
