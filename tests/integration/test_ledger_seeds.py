"""Conformance tables, one per seed: subject facts and the days a visitor visits → what
every regular period of 2026 ends as (on time, late or missed), on both stores.

Each row cites the seed sentence it follows. Visits are filed the way `记录 N` files them
(the earliest open visit whose window has opened), and the scheduler runs every day.
"""

from __future__ import annotations

import calendar
from datetime import date

from sqlalchemy.orm import Session, sessionmaker

from store.reports.period import Month
from store.reports.queries import load_scope, monthly_figures, top_roots
from tests.integration.ledger_support import (
    Filing,
    Who,
    YearLedger,
    both,
    every,
    never,
    on_days,
    on_due,
    run,
)

Y = 2026
MONTH_ENDS = [date(Y, m, calendar.monthrange(Y, m)[1]) for m in range(1, 13)]
HALVES = sorted([date(Y, m, 15) for m in range(1, 13)] + MONTH_ENDS)
QUARTERS = [date(Y, 3, 31), date(Y, 6, 30), date(Y, 9, 30), date(Y, 12, 31)]
TWENTIETHS = [date(Y, m, 20) for m in range(1, 13)]


def from_(first: date, rule: Filing = on_due) -> Filing:
    return lambda day, open_: day >= first and rule(day, open_)


def check(ledger: YearLedger, label: str, *, tier: str, dues: list[date],
          late: tuple[date, ...] = (), missed: tuple[date, ...] = ()) -> None:
    assert ledger.tiers[label] == {tier}, label
    assert ledger.dues(label) == dues, label
    assert ledger.statuses(label, "late") == list(late), label
    assert ledger.statuses(label, "missed") == list(missed), label
    on_time = [d for d in dues if d not in late and d not in missed]
    assert ledger.statuses(label, "on_time") == on_time, label


def test_jingdezhen(sessions: sessionmaker[Session]) -> None:
    led = run(sessions, {"jingdezhen-2020": {
        # 「将失能、半失能分散供养特困人员归类为重点巡访对象，以上门巡访为主，每半月进行一次」
        # — 失能 given under 对象类型 only
        "类型失能": Who({"categories": ["失能", "分散供养特困"]}),
        # the first half's visit made on 01-17 (its grace days) is that half's only: the
        # second half still needs its own, and is missed
        "半失能": Who({"self_care": "半失能"}, both(on_days(date(Y, 1, 17)),
                                                   from_(date(Y, 2, 1)))),
        # 「将自理分散供养特困人员归类为一般巡访对象，每月进行一次」: nobody visits in
        # January, the visit on 02-10 is February's; January is missed
        "自理": Who({"self_care": "自理"}, both(on_days(date(Y, 2, 10)), from_(date(Y, 3, 1)))),
        # new on the roster on 01-20, past the middle of January: February is the first
        "新来": Who({"self_care": "自理"}, joined=date(Y, 1, 20)),
    }})
    check(led, "类型失能", tier="key", dues=HALVES)
    check(led, "半失能", tier="key", dues=HALVES, missed=(date(Y, 1, 31),))
    check(led, "自理", tier="ordinary", dues=MONTH_ENDS, missed=(date(Y, 1, 31),))
    check(led, "新来", tier="ordinary", dues=MONTH_ENDS[1:])
    # January in the monthly report: 5 visits owed, the 2 missed ones are 未访
    with sessions() as s:
        total = monthly_figures(s, load_scope(s, top_roots(s)), Month(Y, 1),
                                date(Y + 1, 2, 15)).total
    assert (total.due, total.on_time, total.late, total.missing) == (5, 3, 0, 2)


