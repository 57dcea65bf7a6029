"""Calendar periods of the regular rhythms: half months, months, quarters."""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Protocol

RULES = ("semimonthly", "monthly", "quarterly", "interval")


class _Rhythm(Protocol):
    rule: str
    due_day: int | None


@dataclass(frozen=True)
class Period:
    opens: date  # first day
    due: date  # the visit is due by this day
    ends: date  # last day; the next period opens the day after


def _month_end(year: int, month: int) -> date:
    return date(year, month, calendar.monthrange(year, month)[1])


def period_of(rhythm: _Rhythm, day: date) -> Period:
    """The calendar period of `rhythm` that holds `day`."""
    y, m = day.year, day.month
    if rhythm.rule == "semimonthly":
        # by the 15th and by the month's end (每半月一次)
        if day.day <= 15:
            return Period(date(y, m, 1), date(y, m, 15), date(y, m, 15))
        end = _month_end(y, m)
        return Period(date(y, m, 16), end, end)
    if rhythm.rule == "monthly":
        end = _month_end(y, m)
        due = end if rhythm.due_day is None else end.replace(day=min(rhythm.due_day, end.day))
        return Period(date(y, m, 1), due, end)
    if rhythm.rule == "quarterly":
        first = 3 * ((m - 1) // 3) + 1
        end = _month_end(y, first + 2)
        return Period(date(y, first, 1), end, end)
    raise ValueError(f"{rhythm.rule!r} is not a calendar rule")
