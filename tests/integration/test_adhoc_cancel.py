"""`记录 N` then `取消`: the ad-hoc record is gone, and no reminder or escalation ever
names it, however many days pass (both stores, through the chat core)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from scheduler.tick import tick
from store.models import OutboxMessage, Visit
from tests.integration.chat_support import Chat
from tests.world import T0, build_world


def test_cancelled_adhoc_record_never_goes_overdue(sessions: sessionmaker[Session]) -> None:
    w = build_world(sessions)
    c = Chat(sessions, None)  # type: ignore[arg-type]
    c.core = Core(sessions, Settings(database_url="sqlite://"), clock=lambda: c.now[0])
    c.say(w.visitor, "记录")
    c.say(w.visitor, "记录 1")
    with sessions() as s:
        adhoc = s.scalars(select(Visit).where(Visit.kind == "adhoc")).one()
        assert adhoc.status == "in_progress"
    c.say(w.visitor, "取消")
    with sessions() as s:
        assert s.get(Visit, adhoc.id).status == "cancelled"  # type: ignore[union-attr]
    for day in range(12):
        tick(sessions, T0 + timedelta(days=day, hours=1))
    with sessions() as s:
        assert s.get(Visit, adhoc.id).status == "cancelled"  # type: ignore[union-attr]
        named = [m for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind.in_(("reminder", "escalation"))))
            if adhoc.id in ((m.payload.get("meta") or {}).get("visit_ids") or [])]
    assert named == []


def test_abandoned_adhoc_record_is_closed_next_day(sessions: sessionmaker[Session]) -> None:
    """Left planned (the chat never reached 取消): closed as cancelled the next day."""
    w = build_world(sessions)
    day = T0.date()
    with sessions() as s:
        s.add(Visit(subject_id=w.subject, visitor_id=w.visitor, policy="linzi-2022",
                    kind="adhoc", window_opens=day, due_on=day, deadline=day,
                    status="planned"))
        s.commit()
    tick(sessions, T0)
    with sessions() as s:
        assert s.scalars(select(Visit.status).where(Visit.kind == "adhoc")).one() == "planned"
        reminded = [m for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.kind == "reminder"))]
        assert all("adhoc" not in str(m.payload) for m in reminded)
    tick(sessions, T0 + timedelta(days=1))
    with sessions() as s:
        assert s.scalars(select(Visit.status).where(Visit.kind == "adhoc")).one() == "cancelled"
