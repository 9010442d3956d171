"""POST /v1/images/generations (OpenAI's images API) on top of chat: one prompt in, images out.

The prompt becomes one user message asking for image output (`modalities: ["image"]`), so the core
routes it to an image-output model and shapes it like any other request: FLUX keeps `["image"]`,
Gemini and GPT image models get `["image", "text"]`. `size` becomes OpenRouter's
`image_config.aspect_ratio`:

| size                                   | aspect_ratio |
|----------------------------------------|--------------|
| 256x256, 512x512, 1024x1024, 2048x2048 | 1:1          |
| 1792x1024, 1536x1024                   | 16:9, 3:2    |
| 1024x1792, 1024x1536                   | 9:16, 2:3    |
| any other WxH with an exact ratio of 2:3, 3:2, 3:4, 4:3, 4:5, 5:4, 9:16, 16:9 or 21:9 | that ratio |
| `auto` or none                         | the model's default |

`n` images are one generation of `n` core calls (image models on OpenRouter return one image per
call): the core holds them all before the first, makes one choice of each, and charges what was billed;
when some fail, the images made are the answer (`partial=k/n`). Routeway stores no image: `url` is a
`data:` URL.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from routeway.domain.wire import ROUTING_FIELDS, ChatRequest, parse_chat_request
from routeway.errors import InvalidRequest
from routeway.services.results import Completion

DEFAULT_MODEL = "image-gen"
MAX_IMAGES = 4
RESPONSE_FORMATS = ("b64_json", "url")
SIZES = {
    "256x256": "1:1",
    "512x512": "1:1",
    "1024x1024": "1:1",
    "2048x2048": "1:1",
    "1792x1024": "16:9",
    "1024x1792": "9:16",
    "1536x1024": "3:2",
    "1024x1536": "2:3",
}
ASPECT_RATIOS = frozenset({"1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9"})
CARRIED = ("models", "provider", "metadata", "user", "image_config", *ROUTING_FIELDS)  # kept for the core


@dataclass(frozen=True)
class ImagesRequest:
    chat: ChatRequest  # one image's request, as the core takes it
    n: int
    response_format: str
    prompt: str


def aspect_ratio(size: Any) -> str | None:
    """OpenRouter's aspect ratio for an OpenAI `size` (see the table above); 400 with param size if none fits."""
    if size is None or size == "auto":
        return None
    if not isinstance(size, str):
        raise InvalidRequest("'size' must be a string such as 1024x1024.", param="size")
    if size in SIZES:
        return SIZES[size]
    width, _, height = size.partition("x")
    if width.isdigit() and height.isdigit() and int(width) > 0 and int(height) > 0:
        for ratio in sorted(ASPECT_RATIOS):  # 21:9 is 7:3 reduced, so compare cross products
            a, b = (int(part) for part in ratio.split(":"))
            if int(width) * b == int(height) * a:
                return ratio
    raise InvalidRequest(
        f"Unsupported size {size!r}: use one of {', '.join(SIZES)}, auto, or a WxH with an aspect ratio of "
        f"{', '.join(sorted(ASPECT_RATIOS))}.",
        param="size",
    )


def parse_images(body: Any) -> ImagesRequest:
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    prompt = body.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise InvalidRequest("'prompt' must be a non-empty string.", param="prompt")
    if body.get("stream") not in (None, False):
        raise InvalidRequest("Routeway's /v1/images/generations does not stream.", param="stream")
    n = body.get("n", 1)
    if n is None:
        n = 1
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= MAX_IMAGES:
        raise InvalidRequest(f"'n' must be an integer from 1 to {MAX_IMAGES}.", param="n")
    response_format = body.get("response_format") or "b64_json"
    if response_format not in RESPONSE_FORMATS:
        raise InvalidRequest("'response_format' must be 'b64_json' or 'url' (a data: URL).", param="response_format")
    model = body.get("model") or DEFAULT_MODEL
    chat: dict[str, Any] = {k: body[k] for k in CARRIED if k in body}
    chat.update(model=model, messages=[{"role": "user", "content": prompt}], modalities=["image"])
    ratio = aspect_ratio(body.get("size"))
    if ratio is not None:
        config = chat.get("image_config")
        chat["image_config"] = {**(config if isinstance(config, dict) else {}), "aspect_ratio": ratio}
    return ImagesRequest(parse_chat_request(chat), n, response_format, prompt)


def image_urls(completion: Completion) -> list[str]:
    """The data: URLs of the images in a chat completion (`choices[].message.images[].image_url.url`)."""
    return [url for choice in completion.body.get("choices") or [] for url in _choice_urls(choice)]


def _choice_urls(choice: Any) -> list[str]:
    message = choice.get("message") if isinstance(choice, dict) else None
    urls = []
    for image in (message or {}).get("images") or []:
        url = (image.get("image_url") or {}).get("url") if isinstance(image, dict) else None
        if isinstance(url, str) and url.startswith("data:image/"):
            urls.append(url)
    return urls


def _text(choice: Any) -> str | None:
    content = (choice.get("message") or {}).get("content") if isinstance(choice, dict) else None
    return content.strip() if isinstance(content, str) and content.strip() else None


def _usage(completion: Completion) -> dict[str, Any]:
    """OpenAI's image usage (input/output/total tokens) of the generation (its calls summed by the core), plus
    `cost` in USD."""
    totals = {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0}
    usage = completion.body.get("usage") or {}
    for name, source in (("input_tokens", "prompt_tokens"), ("output_tokens", "completion_tokens")):
        value = usage.get(source)
        totals[name] += value if isinstance(value, int) else 0
    value = usage.get("cost")
    cost = value if isinstance(value, int | float) else 0.0
    totals["total_tokens"] = totals["input_tokens"] + totals["output_tokens"]
    details = {"text_tokens": totals["input_tokens"], "image_tokens": 0}
    return {**totals, "input_tokens_details": details, "cost": cost}


def render_images(request: ImagesRequest, completion: Completion, created: int) -> dict[str, Any]:
    """`{created, data: [{b64_json | url, revised_prompt}], usage}`: every image of every call, in order."""
    data = []
    for choice in completion.body.get("choices") or []:
        revised = _text(choice) or request.prompt
        for url in _choice_urls(choice):
            if request.response_format == "url":
                data.append({"url": url, "revised_prompt": revised})
            else:
                data.append({"b64_json": url.split(",", 1)[1], "revised_prompt": revised})
    return {"created": created, "data": data, "usage": _usage(completion)}
