"""Build a Gateway (stores, catalog, upstreams, clock) from Settings. Nothing here runs at import."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from routeway.adapters.http_client import HttpClientPool
from routeway.adapters.openai_compat import ATTRIBUTION_HEADERS, OpenAICompatibleUpstream
from routeway.clock import SystemClock
from routeway.config import backend_base_url, load_routing_config
from routeway.domain.catalog import Backend, Snapshot
from routeway.domain.normalize import content_version
from routeway.domain.snapshot_codec import decode_snapshot
from routeway.errors import BackendUnavailable
from routeway.ports import Clock, NoTelemetry, SecretProvider, SnapshotStore, StateStore, Telemetry, Upstream
from routeway.services.catalog_provider import CatalogProvider
from routeway.services.health import HealthTracker
from routeway.settings import Settings

BUNDLED_SNAPSHOT = "data/snapshot.json.gz"


def new_generation_id() -> str:
    return "gen-rw-" + secrets.token_hex(12)


def load_bundled_snapshot(settings: Settings) -> Snapshot:
    """The snapshot shipped in the package; ROUTEWAY_CONFIG's aliases, backends and pools replace its own."""
    snapshot = decode_snapshot(resources.files("routeway").joinpath(BUNDLED_SNAPSHOT).read_bytes())
    if settings.config_path is None:
        return snapshot
    config = load_routing_config(settings.config_path)
    version = content_version(snapshot.models, snapshot.providers, config.aliases, config.backends, config.pools)
    update = {"aliases": config.aliases, "backends": config.backends, "auto_pools": config.pools, "version": version}
    return snapshot.model_copy(update=update)


@dataclass
class Gateway:
    settings: Settings
    env: Mapping[str, str]
    snapshots: SnapshotStore
    state: StateStore
    catalog: CatalogProvider
    clock: Clock
    http: HttpClientPool
    secrets: SecretProvider
    health: HealthTracker
    telemetry: Telemetry = field(default_factory=NoTelemetry)
    new_id: Callable[[], str] = new_generation_id
    _upstreams: dict[str, Upstream] = field(default_factory=dict)

    def upstream_key(self, backend: Backend) -> str | None:
        if backend.kind == "openrouter":
            if self.settings.openrouter_api_key:
                return self.settings.openrouter_api_key
            if self.settings.openrouter_key_param:
                return self.secrets.get(self.settings.openrouter_key_param)
            return None
        return self.env.get(backend.api_key_env) if backend.api_key_env else None

    def upstream(self, backend: Backend) -> Upstream:
        """The client for one backend, made once per process."""
        cached = self._upstreams.get(backend.name)
        if cached is not None:
            return cached
        if backend.status in ("deprecated", "planned"):
            raise BackendUnavailable(f"Backend {backend.name!r} is {backend.status}.")
        if backend.kind == "openrouter":
            base_url: str | None = self.settings.openrouter_base_url
        else:
            base_url = backend_base_url(backend, self.env)
        if not base_url:
            raise BackendUnavailable(f"Backend {backend.name!r} is not configured (no base URL).")
        upstream = OpenAICompatibleUpstream(
            base_url,
            key=lambda: self.upstream_key(backend),
            pool=self.http,
            extra_headers=ATTRIBUTION_HEADERS if backend.kind == "openrouter" else None,
        )
        self._upstreams[backend.name] = upstream
        return upstream


def build_stores(settings: Settings) -> tuple[SnapshotStore, StateStore]:
    if settings.store == "aws":
        from routeway.adapters.aws_store import DynamoStateStore, S3SnapshotStore

        if not settings.bucket or not settings.table:
            raise ValueError("ROUTEWAY_STORE=aws needs ROUTEWAY_BUCKET and ROUTEWAY_TABLE")
        return S3SnapshotStore(settings.bucket), DynamoStateStore(settings.table)
    from routeway.adapters.local_store import LocalSnapshotStore, LocalStateStore

    return LocalSnapshotStore(settings.home), LocalStateStore(settings.home)


def build_gateway(
    settings: Settings,
    env: Mapping[str, str],
    *,
    clock: Clock | None = None,
    transport: Any = None,
    secrets_provider: SecretProvider | None = None,
) -> Gateway:
    clock = clock or SystemClock()
    if settings.config_path is not None:
        load_routing_config(settings.config_path)  # a broken ROUTEWAY_CONFIG fails here, clearly, not mid-request
    snapshots, state = build_stores(settings)
    if secrets_provider is None:
        from routeway.adapters.secrets import SsmSecrets, StaticSecrets

        secrets_provider = SsmSecrets() if settings.openrouter_key_param else StaticSecrets({})
    catalog = CatalogProvider(
        snapshots, state, clock, settings.catalog_ttl_s, bundled=lambda: load_bundled_snapshot(settings)
    )
    return Gateway(
        settings=settings,
        env=env,
        snapshots=snapshots,
        state=state,
        catalog=catalog,
        clock=clock,
        http=HttpClientPool(transport),
        secrets=secrets_provider,
        health=HealthTracker(clock),
    )
