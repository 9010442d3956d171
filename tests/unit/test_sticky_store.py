"""The in-process memory of each conversation's provider: bounded, and forgetting after its time to live."""

from __future__ import annotations

from routeway.domain.sticky import conversation_id
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
