"""The serving side of the catalog: the snapshot in memory, refreshed from the store at most every TTL.

When the store cannot be reached, the last good snapshot keeps serving; a cold process with no
reachable store serves the bundled snapshot and says so (/readyz, /v1/info).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from routeway.config import load_routing_config
from routeway.domain.catalog import Catalog, Snapshot
from routeway.domain.snapshot_codec import decode_snapshot
from routeway.errors import CatalogUnavailable, StoreUnavailable
from routeway.off_loop import OffLoop
from routeway.ports import Clock, SnapshotStore, StateStore

log = logging.getLogger("routeway.catalog")
BUNDLED_SNAPSHOT = "data/snapshot.json.gz"


def load_bundled_snapshot(
    config_path: Path | None, region: str | None = None, bedrock_models: tuple[str, ...] = ()
) -> Snapshot:
    """The snapshot shipped in the package; ROUTEWAY_CONFIG's aliases, backends and pools replace its own, and the
    template's BedrockModels turns its `bedrock` backend on (config.load_routing_config)."""
    snapshot = decode_snapshot(resources.files("routeway").joinpath(BUNDLED_SNAPSHOT).read_bytes())
    if config_path is None and not bedrock_models:
        return snapshot
    from routeway.domain.normalize import content_version  # the refresh's module: only a ROUTEWAY_CONFIG needs it

    config = load_routing_config(config_path, region, bedrock_models)
    version = content_version(snapshot.models, snapshot.providers, config.aliases, config.backends, config.pools)
    update = {"aliases": config.aliases, "backends": config.backends, "auto_pools": config.pools, "version": version}
    return snapshot.model_copy(update=update)


@dataclass
class StoreStatus:
    store_reachable: bool | None = None  # None: not asked yet
    last_error: str | None = None


class CatalogProvider:
    def __init__(
        self,
        snapshots: SnapshotStore,
        state: StateStore,
        clock: Clock,
        ttl_s: float,
        bundled: Callable[[], Snapshot],
        off_loop: OffLoop,
    ) -> None:
        self._snapshots = snapshots
        self._state = state
        self._clock = clock
        self._ttl_s = ttl_s
        self._bundled = bundled
        self._off_loop = off_loop
        self._catalog: Catalog | None = None
        self._checked_at: float | None = None
        self.store_status = StoreStatus()

    def _fresh(self) -> Catalog | None:
        """The catalog in memory while its TTL runs; None when the pointer is due for a check."""
        now = self._clock.monotonic()
        if self._catalog is not None and self._checked_at is not None and now - self._checked_at < self._ttl_s:
            return self._catalog
        self._checked_at = now
        return None

    async def current(self) -> Catalog:
        """The catalog to serve; the store is read off the event loop, at most every TTL, under the store timeout."""
        catalog = self._fresh()
        if catalog is not None:
            return catalog
        try:
            loaded = await self._off_loop.call(self._load)
        except StoreUnavailable as exc:
            return self._unreachable(exc)
        return self._loaded(loaded)

    def current_blocking(self) -> Catalog:
        """`current()` for callers that are not on an event loop (the command line)."""
        catalog = self._fresh()
        if catalog is not None:
            return catalog
        try:
            loaded = self._load()
        except StoreUnavailable as exc:
            return self._unreachable(exc)
        return self._loaded(loaded)

    def bundled_snapshot(self) -> Snapshot:
        return self._bundled()

    def _loaded(self, catalog: Catalog) -> Catalog:
        self._catalog = catalog
        self.store_status = StoreStatus(store_reachable=True)
        return catalog

    def _unreachable(self, exc: StoreUnavailable) -> Catalog:
        log.warning("catalog store unreachable, serving the snapshot in memory", extra={"error": exc.message})
        self.store_status = StoreStatus(store_reachable=False, last_error=exc.message)
        if self._catalog is None:
            self._catalog = self._load_bundled()
        return self._catalog

    def invalidate(self) -> None:
        """Check the pointer on the next request (after a publish in this process)."""
        self._checked_at = None

    def _load(self) -> Catalog:
        pointer = self._state.get_pointer()
        if pointer is None:
            if self._catalog is not None and self._catalog.source == "bundled":
                return self._catalog
            return self._load_bundled()
        if self._catalog is not None and self._catalog.source == "store" and self._catalog.version == pointer.version:
            return self._catalog
        data = self._snapshots.get_snapshot(pointer.version)
        if data is None:
            raise StoreUnavailable(f"snapshot {pointer.version} named by the pointer is missing")
        try:
            snapshot = decode_snapshot(data)
        except ValueError:
            raise StoreUnavailable(f"snapshot {pointer.version} is unreadable") from None
        return Catalog(snapshot, "store")

    def _load_bundled(self) -> Catalog:
        try:
            return Catalog(self._bundled(), "bundled")
        except (OSError, ValueError) as exc:
            raise CatalogUnavailable(
                "No catalog: the store is unreachable and the bundled snapshot could not be read."
            ) from exc
