"""Every environment variable Routeway reads, in one frozen object.

Built once from a mapping (``Settings.from_env(mapping)``) so tests pass their own mapping instead of
patching the process environment. ``Settings.from_process()`` is the only place that reads
``os.environ``; for the command line it first reads ``ROUTEWAY_HOME/config.json`` (written by
``routeway configure``), which the environment then overrides.

Backends in the aliases/backends YAML name their own variables (``base_url_env``, ``api_key_env``);
those are looked up in ``Settings.env``, the mapping the settings were built from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

from routeway.errors import RoutewayError

StoreKind = Literal["local", "aws"]
AuthMode = Literal["required", "off"]
UpstreamClient = Literal["httpx", "aiohttp"]

DEFAULT_OPENROUTER_BASE_URL = "https://openrouter.ai/api/v1"
MAX_BODY_BYTES = 5 * 1024 * 1024
CONFIG_FILE = "config.json"
# What `routeway configure` may save: option name -> the environment variable it stands for.
CONFIG_FILE_FIELDS = {
    "openrouter_key": "OPENROUTER_API_KEY",
    "base_url": "OPENROUTER_BASE_URL",
    "vllm_url": "ROUTEWAY_VLLM_BASE_URL",
    "ollama_url": "ROUTEWAY_OLLAMA_BASE_URL",
}


class SettingsError(RoutewayError, ValueError):
    """An environment variable (or the configuration file) holds a value Routeway cannot use."""


def _number(env: Mapping[str, str], name: str, default: float, *, zero_ok: bool = False) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}") from None
    if value < 0 or (value == 0 and not zero_ok):
        raise SettingsError(f"{name} must be {'zero or more' if zero_ok else 'positive'}, got {raw!r}")
    return value


def cors_origins_of(env: Mapping[str, str]) -> tuple[str, ...]:
    """ROUTEWAY_CORS_ORIGINS: comma-separated origins (scheme://host[:port]) a browser may call from."""
    origins = tuple(o.strip().rstrip("/") for o in env.get("ROUTEWAY_CORS_ORIGINS", "").split(",") if o.strip())
    for origin in origins:
        if origin != "*" and not origin.startswith(("http://", "https://")):
            raise SettingsError(f"ROUTEWAY_CORS_ORIGINS: {origin!r} is not an origin such as https://app.example.com")
    return origins


def home_of(env: Mapping[str, str]) -> Path:
    """ROUTEWAY_HOME: the folder of the embedded store and of `routeway configure`'s file.

    Defaults to ``~/.routeway`` (``HOME`` from the same mapping), so the CLI and `routeway serve` share one
    store whatever directory they run from.
    """
    raw = env.get("ROUTEWAY_HOME", "").strip()
    if raw:
        return Path(raw).expanduser()
    user_home = env.get("HOME", "").strip()
    return (Path(user_home) if user_home else Path.home()) / ".routeway"


def read_config_file(env: Mapping[str, str]) -> dict[str, str]:
    """The values `routeway configure` saved in ROUTEWAY_HOME/config.json ({} when there is none)."""
    path = home_of(env) / CONFIG_FILE
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}
    except OSError as exc:
        raise SettingsError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError:
        raise SettingsError(f"{path} is not valid JSON; run `routeway configure` again") from None
    if not isinstance(document, dict):
        raise SettingsError(f"{path} is not a JSON object; run `routeway configure` again")
    return {k: str(v) for k, v in document.items() if k in CONFIG_FILE_FIELDS.values() and v}


def without_pydantic_plugins() -> None:
    """pydantic looks for plugins when it builds its first model (the catalog's): `importlib.metadata.entry_points()`
    reads the metadata of every installed distribution (~15 ms of a cold start in the dev venv). Routeway uses
    none, so its Lambda functions skip the look-up; a deployment that adds a plugin (Logfire's, say) sets
    PYDANTIC_DISABLE_PLUGINS in the function's environment itself ("" enables them all)."""
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")


