"""The ids a client holds, each derived from the request's generation id, so explain takes any of them.

A chat (and legacy completion) answer's `id` is the generation id itself (`gen-rw-<hex>`), chunks included;
a Messages `id` is `msg_` + the generation id; a Responses `id` is `resp_` + its hex (the Responses API's
ids carry no hyphens). Derived both ways, never stored: no extra write per request, and
`generation_id_of` maps any of them back for `GET /v1/route/explain/{id}`.
"""

from __future__ import annotations

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