def test_liuzhou(sessions: sessionmaker[Session]) -> None:
    led = run(sessions, {"liuzhou-2021": {
        # 「将独居和生活不能自理或行动不便等特殊服务对象作为重点访视对象」: any one of them
        "独居": Who({"lives_alone": True, "self_care": "自理"}),
        "不能自理": Who({"lives_alone": False, "self_care": "失能"}),
        "半自理": Who({"lives_alone": False, "self_care": "半失能"}),  # 「不能自理（含半自理）」
        "行动不便": Who({"lives_alone": False, "self_care": "自理", "disabled": True}),
        "一般": Who({"lives_alone": False, "self_care": "自理", "disabled": False}),
        "类型独居": Who({"categories": ["独居", "高龄"]}),  # 附件1 type 3
    }})
    for label in ("独居", "不能自理", "半自理", "行动不便", "类型独居"):
        # holiday visits come on top: every month keeps its own regular visit
        check(led, label, tier="key", dues=MONTH_ENDS)
        # 「在元旦、春节、儿童节、中秋、重阳节等节假日……应当对重点访视对象进行上门访视」
        assert [(o.due_on, o.status) for o in led.holidays[label]] == [
            (date(Y, 1, 1), "on_time"), (date(Y, 2, 17), "on_time"),
            (date(Y, 6, 1), "on_time"), (date(Y, 9, 25), "on_time"),
            (date(Y, 10, 18), "on_time")], label
    check(led, "一般", tier="ordinary", dues=QUARTERS)
    assert led.holidays["一般"] == []


def test_linzi(sessions: sessionmaker[Session]) -> None:
    led = run(sessions, {"linzi-2022": {
        # 「对于高龄独居、重残失能等重点对象……适当缩短巡访时间间隔」: every 15 days,
        # the first 15 days after joining
        "高龄独居": Who({"lives_alone": True, "birth": date(1940, 5, 1)}),
        "重残": Who({"categories": ["重残"], "birth": date(1960, 5, 1)}, never),
        # 「一般对象……每月至少巡访一次」「各镇街道应于每月20日前完成巡访」
        "一般": Who({"self_care": "自理", "birth": date(1955, 5, 1)}),
        # joined on the 15th, past half of the 1st–20th window: first due on 02-20
        "月中加入": Who({"self_care": "自理", "birth": date(1955, 5, 1)}, joined=date(Y, 1, 15)),
        # March's visit made on the 25th: after the 20th, late (no later period holds it)
        "三月晚": Who({"self_care": "自理", "birth": date(1955, 5, 1)}, both(
            on_days(date(Y, 3, 25)), lambda d, o: d.month != 3 and on_due(d, o))),
    }})
    fifteen = every(date(Y, 1, 16), 15, date(Y, 12, 31))
    check(led, "高龄独居", tier="key", dues=fifteen)
    # never visited: each period missed, the next due 15 days after the missed one
    check(led, "重残", tier="key", dues=fifteen, missed=tuple(fifteen))
    check(led, "一般", tier="ordinary", dues=TWENTIETHS)
    check(led, "月中加入", tier="ordinary", dues=TWENTIETHS[1:])
    check(led, "三月晚", tier="ordinary", dues=TWENTIETHS, late=(date(Y, 3, 20),))


def test_anshan(sessions: sessionmaker[Session]) -> None:
    led = run(sessions, {"anshan-2020": {
        # 「对巡访对象要求季度巡访一次」: Q1's visit made on 04-05 (its grace days) is
        # Q1's only; Q2 still needs its own
        "一季度晚": Who({"self_care": "失能"}, both(on_days(date(Y, 4, 5)),
                                                   from_(date(Y, 4, 6)))),
        "未访": Who({"self_care": "自理"}, never),
    }})
    check(led, "一季度晚", tier="ordinary", dues=QUARTERS)
    check(led, "未访", tier="ordinary", dues=QUARTERS, missed=tuple(QUARTERS))


def test_guangxi(sessions: sessionmaker[Session]) -> None:
    led = run(sessions, {"guangxi-2023": {
        # 「对失能的特殊困难老年人，每月提供探访关爱服务不少于一次」, by phone or video too:
        # 「采用上门入户、电话视频、远程监测等方式开展」
        "失能": Who({"self_care": "失能"}, mode="phone"),
        "类型失能": Who({"categories": ["失能"]}, mode="video"),
        # not named by the notice as key: monthly like everyone (月探访率达到100%)
        "半失能": Who({"self_care": "半失能"}),
        "高龄独居": Who({"lives_alone": True, "birth": date(1940, 5, 1)}),
    }})
    check(led, "失能", tier="key", dues=MONTH_ENDS)
    check(led, "类型失能", tier="key", dues=MONTH_ENDS)
    check(led, "半失能", tier="ordinary", dues=MONTH_ENDS)
    check(led, "高龄独居", tier="ordinary", dues=MONTH_ENDS)
