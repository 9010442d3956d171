"""Candidate rows: one per (model, provider endpoint), flattened once per snapshot for fast filtering.

A model with no endpoint rows (the image-only FLUX models, router models) gets one row in which
OpenRouter picks the provider. Rows for a configured backend (vLLM, Ollama) are made per request,
because which backends are available depends on the process's environment.

A model a `bedrock` backend maps gets one more row beside OpenRouter's: "Amazon Bedrock (own account)", priced
at Bedrock's own price (the backend's `prices`: the packaged table's, or the operator's), keyed by region so a
throttle cools only that model there. Whether the backend is available here is the filters' question, as for
any backend.
"""

from __future__ import annotations

from dataclasses import dataclass

from routeway.domain.bedrock_prices import unpriced_message
from routeway.domain.bedrock_wire import PROVIDER_NAME, PROVIDER_SLUG, UNSUPPORTED_PARAMETERS
from routeway.domain.catalog import VARIABLE_PRICE, Backend, Catalog, Endpoint, Model, PerCatalog, Pricing
from routeway.domain.goals import ProviderPrefs
from routeway.domain.model_ref import suggest_models
from routeway.errors import InvalidRequest

OPENROUTER_CHOOSES = "OpenRouter (auto)"
DEFAULT_UPTIME = 97.0  # a provider with no uptime figures is assumed fair, not perfect
DEFAULT_LATENCY_MS = 2000.0
DEFAULT_THROUGHPUT_TPS = 40.0
DEGRADED_PENALTY = 0.2  # off the reliability of a provider whose status is degraded
LARGE_CONTEXT = 128_000
STRUCTURED_PARAMETERS = frozenset({"response_format", "structured_outputs"})


@dataclass(slots=True)
class Row:
    """Read-only by convention: rows are shared by every request of a snapshot. Not a frozen dataclass,
    whose __init__ sets each of these fields through object.__setattr__ (three times slower to build the
    catalog's ~850 rows on a snapshot load)."""

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
    key: str  # backend|model|provider: identifies this target for cooldowns and records (made once, read often)
    # What domain/policy.py's scores read of a row that no request changes, worked out once per row:
    seconds_p50: float  # p50 latency in seconds, DEFAULT_LATENCY_MS when unknown
    tokens_per_s: float  # p50 throughput, DEFAULT_THROUGHPUT_TPS when unknown, at least 0.1
    reliability: float  # uptime as a share (DEFAULT_UPTIME when unknown), less DEGRADED_PENALTY when degraded
    capability_base: float  # the balanced score's `capable` without its recency term


@dataclass(slots=True)
class _ModelFacts:
    """What every row of one model shares, worked out once per model rather than once per endpoint."""

    inputs: frozenset[str]
    outputs: frozenset[str]
    image_price: float
    variable_price: bool

    @classmethod
    def of(cls, model: Model) -> _ModelFacts:
        pricing = model.pricing
        return cls(
            inputs=frozenset(model.modalities.input),
            outputs=frozenset(model.modalities.output),
            image_price=pricing.image,
            variable_price=pricing.is_variable,
        )


def _capability_base(parameters: frozenset[str], context_length: int | None) -> float:
    return (
        0.3 * ("reasoning" in parameters)
        + 0.2 * ("tools" in parameters)
        + 0.1 * bool(STRUCTURED_PARAMETERS & parameters)
        + 0.2 * ((context_length or 0) >= LARGE_CONTEXT)
    )


def _reliability(uptime: float | None, status: int) -> float:
    share = (uptime if uptime is not None else DEFAULT_UPTIME) / 100
    return max(0.0, share - (DEGRADED_PENALTY if status < 0 else 0.0))


