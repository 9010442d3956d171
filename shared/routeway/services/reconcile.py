"""Holds whose process died are charged, not forgotten (PRODUCT.md "Money that cannot leak").

A hold names the attempts the upstream accepted (`HoldNote`, written by the ledger as soon as the upstream
answered). When such a hold has expired, or when a `routeway serve` starts and finds a hold its dead
predecessor on this host took, the hold is charged here: each noted attempt at what OpenRouter says it billed
(`GET /generation`), else at the note's estimate, together never more than the hold; a hold with no notes was
never billed and is released. The settle is the store's usual exactly-once write, so a late settle by the
original process (or a second reconciler) never charges twice. Expired holds are found when a reservation of
their key is refused (the ledger calls `reconcile_holds` for that key), at `serve` start, and by the scheduled
refresh on AWS.
"""

from __future__ import annotations

import asyncio
import logging

from routeway.domain.records import GenerationRecord, HoldNote, OpenHold
from routeway.domain.scopes import generation_of
from routeway.errors import GatewayError, StoreUnavailable
from routeway.gateway import Gateway, died_here
from routeway.services.keys import iso_now
from routeway.services.stream_cost import generation_cost

log = logging.getLogger("routeway.budget")
SECONDS_PER_DAY = 86_400
HOLDS_PER_PASS = 100  # a pass settles at most this many; the next refusal or start takes the rest


async def reconcile_holds(gateway: Gateway, *, key_hash: str | None = None, at_start: bool = False) -> int:
    """Settle the open holds (of one key, or all) that no running request will settle; how many were."""
    now = gateway.clock.now()
    try:
        holds = await gateway.state.open_holds(int(now), key_hash=key_hash, limit=HOLDS_PER_PASS)
    except StoreUnavailable as exc:
        log.warning("open holds not read: reconciliation waits for the store", extra={"error": exc.message})
        return 0
    orphans = [h for h in holds if h.expires_at <= now or (at_start and died_here(h.owner))]
    if not orphans:
        return 0
    charged = await asyncio.gather(*(_settle_orphan(gateway, h) for h in orphans))
    return sum(charged)


def distinct_attempts(notes: tuple[HoldNote, ...]) -> list[HoldNote]:
    """One note per upstream generation: a note written twice (a store call retried after it landed, an
    abandoned attempt noted again) is one attempt, billed once. Notes without an upstream id cannot be told
    apart and each counts."""
    seen: set[tuple[str, str]] = set()
    distinct = []
    for note in notes:
        if note.upstream_id is not None:
            if (note.backend, note.upstream_id) in seen:
                continue
            seen.add((note.backend, note.upstream_id))
        distinct.append(note)
    return distinct


async def _settle_orphan(gateway: Gateway, hold: OpenHold) -> bool:
    costs = await asyncio.gather(*(_billed(gateway, note) for note in distinct_attempts(hold.notes)))
    cost = min(sum(costs), hold.usd)
    whose = hold.key_hash.split(":", 1)[0]  # a key's periodic account starts with its hash; a team's with "team"
    key = None if whose == "team" else await gateway.state.find_key(whose)
    key_name = key.name if key else None
    expires_at = int(gateway.clock.now()) + gateway.settings.generation_ttl_days * SECONDS_PER_DAY
    record = None
    generation_id = generation_of(hold.generation_id)  # a team's hold (`~team`) shares its key's record
    if hold.notes and await gateway.state.get_generation(generation_id, int(gateway.clock.now())) is None:
        record = GenerationRecord(
            id=generation_id,
            created_at=iso_now(gateway.clock),
            expires_at=expires_at,
            key_name=key_name,
            status="error",
            http_status=0,  # what the client got is not known: the process that answered it died
            error_code="reconciled",
            usage={"cost": cost, "cost_source": "reconciled", "attempts": len(hold.notes)},
            cost_usd=cost,
        )
    try:
        charged = await gateway.state.settle(hold.key_hash, hold.generation_id, cost, hold.usd, expires_at, record)
    except StoreUnavailable as exc:
        log.warning(
            f"hold of generation {hold.generation_id} not reconciled yet (key {key_name}, ${cost:.6f})",
            extra={"generation_id": hold.generation_id, "key_name": key_name, "cost_usd": cost, "error": exc.message},
        )
        return False
    what = "charged" if hold.notes else "released (never billed)"
    log.warning(
        f"hold of a stopped request {what}: generation {hold.generation_id}, key {key_name}, ${cost:.6f}",
        extra={"generation_id": hold.generation_id, "key_name": key_name, "cost_usd": cost, "held_usd": hold.usd},
    )
    return charged


async def _billed(gateway: Gateway, note: HoldNote) -> float:
    """What an accepted attempt billed: the upstream's figure where it can be asked, else the note's estimate."""
    if note.backend != "openrouter" or not note.upstream_id:
        return note.estimate_usd
    try:
        catalog = await gateway.catalog.current()
        backend = catalog.backends.get(note.backend)
        if backend is None:
            return note.estimate_usd
        billed = await generation_cost(gateway.upstreams.for_backend(backend), note.upstream_id)
    except GatewayError:
        return note.estimate_usd
    return note.estimate_usd if billed is None else billed
