"""What a generation charges (domain/charge.py): never more than the hold; a nonsense `usage.cost` is replaced
by the catalog price of the reported usage (PRODUCT.md "Money that cannot leak", RELIABILITY 68)."""

from __future__ import annotations

from typing import Any

import pytest

from routeway.domain.catalog import Pricing
from routeway.domain.charge import charge_for


@pytest.mark.parametrize(
    ("cost", "hold", "expected"),
    [
        (0.0004, 0.001, (0.0004, 0.0, "reported")),
        (5, 0.001, (0.0002, 5 - 0.0002, "over_hold")),
        (5, None, (5.0, 0.0, "reported")),
        (float("inf"), None, (0.0002, 0.0, "catalog")),
        (float("nan"), 0.001, (0.0002, 0.0, "catalog")),
        (-1, 0.001, (0.0002, 0.0, "catalog")),
        (True, 0.001, (0.0002, 0.0, "catalog")),
        (0.5, 0.0001, (0.0001, 0.5 - 0.0001, "over_hold")),  # the usage itself passed the hold
        ("abc", 0.0001, (0.0001, 0.0002 - 0.0001, "over_hold")),
    ],
)
def test_rel_68_the_charge_of_a_usage(cost: Any, hold: float | None, expected: tuple[float, float, str]) -> None:
    """The pure rule (domain/charge.py): 10 prompt and 10 completion tokens at $0.00001 each = $0.0002."""
    pricing = Pricing(prompt=0.00001, completion=0.00001)
    charge = charge_for({"prompt_tokens": 10, "completion_tokens": 10, "cost": cost}, pricing, hold)
    assert charge.usd == pytest.approx(expected[0])
    assert charge.excess_usd == pytest.approx(expected[1])
    assert charge.reason == expected[2]
    assert charge_for({"cost": "abc"}, pricing, 0.001) == (0.0, 0.0, "unpriced")  # no tokens: nothing to price
