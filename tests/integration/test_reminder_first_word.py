"""Every owed visit is heard of before it is chased: over half a year per policy, with
the server down for days at a time (around 元旦, 春节 and 端午), a subject whose tier
changes mid-period and nobody filing anything, each regular, holiday or campaign visit is
listed in a digest, and the first digest that lists it never calls it overdue — a visit
planned late is named as new (both stores)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select, update

from scheduler.tick import tick
from store.models import OutboxMessage, Subject, Visit
from tests.integration.test_due_support import at, build_roster

POLICIES = ["anshan-2020", "guangxi-2023", "jingdezhen-2020", "linzi-2022", "liuzhou-2021"]
START, END = date(2025, 12, 1), date(2026, 6, 30)
DOWN = {START + timedelta(days=n) for n in range((END - START).days + 1)} & (
    {date(2025, 12, 27) + timedelta(days=n) for n in range(7)}      # over 元旦
    | {date(2026, 2, 14) + timedelta(days=n) for n in range(5)}     # over 春节
    | {date(2026, 6, 17) + timedelta(days=n) for n in range(4)})    # over 端午
SUBJECTS = {
    "重": {"self_care": "失能", "lives_alone": True, "disabled": True, "birth": date(1940, 5, 1)},
    "普": {"self_care": "自理", "lives_alone": False, "birth": date(1955, 5, 1)},
    "变": {"self_care": "自理", "lives_alone": False, "birth": date(1955, 5, 1)},
}


@pytest.mark.parametrize("policy", POLICIES)
def test_no_visit_is_first_heard_of_as_overdue(sessions, policy: str) -> None:  # type: ignore[no-untyped-def]
    r = build_roster(sessions, policy, SUBJECTS)
    day = START
    while day <= END:
        if day == date(2026, 3, 12):  # 变 becomes key mid-period
            with sessions() as s:
                s.execute(update(Subject).where(Subject.person_id == r.subjects["变"])
                          .values(self_care="失能", lives_alone=True, disabled=True))
                s.commit()
        if day not in DOWN:
            tick(sessions, at(day))
        day += timedelta(days=1)
    with sessions() as s:
        digests = s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                            .order_by(OutboxMessage.created_at, OutboxMessage.id)).all()
        owed = s.scalars(select(Visit).where(Visit.kind != "adhoc",
                                             Visit.due_on >= date(2026, 1, 1),
                                             Visit.due_on <= date(2026, 6, 10))).all()
    first: dict[int, str] = {}
    for m in digests:
        meta = m.payload["meta"]
        for visit_id, when in zip(meta["visit_ids"], meta["when"], strict=True):
            first.setdefault(visit_id, when)
    assert owed and {v.kind for v in owed} >= {"regular"}
    silent = [(v.kind, v.due_on) for v in owed if v.id not in first]
    assert silent == [], policy
    chased = [(v.kind, v.reason, v.due_on) for v in owed if first[v.id] == "overdue"]
    assert chased == [], policy
    if policy == "liuzhou-2021":  # the holidays over the outages were planned late
        assert any(v.kind == "holiday" and first[v.id] == "new" for v in owed)
