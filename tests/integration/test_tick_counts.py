"""The tick's figures are what it wrote: its counts drive the statistics refresh and the
log line officers read, so a driver that reports no rowcount must not turn them into -1."""

from __future__ import annotations

from datetime import date

from sqlalchemy import func, select

from scheduler.tick import tick
from store.models import OutboxMessage, Visit
from tests.integration.test_due_support import at, build_roster
from tests.integration.test_due_year import SUBJECTS


def count(sessions, model) -> int:  # type: ignore[no-untyped-def]
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_tick_counts_what_it_planned(sessions) -> None:  # type: ignore[no-untyped-def]
    build_roster(sessions, "liuzhou-2021", SUBJECTS)
    stats = tick(sessions, at(date(2026, 3, 1)))
    planned = count(sessions, Visit)
    assert planned > 0
    assert stats.plan.planned == sum(stats.plan.by_policy.values()) == planned
    assert stats.reminders.messages == count(sessions, OutboxMessage) > 0
    again = tick(sessions, at(date(2026, 3, 1), 15))
    assert again.plan.planned == 0 and again.reminders.messages == 0
