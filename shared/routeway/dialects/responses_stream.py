"""A Responses stream: the core's chat chunks as the Responses event lifecycle, each with a `sequence_number`.

    response.created, response.in_progress,
    per output item: response.output_item.added, its content events, response.output_item.done
      message:       response.content_part.added, response.output_text.delta..., .output_text.done,
                     response.content_part.done
      function_call: response.function_call_arguments.delta..., .function_call_arguments.done
      reasoning:     response.reasoning_summary_text.delta..., .reasoning_summary_text.done
      image_generation_call: response.image_generation_call.in_progress, .generating, .completed
                     (an image arrives whole: its item is added without and done with its base64 `result`)
    then response.completed (response.incomplete when the output was cut by max_output_tokens), or
    response.failed when the stream ended with an error.

Items are opened in the order their first delta arrives and closed when the next one starts. Tool
calls arrive in pieces: an item opens once its name is known (arguments that came before are sent
then). `on_final` receives the finished `response` before its last event goes out (to store it).
Keep-alives are SSE comments. Pure: the events in, bytes out.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import orjson

from routeway.dialects.responses import ResponsesRequest, response_id_for, response_object, status_for, usage_from
from routeway.dialects.responses_items import image_item, image_url_of, message_item, reasoning_item, token_logprobs
from routeway.dialects.responses_tools import ToolRef, call_item, custom_input, is_custom
from routeway.services.results import CompletionStream, KeepAlive, StreamFailure

KEEPALIVE_COMMENT = b": keep-alive\n\n"
OnFinal = Callable[[dict[str, Any]], Awaitable[None]]
TEXT_ONLY = frozenset({"content", "role"})  # a delta of only these is text, the common chunk


@dataclass
class _Item:
    kind: str  # message | function_call | reasoning | image_generation_call
    item_id: str
    output_index: int
    pieces: list[str] = field(default_factory=list)  # `text` as it arrived
    call_id: str = ""
    name: str = ""
    done: bool = False
    logprobs: list[dict[str, Any]] = field(default_factory=list)

    @property
    def text(self) -> str:
        """The message text, the reasoning text, the call's arguments or the image's data: URL. Joined when read
        (and kept joined): `text += delta` copied the whole text at every delta, quadratic in a long answer."""
        if len(self.pieces) != 1:
            self.pieces[:] = ["".join(self.pieces)]
        return self.pieces[0]

    def as_item(self, status: str, refs: dict[str, ToolRef]) -> dict[str, Any]:
        if self.kind == "message":
            return message_item(self.item_id, self.text, status, self.logprobs)
        if self.kind == "function_call":  # or a custom tool's call, by its name
            return call_item(self.item_id, self.call_id, self.name, self.text, refs, status)
        if self.kind == "image_generation_call":
            return image_item(self.item_id, self.text, status)
        return reasoning_item(self.item_id, self.text)


@dataclass
class _Call:
    """A tool call as its pieces arrive; `item` once it is opened."""

    call_id: str = ""
    name: str = ""
    arguments: str = ""
    item: _Item | None = None


@dataclass
class ResponsesStreamRenderer:
    request: ResponsesRequest
    response_id: str
    sequence: int = 0
    created_at: int = 0
    model: str = ""
    items: list[_Item] = field(default_factory=list)
    current: _Item | None = None
    calls: dict[int, _Call] = field(default_factory=dict)
    finish_reason: str | None = None
    usage: dict[str, Any] | None = None
    route: dict[str, Any] | None = None
    now: Callable[[], float] | None = None  # the clock `completed_at` is read from

    def event(self, kind: str, **fields: Any) -> bytes:
        document = {"type": kind, "sequence_number": self.sequence, **fields}
        self.sequence += 1
        return b"event: " + kind.encode() + b"\ndata: " + orjson.dumps(document) + b"\n\n"

    def response(self, status: str, error: dict[str, Any] | None = None) -> dict[str, Any]:
        output = [i.as_item("completed" if i.done else "in_progress", self.request.tool_refs) for i in self.items]
        return response_object(
            self.request,
            response_id=self.response_id,
            created_at=self.created_at,
            completed_at=int(self.now()) if self.now is not None else self.created_at,
            model=self.model,
            status=status,
            output=output,
            usage=usage_from(self.usage),
            finish_reason=self.finish_reason,
            error=error,
            route=self.route,
        )

    def start(self, first: dict[str, Any]) -> list[bytes]:
        self.created_at = int(first.get("created") or 0)
        self.model = str(first.get("model") or "")
        response = self.response("in_progress")
        return [
            self.event("response.created", response=response),
            self.event("response.in_progress", response=response),
        ]

    # items
    def _open(self, kind: str, prefix: str, **extra: Any) -> tuple[_Item, list[bytes]]:
        out = self._close_current()
        index = len(self.items)
        item = _Item(kind, f"{prefix}_{self.response_id.removeprefix('resp_')}_{index}", index, **extra)
        self.items.append(item)
        self.current = item
        added = item.as_item("in_progress", self.request.tool_refs)
        if kind == "image_generation_call":
            added["result"] = None  # as OpenAI: the image comes with the item's done event
        out.append(self.event("response.output_item.added", output_index=index, item=added))
        if kind == "message":
            part = {"type": "output_text", "text": "", "annotations": [], "logprobs": []}
            out.append(self._at(item, "response.content_part.added", content_index=0, part=part))
        return item, out

    def _at(self, item: _Item, kind: str, **fields: Any) -> bytes:
        return self.event(kind, item_id=item.item_id, output_index=item.output_index, **fields)

    def _close_current(self) -> list[bytes]:
        item, self.current = self.current, None
        if item is None:
            return []
        item.done = True
        done = item.as_item("completed", self.request.tool_refs)
        out: list[bytes] = []
        if item.kind == "message":
            part = done["content"][0]
            out.append(
                self._at(item, "response.output_text.done", content_index=0, text=item.text, logprobs=item.logprobs)
            )
            out.append(self._at(item, "response.content_part.done", content_index=0, part=part))
        elif is_custom(item.name, self.request.tool_refs):  # its input is known whole only now
            raw = custom_input(item.text)
            out.append(self._at(item, "response.custom_tool_call_input.delta", delta=raw))
            out.append(self._at(item, "response.custom_tool_call_input.done", input=raw))
        elif item.kind == "image_generation_call":
            out.append(self._at(item, "response.image_generation_call.completed"))
        elif item.kind == "function_call":
            name = done["name"]  # the client's name (a namespace member's, not the flattened chat name)
            out.append(self._at(item, "response.function_call_arguments.done", arguments=item.text, name=name))
        else:
            out.append(self._at(item, "response.reasoning_summary_text.done", summary_index=0, text=item.text))
        out.append(self.event("response.output_item.done", output_index=item.output_index, item=done))
        return out

    def _text(self, kind: str, prefix: str, delta: str, logprobs: Any = None) -> list[bytes]:
        out: list[bytes] = []
        item = self.current
        if item is None or item.kind != kind:
            item, out = self._open(kind, prefix)
        item.pieces.append(delta)
        if kind == "message":
            tokens = token_logprobs(logprobs)
            item.logprobs += tokens
            out.append(self._at(item, "response.output_text.delta", content_index=0, delta=delta, logprobs=tokens))
        else:
            out.append(self._at(item, "response.reasoning_summary_text.delta", summary_index=0, delta=delta))
        return out

    def _tool_call(self, piece: dict[str, Any]) -> list[bytes]:
        index = piece.get("index")
        call = self.calls.setdefault(index if isinstance(index, int) else len(self.calls), _Call())
        function = piece.get("function") or {}
        call.call_id = call.call_id or str(piece.get("id") or "")
        call.name += str(function.get("name") or "") if call.item is None else ""
        arguments = str(function.get("arguments") or "")
        if call.item is None:
            call.arguments += arguments
            if not call.name:
                return []  # opened once its name is known
            call_id = call.call_id or f"call_{self.response_id.removeprefix('resp_')}_{len(self.items)}"
            item, out = self._open("function_call", "fc", name=call.name, call_id=call_id)
            call.item, arguments = item, call.arguments
        else:
            out = []
        call.item.pieces.append(arguments)
        if arguments and not call.item.done and not is_custom(call.item.name, self.request.tool_refs):
            out.append(self._at(call.item, "response.function_call_arguments.delta", delta=arguments))
        return out

    def _image(self, image: Any) -> list[bytes]:
        item, out = self._open("image_generation_call", "ig", pieces=[str(image_url_of(image) or "")])
        out.append(self._at(item, "response.image_generation_call.in_progress"))
        out.append(self._at(item, "response.image_generation_call.generating"))
        return out + self._close_current()

    def chunk(self, document: dict[str, Any]) -> list[bytes]:
        if isinstance(document.get("usage"), dict):
            self.usage = document["usage"]
        if isinstance(document.get("route"), dict):
            self.route = document["route"]
        out: list[bytes] = []
        for choice in document.get("choices") or []:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta") or {}
            if isinstance(delta.get("content"), str) and delta["content"] and delta.keys() <= TEXT_ONLY:
                out += self._text("message", "msg", delta["content"], choice.get("logprobs"))  # most chunks
            else:
                out += self._delta(delta, choice.get("logprobs"))
            if choice.get("finish_reason"):
                self.finish_reason = choice["finish_reason"]
        return out

    def _delta(self, delta: Any, logprobs: Any) -> list[bytes]:
        out: list[bytes] = []
        if isinstance(delta.get("reasoning"), str) and delta["reasoning"]:
            out += self._text("reasoning", "rs", delta["reasoning"])
        if isinstance(delta.get("content"), str) and delta["content"]:
            out += self._text("message", "msg", delta["content"], logprobs)
        for image in delta.get("images") or []:
            out += self._image(image)
        for piece in delta.get("tool_calls") or []:
            if isinstance(piece, dict):
                out += self._tool_call(piece)
        return out

    async def finish(self, on_final: OnFinal | None, error: dict[str, Any] | None = None) -> list[bytes]:
        out = self._close_current()
        if error is not None:
            message = str(error.get("message") or "The upstream failed.")
            response = self.response("failed", {"code": "server_error", "message": message})
            kind = "response.failed"
        else:
            response = self.response(status_for(self.finish_reason))
            kind = "response.incomplete" if response["status"] == "incomplete" else "response.completed"
        if on_final is not None:
            await on_final(response)
        out.append(self.event(kind, response=response))
        return out


async def render_responses_stream(
    stream: CompletionStream,
    request: ResponsesRequest,
    on_final: OnFinal | None = None,
    now: Callable[[], float] | None = None,
) -> AsyncIterator[bytes]:
    """The core's stream as Responses SSE events (`event:` lines name each event's type)."""
    renderer = ResponsesStreamRenderer(request, response_id_for(stream.proof.generation_id), now=now)
    started = False
    async for event in stream.events:
        if isinstance(event, KeepAlive):
            yield KEEPALIVE_COMMENT
            continue
        document = event.document() if isinstance(event, StreamFailure) else event.document
        if not started:
            started = True
            for data in renderer.start(document):
                yield data
        if isinstance(event, StreamFailure):
            renderer.route = event.route
            for data in await renderer.finish(on_final, event.error.body()["error"]):
                yield data
            return
        for data in renderer.chunk(document):
            yield data
    if not started:
        for data in renderer.start({"model": stream.proof.model}):
            yield data
    if renderer.route is None:
        renderer.route = stream.proof.as_dict()
    for data in await renderer.finish(on_final):
        yield data
