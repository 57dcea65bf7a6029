"""Calendar months in the deployment's time zone (Asia/Shanghai by default)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

DEFAULT_TZ = "Asia/Shanghai"

_MONTH = re.compile(r"^\s*(\d{4})[-/.年](\d{1,2})月?\s*$")


@dataclass(frozen=True, order=True)
class Month:
    year: int
    month: int

    @classmethod
    def parse(cls, text: str) -> Month:
        m = _MONTH.match(text)
        if not m or not 1 <= int(m.group(2)) <= 12:
            raise ValueError(f"not a month: {text!r} (expected YYYY-MM)")
        return cls(int(m.group(1)), int(m.group(2)))

    @classmethod
    def of(cls, day: date) -> Month:
        return cls(day.year, day.month)

    @property
    def first(self) -> date:
        return date(self.year, self.month, 1)

    @property
    def next_first(self) -> date:
        return date(self.year + self.month // 12, self.month % 12 + 1, 1)

    @property
    def last(self) -> date:
        return self.next_first - timedelta(days=1)

    def shift(self, months: int) -> Month:
        n = self.year * 12 + self.month - 1 + months
        return Month(n // 12, n % 12 + 1)

    def utc_bounds(self, tz: str = DEFAULT_TZ) -> tuple[datetime, datetime]:
        """[start, end) of the month as UTC instants: case timestamps are stored in UTC,
        but a month is a local calendar month."""
        zone = ZoneInfo(tz)
        start = datetime.combine(self.first, time(0), zone).astimezone(UTC)
        end = datetime.combine(self.next_first, time(0), zone).astimezone(UTC)
        return start, end

    @property
    def key(self) -> str:
        return f"{self.year:04d}-{self.month:02d}"

    @property
    def label(self) -> str:
        return f"{self.year}年{self.month}月"

    def __str__(self) -> str:
        return self.key


def last_months(end: Month, n: int) -> list[Month]:
    return [end.shift(-i) for i in range(n - 1, -1, -1)]


def today_in(tz: str = DEFAULT_TZ) -> date:
    return datetime.now(ZoneInfo(tz)).date()
