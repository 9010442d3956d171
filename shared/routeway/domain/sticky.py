"""Sticky providers (PRODUCT.md "Sticky providers"): a conversation's turns go to the provider that answered
its previous turn while that provider stays healthy, so its prompt cache hits.

A conversation is named by the key that asks (stickiness never crosses keys: RELIABILITY 63), the model
asked for, and the first of: the `x-routeway-session` header (hashed by the HTTP face, never echoed), the
body's `prompt_cache_key`, its `user` (Messages' `metadata.user_id`), else its system messages and first
user message, which an agent resends unchanged every turn. The name is a digest: nothing of the prompt is
kept.

The stickiness is one reorder of a finished plan, outside the planner (whose property tests and oracle
it leaves alone): the remembered target moves to the front of the attempts with the reason `sticky`. It is
not applied when the target is cooling down, is no longer among the plan's candidates (filters, budget,
the request changed), the client ordered providers itself, or the plan fans out. For a named model, chain or
alias it only reorders the providers of the model the plan tries first: the client's order of models stands
(a turn that fell back to the second model goes back to the first once it is healthy); `auto` and `free`
choose the model themselves, so there the remembered model and provider are kept together. The remembered target
then simply fails over like any other first attempt: whoever answers this turn is remembered next.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import replace
from itertools import islice
from typing import Any

from routeway.domain.plan import Candidate, Plan

STICKY_REASON = "sticky"
NAMED_MODES = frozenset({"fixed", "fallbacks", "alias"})  # the client chose the models and their order
SCAN_LIMIT = 64  # candidates looked through for the remembered one: routing modes make them as they are read


def _first_user(messages: Any) -> Any:
    for message in messages if isinstance(messages, list) else ():
        if isinstance(message, Mapping) and message.get("role") == "user":
            return message.get("content")
    return None


def _text(content: Any) -> str:
    """Content as plain text, so a moved `cache_control` mark does not change the conversation's name."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str))
    return ""


def conversation_id(scope: str, model: str, body: Mapping[str, Any], session: str | None) -> str:
    """The digest naming this request's conversation within `scope` (the key)."""
    if session:
        marker = f"session\0{session}"
    elif isinstance(body.get("prompt_cache_key"), str) and body["prompt_cache_key"]:
        marker = f"prompt_cache_key\0{body['prompt_cache_key']}"
    elif isinstance(body.get("user"), str) and body["user"]:
        marker = f"user\0{body['user']}"
    else:
        messages = body.get("messages")
        systems = [
            _text(m.get("content"))
            for m in (messages if isinstance(messages, list) else ())
            if isinstance(m, Mapping) and m.get("role") in ("system", "developer")
        ]
        marker = "prefix\0" + "\0".join(systems) + "\0\0" + _text(_first_user(messages))
    material = "\0\0".join((scope, model, marker)).encode("utf-8", "surrogatepass")
    return hashlib.sha256(material).hexdigest()[:32]


def stick(plan: Plan, target: str) -> Candidate | None:
    """Put the remembered `target` (a row key) first in `plan.attempts`; the candidate, or None when it may not."""
    if plan.fan_out or plan.provider_prefs.order:
        return None
    found = next((c for c in islice(plan.ranked, SCAN_LIMIT) if c.row.key == target), None)
    if found is None or found.cooling is not None:
        return None
    if plan.mode in NAMED_MODES and plan.attempts and found.row.model.id != plan.attempts[0].row.model.id:
        return None
    first = Candidate(
        replace(found.scored, reasons=[STICKY_REASON, *found.scored.reasons]), found.upstream_model, found.alias
    )
    rest = [c for c in plan.attempts if c is not found]
    if len(rest) == len(plan.attempts) and rest:  # it was not an attempt: the plan keeps its length
        rest.pop()
    plan.attempts = [first, *rest]
    return first
