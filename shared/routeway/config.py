"""Aliases, backends and auto's task pools from YAML: the packaged defaults, or the file named by ROUTEWAY_CONFIG.

ROUTEWAY_CONFIG replaces the packaged aliases and backends as a whole. Its `auto.pools` replaces the
packaged pools task by task: a task the file does not name keeps its packaged pool, `code: []` empties
one (that task then ranks the filtered catalog). Unknown model ids in a pool are allowed here: the
live catalog decides, and /readyz and `routeway catalog status` name them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from routeway.domain.catalog import Alias, Backend, BackendStatus
from routeway.domain.tasks import TASKS
from routeway.settings import Settings


class ConfigError(ValueError):
    """The aliases/backends configuration is unreadable or inconsistent."""


@dataclass(frozen=True)
class RoutingConfig:
    aliases: tuple[Alias, ...]
    backends: tuple[Backend, ...]
    pools: dict[str, tuple[str, ...]] = field(default_factory=dict)


def _pools(document: Mapping[str, Any], origin: str) -> dict[str, tuple[str, ...]]:
    auto = document.get("auto")
    if auto is None:
        return {}
    pools = auto.get("pools") if isinstance(auto, Mapping) else None
    if not isinstance(pools, Mapping):
        raise ConfigError(f"{origin}: 'auto' must be a mapping with 'pools: {{<task>: [model ids]}}'")
    parsed: dict[str, tuple[str, ...]] = {}
    for task, ids in pools.items():
        if task not in TASKS:
            raise ConfigError(f"{origin}: auto.pools names unknown task {task!r}; tasks are {', '.join(TASKS)}")
        if not isinstance(ids, list) or not all(isinstance(m, str) and m.strip() for m in ids):
            raise ConfigError(f"{origin}: auto.pools.{task} must be a list of model ids")
        if len(set(ids)) != len(ids):
            raise ConfigError(f"{origin}: auto.pools.{task} lists a model twice")
        parsed[task] = tuple(m.strip() for m in ids)
    return parsed


def _parse(document: Any, origin: str) -> RoutingConfig:
    if not isinstance(document, Mapping):
        raise ConfigError(f"{origin}: expected a mapping with 'aliases' and 'backends'")
    try:
        backends = tuple(Backend(**row) for row in document.get("backends") or ())
        aliases = tuple(Alias(**row) for row in document.get("aliases") or ())
    except (TypeError, ValidationError) as exc:
        raise ConfigError(f"{origin}: {exc}") from None
    names = [b.name for b in backends]
    if len(set(names)) != len(names):
        raise ConfigError(f"{origin}: backend names must be unique")
    alias_names = [a.alias for a in aliases]
    if len(set(alias_names)) != len(alias_names):
        raise ConfigError(f"{origin}: alias names must be unique")
    for alias in aliases:
        unknown = [b for b in alias.backends if b not in names]
        if unknown:
            raise ConfigError(f"{origin}: alias {alias.alias!r} names unknown backends {unknown}")
    return RoutingConfig(aliases=aliases, backends=backends, pools=_pools(document, origin))


def _read(text: str, origin: str) -> RoutingConfig:
    import yaml  # deferred: only the refresh and the CLI read YAML

    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from None
    return _parse(document, origin)


def load_routing_config(path: Path | None) -> RoutingConfig:
    packaged = _read(
        resources.files("routeway").joinpath("data/defaults.yaml").read_text(encoding="utf-8"), "packaged defaults"
    )
    if path is None:
        return packaged
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"ROUTEWAY_CONFIG {path}: {exc.strerror}") from None
    config = _read(text, str(path))
    return replace(config, pools={**packaged.pools, **config.pools})


def backend_base_url(backend: Backend, settings: Settings) -> str | None:
    """Where a backend answers: OpenRouter's from the settings, others from their variable or their YAML."""
    if backend.kind == "openrouter":
        return settings.openrouter_base_url
    configured = settings.variable(backend.base_url_env)
    if configured:
        return configured.rstrip("/")
    return backend.base_url.rstrip("/") if backend.base_url else None


def backend_status(backend: Backend, settings: Settings) -> tuple[BackendStatus, str]:
    """Status as configured right now: a key or URL missing from this process makes it unconfigured."""
    if backend.status in ("deprecated", "planned"):
        return backend.status, backend.reason
    if backend.kind != "openrouter" and not backend_base_url(backend, settings):
        return "unconfigured", f"set {backend.base_url_env or 'base_url'} to enable it"
    if backend.kind == "openrouter" and backend.api_key_env and not settings.variable(backend.api_key_env):
        if settings.openrouter_key_param:
            return "available", "key read from SSM on first use"
        return "unconfigured", f"set {backend.api_key_env}"
    return "available", backend.reason


def available_backends(backends: Iterable[Backend], settings: Settings) -> set[str]:
    """Names of the backends a request can be sent to from this process right now."""
    return {b.name for b in backends if backend_status(b, settings)[0] == "available"}
