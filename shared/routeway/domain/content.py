"""The content-part allow-list: what a chat message may carry to any backend (PRODUCT.md "Money and trust").

Known part types only: `text`, `image_url` / `input_image`, `input_audio` with inline base64 data,
`file` with inline `file_data` (and `refusal` in an assistant's own turn). Anything else (`video_url`,
`audio_url`, `IMAGE_URL`, an untyped part) is refused with 400 `unsupported_content`, because
backends act on media URLs themselves (vLLM fetches them from inside its network).

Images must be `data:` URIs of a raster type (png, jpeg, gif, webp) whose bytes start like one: an
SVG, however labelled, is refused. `http(s)` image URLs are returned to the caller, which refuses them
(`image_url_not_supported`) unless every planned target accepts them; any other scheme is refused here.
Files must be inline `data:` URIs too; never a URL.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from routeway.domain.catalog import Backend
from routeway.domain.plan import Candidate
from routeway.errors import ImageUrlNotSupported, InvalidRequest, UnsupportedContent

IMAGE_PARTS = frozenset({"image_url", "input_image"})
KNOWN_PARTS = frozenset({"text", "input_audio", "file", *IMAGE_PARTS})
ASSISTANT_ONLY_PARTS = frozenset({"refusal"})
RASTER_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/gif", "image/webp"})
RASTER_SIGNATURES = (b"\x89PNG\r\n\x1a\n", b"\xff\xd8\xff", b"GIF87a", b"GIF89a")
HEAVY_PARTS = 500  # messages and parts past which a request's checks and planning leave the event loop (~5 ms)
MAX_DECODE_CHECK = 4096  # validate the head of a payload; a 5 MB image need not be decoded twice
_DATA_URI = re.compile(
    r"^data:(?P<type>[A-Za-z0-9.+-]+/[A-Za-z0-9.+-]+)(?P<params>(;[^;,]*)*?);base64,(?P<data>.*)$", re.S
)
_HTTP = re.compile(r"^https?://", re.I)
_URLISH = re.compile(r"^\s*[A-Za-z][A-Za-z0-9+.-]*:")  # any scheme (base64 never holds a colon)


@dataclass(frozen=True)
class ImageUrl:
    path: str  # e.g. messages[0].content[1].image_url.url
    url: str


def _decoded_head(data: str, what: str, param: str) -> bytes:
    if not data:
        raise InvalidRequest(f"The {what}'s data is empty.", param=param)
    head = data if len(data) <= MAX_DECODE_CHECK else data[: MAX_DECODE_CHECK // 4 * 4]
    try:
        return base64.b64decode(head, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidRequest(f"The {what}'s base64 payload cannot be decoded.", param=param) from None


def is_raster(head: bytes) -> bool:
    return head.startswith(RASTER_SIGNATURES) or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")


def check_image_data_uri(url: str, param: str) -> None:
    """A `data:` URI of a raster image with a decodable base64 payload, or 400."""
    match = _DATA_URI.match(url)
    if match is None:
        raise ImageUrlNotSupported(
            "Only data:image/...;base64, URIs are accepted for images; Routeway never fetches URLs.", param=param
        )
    media = match.group("type").lower()
    if media not in RASTER_TYPES:
        raise UnsupportedContent(
            f"The data URI is {media[:60]!r}: images must be png, jpeg, gif or webp (SVG is refused).", param=param
        )
    if not is_raster(_decoded_head(match.group("data"), "image", param)):
        raise UnsupportedContent("The image's bytes are not png, jpeg, gif or webp.", param=param)


def check_file_data_uri(value: str, param: str) -> None:
    """A file's inline `data:<type>;base64,` payload (never a URL); an image inside must be raster."""
    match = _DATA_URI.match(value)
    if match is None:
        raise UnsupportedContent("A file's file_data must be an inline data:<type>;base64, URI.", param=param)
    if match.group("type").lower().startswith("image/"):
        check_image_data_uri(value, param)
    else:
        _decoded_head(match.group("data"), "file", param)