def row_for(model: Model, endpoint: Endpoint | None, backend: str = "openrouter", provider: str | None = None) -> Row:
    if endpoint is not None:
        return _endpoint_row(model, endpoint, _ModelFacts.of(model), backend)
    facts = _ModelFacts.of(model)
    pricing = model.pricing
    parameters = frozenset(model.supported_parameters)
    return Row(
        model=model,
        endpoint=None,
        backend=backend,
        provider_name=provider or OPENROUTER_CHOOSES,
        provider_slug=None,
        provider_root=(provider or "openrouter").lower(),
        prompt_price=pricing.prompt,
        completion_price=pricing.completion,
        request_price=pricing.request,
        image_price=pricing.image,
        variable_price=facts.variable_price,
        context_length=model.context_length,
        max_completion_tokens=model.max_completion_tokens,
        parameters=parameters,
        inputs=facts.inputs,
        outputs=facts.outputs,
        quantization="unknown",
        latency_p50_ms=None,
        throughput_p50_tps=None,
        uptime=None,
        status=0,
        key=f"{backend}|{model.id}|*",
        seconds_p50=DEFAULT_LATENCY_MS / 1000,
        tokens_per_s=DEFAULT_THROUGHPUT_TPS,
        reliability=_reliability(None, 0),
        capability_base=_capability_base(parameters, model.context_length),
    )


def _endpoint_row(model: Model, endpoint: Endpoint, facts: _ModelFacts, backend: str = "openrouter") -> Row:
    """An OpenRouter row for one provider endpoint (the path a snapshot load takes ~850 times)."""
    pricing = endpoint.pricing
    uptime = endpoint.uptime_last_30m
    if uptime is None:
        uptime = endpoint.uptime_last_1d if endpoint.uptime_last_1d is not None else endpoint.uptime_last_5m
    slug = endpoint.provider_slug
    parameters = frozenset(endpoint.supported_parameters)
    context_length = endpoint.context_length or model.context_length
    status = endpoint.status
    latency = endpoint.latency_last_30m.p50 if endpoint.latency_last_30m else None
    throughput = endpoint.throughput_last_30m.p50 if endpoint.throughput_last_30m else None
    return Row(
        model=model,
        endpoint=endpoint,
        backend=backend,
        provider_name=endpoint.provider_name,
        provider_slug=slug,
        provider_root=slug.split("/", 1)[0].lower(),
        prompt_price=pricing.prompt,
        completion_price=pricing.completion,
        request_price=pricing.request,
        image_price=pricing.image or facts.image_price,
        variable_price=facts.variable_price or pricing.is_variable,
        context_length=context_length,
        max_completion_tokens=endpoint.max_completion_tokens or model.max_completion_tokens,
        parameters=parameters,
        inputs=facts.inputs,
        outputs=facts.outputs,
        quantization=endpoint.quantization.lower(),
        latency_p50_ms=latency,
        throughput_p50_tps=throughput,
        uptime=uptime,
        status=status,
        key=f"{backend}|{model.id}|{slug or '*'}",
        seconds_p50=(latency or DEFAULT_LATENCY_MS) / 1000,
        tokens_per_s=max(throughput or DEFAULT_THROUGHPUT_TPS, 0.1),
        reliability=_reliability(uptime, status),
        capability_base=_capability_base(parameters, context_length),
    )


def _openrouter_rows_of(model: Model) -> tuple[Row, ...]:
    if not model.endpoints:
        return (row_for(model, None),)
    facts = _ModelFacts.of(model)
    return tuple([_endpoint_row(model, e, facts) for e in model.endpoints])


def bedrock_row(model: Model, backend: Backend) -> Row:
    """The row of `model` served by an own-account Bedrock backend: the catalog model's facts, the parameters
    Converse has, a slug `provider.only` accepts (amazon-bedrock-own, or with its region), and Bedrock's own price
    (the backend's `prices`, from the packaged table or the operator); unpriced, it is a variable price: shown and
    served, never held for under a budget (domain/bedrock_prices.py)."""
    slug = f"{PROVIDER_SLUG}/{backend.region}" if backend.region else PROVIDER_SLUG
    price = backend.prices.get(backend.model_ids.get(model.id, ""))
    endpoint = Endpoint(
        provider_name=PROVIDER_NAME,
        provider_slug=slug,
        context_length=model.context_length,
        max_completion_tokens=model.max_completion_tokens,
        pricing=price or Pricing(prompt=VARIABLE_PRICE, completion=VARIABLE_PRICE),
        supported_parameters=tuple(p for p in model.supported_parameters if p not in UNSUPPORTED_PARAMETERS),
    )
    return _endpoint_row(model, endpoint, _ModelFacts.of(model), backend.name)


