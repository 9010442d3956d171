"""POST /v1/embeddings (OpenAI's embeddings API): routed, proven, recorded and charged like chat.

The request is parsed into the core's `EmbeddingsRequest` (domain.embeddings); the core answers
float vectors, which become base64 here when the client asked for `encoding_format: base64` (what
the openai SDK asks for by default).
"""

from __future__ import annotations

from typing import Any

from routeway.domain.embeddings import EmbeddingsRequest, as_base64, parse_embeddings_request
from routeway.services.results import Completion


def parse_embeddings(body: Any) -> EmbeddingsRequest:
    return parse_embeddings_request(body)


def render_embeddings(request: EmbeddingsRequest, result: Completion) -> dict[str, Any]:
    """`{object: "list", data: [{object: "embedding", index, embedding}], model, usage}` in the asked encoding."""
    if request.encoding_format != "base64":
        return result.body
    data = [{**row, "embedding": as_base64(row["embedding"])} for row in result.body["data"]]
    return {**result.body, "data": data}
