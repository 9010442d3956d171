"""Aliases and backends from YAML: the packaged defaults, or the file named by ROUTEWAY_CONFIG."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from routeway.domain.catalog import Alias, Backend, BackendStatus
from routeway.settings import Settings


class ConfigError(ValueError):
    """The aliases/backends configuration is unreadable or inconsistent."""


@dataclass(frozen=True)
class RoutingConfig:
    aliases: tuple[Alias, ...]
    backends: tuple[Backend, ...]


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
    return RoutingConfig(aliases=aliases, backends=backends)


def load_routing_config(path: Path | None) -> RoutingConfig:
    import yaml  # deferred: only the refresh and the CLI read YAML

    if path is None:
        text = resources.files("routeway").joinpath("data/defaults.yaml").read_text(encoding="utf-8")
        origin = "packaged defaults"
    else:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"ROUTEWAY_CONFIG {path}: {exc.strerror}") from None
        origin = str(path)
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{origin}: not valid YAML ({exc.__class__.__name__})") from None
    return _parse(document, origin)


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