def process_env(*, with_config_file: bool) -> dict[str, str]:
    """The process environment, laid over ROUTEWAY_HOME/config.json when asked (the command line)."""
    env = dict(os.environ)
    return {**read_config_file(env), **env} if with_config_file else env


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
    keepalive_s: float = 10.0
    first_token_timeout_s: float = 30.0
    generation_ttl_days: int = 30
    store_timeout_s: float = 5.0
    tracing: bool = False
    gateway_key: str | None = None  # ROUTEWAY_KEY: the key `routeway run --url` sends
    cors_origins: tuple[str, ...] = ()  # ROUTEWAY_CORS_ORIGINS: empty, no CORS
    # ROUTEWAY_KEY_CACHE_S: how long a key record read for one request serves the next (0: never); a
    # revocation takes effect within it; keys with a budget are always read fresh (services/keys.py)
    key_cache_s: float = 5.0
    # ROUTEWAY_UPSTREAM_CLIENT: what upstream calls run on: httpx by default and always on Lambda (the layer has
    # no aiohttp, whose import would cost ~190 ms of cold start); `routeway serve` asks for aiohttp itself; the
    # tests set it to run their faults on both clients (tests/conftest.py)
    upstream_client: UpstreamClient = "httpx"
    alert_webhook: str | None = None  # ROUTEWAY_ALERT_WEBHOOK: where budget threshold alerts are POSTed
    event_bus: str = "default"  # ROUTEWAY_EVENT_BUS: the EventBridge bus they go to on the AWS store
    # the largest upstream answer each entry returns (PRODUCT.md "Upstream answers are bounded"): a buffered
    # Lambda response stops at 6 MB counted after the body is JSON-escaped into Lambda's envelope (up to twice
    # its size), a streamed one at 20 MB; the rest is room for the route proof
    answer_limit_bytes: int = 2_900_000
    long_answer_limit_bytes: int = 19_500_000
    # `routeway serve`'s connection timeouts (http/serve_timeouts.py): a connection with no request in progress
    # (just opened, or between two) is closed after `serve_idle_timeout_s` without a byte; a request's headers
    # must be whole within `serve_header_timeout_s` of its first byte, its body within `serve_body_timeout_s`
    # of its headers (else 408 request_timeout)
    serve_idle_timeout_s: float = 20.0
    serve_header_timeout_s: float = 10.0
    serve_body_timeout_s: float = 60.0
    env: Mapping[str, str] = field(default_factory=dict, repr=False, compare=False)

    def variable(self, name: str | None) -> str | None:
        """A variable named by configuration (a backend's base_url_env or api_key_env), if set."""
        value = self.env.get(name) if name else None
        return value or None

    @classmethod
    def from_process(cls, *, with_config_file: bool = False) -> Settings:
        """Settings from this process's environment (and, for the command line, the configure file)."""
        return cls.from_env(process_env(with_config_file=with_config_file))

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
        deadline_s = _number(env, "ROUTEWAY_DEADLINE_S", 28.0)
        # a store call never outlives the request it serves: at most 80% of the short deadline
        store_timeout_s = min(_number(env, "ROUTEWAY_STORE_TIMEOUT_S", 5.0), deadline_s * 0.8)
        upstream_client = env.get("ROUTEWAY_UPSTREAM_CLIENT", "httpx").strip().lower() or "httpx"
        if upstream_client not in ("httpx", "aiohttp"):
            raise SettingsError(f"ROUTEWAY_UPSTREAM_CLIENT must be 'httpx' or 'aiohttp', got {upstream_client!r}")
        if in_lambda:
            upstream_client = "httpx"  # the layer ships no aiohttp (shared/requirements.txt)
        return cls(
            home=home_of(env),
            store=store,  # type: ignore[arg-type]
            bucket=env.get("ROUTEWAY_BUCKET") or None,
            table=env.get("ROUTEWAY_TABLE") or None,
            openrouter_base_url=(env.get("OPENROUTER_BASE_URL") or DEFAULT_OPENROUTER_BASE_URL).rstrip("/"),
            openrouter_api_key=env.get("OPENROUTER_API_KEY") or None,
            openrouter_key_param=env.get("OPENROUTER_API_KEY_PARAM") or None,
            config_path=Path(config) if config else None,
            auth=auth,  # type: ignore[arg-type]
            catalog_ttl_s=_number(env, "ROUTEWAY_CATALOG_TTL_S", 60.0),
            deadline_s=deadline_s,
            long_deadline_s=_number(env, "ROUTEWAY_LONG_DEADLINE_S", 600.0),
            in_lambda=in_lambda,
            keepalive_s=min(_number(env, "ROUTEWAY_KEEPALIVE_S", 10.0), 10.0),  # at least every 10 s
            first_token_timeout_s=_number(env, "ROUTEWAY_FIRST_TOKEN_TIMEOUT_S", 30.0),
            answer_limit_bytes=int(_number(env, "ROUTEWAY_ANSWER_LIMIT_BYTES", 2_900_000)),
            long_answer_limit_bytes=int(_number(env, "ROUTEWAY_LONG_ANSWER_LIMIT_BYTES", 19_500_000)),
            serve_idle_timeout_s=_number(env, "ROUTEWAY_SERVE_IDLE_TIMEOUT_S", 20.0),
            serve_header_timeout_s=_number(env, "ROUTEWAY_SERVE_HEADER_TIMEOUT_S", 10.0),
            serve_body_timeout_s=_number(env, "ROUTEWAY_SERVE_BODY_TIMEOUT_S", 60.0),
            store_timeout_s=store_timeout_s,
            tracing=env.get("ROUTEWAY_TRACING", "off").strip().lower() in ("on", "true", "1"),
            gateway_key=env.get("ROUTEWAY_KEY") or None,
            cors_origins=cors_origins_of(env),
            key_cache_s=_number(env, "ROUTEWAY_KEY_CACHE_S", 5.0, zero_ok=True),
            upstream_client=upstream_client,  # type: ignore[arg-type]
            alert_webhook=env.get("ROUTEWAY_ALERT_WEBHOOK") or None,
            event_bus=env.get("ROUTEWAY_EVENT_BUS") or "default",
            env=MappingProxyType(dict(env)),
        )
