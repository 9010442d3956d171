"""What admission takes for a request and its ledger gives back or settles (services/admission.py sets them)."""

from __future__ import annotations

from dataclasses import dataclass

from routeway.domain.records import MinuteCount
from routeway.errors import RateLimited


@dataclass(frozen=True)
class MinuteDue:
    """A request's count against its key's rpm, not taken yet: it rides in the first hold on the key's own
    budget (one write, docs/SCALE.md section 0), or is counted on its own before the first upstream call when no
    hold is written; `refusal` is the 429 a full minute answers."""

    account: str
    count: MinuteCount
    refusal: RateLimited


@dataclass(frozen=True)
class TakenTokens:
    """The tokens a request counted against a tpm limit when it was admitted; corrected when it settles."""

    counter: str
    window: int
    tokens: int
    expires_at: int
