"""Stored Responses API answers: kept with the records' TTL, readable and deletable only by the key that made them.

Each turn is stored once, with only what it added (its input and the `response` the client got) and the ids
of the turns before it, so a long conversation costs its size once, not once per turn. `previous_response_id`
continues it: the turns are read back together (concurrently) and joined in order. A turn that cannot be
stored is never answered as stored: its `response` says `"store": false`. Unknown, expired and other keys' ids
all look the same: 404; so does a conversation an earlier turn of which has expired or was deleted.
No key is ever stored, only its hash.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import Any

from routeway.domain.records import ApiKeyRecord, StoredResponse
from routeway.errors import ResponseNotFound, StoreUnavailable
from routeway.gateway import Gateway
from routeway.services.keys import iso_now

log = logging.getLogger("routeway.responses")
SECONDS_PER_DAY = 86_400
NO_KEY = ""  # the owner when ROUTEWAY_AUTH=off


def owner_of(key: ApiKeyRecord | None) -> str:
    return key.key_hash if key is not None else NO_KEY


@dataclass(frozen=True)
class Conversation:
    """What `previous_response_id` continues: every item so far, and the turn ids a next turn stores as `earlier`."""

    items: list[dict[str, Any]]
    turns: list[str]


class ResponsesStore:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def _find(self, response_id: str, key: ApiKeyRecord | None, param: str | None) -> StoredResponse:
        record = await self.gw.state.get_response(response_id, int(self.gw.clock.now()))
        if record is None or record.owner != owner_of(key):
            raise ResponseNotFound(f"No response with id {response_id[:100]!r} was found.", param=param)
        return record

    async def _turns(self, response_id: str, key: ApiKeyRecord | None, param: str | None) -> list[StoredResponse]:
        """The turns of the conversation up to `response_id`, oldest first, that one last."""
        record = await self._find(response_id, key, param)
        if not record.earlier:
            return [record]
        now = int(self.gw.clock.now())
        found = await asyncio.gather(*(self.gw.state.get_response(i, now) for i in record.earlier))
        for turn_id, turn in zip(record.earlier, found, strict=True):
            if turn is None or turn.owner != record.owner:
                raise ResponseNotFound(
                    f"An earlier turn of response {response_id[:100]!r} ({turn_id[:100]!r}) has expired or was "
                    "deleted, so the conversation cannot be continued.",
                    param=param,
                )
        return [t for t in found if t is not None] + [record]

    async def conversation(self, response_id: str, key: ApiKeyRecord | None) -> Conversation:
        """The items `previous_response_id` continues: every turn's input and output, in order."""
        turns = await self._turns(response_id, key, "previous_response_id")
        items = [item for turn in turns for item in (*turn.input, *turn.response.get("output", []))]
        return Conversation(items, [turn.id for turn in turns])

    async def get(self, response_id: str, key: ApiKeyRecord | None) -> dict[str, Any]:
        return (await self._find(response_id, key, None)).response

    async def input_items(self, response_id: str, key: ApiKeyRecord | None) -> list[dict[str, Any]]:
        """Everything the model was given for this turn: the earlier turns' items, then this turn's input."""
        *earlier, last = await self._turns(response_id, key, None)
        return [item for turn in earlier for item in (*turn.input, *turn.response.get("output", []))] + last.input

    async def delete(self, response_id: str, key: ApiKeyRecord | None) -> dict[str, Any]:
        if not await self.gw.state.delete_response(response_id, owner_of(key)):
            raise ResponseNotFound(f"No response with id {response_id[:100]!r} was found.")
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def save(
        self, response: dict[str, Any], items: list[dict[str, Any]], earlier: list[str], key: ApiKeyRecord | None
    ) -> bool:
        """Keep `response` with this turn's input `items` after the turns `earlier`. When the store fails, the
        answer still goes out, saying `"store": false` (and a log line says why)."""
        record = StoredResponse(
            id=str(response["id"]),
            owner=owner_of(key),
            created_at=iso_now(self.gw.clock),
            expires_at=int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            input=items,
            response=response,
            earlier=earlier,
        )
        try:
            await self.gw.state.put_response(record)
        except StoreUnavailable as exc:
            log.error("response not stored", extra={"response_id": record.id, "error": exc.message})
            response["store"] = False
            return False
        return True
