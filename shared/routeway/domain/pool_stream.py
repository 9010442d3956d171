"""A routing-mode plan's candidates, made as they are read (domain/pool_plan.py).

A routing mode ranks many models, and each model brings all its providers; a chat request reads only
its attempts (two providers of each of three models, by default) and a preview its top_n. So the
providers of each model reached are ordered as Scored objects (plan_steps.order_providers), but a
Candidate, and the reason text it carries, is made only for what a reader takes: the attempts are
picked by walking the order without making the candidates they skip (plan_steps.pick_attempts' rule).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import overload

from routeway.domain.plan_steps import Candidate, Cooldown, Group, cooling_reason
from routeway.domain.policy import Scored
from routeway.domain.route_scores import score_reason


@dataclass(eq=False)
class Offer:
    """One model's providers, in order. Their reasons are written when a candidate is made."""

    group: Group
    providers: list[Scored]
    values: dict[int, float]  # id(scored) -> the unrounded score, for the reason text
    objective: str
    how: str  # how the providers were ordered: the last reason
    tier: str | None = None  # `auto`'s pool tier (`in the chat pool`, `outside the pool (fallback)`): the first

    def finish(self, scored: Scored) -> Scored:
        """Its reasons, as every plan writes them: the pool tier (which orders before the score), the score, then
        how the providers were ordered."""
        reasons = [score_reason(self.objective, self.values[id(scored)]), self.how]
        scored.reasons = [self.tier, *reasons] if self.tier else reasons
        return scored


class _Entry:
    __slots__ = ("offer", "scored", "cooling", "candidate")

    def __init__(self, offer: Offer, scored: Scored, cooling: str | None) -> None:
        self.offer, self.scored, self.cooling = offer, scored, cooling
        self.candidate: Candidate | None = None

    def made(self) -> Candidate:
        if self.candidate is None:
            group = self.offer.group
            self.candidate = Candidate(self.offer.finish(self.scored), group.upstream_model, group.alias, self.cooling)
        return self.candidate


class CandidateStream:
    """plan_steps.candidates_of, offer by offer: healthy candidates in order, cooling ones after them all."""

    def __init__(self, offers: Iterator[Offer], cooldowns: Mapping[str, Cooldown], now: float) -> None:
        self._offers, self._cooldowns, self._now = offers, cooldowns, now
        self._healthy: list[_Entry] = []
        self._cooling: list[_Entry] = []
        self._done = False

    def entry(self, position: int) -> _Entry | None:
        while len(self._healthy) <= position and not self._done:
            offer = next(self._offers, None)
            if offer is None:
                self._done = True
                break
            for scored in offer.providers:
                cooling = cooling_reason(scored.row, self._cooldowns, self._now) if self._cooldowns else None
                (self._cooling if cooling else self._healthy).append(_Entry(offer, scored, cooling))
        if position < len(self._healthy):
            return self._healthy[position]
        rest = position - len(self._healthy)
        return self._cooling[rest] if rest < len(self._cooling) else None

    def pick(self, per_target: int, total: int) -> list[Candidate]:
        """plan_steps.pick_attempts: in order, at most `per_target` per (model, backend), `total` in all."""
        counts: dict[tuple[str, str], int] = {}
        attempts: list[Candidate] = []
        position = 0
        while len(attempts) < total and (entry := self.entry(position)) is not None:
            position += 1
            row = entry.scored.row
            target = (row.model.id, row.backend)
            taken = counts.get(target, 0)
            if taken < per_target:
                counts[target] = taken + 1
                attempts.append(entry.made())
        return attempts

    def others(self, chosen: list[Candidate]) -> Iterator[Candidate]:
        """Every candidate in order but the `chosen` ones."""
        skip = {id(c) for c in chosen}
        position = 0
        while (entry := self.entry(position)) is not None:
            position += 1
            if entry.candidate is None or id(entry.candidate) not in skip:
                yield entry.made()


class Ranked(Sequence[Candidate]):
    """The attempts, then every other candidate in order; candidates are made as positions are read."""

    def __init__(self, attempts: list[Candidate], stream: CandidateStream, size: int) -> None:
        self._items = list(attempts)
        self._rest = stream.others(attempts)
        self._size = size

    def _fill(self, upto: int) -> None:
        while len(self._items) < upto:
            candidate = next(self._rest, None)
            if candidate is None:
                break
            self._items.append(candidate)

    def __len__(self) -> int:
        return self._size

    @overload
    def __getitem__(self, item: int) -> Candidate: ...

    @overload
    def __getitem__(self, item: slice) -> list[Candidate]: ...

    def __getitem__(self, item: int | slice) -> Candidate | list[Candidate]:
        if isinstance(item, slice):
            start, stop, step = item.indices(self._size)
            self._fill(max(start, stop))
            return self._items[start:stop:step]
        position = item + self._size if item < 0 else item
        if not 0 <= position < self._size:
            raise IndexError(item)
        self._fill(position + 1)
        return self._items[position]
