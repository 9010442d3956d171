"""Embeddings as OpenRouter and vLLM answer them: deterministic vectors, `dimensions`, float or base64."""

from __future__ import annotations

import base64
import hashlib
import random
import struct
import time
from typing import Any

import orjson
from starlette.responses import Response


def _error(status: int, message: str) -> Response:
    return Response(
        orjson.dumps({"error": {"code": status, "message": message}}), status_code=status, media_type="application/json"
    )


def embedding_vector(text: str, dimensions: int) -> list[float]:
    """A deterministic unit vector for `text`: the same text always gives the same vector."""
    rng = random.Random(hashlib.sha256(text.encode()).digest())
    values = [rng.gauss(0.0, 1.0) for _ in range(dimensions)]
    norm = sum(v * v for v in values) ** 0.5 or 1.0
    return [round(v / norm, 6) for v in values]


def embeddings_answer(body: Any, models: dict[str, dict[str, Any]], provider: str | None = None) -> Response:
    """OpenAI's embeddings answer as OpenRouter gives it, for `models` (id → models-list entry)."""
    if not isinstance(body, dict):
        return _error(400, "Invalid request body")
    model = models.get(str(body.get("model", "")))
    if model is None:
        return _error(400, f"{body.get('model')} is not a valid model ID")
    raw = body.get("input")
    texts = [raw] if isinstance(raw, str) or (isinstance(raw, list) and raw and isinstance(raw[0], int)) else raw
    if not isinstance(texts, list) or not texts:
        return _error(400, "input must be a string or a non-empty list")
    dimensions = body.get("dimensions")
    if dimensions is not None and "dimensions" not in model.get("supported_parameters", []):
        return _error(400, f"{model['id']} does not support specifying dimensions")
    size = dimensions or model.get("embedding_dimensions") or 8
    data = []
    tokens = 0
    for index, text in enumerate(texts):
        as_text = text if isinstance(text, str) else " ".join(str(t) for t in text)
        tokens += len(text) if isinstance(text, list) else len(as_text) // 4 + 1
        vector: Any = embedding_vector(as_text, size)
        if body.get("encoding_format") == "base64":
            vector = base64.b64encode(struct.pack(f"<{size}f", *vector)).decode()
        data.append({"object": "embedding", "index": index, "embedding": vector})
    answer: dict[str, Any] = {
        "id": f"gen-emb-{int(time.time() * 1000)}-fake",
        "object": "list",
        "data": data,
        "model": model["id"],
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    if "pricing" in model:  # OpenRouter reports the cost; a vLLM does not
        answer["usage"]["cost"] = tokens * float(model["pricing"].get("prompt") or 0)
    if provider or model.get("default_provider"):
        answer["provider"] = provider or model["default_provider"]
    return Response(orjson.dumps(answer), media_type="application/json")
