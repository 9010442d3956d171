"""The serving side of the catalog: TTL-bounded pointer checks, store outages, the bundled fallback."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Callable
from importlib import resources

import pytest

from routeway.domain.catalog import Snapshot
from routeway.domain.records import CatalogVersion
from routeway.domain.snapshot_codec import decode_snapshot, encode_snapshot
from routeway.errors import CatalogUnavailable, StoreUnavailable
from routeway.off_loop import OffLoop
from routeway.services.catalog_provider import CatalogProvider


class ManualClock:
    def __init__(self) -> None:
        self.t = 1_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class MemoryStores:
    """In-memory SnapshotStore + the pointer half of StateStore, with a switch to fail like a dead store."""

    def __init__(self) -> None:
        self.snapshots: dict[str, bytes] = {}
        self.pointer: CatalogVersion | None = None
        self.down = False
        self.hang: threading.Event | None = None  # set: every pointer read blocks until the event is set
        self.pointer_reads = 0

    def get_pointer(self) -> CatalogVersion | None:
        self.pointer_reads += 1
        if self.hang is not None:
            self.hang.wait(10)
        if self.down:
            raise StoreUnavailable("DynamoDB get pointer: ThrottlingException")
        return self.pointer

    def get_snapshot(self, version: str) -> bytes | None:
        if self.down:
            raise StoreUnavailable("S3 get snapshot: ServiceUnavailable")
        return self.snapshots.get(version)

    def publish_snapshot(self, snapshot: Snapshot) -> None:
        self.snapshots[snapshot.version] = encode_snapshot(snapshot)
        self.pointer = CatalogVersion(version=snapshot.version, created_at=snapshot.created_at, model_count=1)


@pytest.fixture(scope="module")
def bundled() -> Snapshot:
    return decode_snapshot(resources.files("routeway").joinpath("data/snapshot.json.gz").read_bytes())


def small(bundled: Snapshot, version: str) -> Snapshot:
    return bundled.model_copy(update={"version": version, "models": bundled.models[:5]})


def provider(
    stores: MemoryStores, clock: ManualClock, bundled: Snapshot, ttl: float = 60.0, timeout_s: float = 5.0
) -> CatalogProvider:
    return CatalogProvider(
        stores,  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        clock,
        ttl,
        bundled=lambda: bundled,
        off_loop=OffLoop(timeout_s),
    )


def test_cold_with_nothing_published_serves_the_bundle(bundled: Snapshot) -> None:
    catalog = provider(MemoryStores(), ManualClock(), bundled).current_blocking()
    assert catalog.source == "bundled" and catalog.version == bundled.version


def test_pointer_is_checked_at_most_once_per_ttl_and_changes_are_picked_up(bundled: Snapshot) -> None:
    stores, clock = MemoryStores(), ManualClock()
    stores.publish_snapshot(small(bundled, "v1"))
    catalogs = provider(stores, clock, bundled)
    assert catalogs.current_blocking().version == "v1"
    stores.publish_snapshot(small(bundled, "v2"))
    for _ in range(10):
        assert catalogs.current_blocking().version == "v1"  # within the TTL: no store read
    assert stores.pointer_reads == 1
    clock.t += 60
    assert catalogs.current_blocking().version == "v2" and catalogs.current_blocking().source == "store"
    assert stores.pointer_reads == 2


def test_rel_29_a_store_outage_keeps_the_last_good_snapshot(bundled: Snapshot) -> None:
    stores, clock = MemoryStores(), ManualClock()
    stores.publish_snapshot(small(bundled, "v1"))
    catalogs = provider(stores, clock, bundled)
    assert catalogs.current_blocking().version == "v1"
    stores.down = True
    clock.t += 120
    assert catalogs.current_blocking().version == "v1"
    assert catalogs.store_status.store_reachable is False and "Throttling" in (catalogs.store_status.last_error or "")
    stores.down = False
    clock.t += 120
    assert catalogs.current_blocking().version == "v1" and catalogs.store_status.store_reachable is True


def test_rel_29_cold_start_with_the_store_down_serves_the_bundle_and_says_so(bundled: Snapshot) -> None:
    stores = MemoryStores()
    stores.down = True
    catalogs = provider(stores, ManualClock(), bundled)
    assert catalogs.current_blocking().source == "bundled"
    assert catalogs.store_status.store_reachable is False


def test_no_store_and_no_bundle_is_catalog_unavailable() -> None:
    stores = MemoryStores()
    stores.down = True

    def broken() -> Snapshot:
        raise OSError("bundled snapshot missing")

    catalogs = CatalogProvider(
        stores,  # type: ignore[arg-type]
        stores,  # type: ignore[arg-type]
        ManualClock(),
        60,
        bundled=broken,
        off_loop=OffLoop(5.0),
    )
    with pytest.raises(CatalogUnavailable):
        catalogs.current_blocking()


def test_a_pointer_to_a_missing_snapshot_is_treated_as_an_outage(bundled: Snapshot) -> None:
    stores = MemoryStores()
    stores.pointer = CatalogVersion(version="gone", created_at="x", model_count=1)
    catalogs = provider(stores, ManualClock(), bundled)
    assert catalogs.current_blocking().source == "bundled" and catalogs.store_status.store_reachable is False


@pytest.mark.parametrize(
    "damage",
    [
        lambda good: b"<html>not a snapshot</html>",  # not gzip
        lambda good: good[: len(good) // 2],  # truncated gzip
        lambda good: gzip.compress(b'{"version": "v2", "models": [{"name": "no id"}]}'),  # wrong shape
        lambda good: gzip.compress(b"{not json"),
    ],
    ids=["not-gzip", "truncated", "wrong-shape", "not-json"],
)
def test_an_unreadable_snapshot_keeps_the_live_catalog(bundled: Snapshot, damage: Callable[[bytes], bytes]) -> None:
    stores, clock = MemoryStores(), ManualClock()
    stores.publish_snapshot(small(bundled, "v1"))
    catalogs = provider(stores, clock, bundled)
    live = catalogs.current_blocking()
    stores.publish_snapshot(small(bundled, "v2"))
    stores.snapshots["v2"] = damage(stores.snapshots["v2"])
    clock.t += 120
    assert catalogs.current_blocking() is live
    assert catalogs.store_status.store_reachable is False and "unreadable" in (catalogs.store_status.last_error or "")


def test_the_store_is_read_off_the_event_loop_and_a_hung_one_times_out(bundled: Snapshot) -> None:
    stores, clock = MemoryStores(), ManualClock()
    stores.publish_snapshot(small(bundled, "v1"))
    catalogs = provider(stores, clock, bundled, timeout_s=0.3)
    assert asyncio.run(catalogs.current()).version == "v1"
    stores.hang = threading.Event()
    clock.t += 120

    async def while_hung() -> tuple[str, int]:
        ticks = 0

        async def tick() -> None:  # the loop stays free while the store call hangs in its thread
            nonlocal ticks
            for _ in range(100):
                ticks += 1
                await asyncio.sleep(0.01)

        ticker = asyncio.create_task(tick())
        catalog = await catalogs.current()
        ticker.cancel()
        return catalog.version, ticks

    started = time.monotonic()
    try:
        version, ticks = asyncio.run(while_hung())
    finally:
        stores.hang.set()
    assert version == "v1" and time.monotonic() - started < 3
    assert ticks >= 5
    assert catalogs.store_status.store_reachable is False and "did not answer" in (
        catalogs.store_status.last_error or ""
    )