def _image(part: Mapping[str, Any], where: str) -> ImageUrl | None:
    holder = part.get("image_url")
    if isinstance(holder, Mapping):
        url = holder.get("url")
        image = ImageUrl(f"{where}.image_url.url", url if isinstance(url, str) else "")
    elif isinstance(holder, str):
        image = ImageUrl(f"{where}.image_url", holder)
    else:
        raise InvalidRequest("An image part needs image_url.url.", param=where)
    if _HTTP.match(image.url):  # exactly http(s)://, no leading space or other tricks
        return image
    check_image_data_uri(image.url, image.path)
    return None


def _audio(part: Mapping[str, Any], where: str) -> None:
    audio = part.get("input_audio")
    data = audio.get("data") if isinstance(audio, Mapping) else None
    if not isinstance(data, str) or not isinstance(audio, Mapping) or not isinstance(audio.get("format"), str):
        raise InvalidRequest("An audio part needs input_audio.data (base64) and input_audio.format.", param=where)
    if _URLISH.match(data):
        raise UnsupportedContent("Audio must be inline base64 data, never a URL.", param=f"{where}.input_audio.data")
    _decoded_head(data, "audio", f"{where}.input_audio.data")


def _file(part: Mapping[str, Any], where: str) -> None:
    file = part.get("file")
    if not isinstance(file, Mapping) or not isinstance(file.get("file_data"), str):
        raise UnsupportedContent("A file part needs inline file.file_data (a data: URI).", param=where)
    check_file_data_uri(file["file_data"], f"{where}.file.file_data")


def _check_part(part: Any, where: str, role: Any) -> ImageUrl | None:
    kind = part.get("type") if isinstance(part, Mapping) else None
    known = kind in KNOWN_PARTS or (kind in ASSISTANT_ONLY_PARTS and role == "assistant")
    if not isinstance(part, Mapping) or not known:
        shown = repr(kind)[:40] if kind is not None else "no type"
        raise UnsupportedContent(
            f"Content part ({shown}) is not supported: parts are text, image_url, input_audio or file, inline.",
            param=where,
        )
    if kind in IMAGE_PARTS:
        return _image(part, where)
    if kind == "input_audio":
        _audio(part, where)
    elif kind == "file":
        _file(part, where)
    elif not isinstance(part.get(kind), str):  # text, refusal
        raise InvalidRequest(f"A {kind} part needs its '{kind}' string.", param=f"{where}.{kind}")
    return None


def many_parts(messages: Sequence[Any], limit: int = HEAVY_PARTS) -> bool:
    """Whether a request's messages and content parts number more than `limit` (counting stops there): past
    it, the per-part checks and the planning cost milliseconds, so they run off the event loop."""
    count = len(messages)
    for message in messages:
        if count > limit:
            return True
        content = message.get("content") if isinstance(message, Mapping) else None
        if isinstance(content, list):
            count += len(content)
    return count > limit


def check_content(messages: Sequence[Any]) -> list[ImageUrl]:
    """Refuse every part outside the allow-list; return the http(s) image URLs (the plan decides on those)."""
    remote = []
    for i, message in enumerate(messages):
        content = message.get("content") if isinstance(message, Mapping) else None
        if content is None or isinstance(content, str):
            continue
        if not isinstance(content, list):
            raise InvalidRequest("'content' must be a string or a list of parts.", param=f"messages[{i}].content")
        role = message.get("role")
        for j, part in enumerate(content):
            image = _check_part(part, f"messages[{i}].content[{j}]", role)
            if image is not None:
                remote.append(image)
    return remote


def refuse_remote_images(remote: list[ImageUrl], accepts_image_url: bool) -> None:
    if remote and not accepts_image_url:
        raise ImageUrlNotSupported(
            "http(s) image URLs are not accepted by this model: send the image inline as a data:image/...;base64, URI.",
            param=remote[0].path,
        )


def remote_images_allowed(attempts: Sequence[Candidate], backends: Mapping[str, Backend]) -> bool:
    """http(s) image URLs only where every target's alias accepts them, and never to a self-hosted backend."""
    return all(
        c.alias is not None
        and c.alias.constraints.accepts_image_url
        and (backend := backends.get(c.row.backend)) is not None
        and backend.kind == "openrouter"
        for c in attempts
    )
