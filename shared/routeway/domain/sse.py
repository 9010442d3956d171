"""An incremental Server-Sent Events parser: bytes in, whatever the split; events out.

Comment lines (`: OPENROUTER PROCESSING`) are keep-alives and are dropped, never turned into data:
re-emitting them as `data:` crashes the OpenAI SDK. Lines end with \\n, \\r\\n or \\r; an event ends
at a blank line; `data:` lines of one event are joined with \\n (the SSE spec).
"""

from __future__ import annotations

from typing import NamedTuple

from routeway.errors import RoutewayError

DONE = "[DONE]"
MAX_BUFFER = 8 * 1024 * 1024  # one event larger than this is not a stream we can relay


class SSEError(RoutewayError, ValueError):
    """The byte stream cannot be SSE (an unterminated line past the buffer limit)."""


class Event(NamedTuple):
    """One event (a tuple: made for every relayed chunk, it is cheaper than a frozen dataclass)."""

    data: str
    event: str | None = None

    @property
    def done(self) -> bool:
        return self.data.strip() == DONE


class SSEParser:
    def __init__(self) -> None:
        self._buffer = ""  # the start of a line whose end has not arrived yet
        self._data: list[str] = []
        self._event: str | None = None
        self._decoder_tail = b""

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._buffer + self._decode(chunk)
        held = ""
        if "\r" in text:
            if text.endswith("\r"):  # maybe the first half of \r\n: wait for the next byte
                text, held = text[:-1], "\r"
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        lines = text.split("\n")
        self._buffer = lines.pop() + held
        if len(self._buffer) > MAX_BUFFER:
            raise SSEError("an SSE line is longer than the gateway relays")
        events = []
        for line in lines:  # one pass, the common lines first: it runs for every relayed chunk
            if not line:
                if self._data:
                    events.append(self._emit())
            elif line.startswith("data: "):
                self._data.append(line[6:])
            else:
                self._line(line)
        return events

    def close(self) -> list[Event]:
        """Flush at the end of the stream: a final event without its blank line still counts."""
        if self._buffer.rstrip("\r"):
            self._line(self._buffer.rstrip("\r"))
        self._buffer = ""
        return [self._emit()] if self._data else []

    def _decode(self, chunk: bytes) -> str:
        data = self._decoder_tail + chunk
        for cut in range(4):  # keep an incomplete UTF-8 sequence for the next chunk
            try:
                text = data[: len(data) - cut].decode("utf-8")
            except UnicodeDecodeError:
                continue
            self._decoder_tail = data[len(data) - cut :] if cut else b""
            return text
        self._decoder_tail = b""
        return data.decode("utf-8", errors="replace")

    def _line(self, line: str) -> Event | None:
        if line == "":
            return self._emit() if self._data else None
        if line.startswith(":"):
            return None  # a comment: keep-alive
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        return None

    def _emit(self) -> Event:
        event = Event(data="\n".join(self._data), event=self._event)
        self._data, self._event = [], None
        return event


def encode_event(data: str) -> bytes:
    return b"".join(b"data: " + line.encode() + b"\n" for line in data.split("\n")) + b"\n"
