"""Stored Responses API answers: kept with the records' TTL, readable and deletable only by the key that made them.

A stored response holds the whole conversation up to its turn (`input`: earlier turns included) and
the `response` the client got; `previous_response_id` continues it (`input` + the response's `output`).
Unknown, expired and other keys' ids all look the same: 404. No key is ever stored, only its hash.
"""

from __future__ import annotations

import logging
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


class ResponsesStore:
    def __init__(self, gateway: Gateway) -> None:
        self.gw = gateway

    async def _find(self, response_id: str, key: ApiKeyRecord | None, param: str | None) -> StoredResponse:
        record = await self.gw.state.get_response(response_id, int(self.gw.clock.now()))
        if record is None or record.owner != owner_of(key):
            raise ResponseNotFound(f"No response with id {response_id[:100]!r} was found.", param=param)
        return record

    async def conversation(self, response_id: str, key: ApiKeyRecord | None) -> list[dict[str, Any]]:
        """The items `previous_response_id` continues: that turn's input (earlier turns included) and output."""
        record = await self._find(response_id, key, "previous_response_id")
        return [*record.input, *record.response.get("output", [])]

    async def get(self, response_id: str, key: ApiKeyRecord | None) -> dict[str, Any]:
        return (await self._find(response_id, key, None)).response

    async def input_items(self, response_id: str, key: ApiKeyRecord | None) -> list[dict[str, Any]]:
        return (await self._find(response_id, key, None)).input

    async def delete(self, response_id: str, key: ApiKeyRecord | None) -> dict[str, Any]:
        if not await self.gw.state.delete_response(response_id, owner_of(key)):
            raise ResponseNotFound(f"No response with id {response_id[:100]!r} was found.")
        return {"id": response_id, "object": "response.deleted", "deleted": True}

    async def save(self, response: dict[str, Any], items: list[dict[str, Any]], key: ApiKeyRecord | None) -> bool:
        """Keep `response` with its conversation `items`; a failed write is logged (the answer still goes out)."""
        record = StoredResponse(
            id=str(response["id"]),
            owner=owner_of(key),
            created_at=iso_now(self.gw.clock),
            expires_at=int(self.gw.clock.now()) + self.gw.settings.generation_ttl_days * SECONDS_PER_DAY,
            input=items,
            response=response,
        )
        try:
            await self.gw.state.put_response(record)
        except StoreUnavailable as exc:
            log.error("response not stored", extra={"response_id": record.id, "error": exc.message})
            return False
        return True
