"""Lunar holidays from lunar-python, cross-checked against borax for 1950–2100."""

from __future__ import annotations

from datetime import date

import pytest
from borax.calendars.lunardate import LunarDate

from scheduler.holidays import holiday_date, holidays_near


@pytest.mark.parametrize(("name", "year", "expected"), [
    ("春节", 2026, date(2026, 2, 17)), ("春节", 2027, date(2027, 2, 6)),
    ("中秋", 2026, date(2026, 9, 25)), ("中秋", 2027, date(2027, 9, 15)),
    ("重阳", 2026, date(2026, 10, 18)), ("重阳", 2027, date(2027, 10, 8)),
    ("元旦", 2026, date(2026, 1, 1)), ("儿童节", 2027, date(2027, 6, 1)),
])
def test_known_dates(name: str, year: int, expected: date) -> None:
    assert holiday_date(name, year) == expected


# borax follows the Hong Kong Observatory tables, whose own footnote says they are a day
# off for the new moon of 4 September 2089 (it falls close to midnight, UTC+8); the
# astronomical computation (lunar-python, Calendrical Calculations, Purple Mountain
# Observatory rules) puts 中秋 2089 on 18 September. See dotnet/coreclr#19480.
KNOWN_TABLE_ERRORS = {("中秋", 2089): date(2089, 9, 18)}


def test_lunar_holidays_agree_with_borax_1950_2100() -> None:
    for year in range(1950, 2101):
        for name, (m, d) in {"春节": (1, 1), "中秋": (8, 15), "重阳": (9, 9)}.items():
            ours = holiday_date(name, year)
            expected = KNOWN_TABLE_ERRORS.get((name, year)) or LunarDate(year, m, d
                                                                         ).to_solar_date()
            assert ours == expected, (name, year)
    assert LunarDate(2089, 8, 15).to_solar_date() == date(2089, 9, 19)  # the table's day


def test_holidays_near_window() -> None:
    assert holidays_near(["春节", "中秋"], date(2026, 2, 12), 5, 0) == [("春节", date(2026, 2, 17))]
    assert holidays_near(["春节"], date(2026, 2, 11), 5, 0) == []
    assert holidays_near(["元旦"], date(2025, 12, 30), 5, 0) == [("元旦", date(2026, 1, 1))]
    with pytest.raises(KeyError):
        holiday_date("植树节", 2026)
