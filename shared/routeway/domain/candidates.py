"""Candidate rows: one per (model, provider endpoint), flattened once per snapshot for fast filtering.

A model with no endpoint rows (the image-only FLUX models, router models) gets one row in which
OpenRouter picks the provider. Rows for a configured backend (vLLM, Ollama) are made per request,
because which backends are available depends on the process's environment.
"""

from __future__ import annotations

from dataclasses import dataclass

from routeway.domain.catalog import Catalog, Endpoint, Model
from routeway.domain.goals import ProviderPrefs
from routeway.domain.model_ref import suggest_models
from routeway.errors import InvalidRequest

OPENROUTER_CHOOSES = "OpenRouter (auto)"
DEFAULT_UPTIME = 97.0  # a provider with no uptime figures is assumed fair, not perfect
DEFAULT_LATENCY_MS = 2000.0
DEFAULT_THROUGHPUT_TPS = 40.0


@dataclass(frozen=True, slots=True)
class Row:
    model: Model
    endpoint: Endpoint | None
    backend: str
    provider_name: str
    provider_slug: str | None  # OpenRouter's tag, e.g. deepinfra/turbo; None when OpenRouter chooses
    provider_root: str  # lower-case root slug, e.g. deepinfra
    prompt_price: float
    completion_price: float
    request_price: float
    image_price: float
    variable_price: bool
    context_length: int | None
    max_completion_tokens: int | None
    parameters: frozenset[str]
    inputs: frozenset[str]
    outputs: frozenset[str]
    quantization: str
    latency_p50_ms: float | None
    throughput_p50_tps: float | None
    uptime: float | None
    status: int

    @property
    def key(self) -> str:
        """Identifies this target for cooldowns and records: backend, model and provider."""
        return f"{self.backend}|{self.model.id}|{self.provider_slug or '*'}"


def row_for(model: Model, endpoint: Endpoint | None, backend: str = "openrouter", provider: str | None = None) -> Row:
    pricing = endpoint.pricing if endpoint else model.pricing
    uptime = None
    if endpoint is not None:
        uptime = next(
            (u for u in (endpoint.uptime_last_30m, endpoint.uptime_last_1d, endpoint.uptime_last_5m) if u is not None),
            None,
        )
    name = endpoint.provider_name if endpoint else (provider or OPENROUTER_CHOOSES)
    return Row(
        model=model,
        endpoint=endpoint,
        backend=backend,
        provider_name=name,
        provider_slug=endpoint.provider_slug if endpoint else None,
        provider_root=(endpoint.provider_root_slug if endpoint else (provider or "openrouter")).lower(),
        prompt_price=pricing.prompt,
        completion_price=pricing.completion,
        request_price=pricing.request,
        image_price=pricing.image or model.pricing.image,
        variable_price=pricing.is_variable or model.pricing.is_variable,
        context_length=(endpoint.context_length if endpoint else None) or model.context_length,
        max_completion_tokens=(endpoint.max_completion_tokens if endpoint else None) or model.max_completion_tokens,
        parameters=frozenset(endpoint.supported_parameters if endpoint else model.supported_parameters),
        inputs=frozenset(model.modalities.input),
        outputs=frozenset(model.modalities.output),
        quantization=(endpoint.quantization if endpoint else "unknown").lower(),
        latency_p50_ms=endpoint.latency_last_30m.p50 if endpoint and endpoint.latency_last_30m else None,
        throughput_p50_tps=endpoint.throughput_last_30m.p50 if endpoint and endpoint.throughput_last_30m else None,
        uptime=uptime,
        status=endpoint.status if endpoint else 0,
    )


def _openrouter_rows_of(model: Model) -> tuple[Row, ...]:
    return tuple(row_for(model, e) for e in model.endpoints) if model.endpoints else (row_for(model, None),)


def _rows_made(catalog: Catalog) -> dict[str, tuple[Row, ...]]:
    made = catalog.memo.get("model_rows")
    if not isinstance(made, dict):
        made = {}
        catalog.memo["model_rows"] = made
    return made


def model_rows(catalog: Catalog, model: Model) -> tuple[Row, ...]:
    """One model's OpenRouter rows. A named-model request builds only its model's, not every row of the
    catalog (which a cold start would otherwise pay for on its first request); kept on the Catalog."""
    everything = catalog.memo.get("openrouter_rows")
    if isinstance(everything, dict):
        return everything[model.id]  # type: ignore[no-any-return]
    made = _rows_made(catalog)
    rows = made.get(model.id)
    if rows is None:
        rows = made[model.id] = _openrouter_rows_of(model)
    return rows


def openrouter_rows(catalog: Catalog) -> dict[str, tuple[Row, ...]]:
    """Every model's OpenRouter rows, built once per snapshot and kept on the Catalog."""
    cached = catalog.memo.get("openrouter_rows")
    if not isinstance(cached, dict):
        made = _rows_made(catalog)
        cached = {m.id: made.get(m.id) or _openrouter_rows_of(m) for m in catalog.snapshot.models}
        catalog.memo["openrouter_rows"] = cached
    return cached


def check_provider_names(catalog: Catalog, prefs: ProviderPrefs) -> None:
    """Unknown provider slugs are typos: say so (400), rather than silently routing nowhere."""
    if not (prefs.order or prefs.only or prefs.ignore):
        return  # the names index is built by the first request that names a provider, not by every request
    known = known_provider_names(catalog)
    for field_name, names in (("order", prefs.order), ("only", prefs.only), ("ignore", prefs.ignore)):
        for index, name in enumerate(names):
            if name.lower() not in known:
                close = suggest_models(name.lower(), sorted(known))
                hint = f" Did you mean {', '.join(close[:3])}?" if close else ""
                raise InvalidRequest(f"Unknown provider {name!r}.{hint}", param=f"provider.{field_name}[{index}]")


def known_provider_names(catalog: Catalog) -> frozenset[str]:
    """Every provider slug and name (lower case) the catalog and the backends know; built once per snapshot."""
    cached = catalog.memo.get("provider_names")
    if cached is None:
        names = {p.slug.lower() for p in catalog.snapshot.providers} | {
            p.name.lower() for p in catalog.snapshot.providers
        }
        for rows in openrouter_rows(catalog).values():
            for row in rows:
                names.update(
                    n for n in (row.provider_root, (row.provider_slug or "").lower(), row.provider_name.lower()) if n
                )
        names.update(b.lower() for b in catalog.backends)
        cached = frozenset(names)
        catalog.memo["provider_names"] = cached
    return cached  # type: ignore[return-value]
