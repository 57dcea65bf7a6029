"""A checklist begun and never finished does not hold its period open for ever: once the
ladder has run past the deadline and the checklist has lain untouched for a day, the tick
closes the visit as missed (the next period is planned behind it), closes the checklist,
and tells the visitor — on both stores, through the chat core."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from scheduler.due import plan_visits
from scheduler.policy_load import load_policy
from store.models import Conversation, OutboxMessage, Visit
from tests.integration.chat_support import Chat
from tests.world import World


def test_abandoned_checklist_ends_missed_and_the_next_period_follows(
        chat: tuple[Chat, World]) -> None:
    c, w = chat
    c.say(w.visitor, "待访")
    c.say(w.visitor, "1")
    c.say(w.visitor, "1")
    with c.sessions() as s:
        visit = s.scalars(select(Visit).where(Visit.subject_id == w.subject)).one()
        assert visit.status == "in_progress"
        visit_id, deadline = visit.id, visit.deadline
    assert deadline is not None
    policy = load_policy("linzi-2022")
    last_day = deadline + timedelta(days=policy.escalation.close_after_days)
    touched = c.now[0]

    def tick_on(day: date, *, hours_after_touch: float | None = None) -> None:
        now = (touched + timedelta(hours=hours_after_touch) if hours_after_touch is not None
               else c.now[0].replace(year=day.year, month=day.month, day=day.day))
        with c.sessions() as s:
            plan_visits(s, day, now, [policy])
            s.commit()

    tick_on(last_day)  # the ladder has not run out yet: still open
    with c.sessions() as s:
        assert s.get(Visit, visit_id).status == "in_progress"  # type: ignore[union-attr]
    # past the ladder but touched an hour ago: someone is filling it in, leave it
    tick_on(last_day + timedelta(days=1), hours_after_touch=1)
    with c.sessions() as s:
        assert s.get(Visit, visit_id).status == "in_progress"  # type: ignore[union-attr]
    c.now[0] = c.now[0].replace(year=last_day.year, month=last_day.month,
                                day=last_day.day) + timedelta(days=2)
    tick_on(c.now[0].date())
    with c.sessions() as s:
        assert s.get(Visit, visit_id).status == "missed"  # type: ignore[union-attr]
        conv = s.scalars(select(Conversation).where(Conversation.visit_id == visit_id)).one()
        assert conv.status == "expired"
        told = [m for m in s.scalars(select(OutboxMessage).where(
            OutboxMessage.external_id == f"p{w.visitor}"))
            if m.idempotency_key == f"expired:{visit_id}"]
        assert len(told) == 1 and "记为未访" in told[0].payload["text"]
        # the interval rhythm plans the next period behind the missed one
        later = s.scalars(select(Visit).where(Visit.subject_id == w.subject,
                                              Visit.kind == "regular",
                                              Visit.status == "planned")).all()
        assert later and all(v.due_on > deadline for v in later)
    # the visitor is no longer held in the closed checklist: 待访 lists the new visit
    listed = c.say(w.visitor, "待访")
    assert listed and "王秀英" in listed[0].text
    assert all("未完成" not in m.text for m in listed)
    # a second tick writes nothing more
    with c.sessions() as s:
        before = s.query(OutboxMessage).count()
    tick_on(c.now[0].date())
    with c.sessions() as s:
        assert s.query(OutboxMessage).count() == before
