"""The ids a client holds, each derived from the request's generation id, so explain takes any of them.

A chat (and legacy completion) answer's `id` is the generation id itself (`gen-rw-<hex>`), chunks included;
a Messages `id` is `msg_` + the generation id; a Responses `id` is `resp_` + its hex (the Responses API's
ids carry no hyphens). Derived both ways, never stored: no extra write per request, and
`generation_id_of` maps any of them back for `GET /v1/route/explain/{id}`.
"""

from __future__ import annotations

from typing import Any

import orjson

GENERATION_PREFIX = "gen-rw-"
MESSAGE_PREFIX = "msg_"
RESPONSE_PREFIX = "resp_"


def message_id(generation_id: str) -> str:
    return generation_id if generation_id.startswith(MESSAGE_PREFIX) else MESSAGE_PREFIX + generation_id


def response_id(generation_id: str) -> str:
    return RESPONSE_PREFIX + generation_id.removeprefix(GENERATION_PREFIX).replace("-", "")


def generation_id_of(client_id: str) -> str:
    """The generation id behind any id a client was given (an unknown shape is taken as it is)."""
    if client_id.startswith(RESPONSE_PREFIX):
        return GENERATION_PREFIX + client_id.removeprefix(RESPONSE_PREFIX)
    if client_id.startswith(MESSAGE_PREFIX):
        return client_id.removeprefix(MESSAGE_PREFIX)
    return client_id


class ChunkIds:
    """A chat stream's chunks under the generation id. The relayed text is edited, not serialised again, when it
    can be: a JSON string never holds an unescaped `"id":"` of its own, so the first such text is the id."""

    __slots__ = ("generation_id", "_texts")

    def __init__(self, generation_id: str) -> None:
        self.generation_id = generation_id
        self._texts: tuple[str, str, str] | None = None  # the upstream's id, its `"id":…` text, and ours

    def rename(
        self, document: dict[str, Any], data: str | None, *, in_place: bool = False
    ) -> tuple[dict[str, Any], str | None]:
        """In place when nobody else reads `document`; else a copy (the first chunk is still read for the bill)."""
        upstream = document.get("id")
        if upstream == self.generation_id:
            return document, data
        if in_place:
            document["id"] = self.generation_id
        else:
            document = {**document, "id": self.generation_id}
        if data is None or not isinstance(upstream, str):
            return document, None
        if self._texts is None or self._texts[0] != upstream:
            ours = orjson.dumps(self.generation_id).decode()
            self._texts = (upstream, f'"id":{orjson.dumps(upstream).decode()}', f'"id":{ours}')
        _, theirs, ours = self._texts
        return document, (data.replace(theirs, ours, 1) if theirs in data else None)
