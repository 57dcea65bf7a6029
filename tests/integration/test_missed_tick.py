"""The server was down for days: the next tick catches up once, without a burst of stale
reminders for the days it missed."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from scheduler.policy_load import load_policy
from scheduler.reminders import overdue_offsets
from scheduler.tick import tick
from store.models import OutboxMessage, Visit
from tests.integration.test_due_support import at, build_roster
from tests.integration.test_due_year import SUBJECTS


def reminders(sessions) -> list[OutboxMessage]:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return list(s.scalars(select(OutboxMessage).where(OutboxMessage.kind == "reminder")
                              .order_by(OutboxMessage.id)))


def test_missed_days_catch_up_with_one_reminder(sessions) -> None:  # type: ignore[no-untyped-def]
    r = build_roster(sessions, "liuzhou-2021", SUBJECTS)
    start = date(2026, 3, 1)
    tick(sessions, at(start))
    with sessions() as s:
        planned = s.scalars(select(Visit).where(Visit.status == "planned")).all()
        due = min(v.due_on for v in planned)
    first = reminders(sessions)
    # down from the day after until a day that is itself an overdue-reminder day, past
    # several others that were missed
    offsets = overdue_offsets(load_policy("liuzhou-2021"))
    assert len(offsets) >= 3
    back = due + timedelta(days=offsets[2])
    tick(sessions, at(back))
    tick(sessions, at(back, 15))  # and a second tick that day (a restart)
    after = reminders(sessions)[len(first):]
    keys = [m.idempotency_key for m in after]
    # one digest per visitor at most, dated the day the server came back
    assert 1 <= len(keys) == len(set(keys)) <= 2
    assert all(k.endswith(back.isoformat()) for k in keys), keys
    assert r.visitor  # the roster's visitor is the one reminded
    with sessions() as s:
        # nothing was planned twice for the days missed
        dues = [v.due_on for v in s.scalars(select(Visit).where(
            Visit.subject_id == r.subjects["勤"], Visit.kind == "regular"))]
    assert len(dues) == len(set(dues))
