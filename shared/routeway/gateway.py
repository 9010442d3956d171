"""The Gateway: everything the core needs, as ports. A neutral type: building one is `routeway.wiring`'s job.

Services, dialects and the CLI take a Gateway and never import an adapter, so importing a service
loads no HTTP client, no AWS SDK and no web framework.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field

from routeway.domain.redact import Redactor
from routeway.off_loop import OffLoop, OffLoopState
from routeway.ports import CatalogSources, Clock, NoTelemetry, SnapshotStore, Telemetry, Upstreams
from routeway.services.catalog_provider import CatalogProvider
from routeway.services.cooldowns import CooldownTracker
from routeway.services.keys import KeyCache
from routeway.settings import Settings


def new_generation_id() -> str:
    return "gen-rw-" + secrets.token_hex(12)


@dataclass
class Gateway:
    settings: Settings
    state: OffLoopState  # the state store, awaited off the event loop
    snapshots: SnapshotStore  # blocking: called through `off_loop` only
    off_loop: OffLoop
    catalog: CatalogProvider
    upstreams: Upstreams
    sources: CatalogSources
    clock: Clock
    cooldowns: CooldownTracker
    telemetry: Telemetry = field(default_factory=NoTelemetry)
    new_id: Callable[[], str] = new_generation_id
    redact: Redactor = field(default_factory=Redactor)  # every upstream-derived string passes it before it is shown
    key_cache: KeyCache | None = None  # recently read key records (ROUTEWAY_KEY_CACHE_S); None: always the store
