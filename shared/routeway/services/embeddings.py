"""The core of every embeddings request: the completions core's plan, attempts, proof, record and charge.

An embeddings request is planned like chat (domain.embeddings gives it a routing view that needs
`embeddings` output), tried in order under the same fallback policy (domain.fallback, with a 200
that must hold vectors), proven, recorded and charged the same way. Only the call (`/embeddings`
instead of `/chat/completions`) and the answer's shape differ. A `dimensions` the planned models
do not support is refused before any call (400, param `dimensions`).
"""

from __future__ import annotations

from typing import Any, cast

from routeway.domain.catalog import Catalog
from routeway.domain.embeddings import EmbeddingsRequest, as_floats
from routeway.domain.plan import Candidate, Plan
from routeway.domain.records import ApiKeyRecord
from routeway.errors import GatewayError, InvalidRequest, UpstreamError
from routeway.services.admission import admit
from routeway.services.attempts import AttemptResult, run_attempt
from routeway.services.completion_core import CompletionCore, RequestState, provider_of, reasons_of
from routeway.services.keys import fixed_models
from routeway.services.results import Completion
from routeway.services.routing import plan_for

DIMENSIONS = "dimensions"


def with_dimensions(plan: Plan, catalog: Catalog) -> list[Candidate]:
    """The attempts whose model takes `dimensions`; 400 naming the models that do when none does."""
    kept = [c for c in plan.attempts if DIMENSIONS in c.row.parameters]
    if kept:
        return kept
    able = [
        m.id for m in catalog.snapshot.models if "embeddings" in m.output_set and DIMENSIONS in m.supported_parameters
    ]
    named = ", ".join(sorted({c.row.model.id for c in plan.attempts}))
    raise InvalidRequest(
        f"{named} does not support 'dimensions' (its vectors have a fixed length). Models that do: {', '.join(able)}.",
        param=DIMENSIONS,
        suggestions=able[:5],
    )


class EmbeddingsService(CompletionCore):
    async def embed(self, request: EmbeddingsRequest, key: ApiKeyRecord | None) -> Completion:
        """OpenAI's embeddings list (float vectors, `usage` with `cost`) and its proof."""
        state = self._begin(key, request.chat.model)
        return await self.accounted(state, self._embed(request, key, state))

    async def _embed(self, request: EmbeddingsRequest, key: ApiKeyRecord | None, state: RequestState) -> Completion:
        proof = state.proof
        try:
            catalog = state.catalog = await self.gw.catalog.current()
            await admit(self.gw, state.ledger, key, fixed_models(catalog, request.chat), request.payload)
            plan, _, _ = plan_for(self.gw, catalog, request.chat, key)
            proof.planned(
                mode=plan.mode, alias=plan.alias, objective=plan.objective, task=None, catalog_version=catalog.version
            )
            if plan.fan_out:
                raise InvalidRequest("bodybuilder fans out chat requests; name an embedding model.", param="model")
            if request.dimensions is not None:
                plan.attempts = with_dimensions(plan, catalog)
            state.body = request.payload  # each attempt holds what it can cost

            async def attempt(candidate: Candidate, remaining: float) -> AttemptResult:
                return await run_attempt(
                    self.gw,
                    candidate,
                    request.payload,
                    plan.provider_prefs,
                    remaining,
                    expect="embeddings",
                    max_bytes=self.answer_limit,
                    backends=catalog.backends,
                )

            winner = cast(AttemptResult, await self._in_order(plan, state, attempt))
            body = self._vectors(winner, state, request.inputs)
            usage = body["usage"]
            await self._record(
                state, ok=True, http_status=200, error_code=None, usage=usage, charge=True, after_answer=True
            )
            return Completion(body, proof)
        except GatewayError as exc:
            await self._fail(state, exc)
            raise

    def _vectors(self, result: AttemptResult, state: RequestState, inputs: int) -> dict[str, Any]:
        proof = state.proof
        answer = result.completion or {}
        rows = sorted(answer.get("data") or [], key=lambda d: d.get("index", 0) if isinstance(d, dict) else 0)
        vectors = [as_floats(row.get("embedding")) for row in rows]
        if len(vectors) != inputs or any(v is None for v in vectors):
            raise UpstreamError(
                f"{result.candidate.row.model.id} answered {len(vectors)} usable vectors for {inputs} inputs.",
                attempts=proof.attempts_as_dicts(),
            )
        raw = answer.get("usage")
        raw_usage: dict[str, Any] = raw if isinstance(raw, dict) else {}
        prompt_tokens = raw_usage.get("prompt_tokens")
        prompt_tokens = prompt_tokens if isinstance(prompt_tokens, int) else 0
        usage: dict[str, Any] = {"prompt_tokens": prompt_tokens, "completion_tokens": 0}
        if isinstance(raw_usage.get("cost"), int | float):
            usage["cost"] = raw_usage["cost"]
        self._priced({"usage": usage}, result.candidate, state)  # the upstream's cost, else the catalog's price
        usage.pop("completion_tokens")
        usage["total_tokens"] = prompt_tokens
        proof.won(result.record, provider=provider_of(answer.get("provider"), result), reason=reasons_of(result))
        return {
            "object": "list",
            "data": [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)],
            "model": answer.get("model") if isinstance(answer.get("model"), str) else result.candidate.row.model.id,
            "usage": usage,
        }
