"""Vendors' own model names (what Claude Code and the vendors' SDKs send) resolved to catalog ids.

A name without a vendor prefix that maps to exactly one catalog id is that id: first the name as
sent (`gpt-4o-mini` → `openai/gpt-4o-mini`), then with a date suffix dropped and the version's
hyphens as dots (`claude-sonnet-4-5-20250929` → `anthropic/claude-sonnet-4.5`,
`claude-3-5-haiku-20241022` → `anthropic/claude-3.5-haiku`). Ids, aliases and routing modes are
never touched; no unique match leaves the name as sent, so the plan answers 404 `model_not_found`
with suggestions. What was resolved is reported as `model_resolved=<id>` in `x-routeway-applied`.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Sequence

from routeway.domain.wire import ChatRequest

DATE_SUFFIX = re.compile(r"-(?:\d{8}|\d{4}-\d{2}-\d{2})$")
VERSION_HYPHEN = re.compile(r"(?<=\d)-(?=\d)")


def _unique(names: set[str], known_ids: Sequence[str]) -> str | None:
    found = [i for i in known_ids if "/" in i and i.partition("/")[2] in names]
    return found[0] if len(found) == 1 else None


def resolve_native_name(raw: str, known_ids: Sequence[str], reserved: Collection[str] = ()) -> str | None:
    """The one catalog id `raw` stands for, or None (an id already, reserved, prefixed, or no unique match)."""
    if not raw or "/" in raw or raw in reserved or raw in known_ids:
        return None
    exact = _unique({raw}, known_ids)
    if exact is not None or any(i.partition("/")[2] == raw for i in known_ids):
        return exact  # the name as sent matched: ambiguous stays ambiguous
    base = DATE_SUFFIX.sub("", raw)
    return _unique({base, VERSION_HYPHEN.sub(".", base)}, known_ids)


def resolve_native_names(
    request: ChatRequest, known_ids: Sequence[str], reserved: Collection[str] = ()
) -> tuple[ChatRequest, list[str]]:
    """The request with its model and `models` resolved, and the `model_resolved=<id>` notes."""
    notes: list[str] = []

    def resolved(name: str) -> str:
        target = resolve_native_name(name, known_ids, reserved)
        if target is None:
            return name
        note = f"model_resolved={target}"
        if note not in notes:
            notes.append(note)
        return target

    model = resolved(request.model)
    models = tuple(resolved(m) for m in request.models)
    if not notes:
        return request, notes
    return dataclasses.replace(request, model=model, models=models), notes