def why_unbounded(catalog: Catalog | None, row: Row) -> str | None:
    """Why a row's cost has no bound, when it is a Bedrock model without a price: the setting that prices it."""
    if row.provider_root != PROVIDER_SLUG or row.endpoint is None or not row.endpoint.pricing.is_variable:
        return None
    backend = catalog.backends.get(row.backend) if catalog is not None else None
    if backend is None:
        return None
    model_id = backend.model_ids.get(row.model.id, row.model.id)
    return unpriced_message(backend.name, backend.region, row.model.id, model_id)


def _bedrock_backends(catalog: Catalog) -> dict[str, tuple[Backend, ...]]:
    """Catalog model id → the Bedrock backends that map it (most catalogs: none)."""
    serving: dict[str, list[Backend]] = {}
    for backend in catalog.snapshot.backends:
        if backend.kind == "bedrock" and backend.status not in ("deprecated", "planned"):
            for model_id in backend.model_ids:
                serving.setdefault(model_id, []).append(backend)
    return {k: tuple(v) for k, v in serving.items()}


BEDROCK_BACKENDS = PerCatalog(_bedrock_backends)


def _rows_of(catalog: Catalog, model: Model) -> tuple[Row, ...]:
    """A model's OpenRouter rows, then its own-account Bedrock rows."""
    rows = _openrouter_rows_of(model)
    bedrock = BEDROCK_BACKENDS(catalog).get(model.id)
    return rows + tuple(bedrock_row(model, b) for b in bedrock) if bedrock else rows


def model_rows(catalog: Catalog, model: Model) -> tuple[Row, ...]:
    """One model's OpenRouter rows. A named-model request builds only its model's, not every row of the
    catalog (which a cold start would otherwise pay for on its first request); kept on the Catalog."""
    everything = ALL_ROWS.built(catalog)
    if everything is not None:
        return everything[model.id]
    made = ROWS_MADE(catalog)
    rows = made.get(model.id)
    if rows is None:
        rows = made[model.id] = _rows_of(catalog, model)
    return rows


def openrouter_rows(catalog: Catalog) -> dict[str, tuple[Row, ...]]:
    """Every model's OpenRouter rows, built once per snapshot and kept on the Catalog."""
    return ALL_ROWS(catalog)


def _all_rows(catalog: Catalog) -> dict[str, tuple[Row, ...]]:
    made = ROWS_MADE(catalog)
    return {m.id: made.get(m.id) or _rows_of(catalog, m) for m in catalog.snapshot.models}


ROWS_MADE: PerCatalog[dict[str, tuple[Row, ...]]] = PerCatalog(lambda _: {})  # model by model, as named
ALL_ROWS = PerCatalog(_all_rows)  # every model's, once a request needs them all


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
    return PROVIDER_NAMES(catalog)


def _provider_names(catalog: Catalog) -> frozenset[str]:
    names = {p.slug.lower() for p in catalog.snapshot.providers} | {p.name.lower() for p in catalog.snapshot.providers}
    # a few dozen providers serve ~850 rows: the distinct ones first, then their names
    serving = {
        (row.provider_root, row.provider_slug, row.provider_name)
        for rows in openrouter_rows(catalog).values()
        for row in rows
    }
    for root, slug, name in serving:
        names.update(n for n in (root, (slug or "").lower(), name.lower()) if n)
    names.update(b.lower() for b in catalog.backends)
    return frozenset(names)


PROVIDER_NAMES = PerCatalog(_provider_names)
