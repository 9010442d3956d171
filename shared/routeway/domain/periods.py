"""Budget periods: when a period's spend starts at zero, with no job to reset it (PRODUCT.md "A team's money").

`day`, `week` (from Monday) and `month` are calendar-aligned in UTC; `Nm`, `Nh` and `Nd` are whole multiples of
their length since the Unix epoch; `total` is the lifetime. Each period's spend lives on its own counter, named by
the period's start, so a new period is a new counter. A key or team whose period was changed carries an anchor
(when the change was made): no period starts before it, so an old period's spend never reaches the new one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from routeway.errors import InvalidRequest

TOTAL = "total"
CALENDAR = ("day", "week", "month")
_DURATION = re.compile(r"^([1-9][0-9]{0,5})([mhd])$")
_UNIT_S = {"m": 60, "h": 3_600, "d": 86_400}
MAX_DURATION_S = 366 * 86_400


@dataclass(frozen=True)
class Window:
    """One period of a budget: its spend counts from `start` (epoch seconds) until `end` (None: never ends)."""

    period: str
    start: int
    end: int | None

    @property
    def resets_at(self) -> str | None:
        return None if self.end is None else iso(self.end)


def parse_period(value: str | None, param: str = "period") -> str:
    """The period as stored (`total` when none is given); InvalidRequest naming `param` when it does not parse."""
    if value is None or value == "":
        return TOTAL
    text = value.strip().lower()
    if text == TOTAL or text in CALENDAR:
        return text
    match = _DURATION.match(text)
    if match and int(match.group(1)) * _UNIT_S[match.group(2)] <= MAX_DURATION_S:
        return text
    raise InvalidRequest(
        f"Unknown period {value[:40]!r}: use day, week, month (UTC calendar), total, or a duration such as "
        "30m, 12h or 7d (at most 366 days).",
        param=param,
    )


def window_at(period: str, now_epoch: float, anchor: int = 0) -> Window:
    """The period that `now_epoch` falls in; none starts before `anchor` (when the period was last changed)."""
    now = int(now_epoch)
    if period == TOTAL:
        return Window(TOTAL, anchor, None)
    start, end = _calendar(period, now) if period in CALENDAR else _duration(period, now)
    return Window(period, max(start, anchor), end)


def _calendar(period: str, now: int) -> tuple[int, int]:
    moment = datetime.fromtimestamp(now, UTC)
    day = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    if period == "day":
        start, end = day, day + timedelta(days=1)
    elif period == "week":
        start = day - timedelta(days=day.weekday())
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        end = start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    return int(start.timestamp()), int(end.timestamp())


def _duration(period: str, now: int) -> tuple[int, int]:
    match = _DURATION.match(period)
    if match is None:  # stored periods were parsed; a hand-edited one counts as a day
        return _calendar("day", now)
    length = int(match.group(1)) * _UNIT_S[match.group(2)]
    start = now - now % length
    return start, start + length


def iso(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
