"""Task pools for `auto` / `router` / `bodybuilder`: which strong general models each task chooses among.

The pools are configured in the packaged defaults (data/defaults.yaml, `auto.pools`), overridable
with ROUTEWAY_CONFIG, and carried in the snapshot like the aliases (`Snapshot.auto_pools`).

- The objective ranks the rows of the task's pool that pass every filter. The other filtered rows
  (ranked among themselves) follow the pool, so a thin pool (one model left after `allowed_models`)
  still has somewhere to fall back to; with the default attempt limits (6) an intact pool is never left.
- When the filters (constraints, the key's model list) leave none of the pool, the routing mode
  falls back to the filtered catalog, which never holds a special-purpose model.
- A pool entry that is not in the live catalog is skipped, never an error at request time; it is
  named by /readyz, /v1/info and `routeway catalog status` (`missing_pool_entries`).
"""

from __future__ import annotations

from routeway.domain.catalog import Catalog, PerCatalog
from routeway.domain.tasks import TASKS


def live_pools(catalog: Catalog) -> dict[str, list[str]]:
    """Each task's pool as configured, without the entries the live catalog does not have."""
    return _LIVE_POOLS(catalog)


def _live_pools(catalog: Catalog) -> dict[str, list[str]]:
    pools = catalog.snapshot.auto_pools
    return {t: [m for m in pools[t] if catalog.model(m)] for t in TASKS if t in pools}


_LIVE_POOLS = PerCatalog(_live_pools)


def missing_pool_entries(catalog: Catalog) -> dict[str, list[str]]:
    """Task → configured pool entries missing from the live catalog (only tasks that have some)."""
    missing: dict[str, list[str]] = {}
    for task, ids in catalog.snapshot.auto_pools.items():
        unknown = [m for m in ids if catalog.model(m) is None]
        if unknown:
            missing[task] = unknown
    return missing


def auto_info(catalog: Catalog) -> dict[str, object]:
    """/v1/info's `auto`: the pools `auto` chooses from (live entries) and the skipped ones."""
    return {"pools": live_pools(catalog), "missing_pool_entries": missing_pool_entries(catalog)}
