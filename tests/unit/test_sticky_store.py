"""Sticky providers: the in-process memory (bounded, forgetting after its time to live), a conversation's name,
and the one reorder of a plan."""

from __future__ import annotations

from routeway.domain.candidates import row_for
from routeway.domain.catalog import Endpoint, Model, Pricing
from routeway.domain.goals import ProviderPrefs
from routeway.domain.plan import Candidate, Plan
from routeway.domain.policy import Scored
from routeway.domain.sticky import conversation_id, stick
from routeway.services.sticky import StickyProviders

CLAUDE_CODE_TURN = {
    "messages": [
        {"role": "system", "content": [{"type": "text", "text": "You are Claude Code.", "cache_control": {}}]},
        {"role": "user", "content": "fix the bug"},
    ]
}


def test_the_least_recently_used_conversation_goes_first() -> None:
    sticky = StickyProviders(max_entries=2, ttl_s=60)
    sticky.remember("a", "openrouter|m|x", now=0)
    sticky.remember("b", "openrouter|m|y", now=1)
    assert sticky.target("a", now=2) == "openrouter|m|x"  # a is now the most recent
    sticky.remember("c", "openrouter|m|z", now=3)
    assert sticky.target("b", now=4) is None and sticky.target("a", now=4) is not None and len(sticky) == 2


def test_an_entry_expires_after_its_time_to_live() -> None:
    sticky = StickyProviders(ttl_s=60)
    sticky.remember("a", "t", now=0)
    assert sticky.target("a", now=60) == "t"
    assert sticky.target("a", now=61) is None and len(sticky) == 0


def test_a_conversation_is_named_by_its_key_model_and_opening() -> None:
    later = {"messages": [*CLAUDE_CODE_TURN["messages"], {"role": "assistant", "content": "ok"}]}
    moved_mark = {
        "messages": [{"role": "system", "content": "You are Claude Code."}, {"role": "user", "content": "fix the bug"}]
    }
    base = conversation_id("key-a", "m", CLAUDE_CODE_TURN, None)
    assert conversation_id("key-a", "m", later, None) == base
    assert conversation_id("key-a", "m", moved_mark, None) == base  # a mark's place is not the conversation
    assert conversation_id("key-b", "m", CLAUDE_CODE_TURN, None) != base
    assert conversation_id("key-a", "other", CLAUDE_CODE_TURN, None) != base
    assert conversation_id("key-a", "m", {**CLAUDE_CODE_TURN, "user": "u1"}, None) != base
    assert conversation_id("key-a", "m", {"prompt_cache_key": "p"}, "s") == conversation_id("key-a", "m", {}, "s")


def _plan(slugs: list[str], attempts: int, mode: str = "fixed") -> Plan:
    model = Model(id="anthropic/claude-x", pricing=Pricing(prompt=1e-6, completion=2e-6))
    candidates = [
        Candidate(
            Scored(row_for(model, Endpoint(provider_name=s, provider_slug=s)), 1.0, None, None, ["weighted"]), model.id
        )
        for s in slugs
    ]
    return Plan(
        mode=mode, objective="balanced", alias=None, attempts=candidates[:attempts], ranked=candidates, excluded={}
    )


def test_stick_puts_the_remembered_target_first_and_keeps_the_plans_length() -> None:
    plan = _plan(["a", "b", "c", "d"], attempts=3)
    first = stick(plan, plan.ranked[3].row.key)  # not an attempt yet: it comes first, the last attempt goes
    assert first is not None and [c.row.provider_slug for c in plan.attempts] == ["d", "a", "b"]
    assert plan.attempts[0].scored.reasons == ["sticky", "weighted"] and plan.ranked[3].scored.reasons == ["weighted"]
    plan = _plan(["a", "b", "c"], attempts=3)
    stick(plan, plan.ranked[1].row.key)
    assert [c.row.provider_slug for c in plan.attempts] == ["b", "a", "c"]


def test_stick_leaves_a_cooling_or_unknown_target_and_an_ordered_plan_alone() -> None:
    plan = _plan(["a", "b"], attempts=2)
    plan.ranked[1].cooling = "cooling_down (429, 30 s left)"
    assert stick(plan, plan.ranked[1].row.key) is None and stick(plan, "openrouter|nobody|x") is None
    assert [c.row.provider_slug for c in plan.attempts] == ["a", "b"]
    ordered = _plan(["a", "b"], attempts=2)
    ordered.provider_prefs = ProviderPrefs(order=("a",))
    assert stick(ordered, ordered.ranked[1].row.key) is None
