"""Catalog refresh: fetch, normalise, validate against the live snapshot, publish atomically.

Publishing writes the snapshot under its content hash (never overwriting), then moves the pointer
with a compare-and-set. Whatever fails or is refused leaves the live snapshot as it was; the same
content twice, or a refresh that loses a race, changes nothing.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from routeway.config import ConfigError, gateway_region, load_routing_config, template_bedrock_models
from routeway.domain.catalog import Snapshot
from routeway.domain.normalize import CatalogDataError, build_snapshot, merge_model_lists
from routeway.domain.records import CatalogVersion
from routeway.domain.snapshot_codec import decode_snapshot, encode_snapshot
from routeway.domain.validate import DEFAULT_MAX_DROP, diff_snapshots, validate_snapshot
from routeway.errors import ConflictError, StoreUnavailable
from routeway.gateway import Gateway
from routeway.ports import CatalogSource, Progress, SourceError
from routeway.services.backends import with_listed_models
from routeway.services.keys import iso_now
from routeway.services.usage import snapshot_age_s

log = logging.getLogger("routeway.refresh")
SNAPSHOT_IO_TIMEOUT_S = 60.0  # a whole snapshot to or from S3: more than a request's store timeout
RefreshOutcome = Literal["published", "unchanged", "refused", "failed", "lost_race"]


@dataclass
class RefreshReport:
    outcome: RefreshOutcome
    version: str | None = None
    previous_version: str | None = None
    model_count: int = 0
    reason: str | None = None
    diff: dict[str, Any] = field(default_factory=dict)
    duration_s: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


async def live_snapshot(gateway: Gateway) -> tuple[CatalogVersion | None, Snapshot | None]:
    """The pointer and the snapshot it names; (None, None) before the first publish."""
    pointer = await gateway.state.get_pointer()
    if pointer is None:
        return None, None
    data = await gateway.off_loop.call(gateway.snapshots.get_snapshot, pointer.version, timeout_s=SNAPSHOT_IO_TIMEOUT_S)
    if data is None:
        raise StoreUnavailable(f"the live snapshot {pointer.version} is missing from the snapshot store")
    return pointer, decode_snapshot(data)


def _catalog_ids(model_lists: list[Any]) -> list[str]:
    """The source's model ids, which a Bedrock backend's listed models are mapped to."""
    return [str(row["id"]) for row in merge_model_lists(model_lists) if isinstance(row, dict) and "id" in row]


def _report(outcome: RefreshOutcome, started: float, **fields: Any) -> RefreshReport:
    result = RefreshReport(outcome=outcome, duration_s=round(time.monotonic() - started, 3), **fields)
    log.info("catalog refresh", extra={k: v for k, v in result.as_dict().items() if k != "diff"})
    return result


async def refresh_catalog(
    gateway: Gateway,
    source: CatalogSource,
    *,
    force: bool = False,
    max_drop: float = DEFAULT_MAX_DROP,
    progress: Progress | None = None,
) -> RefreshReport:
    """One refresh. Whatever its outcome, the telemetry then hears how old the served catalog is: fresh when
    this run published or found the source unchanged, the live snapshot's age when it failed or was refused,
    nothing when that is unknown (the store unreachable; a race lost to a refresh that reports its own)."""
    report, serving_created_at = await _refresh(gateway, source, force, max_drop, progress)
    age = snapshot_age_s(serving_created_at, gateway.clock.now()) if serving_created_at else None
    gateway.telemetry.catalog_refreshed(outcome=report.outcome, catalog_age_s=age)
    return report


async def _refresh(
    gateway: Gateway, source: CatalogSource, force: bool, max_drop: float, progress: Progress | None
) -> tuple[RefreshReport, str | None]:
    """The report, and the `created_at` of the catalog served once this run is over (None: unknown)."""
    started = time.monotonic()
    try:
        settings = gateway.settings
        config = load_routing_config(settings.config_path, gateway_region(settings), template_bedrock_models(settings))
        pointer, live = await live_snapshot(gateway)
    except (ConfigError, StoreUnavailable) as exc:
        return _report("failed", started, reason=str(exc)), None
    previous = pointer.version if pointer else None
    if live is None:  # nothing published yet: the bundled snapshot is what is being served
        live = gateway.catalog.bundled_snapshot()
    serving = live.created_at
    try:
        raw = await source.fetch(progress)
        snapshot = build_snapshot(
            model_lists=raw.model_lists,
            endpoints_by_id=raw.endpoints_by_id,
            providers_response=raw.providers,
            aliases=config.aliases,
            backends=await with_listed_models(gateway, config.backends, _catalog_ids(raw.model_lists)),
            created_at=iso_now(gateway.clock),
            source=source.name,
            pools=config.pools,
        )
    except (SourceError, CatalogDataError) as exc:
        return _report("refused", started, previous_version=previous, reason=str(exc)), serving
    diff = diff_snapshots(live, snapshot)
    counts = {"version": snapshot.version, "previous_version": previous, "model_count": len(snapshot.models)}
    refusal = validate_snapshot(snapshot, live, max_drop).refusal(force)
    if refusal:
        return _report("refused", started, reason=refusal, diff=diff, **counts), serving
    if previous == snapshot.version:  # the source says now what the live snapshot says: it is current
        return _report("unchanged", started, diff=diff, **counts), snapshot.created_at
    report = await _publish(gateway, snapshot, previous, diff, started)
    return report, {"published": snapshot.created_at, "failed": serving}.get(report.outcome)


async def _publish(
    gateway: Gateway, snapshot: Snapshot, expected: str | None, diff: dict[str, Any], started: float
) -> RefreshReport:
    entry = CatalogVersion(
        version=snapshot.version,
        created_at=snapshot.created_at,
        model_count=len(snapshot.models),
        published_at=iso_now(gateway.clock),
    )
    counts = {"version": snapshot.version, "previous_version": expected, "model_count": entry.model_count}
    try:
        await gateway.off_loop.call(
            gateway.snapshots.put_snapshot, snapshot.version, encode_snapshot(snapshot), timeout_s=SNAPSHOT_IO_TIMEOUT_S
        )
        await gateway.state.publish(entry, expected)
    except ConflictError:
        return _report("lost_race", started, reason="another refresh moved the pointer first", **counts)
    except StoreUnavailable as exc:
        return _report("failed", started, reason=exc.message, **counts)
    gateway.catalog.invalidate()
    return _report("published", started, diff=diff, **counts)


async def rollback(gateway: Gateway, version: str) -> RefreshReport:
    """Point back at an earlier published version; its snapshot is still in the store, untouched."""
    started = time.monotonic()
    try:
        history = {v.version for v in await gateway.state.list_history()}
        if version not in history:
            return _report("refused", started, version=version, reason=f"version {version} was never published")
        pointer, live = await live_snapshot(gateway)
        data = await gateway.off_loop.call(gateway.snapshots.get_snapshot, version, timeout_s=SNAPSHOT_IO_TIMEOUT_S)
    except StoreUnavailable as exc:
        return _report("failed", started, version=version, reason=exc.message)
    if data is None:
        return _report("failed", started, version=version, reason=f"snapshot {version} is missing from the store")
    target = decode_snapshot(data)
    if pointer is not None and pointer.version == version:
        return _report("unchanged", started, version=version, previous_version=version, model_count=len(target.models))
    return await _publish(gateway, target, pointer.version if pointer else None, diff_snapshots(live, target), started)
