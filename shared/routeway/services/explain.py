"""GET /v1/route/explain/{id}: the stored decision and attempts of a past request (no text, no keys).

A record is private to the key that made it: any other key gets the same 404 as a missing id, so ids
cannot be probed. With ROUTEWAY_AUTH=off the caller is nobody, and sees only records made without a
key. The operator's own command line (`routeway explain`) reads any record.
"""

from __future__ import annotations

from typing import Any, Literal

from routeway.after_response import written
from routeway.domain.client_ids import generation_id_of
from routeway.domain.records import ApiKeyRecord
from routeway.errors import GenerationNotFound
from routeway.gateway import Gateway

MAX_ID_LENGTH = 100
OPERATOR: Literal["operator"] = "operator"  # the CLI, on the store itself: every record is theirs to read
Reader = ApiKeyRecord | None | Literal["operator"]


async def explain(gateway: Gateway, client_id: str, *, reader: Reader) -> dict[str, Any]:
    record = None
    if len(client_id) <= MAX_ID_LENGTH:
        await written()  # an answer just sent by this process: its record
        record = await gateway.state.get_generation(generation_id_of(client_id), int(gateway.clock.now()))
    if record is not None and reader != OPERATOR:
        owner = reader.name if isinstance(reader, ApiKeyRecord) else None
        if record.key_name != owner:
            record = None
    if record is None:
        raise GenerationNotFound("No generation record with that id (records expire after their TTL).")
    return {"object": "route.explanation", **record.model_dump(mode="json")}
