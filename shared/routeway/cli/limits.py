"""The limit options `keys` and `teams` share, as typer types, and the fields they give."""

from __future__ import annotations

from typing import Annotated, Any

import typer

Budget = Annotated[float | None, typer.Option("--budget-usd", help="Spend limit in USD for each period.")]
Period = Annotated[
    str | None,
    typer.Option(help="day, week (from Monday), month (UTC calendar), a duration such as 30m, 12h or 7d, or total."),
]
Rpm = Annotated[int | None, typer.Option(help="Requests per minute.")]
Tpm = Annotated[int | None, typer.Option(help="Tokens per minute (prompt estimate + max_tokens, else 1,000).")]
Parallel = Annotated[int | None, typer.Option("--max-parallel", help="Requests in flight at a time.")]
AlertAt = Annotated[
    str | None, typer.Option("--alert-at", help="Fractions of the budget that raise an alert, e.g. 0.5,0.9.")
]
Models = Annotated[list[str] | None, typer.Option("--models", help="Model globs this key may use.")]
Team = Annotated[str | None, typer.Option(help="The team whose budget and limits the key also answers to.")]
Expires = Annotated[str | None, typer.Option(help="When the key stops working (ISO 8601, UTC).")]
Clear = Annotated[
    list[str] | None,
    typer.Option("--clear", help="A limit to remove (budget_usd, rpm, tpm, max_parallel, expires_at, ...)."),
]


def given(clear: list[str] | None = None, **options: Any) -> dict[str, Any]:
    """The options that were given (None: not given), and the cleared fields as None."""
    fields = {name: value for name, value in options.items() if value is not None and value != []}
    return {**fields, **dict.fromkeys(clear or [])}
