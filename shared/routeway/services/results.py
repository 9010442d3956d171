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
from routeway.errors import GatewayError


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


@dataclass(frozen=True)
class StreamFailure:
    """The stream ends in failure after it began (cut, past its deadline, too large, an upstream error event,
    or no attempt worked once keep-alives had gone out): an error of the one tree, rendered by each dialect in
    its own shape, and the route so far."""

    error: GatewayError
    route: dict[str, Any]

    def document(self) -> dict[str, Any]:
        """Chat's shape: OpenAI's error object and the route, as the last data event."""
        return {**self.error.body(), "route": self.route}


class KeepAlive:
    """The upstream has been silent for a while: faces send a comment so intermediaries keep the line open."""


KEEPALIVE = KeepAlive()
StreamEvent = StreamChunk | KeepAlive | StreamFailure


@dataclass
class CompletionStream:
    """A streamed answer: the proof is final when it is returned (the last chunk carries `route`)."""

    proof: RouteProof
    events: AsyncIterator[StreamEvent]
