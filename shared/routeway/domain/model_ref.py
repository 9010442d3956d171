"""Reading the request's `model` field: catalog ids, OpenRouter variants, aliases, and suggestions.

`:free`, `:thinking` and `:extended` are separate catalog entries. `:nitro` (sort by throughput) and
`:floor` (sort by price) are routing shortcuts that OpenRouter does not list in /models: they are
looked up on the base id and become a sort. Any other suffix on a known base id (`:exacto`,
`:online`) is passed through to OpenRouter as sent.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass

ROUTING_VARIANTS: dict[str, str] = {"nitro": "throughput", "floor": "price"}
MAX_SUGGESTIONS = 5


@dataclass(frozen=True)
class ModelRef:
    raw: str
    base: str  # what to look up in the catalog
    variant: str | None  # a routing shortcut (nitro/floor/exacto) or None

    @property
    def sort(self) -> str | None:
        return ROUTING_VARIANTS.get(self.variant) if self.variant else None

    @property
    def upstream_id(self) -> str:
        """What to send upstream: the base id for Routeway's own sorts, else the id as sent."""
        return self.base if self.sort else self.raw


def parse_model_ref(raw: str, known: Container[str] = ()) -> ModelRef:
    """Split a routing suffix off `raw` unless `raw` itself is a catalog entry (like `x:free`)."""
    if raw in known:
        return ModelRef(raw=raw, base=raw, variant=None)
    base, sep, variant = raw.rpartition(":")
    if sep and base and variant and (variant in ROUTING_VARIANTS or base in known):
        return ModelRef(raw=raw, base=base, variant=variant)
    return ModelRef(raw=raw, base=raw, variant=None)


def suggest_models(query: str, known_ids: Sequence[str], aliases: Iterable[str] = ()) -> list[str]:
    """Up to five real ids closest to `query`, best first.

    Field reports (SEEDS 001) show three ways ids go wrong: the wrong author namespace
    (`moonshot/` for `moonshotai/`), a missing `:free` suffix, and a near miss in the name.
    """
    query = query.strip()
    if not query:
        return []
    id_set = set(known_ids)
    found: list[str] = []

    def add(candidate: str) -> None:
        if candidate in id_set or candidate in aliases_set:
            if candidate not in found:
                found.append(candidate)

    aliases_set = set(aliases)
    author, _, name = query.partition("/")
    if name:
        for known in known_ids:  # the same name under another author, e.g. moonshot/ → moonshotai/
            known_author, _, known_name = known.partition("/")
            if known_name == name and known_author != author:
                add(known)
    if not query.endswith(":free"):
        add(f"{query}:free")
    if query.endswith(":free"):
        add(query.removesuffix(":free"))
    import difflib  # only an unknown name pays for it, not every cold start

    lowered = {k.lower(): k for k in [*known_ids, *aliases_set]}
    if query.lower() in lowered:
        add(lowered[query.lower()])
    for match in difflib.get_close_matches(query.lower(), list(lowered), n=MAX_SUGGESTIONS, cutoff=0.6):
        add(lowered[match])
    if name and len(found) < MAX_SUGGESTIONS:  # compare the name alone: qwen3-coder-480b → qwen/qwen3-coder
        names = {k.partition("/")[2].lower(): k for k in known_ids if "/" in k}
        for match in difflib.get_close_matches(name.lower(), list(names), n=MAX_SUGGESTIONS, cutoff=0.6):
            add(names[match])
    return found[:MAX_SUGGESTIONS]
