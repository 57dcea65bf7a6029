"""The tick's figures are what it wrote: its counts drive the statistics refresh and the
log line officers read, so a driver that reports no rowcount must not turn them into -1."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import func, select, text

from scheduler import due
from scheduler.tick import tick
from store.db import make_engine, session_factory
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


@pytest.mark.postgres
def test_tick_refreshes_outbox_statistics(pg_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """After a tick writes many reminders PostgreSQL knows they are there: the
    dispatcher's claim is planned on that estimate (a stale one sorts every pending row
    for each batch)."""
    monkeypatch.setattr(due, "ANALYZE_AFTER", 1)  # the roster here is small
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    try:
        build_roster(sessions, "liuzhou-2021", SUBJECTS)
        stats = tick(sessions, at(date(2026, 3, 1)))
        assert stats.reminders.messages > 0
        with sessions() as s:
            estimate = s.scalar(text("SELECT reltuples FROM pg_class WHERE relname = 'outbox'"))
        assert estimate == count(sessions, OutboxMessage)
    finally:
        engine.dispose()
