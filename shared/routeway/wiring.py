"""The one composition root: builds a Gateway's adapters from Settings. Nothing here runs at import.

Only this module (and the entry points that call it: `routeway.runtime`, the CLI) imports
adapters; the core receives them as the ports of `routeway.gateway.Gateway`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from routeway.clock import SystemClock
from routeway.config import gateway_region, load_routing_config, template_bedrock_models
from routeway.domain.catalog import Backend
from routeway.domain.redact import Redactor
from routeway.gateway import Gateway
from routeway.off_loop import OffLoop, OffLoopState
from routeway.ports import (
    Alerts,
    CatalogSource,
    Clock,
    SecretProvider,
    SnapshotStore,
    StateStore,
    Telemetry,
    Upstreams,
)
from routeway.services.catalog_provider import CatalogProvider, load_bundled_snapshot
from routeway.services.cooldowns import CooldownTracker
from routeway.services.keys import KeyCache
from routeway.settings import Settings


def build_stores(settings: Settings, session: Any = None) -> tuple[SnapshotStore, StateStore]:
    """`session`: the AwsSession the AWS stores share with the alerts (one loads botocore's data once)."""
    if settings.store == "aws":
        from routeway.adapters.aws_common import AwsSession
        from routeway.adapters.aws_store import DynamoStateStore, S3SnapshotStore

        if not settings.bucket or not settings.table:
            raise ValueError("ROUTEWAY_STORE=aws needs ROUTEWAY_BUCKET and ROUTEWAY_TABLE")
        session = session or AwsSession()
        state = DynamoStateStore(settings.table, session=session, bucket=settings.bucket)
        return S3SnapshotStore(settings.bucket, session=session), state
    from routeway.adapters.local_store import LocalSnapshotStore, LocalStateStore

    return LocalSnapshotStore(settings.home), LocalStateStore(settings.home, busy_timeout_s=settings.store_timeout_s)


CREDENTIAL_SUFFIXES = ("_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def build_redactor(settings: Settings) -> Redactor:
    """The exact secrets this process holds: the upstream and backend keys, the gateway key, and any
    variable named like a credential. Keys read later (SSM) are learned as they are read."""
    named = {b.api_key_env for b in load_routing_config(settings.config_path).backends if b.api_key_env}
    credentials = [v for k, v in settings.env.items() if k in named or k.upper().endswith(CREDENTIAL_SUFFIXES)]
    return Redactor([settings.openrouter_api_key, settings.gateway_key, *credentials])


class _LearningSecrets:
    """A SecretProvider whose every value is also handed to the redactor before anyone can use it."""

    def __init__(self, secrets: SecretProvider, redactor: Redactor) -> None:
        self._secrets = secrets
        self._redactor = redactor

    def get(self, name: str) -> str | None:
        value = self._secrets.get(name)
        self._redactor.learn(value)
        return value


class _Sources:
    """The CatalogSources port: OpenRouter's API through its upstream, or a folder of its answers."""

    def __init__(self, upstreams: Upstreams) -> None:
        self._upstreams = upstreams

    def openrouter(self, deadline_s: float) -> CatalogSource:
        from routeway.adapters.catalog_source import OpenRouterSource

        api = self._upstreams.for_backend(Backend(name="openrouter", kind="openrouter"))
        return OpenRouterSource(api, deadline_s=deadline_s)

    def directory(self, path: Path) -> CatalogSource:
        from routeway.adapters.catalog_source import DirectorySource

        return DirectorySource(path)


def _upstream_client(transport: Any, aiohttp_client: bool) -> tuple[Any, Any]:
    """The upstream client's pool and class: httpx (with the tests' transport, if any), or aiohttp directly."""
    if aiohttp_client and transport is None:
        from routeway.adapters.aiohttp_upstream import AiohttpSessions, AiohttpUpstream

        return AiohttpSessions(), AiohttpUpstream
    from routeway.adapters.http_client import HttpClientPool
    from routeway.adapters.openai_compat import OpenAICompatibleUpstream

    return HttpClientPool(transport), OpenAICompatibleUpstream


def _aws_session(settings: Settings) -> Any:
    if settings.store != "aws":
        return None
    from routeway.adapters.aws_common import AwsSession

    return AwsSession()


def build_alerts(settings: Settings, session: Any) -> Alerts:
    """A log line always; a webhook when ROUTEWAY_ALERT_WEBHOOK is set; EventBridge on the AWS store."""
    from routeway.adapters.alerts import AllAlerts, EventBridgeAlerts, LogAlerts, WebhookAlerts

    sinks: list[Alerts] = [LogAlerts()]
    if settings.alert_webhook:
        sinks.append(WebhookAlerts(settings.alert_webhook))
    if session is not None:
        sinks.append(EventBridgeAlerts(session, settings.event_bus))
    return AllAlerts(sinks)


def build_gateway(
    settings: Settings,
    *,
    clock: Clock | None = None,
    transport: Any = None,
    secrets: SecretProvider | None = None,
    telemetry: Telemetry | None = None,
    aiohttp_client: bool | None = None,
) -> Gateway:
    """Every adapter the settings ask for, behind its port. `transport` is an httpx transport for tests;
    `aiohttp_client`: upstream calls on aiohttp directly (`routeway serve`; never on Lambda's cold start);
    None leaves the choice to `settings.upstream_client` (ROUTEWAY_UPSTREAM_CLIENT)."""
    from routeway.adapters.upstreams import BackendUpstreams

    clock = clock or SystemClock()
    redactor = build_redactor(settings)  # reads ROUTEWAY_CONFIG: a broken one fails here, clearly, not mid-request
    session = _aws_session(settings)
    snapshots, state = build_stores(settings, session)
    if secrets is None:
        from routeway.adapters.secrets import SsmSecrets, StaticSecrets

        secrets = SsmSecrets(session) if settings.openrouter_key_param else StaticSecrets({})
    off_loop = OffLoop(settings.store_timeout_s)
    if aiohttp_client is None:
        aiohttp_client = settings.upstream_client == "aiohttp"
    pool, client = _upstream_client(transport, aiohttp_client)
    upstreams = BackendUpstreams(settings, pool, _LearningSecrets(secrets, redactor), client)
    catalog = CatalogProvider(
        snapshots,
        state,
        clock,
        settings.catalog_ttl_s,
        bundled=lambda: load_bundled_snapshot(
            settings.config_path, gateway_region(settings), template_bedrock_models(settings)
        ),
        off_loop=off_loop,
    )
    extra: dict[str, Any] = {"telemetry": telemetry} if telemetry is not None else {}
    return Gateway(
        settings=settings,
        state=OffLoopState(state, off_loop),
        snapshots=snapshots,
        off_loop=off_loop,
        catalog=catalog,
        upstreams=upstreams,
        sources=_Sources(upstreams),
        clock=clock,
        cooldowns=CooldownTracker(clock),
        redact=redactor,
        key_cache=KeyCache(settings.key_cache_s, clock),
        alerts=build_alerts(settings, session),
        **extra,
    )
