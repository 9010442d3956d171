"""An OpenAI embeddings request as the core takes it, and the vectors as it hands them back.

The request is planned like a chat request (same goals, `models`, `provider`, keys), as one that
needs `embeddings` output: its `chat` twin holds the routing fields and a user message with the input
text (for the token estimate only). What goes upstream is the client's body without
`encoding_format`: Routeway always asks for floats and encodes base64 itself, so every backend
(OpenRouter, vLLM, Ollama) gives the client the format it asked for.
"""

from __future__ import annotations

import base64
import struct
from dataclasses import dataclass
from typing import Any

from routeway.domain.wire import ChatRequest, parse_chat_request
from routeway.errors import InvalidRequest

ENCODINGS = ("float", "base64")
MAX_INPUTS = 2048  # OpenAI's limit on the number of inputs in one request
MAX_INPUT_TOKENS = 8192  # OpenAI's limit on one input's tokens
MAX_REQUEST_TOKENS = 300_000  # OpenAI's limit on the tokens of all of a request's inputs
TOKEN_CHARS = 4  # a token array stands for about this many characters in the estimate


@dataclass(frozen=True)
class EmbeddingsRequest:
    chat: ChatRequest  # the routing view: model, models, goals, provider; messages only for the estimate
    payload: dict[str, Any]  # the body for the upstream (before the model is set per attempt)
    dimensions: int | None
    encoding_format: str
    inputs: int


def _is_token(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _inputs(raw: Any) -> list[Any]:
    """The inputs as a list: strings, or token arrays (lists of ints). OpenAI's limits on token arrays are
    checked by their lengths before any of their items is looked at (a million tokens must not cost a walk):
    at most MAX_INPUT_TOKENS in one, MAX_REQUEST_TOKENS in all. A text's length in tokens is the model's to
    judge (its tokenizer is not ours)."""
    if isinstance(raw, str) and raw:
        return [raw]
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'input' must be a string or a non-empty list of strings or token arrays.", param="input")
    flat = _is_token(raw[0])  # one token array
    inputs = [raw] if flat else raw
    if len(inputs) > MAX_INPUTS:
        raise InvalidRequest(f"'input' holds more than {MAX_INPUTS} items.", param="input")
    tokens = 0
    for index, item in enumerate(inputs):
        param = "input" if flat else f"input[{index}]"
        if isinstance(item, list):
            if len(item) > MAX_INPUT_TOKENS:
                raise InvalidRequest(
                    f"A token array holds at most {MAX_INPUT_TOKENS} tokens; this one holds {len(item)}.", param=param
                )
            tokens += len(item)
            if tokens > MAX_REQUEST_TOKENS:
                raise InvalidRequest(
                    f"The token arrays hold more than {MAX_REQUEST_TOKENS:,} tokens in all.", param="input"
                )
        if not (isinstance(item, str) and item) and not (isinstance(item, list) and item and all(map(_is_token, item))):
            raise InvalidRequest("Each input must be a non-empty string or token array.", param=param)
    return inputs


def parse_embeddings_request(body: Any) -> EmbeddingsRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    inputs = _inputs(body.get("input"))
    dimensions = body.get("dimensions")
    if dimensions is not None and (isinstance(dimensions, bool) or not isinstance(dimensions, int) or dimensions < 1):
        raise InvalidRequest("'dimensions' must be a positive integer.", param="dimensions")
    encoding = body.get("encoding_format") or "float"
    if encoding not in ENCODINGS:
        raise InvalidRequest("'encoding_format' must be 'float' or 'base64'.", param="encoding_format")
    if body.get("stream") not in (None, False):
        raise InvalidRequest("Embeddings do not stream.", param="stream")
    text = "\n".join(i if isinstance(i, str) else "x" * (TOKEN_CHARS * len(i)) for i in inputs)
    routing = {k: v for k, v in body.items() if k not in ("input", "encoding_format", "dimensions", "modalities")}
    chat = parse_chat_request(
        {**routing, "messages": [{"role": "user", "content": text}], "modalities": ["embeddings"]}
    )
    payload = {k: v for k, v in body.items() if k not in ("encoding_format", "stream")}
    return EmbeddingsRequest(chat, payload, dimensions, encoding, len(inputs))


def as_floats(vector: Any) -> list[float] | None:
    """A vector as floats: the upstream's list, or its base64 of little-endian float32s; None if neither."""
    if isinstance(vector, list) and all(isinstance(v, int | float) and not isinstance(v, bool) for v in vector):
        return [float(v) for v in vector]
    if isinstance(vector, str):
        try:
            raw = base64.b64decode(vector, validate=True)
        except ValueError:
            return None
        if len(raw) % 4 == 0:
            return list(struct.unpack(f"<{len(raw) // 4}f", raw))
    return None


def as_base64(vector: list[float]) -> str:
    """OpenAI's `encoding_format: base64`: the vector's little-endian float32s, base64-encoded."""
    return base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
