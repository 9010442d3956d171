"""`routeway run "PROMPT"`: one chat request, in process or against a running gateway, streamed to the terminal,
then one line saying how it was routed. Generated images are written to files."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from routeway.cli.common import fail, gateway_from_env, print_json
from routeway.domain.sse import SSEParser
from routeway.errors import GatewayError
from routeway.services.results import CompletionStream, StreamChunk, StreamFailure

if TYPE_CHECKING:
    from routeway.gateway import Gateway

IMAGE_SIGNATURES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg", b"GIF8": "image/gif"}
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}


def _image_part(path: Path) -> dict[str, Any]:
    try:
        data = path.read_bytes()
    except OSError as exc:
        fail("invalid_request", f"--image {path}: {exc.strerror}")
    kind = next((t for sig, t in IMAGE_SIGNATURES.items() if data.startswith(sig)), None)
    if kind is None and data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        kind = "image/webp"
    if kind is None:
        fail("invalid_request", f"--image {path} is not a PNG, JPEG, GIF or WebP image")
    url = f"data:{kind};base64,{base64.b64encode(data).decode()}"
    return {"type": "image_url", "image_url": {"url": url}}


def _body(
    prompt: str, model: str, objective: str | None, images: list[Path], stream: bool, image_output: bool
) -> dict[str, Any]:
    content: Any = prompt if not images else [{"type": "text", "text": prompt}, *map(_image_part, images)]
    body: dict[str, Any] = {"model": model, "messages": [{"role": "user", "content": content}], "stream": stream}
    if stream:
        body["stream_options"] = {"include_usage": True}  # the summary line shows the cost
    if objective:
        body["objective"] = objective
    if image_output:
        body["modalities"] = ["image", "text"]  # Routeway rewrites this to exactly what the model outputs
    return body


def _save_images(message: dict[str, Any], out: Path, generation_id: str) -> list[Path]:
    paths = []
    for index, image in enumerate(message.get("images") or []):
        url = (image.get("image_url") or {}).get("url", "")
        header, _, payload = url.partition(",")
        kind = header.removeprefix("data:").split(";")[0]
        path = out / f"{generation_id}-{index}.{EXTENSIONS.get(kind, 'bin')}"
        try:
            out.mkdir(parents=True, exist_ok=True)
            path.write_bytes(base64.b64decode(payload))
        except (OSError, ValueError) as exc:
            fail("unwritable_output", f"cannot write {path}: {exc}")
        paths.append(path)
    return paths


def _summary(route: dict[str, Any], usage: dict[str, Any] | None, latency_ms: float) -> str:
    cost = (usage or {}).get("cost")
    parts = [
        f"model {route.get('model', '-')}",
        f"provider {route.get('provider') or '-'}",
        f"backend {route.get('backend', '-')}",
        f"attempts {len(route.get('attempts', []))}",
        f"applied {','.join(route.get('applied') or []) or '-'}",
        f"cost {f'${cost:.6f}' if isinstance(cost, int | float) else '-'}",
        f"latency {latency_ms:.0f} ms",
    ]
    return "route: " + " · ".join(parts)


async def _sse_documents(chunks: AsyncIterator[bytes]) -> AsyncIterator[dict[str, Any]]:
    parser = SSEParser()
    async for raw in chunks:
        for event in parser.feed(raw):
            if not event.done:
                yield orjson.loads(event.data)


async def _chunk_documents(stream: CompletionStream) -> AsyncIterator[dict[str, Any]]:
    async for event in stream.events:
        if isinstance(event, StreamChunk):
            yield event.document
        elif isinstance(event, StreamFailure):
            yield event.document()


async def _in_process(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any] | AsyncIterator[dict[str, Any]]:
    from routeway.domain.wire import parse_chat_request
    from routeway.services.completions import CompletionsService

    result = await CompletionsService(gateway).chat(parse_chat_request(body), None)
    if isinstance(result, CompletionStream):
        return _chunk_documents(result)
    return result.body


def run(
    prompt: Annotated[str, typer.Argument(help="What to ask.")],
    model: Annotated[str, typer.Option(help="A model id, alias or mode (auto, free, bodybuilder).")] = "auto",
    objective: Annotated[str | None, typer.Option(help="cheapest, fastest, reliable or balanced.")] = None,
    image: Annotated[list[Path] | None, typer.Option("--image", help="A local image to send (repeatable).")] = None,
    stream: Annotated[bool, typer.Option("--stream/--no-stream", help="Print the answer as it arrives.")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the whole response as JSON.")] = False,
    url: Annotated[str | None, typer.Option(help="A running gateway: http://127.0.0.1:8080 (/v1 optional).")] = None,
    key: Annotated[str | None, typer.Option(help="The gateway key for --url (or ROUTEWAY_KEY).")] = None,
    out: Annotated[Path, typer.Option(help="Where generated images are written.")] = Path("."),
) -> None:
    """Send one chat request and show the answer and how it was routed.

    Examples:\n
      routeway run "hello" --model auto\n
      routeway run "What is in this picture?" --image photo.jpg --model nano-banana\n
      routeway run "A red fox, watercolour" --model black-forest-labs/flux.2-pro --out images/
    """
    gateway = gateway_from_env()  # one gateway for the checks, the catalog and the call
    if not url:
        _check_local_setup(gateway)
    image_output = _is_image_model(gateway, model)
    streamable = stream and not as_json and not image_output and model != "bodybuilder"
    body = _body(prompt, model, objective, list(image or []), streamable, image_output)
    started = time.perf_counter()
    try:
        if url:
            document = _remote(url, key or gateway.settings.gateway_key, body)
        else:
            document = asyncio.run(_local(gateway, body))
    except GatewayError as exc:
        hint = f" (try: {', '.join(exc.extra['suggestions'][:3])})" if exc.extra.get("suggestions") else ""
        fail(exc.code, exc.message + hint)
    latency_ms = (time.perf_counter() - started) * 1000
    if as_json:
        print_json(document)
        return
    choices = document.get("choices") or [{}]
    message = choices[0].get("message") or {}
    if not body["stream"]:
        for choice in choices:  # bodybuilder: one choice per model, each naming its model
            text = (choice.get("message") or {}).get("content")
            if text:
                typer.echo(f"[{choice['model']}] {text}" if len(choices) > 1 and choice.get("model") else text)
    for path in _save_images(message, out, str(document.get("route", {}).get("generation_id", "image"))):
        typer.echo(f"image written to {path}")
    typer.echo(_summary(document.get("route") or {}, document.get("usage"), latency_ms), err=False)


def _check_local_setup(gateway: Gateway) -> None:
    """In process, the store must be usable and OpenRouter needs a key: say so before sending anything."""
    from routeway.config import backend_status

    try:
        gateway.state.sync.get_pointer()
    except GatewayError as exc:
        fail("unwritable_home", f"ROUTEWAY_HOME ({gateway.settings.home}) cannot be used: {exc.message}")
    openrouter = gateway.catalog.current_blocking().backends.get("openrouter")
    if openrouter is not None and backend_status(openrouter, gateway.settings)[0] != "available":
        fail(
            "missing_key",
            "no OpenRouter key: run `routeway configure --openrouter-key sk-or-...` "
            "or set OPENROUTER_API_KEY (or use --url with a running gateway)",
        )


def _is_image_model(gateway: Gateway, model: str) -> bool:
    catalog = gateway.catalog.current_blocking()
    alias = catalog.aliases.get(model)
    found = catalog.model(model)
    return bool(alias and alias.image_output) or bool(found and "image" in found.modalities.output)


async def _local(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    answer = await _in_process(gateway, body)
    try:
        if isinstance(answer, dict):
            return answer
        return await _print_stream(answer)
    finally:
        await gateway.upstreams.aclose()


async def _print_stream(documents: AsyncIterator[dict[str, Any]]) -> dict[str, Any]:
    """Print each delta as it arrives; return a completion-shaped summary with the route and usage."""
    last: dict[str, Any] = {}
    async for document in documents:
        if "error" in document:
            raise _error_of(document)
        for choice in document.get("choices") or []:
            text = (choice.get("delta") or {}).get("content")
            if text:
                typer.echo(text, nl=False)
        last = document
    typer.echo("")
    return {"choices": [{"message": {}}], "route": last.get("route", {}), "usage": last.get("usage")}


def _error_of(document: dict[str, Any]) -> GatewayError:
    error = document.get("error") or {}
    exc = GatewayError(str(error.get("message", "error")), suggestions=error.get("suggestions") or [])
    exc.code = str(error.get("code") or "upstream_error")  # type: ignore[misc]
    return exc


def chat_endpoint_root(url: str) -> str:
    """The gateway's `/v1` root from a URL given with or without it (OpenAI SDKs' base_url habit)."""
    root = url.rstrip("/")
    return root if root.endswith("/v1") else f"{root}/v1"


def _remote(url: str, key: str | None, body: dict[str, Any]) -> dict[str, Any]:
    import httpx

    if not key:
        fail("missing_key", "--url needs the gateway's key: --key rw-... (or set ROUTEWAY_KEY)")
    headers = {"Authorization": f"Bearer {key}"}
    endpoint = f"{chat_endpoint_root(url)}/chat/completions"
    try:
        if not body["stream"]:
            response = httpx.post(endpoint, json=body, headers=headers, timeout=600)
            document = response.json()
            if response.status_code != 200:
                raise _error_of(document)
            return dict(document)
        with httpx.stream("POST", endpoint, json=body, headers=headers, timeout=600) as response:
            if response.status_code != 200:
                raise _error_of(orjson.loads(response.read()))

            async def chunks() -> AsyncIterator[bytes]:
                for piece in response.iter_bytes():
                    yield piece

            return asyncio.run(_print_stream(_sse_documents(chunks())))
    except httpx.TransportError as exc:
        fail("unreachable", f"cannot reach {url}: {exc.__class__.__name__}")
    except ValueError:
        fail("invalid_response", f"{url} did not answer with JSON")
