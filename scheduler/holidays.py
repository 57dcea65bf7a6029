"""Holiday dates per year: solar ones are fixed, lunar ones (春节, 中秋, 重阳) move.

Lunar dates come from lunar-python (`lunar_python`); a test checks them against borax
for every year 1950–2100.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from lunar_python import Lunar

Calendar = Literal["solar", "lunar"]

# name → (calendar, month, day)
BUILTIN: dict[str, tuple[Calendar, int, int]] = {
    "元旦": ("solar", 1, 1),
    "春节": ("lunar", 1, 1),
    "元宵": ("lunar", 1, 15),
    "端午": ("lunar", 5, 5),
    "儿童节": ("solar", 6, 1),
    "中秋": ("lunar", 8, 15),
    "重阳": ("lunar", 9, 9),
    "国庆": ("solar", 10, 1),
}


@lru_cache(maxsize=4096)
def _lunar_to_solar(year: int, month: int, day: int) -> date:
    solar = Lunar.fromYmd(year, month, day).getSolar()
    return date(solar.getYear(), solar.getMonth(), solar.getDay())


def holiday_date(name: str, year: int,
                 custom: Mapping[str, tuple[Calendar, int, int]] | None = None) -> date:
    """The Gregorian date of holiday `name` in Gregorian year `year`.

    春节, 中秋 and 重阳 of lunar year Y always fall in Gregorian year Y.
    """
    spec = (custom or {}).get(name) or BUILTIN.get(name)
    if spec is None:
        raise KeyError(f"unknown holiday {name!r}; known: {', '.join(BUILTIN)}")
    cal, month, day = spec
    if cal == "solar":
        return date(year, month, day)
    return _lunar_to_solar(year, month, day)


def holidays_near(names: Iterable[str], today: date, lead_days: int, after_days: int,
                  custom: Mapping[str, tuple[Calendar, int, int]] | None = None
                  ) -> list[tuple[str, date]]:
    """Holidays whose visit window [day - lead_days, day + after_days] holds `today`."""
    out = []
    for name in names:
        for year in (today.year - 1, today.year, today.year + 1):
            day = holiday_date(name, year, custom)
            if day - timedelta(days=lead_days) <= today <= day + timedelta(days=after_days):
                out.append((name, day))
    return sorted(out, key=lambda h: h[1])
