"""Every environment variable Routeway reads, in one frozen object.

Built once from a mapping (``Settings.from_env(os.environ)``) so tests pass their own mapping
instead of patching the process environment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

StoreKind = Literal["local", "aws"]
AuthMode = Literal["required", "off"]

DEFAULT_OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MAX_BODY_BYTES = 5 * 1024 * 1024


class SettingsError(ValueError):
    """An environment variable holds a value Routeway cannot use."""


def _number(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be positive, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    home: Path
    store: StoreKind
    bucket: str | None
    table: str | None
    openrouter_base_url: str
    openrouter_api_key: str | None
    openrouter_key_param: str | None
    config_path: Path | None
    auth: AuthMode
    catalog_ttl_s: float
    deadline_s: float
    long_deadline_s: float
    in_lambda: bool
    keepalive_s: float = 15.0
    generation_ttl_days: int = 30

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        in_lambda = bool(env.get("AWS_LAMBDA_FUNCTION_NAME"))
        store = env.get("ROUTEWAY_STORE", "aws" if in_lambda else "local").strip().lower()
        if store not in ("local", "aws"):
            raise SettingsError(f"ROUTEWAY_STORE must be 'local' or 'aws', got {store!r}")
        auth = env.get("ROUTEWAY_AUTH", "required").strip().lower()
        if auth not in ("required", "off"):
            raise SettingsError(f"ROUTEWAY_AUTH must be 'required' or 'off', got {auth!r}")
        if in_lambda:
            auth = "required"  # 'off' is for `routeway serve` on a laptop, never for a deployed stack
        config = env.get("ROUTEWAY_CONFIG", "").strip()
        return cls(
            home=Path(env.get("ROUTEWAY_HOME", "").strip() or ".routeway"),
            store=store,  # type: ignore[arg-type]
            bucket=env.get("ROUTEWAY_BUCKET") or None,
            table=env.get("ROUTEWAY_TABLE") or None,
            openrouter_base_url=(env.get("OPENROUTER_BASE_URL") or DEFAULT_OPENROUTER_BASE_URL).rstrip("/"),
            openrouter_api_key=env.get("OPENROUTER_API_KEY") or None,
            openrouter_key_param=env.get("OPENROUTER_API_KEY_PARAM") or None,
            config_path=Path(config) if config else None,
            auth=auth,  # type: ignore[arg-type]
            catalog_ttl_s=_number(env, "ROUTEWAY_CATALOG_TTL_S", 60.0),
            deadline_s=_number(env, "ROUTEWAY_DEADLINE_S", 28.0),
            long_deadline_s=_number(env, "ROUTEWAY_LONG_DEADLINE_S", 600.0),
            in_lambda=in_lambda,
            keepalive_s=_number(env, "ROUTEWAY_KEEPALIVE_S", 15.0),
        )
