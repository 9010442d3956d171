"""Request shaping: rewrite a request for the model it is about to be sent to, and say what changed.

Rules (PRODUCT.md "Request shaping"):
- `modalities` becomes exactly what an image model outputs: ["image"] for image-only models (FLUX),
  ["image", "text"] for Gemini / GPT image models; an image-only model gets ["image"] even when the
  request had none. Reported as `modalities=image` / `modalities=image+text`.
- `max_tokens` (or `max_completion_tokens`) below the floor is raised to it: the alias's
  `min_max_tokens`, else 200 for reasoning models and 16 for OpenAI models via OpenRouter.
  Reported as `max_tokens_floored=N`. A request without max_tokens is never given one.
- Image parts must be `data:image/...;base64,` URIs. `http(s)` URLs are refused (400
  image_url_not_supported, param = the field's path) wherever `accepts_image_url` is false, which is
  everywhere by default; Routeway never fetches a URL itself. Any other scheme is refused always.
- Tools never reach a model without tool support: routing excludes such models (`no_tools`).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from routeway.domain.catalog import Alias, Model
from routeway.errors import ImageUrlNotSupported, InvalidRequest

REASONING_FLOOR = 200
OPENAI_VIA_OPENROUTER_FLOOR = 16
_DATA_URI = re.compile(
    r"^data:(?P<type>[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+)(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S
)
_HTTP = re.compile(r"^https?://", re.I)
MAX_DECODE_CHECK = 4096  # validate the head of a payload; a 5 MB image need not be decoded twice


@dataclass(frozen=True)
class ImageUrl:
    path: str  # e.g. messages[0].content[1].image_url.url
    url: str


def image_urls(messages: list[Any]) -> list[ImageUrl]:
    found = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if not isinstance(content, list):
            continue
        for j, part in enumerate(content):
            if not isinstance(part, Mapping) or part.get("type") not in ("image_url", "input_image"):
                continue
            holder = part.get("image_url")
            if isinstance(holder, Mapping):
                found.append(ImageUrl(f"messages[{i}].content[{j}].image_url.url", str(holder.get("url", ""))))
            elif isinstance(holder, str):
                found.append(ImageUrl(f"messages[{i}].content[{j}].image_url", holder))
            else:
                raise InvalidRequest("An image part needs image_url.url.", param=f"messages[{i}].content[{j}]")
    return found


def check_image_data(images: list[ImageUrl]) -> list[ImageUrl]:
    """Refuse every image that is neither a valid data:image URI nor http(s); return the http(s) ones."""
    remote = []
    for image in images:
        url = image.url
        if _HTTP.match(url):  # exactly http(s)://, no leading space or other tricks
            remote.append(image)
            continue
        match = _DATA_URI.match(url)
        if match is None:
            raise ImageUrlNotSupported(
                "Only data:image/...;base64, URIs are accepted for images; Routeway never fetches URLs.",
                param=image.path,
            )
        if not match.group("type").lower().startswith("image/"):
            raise InvalidRequest(f"The data URI is {match.group('type')!r}, not an image.", param=image.path)
        data = match.group("data")
        if not data:
            raise InvalidRequest("The image's data URI is empty.", param=image.path)
        head = data if len(data) <= MAX_DECODE_CHECK else data[: MAX_DECODE_CHECK // 4 * 4]
        try:
            base64.b64decode(head, validate=True)
        except (binascii.Error, ValueError):
            raise InvalidRequest("The image's base64 payload cannot be decoded.", param=image.path) from None
    return remote


def refuse_remote_images(remote: list[ImageUrl], accepts_image_url: bool) -> None:
    if remote and not accepts_image_url:
        raise ImageUrlNotSupported(
            "http(s) image URLs are not accepted by this model: send the image inline as a data:image/...;base64, URI.",
            param=remote[0].path,
        )


def max_tokens_floor(model: Model, alias: Alias | None, backend: str) -> int | None:
    if alias is not None and alias.constraints.min_max_tokens:
        return alias.constraints.min_max_tokens
    if model.is_reasoning:
        return REASONING_FLOOR
    if backend == "openrouter" and model.author == "openai":
        return OPENAI_VIA_OPENROUTER_FLOOR
    return None


def shape_payload(payload: dict[str, Any], model: Model, alias: Alias | None, backend: str) -> list[str]:
    """Rewrite `payload` in place for `model`; return what was applied, for x-routeway-applied."""
    applied: list[str] = []
    outputs = sorted(model.modalities.output)
    if "image" in outputs:
        requested = payload.get("modalities")
        asked_images = isinstance(requested, list) and "image" in requested
        if (asked_images or outputs == ["image"]) and requested != outputs:
            payload["modalities"] = outputs
            applied.append("modalities=" + "+".join(outputs))
    floor = max_tokens_floor(model, alias, backend)
    if floor:
        for field in ("max_tokens", "max_completion_tokens"):
            value = payload.get(field)
            if isinstance(value, int) and not isinstance(value, bool) and value < floor:
                payload[field] = floor
                applied.append(f"max_tokens_floored={floor}")
    return applied
