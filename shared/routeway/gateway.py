"""The Gateway: everything the core needs, as ports. A neutral type: building one is `routeway.wiring`'s job.

Services, dialects and the CLI take a Gateway and never import an adapter, so importing a service
loads no HTTP client, no AWS SDK and no web framework.
"""

from __future__ import annotations

import os
import secrets
import socket
from collections.abc import Callable
from dataclasses import dataclass, field

from routeway.domain.redact import Redactor
from routeway.off_loop import OffLoop, OffLoopState
from routeway.ports import Alerts, CatalogSources, Clock, NoAlerts, NoTelemetry, SnapshotStore, Telemetry, Upstreams
from routeway.services.catalog_provider import CatalogProvider
from routeway.services.cooldowns import CooldownTracker
from routeway.services.keys import KeyCache
from routeway.services.sticky import StickyProviders
from routeway.settings import Settings


def new_generation_id() -> str:
    return "gen-rw-" + secrets.token_hex(12)


def process_owner() -> str:
    """Who takes a hold: this host and process, and a nonce (a reused pid is not its predecessor)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


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
    owner: str = field(default_factory=process_owner)  # written on every hold this process takes
    alerts: Alerts = field(default_factory=NoAlerts)  # budget threshold alerts (adapters/alerts.py)
    sticky: StickyProviders = field(default_factory=StickyProviders)  # each conversation's last provider


def died_here(owner: str) -> bool:
    """Whether a hold's owner was a process on this host that is no longer running (a restart's predecessor)."""
    host, _, rest = owner.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit() or int(pid_text) == os.getpid():
        return False
    try:
        os.kill(int(pid_text), 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # running, as another user
        return False
    return False
