"""A simulated year per policy on both stores: due dates, holidays, reminders, escalation."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from sqlalchemy import select

from scheduler.tick import tick
from store.models import OutboxMessage, Subject, Visit
from tests.integration.test_due_support import at, build_roster, simulate, visits_of

YEAR = 2026
SUBJECTS = {
    "勤": {"self_care": "失能", "lives_alone": True, "disabled": True, "birth": date(1940, 5, 1)},
    "普": {"self_care": "自理", "lives_alone": False, "birth": date(1955, 5, 1)},
    "懒": {"self_care": "失能", "lives_alone": True, "disabled": True, "birth": date(1940, 5, 1)},
}


def month_ends(year: int = YEAR) -> list[date]:
    return [date(year, m, calendar.monthrange(year, m)[1]) for m in range(1, 13)]


def _year(sessions, policy: str):  # type: ignore[no-untyped-def]
    r = build_roster(sessions, policy, SUBJECTS)
    simulate(sessions, date(YEAR, 1, 1), date(YEAR, 12, 31),
             {r.subjects["勤"], r.subjects["普"]})
    return r


def _outbox(sessions) -> dict[str, OutboxMessage]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return {m.idempotency_key: m for m in s.scalars(select(OutboxMessage))}


def _common(sessions, r, key_dues: list[date], ordinary_dues: list[date],  # type: ignore[no-untyped-def]
            covered: set[int] = frozenset(), calendar_rule: bool = True,  # type: ignore[assignment]
            mode: str | None = "in_person") -> None:
    key = visits_of(sessions, r.subjects["勤"])
    assert [v.due_on for v in key] == key_dues
    assert all(v.required_mode == mode for v in key)
    # a holiday visit is a duty on top of the rhythm: it settles no regular period
    assert {v.due_on.month for v in key if v.status == "covered"} == covered
    assert all(v.status == "filed" for v in key
               if v.due_on.month not in covered and v.due_on.year == YEAR)
    assert all(v.visitor_id == r.visitor for v in key)
    ordinary = visits_of(sessions, r.subjects["普"])
    assert [v.due_on for v in ordinary] == ordinary_dues
    assert all(v.status == "filed" for v in ordinary)
    lazy = visits_of(sessions, r.subjects["懒"])
    if calendar_rule:  # an interval restarts from the day a missed visit was closed
        assert [v.due_on for v in lazy][: len(key_dues) // 2] == key_dues[: len(key_dues) // 2]
    assert {v.status for v in lazy[:-3]} == {"missed"}
    with sessions() as s:
        tiers = dict(s.execute(select(Subject.person_id, Subject.tier)).all())
    assert tiers[r.subjects["勤"]] == "key" and tiers[r.subjects["普"]] == "ordinary"


def _escalated(sessions, r, first_deadline: date, township_after: int) -> None:  # type: ignore[no-untyped-def]
    out = _outbox(sessions)
    v1 = first_deadline + timedelta(days=1)
    assert f"escalation:{r.village_officer}:1:{v1}" in out
    assert f"escalation:{r.village_officer}:1:{first_deadline}" not in out
    t = first_deadline + timedelta(days=township_after + 1)
    assert f"escalation:{r.township_officer}:2:{t}" in out
    assert f"escalation:{r.township_officer}:2:{t - timedelta(days=1)}" not in out
    msg = out[f"escalation:{r.village_officer}:1:{v1}"]
    assert "懒" in msg.payload["text"] and "勤" not in msg.payload["text"]


def test_jingdezhen_semimonthly_key_monthly_ordinary(sessions) -> None:  # type: ignore[no-untyped-def]
    r = _year(sessions, "jingdezhen-2020")
    halves = sorted([date(YEAR, m, 15) for m in range(1, 13)] + month_ends())
    _common(sessions, r, halves, month_ends(), mode=None)  # 以上门巡访为主: mainly
    out = _outbox(sessions)
    # 2 days before the 15th, on it, and when the second half opens
    for day in ("2026-03-13", "2026-03-15", "2026-03-16"):
        msg = out[f"reminder:{r.visitor}:{day}"]
        assert msg.not_before == at(date.fromisoformat(day), 8, 30)
        assert msg.person_id == r.visitor and msg.kind == "reminder"
    assert f"reminder:{r.visitor}:2026-03-14" not in out
    one = out[f"reminder:{r.visitor}:2026-03-13"].payload
    assert all(v.startswith("start:") for v, _ in one["choices"])
    _escalated(sessions, r, date(YEAR, 1, 18), 7)


def test_liuzhou_monthly_quarterly_and_holidays(sessions) -> None:  # type: ignore[no-untyped-def]
    r = _year(sessions, "liuzhou-2021")
    _common(sessions, r, month_ends(), [date(YEAR, m, calendar.monthrange(YEAR, m)[1])
                                       for m in (3, 6, 9, 12)])
    all_h = visits_of(sessions, r.subjects["勤"], "holiday")
    assert [(v.reason, v.due_on) for v in all_h] == [
        ("元旦", date(2026, 1, 1)), ("春节", date(2026, 2, 17)), ("儿童节", date(2026, 6, 1)),
        ("中秋", date(2026, 9, 25)), ("重阳", date(2026, 10, 18)),
        ("元旦", date(2027, 1, 1))]  # planned in the last days of December
    holidays = {v.reason: v for v in all_h if v.due_on.year == YEAR}
    assert all(v.required_mode == "in_person" for v in holidays.values())
    assert holidays["春节"].window_opens == date(2026, 2, 12)
    assert visits_of(sessions, r.subjects["普"], "holiday") == []  # key subjects only
    assert len(visits_of(sessions, r.subjects["懒"], "holiday")) == 6
    out = _outbox(sessions)
    assert "春节" in out[f"reminder:{r.visitor}:2026-02-12"].payload["text"]
    _escalated(sessions, r, date(YEAR, 2, 5), 7)


def test_liuzhou_holidays_2027(sessions) -> None:  # type: ignore[no-untyped-def]
    r = build_roster(sessions, "liuzhou-2021", {"甲": SUBJECTS["勤"]})
    for day in (date(2027, 2, 1), date(2027, 2, 3), date(2027, 9, 10), date(2027, 9, 15)):
        tick(sessions, at(day))
    got = {v.reason: v.due_on for v in visits_of(sessions, r.subjects["甲"], "holiday")}
    assert got == {"春节": date(2027, 2, 6), "中秋": date(2027, 9, 15)}


def test_linzi_interval_key_and_the_20th(sessions) -> None:  # type: ignore[no-untyped-def]
    r = _year(sessions, "linzi-2022")
    # the next one is planned as soon as the last is filed: 2027-01-11 is already there
    every15 = [date(YEAR, 1, 1) + timedelta(days=15 * k) for k in range(26)]
    _common(sessions, r, every15, [date(YEAR, m, 20) for m in range(1, 13)],
            calendar_rule=False, mode=None)  # 以上门巡访为主: mainly, not only
    # never visited: each period is closed as missed 11 days after it was due, and the
    # next one is due 15 days after the missed one (periods follow one another)
    lazy = visits_of(sessions, r.subjects["懒"])
    assert [v.due_on for v in lazy[:3]] == [date(2026, 1, 1), date(2026, 1, 16),
                                           date(2026, 1, 31)]
    assert [v.status for v in lazy[:3]] == ["missed"] * 3
    second = visits_of(sessions, r.subjects["勤"])[1]
    assert (second.window_opens, second.deadline) == (date(2026, 1, 11), date(2026, 1, 16))


def test_anshan_quarterly_for_all(sessions) -> None:  # type: ignore[no-untyped-def]
    r = build_roster(sessions, "anshan-2020", SUBJECTS)
    simulate(sessions, date(YEAR, 1, 1), date(YEAR, 12, 31), {r.subjects["普"], r.subjects["勤"]})
    quarters = [date(YEAR, 3, 31), date(YEAR, 6, 30), date(YEAR, 9, 30), date(YEAR, 12, 31)]
    assert [v.due_on for v in visits_of(sessions, r.subjects["普"])] == quarters
    assert [v.due_on for v in visits_of(sessions, r.subjects["懒"])] == quarters
    with sessions() as s:
        assert set(s.scalars(select(Subject.tier))) == {"ordinary"}
    # reminders a week before the quarter ends
    assert f"reminder:{r.visitor}:2026-03-24" in _outbox(sessions)
    _escalated(sessions, r, date(YEAR, 4, 10), 14)


def test_guangxi_monthly(sessions) -> None:  # type: ignore[no-untyped-def]
    r = _year(sessions, "guangxi-2023")
    # 「采用上门入户、电话视频、远程监测等方式开展」: no mode is required
    _common(sessions, r, month_ends(), month_ends(), mode=None)
    msg = _outbox(sessions)[f"reminder:{r.visitor}:2026-01-28"]
    assert msg.not_before == at(date(2026, 1, 28), 9, 0)  # guangxi sends at 09:00


def test_visits_count_per_year(sessions) -> None:  # type: ignore[no-untyped-def]
    """Running every tick twice changes nothing: all steps are idempotent."""
    r = build_roster(sessions, "jingdezhen-2020", SUBJECTS)
    for day in (date(YEAR, 1, 1), date(YEAR, 1, 13), date(YEAR, 1, 19), date(YEAR, 1, 26)):
        tick(sessions, at(day))
        with sessions() as s:
            before = (s.query(Visit).count(), s.query(OutboxMessage).count())
        tick(sessions, at(day, 10))
        with sessions() as s:
            assert (s.query(Visit).count(), s.query(OutboxMessage).count()) == before
    assert r.visitor
