"""GET /v1/route/explain/{id}: the stored decision and attempts of a past request (no text, no keys)."""

from __future__ import annotations

from typing import Any

from routeway.errors import GenerationNotFound
from routeway.gateway import Gateway

MAX_ID_LENGTH = 100


async def explain(gateway: Gateway, generation_id: str) -> dict[str, Any]:
    record = None
    if len(generation_id) <= MAX_ID_LENGTH:
        record = await gateway.state.get_generation(generation_id, int(gateway.clock.now()))
    if record is None:
        raise GenerationNotFound("No generation record with that id (records expire after their TTL).")
    return {"object": "route.explanation", **record.model_dump(mode="json")}
