"""What the core answers, whatever the dialect: a completion, or a stream of events, each with its proof.

Faces translate these into their own shapes (chat SSE, legacy text completions, the CLI's terminal
output); they never read the route back from headers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import orjson

from routeway.domain.proof import RouteProof


@dataclass
class Completion:
    body: dict[str, Any]  # an OpenAI chat.completion, its `route` included
    proof: RouteProof
    status: int = 200


@dataclass(frozen=True)
class StreamChunk:
    """One data event: the parsed document, and the upstream's own text when it is relayed unchanged."""

    document: dict[str, Any]
    data: str | None = None

    def text(self) -> str:
        return self.data if self.data is not None else orjson.dumps(self.document).decode()

    @property
    def is_error(self) -> bool:
        return "error" in self.document


class KeepAlive:
    """The upstream has been silent for a while: faces send a comment so intermediaries keep the line open."""


KEEPALIVE = KeepAlive()
StreamEvent = StreamChunk | KeepAlive


@dataclass
class CompletionStream:
    """A streamed answer: the proof is final when it is returned (the last chunk carries `route`)."""

    proof: RouteProof
    events: AsyncIterator[StreamEvent]
