"""Unacknowledged cases climb the jurisdiction tree, once per level; so do cases whose
card has not reached any officer of its level within the policy's
`alerts.undelivered_after_minutes` (the platform failing, an officer unbound).

A conditional UPDATE (… WHERE escalation_level = seen) decides which process escalates;
the outbox keys carry the level, so a re-run or a second process sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.cases import route_alert, routing_of
from store.models import Alert, Case, OutboxMessage, Visit

# How long a case may wait for an acknowledgement before going one level up.
ACK_WITHIN = {"emergency": timedelta(minutes=30), "high": timedelta(hours=24)}
MAX_LEVEL = 3


def escalate_cases(sessions: sessionmaker[Session], now: datetime) -> int:
    escalated = 0
    with sessions() as s:
        for severity, wait in ACK_WITHIN.items():
            since = func.coalesce(Case.escalated_at, Case.opened_at)
            due = s.execute(select(Case.id, Case.escalation_level).where(
                Case.status == "open", Case.severity == severity,
                Case.escalation_level < MAX_LEVEL, since <= now - wait)).all()
            for case_id, level in due:
                escalated += _escalate_one(s, case_id, level, now)
        s.commit()
    return escalated


def _escalate_one(s: Session, case_id: int, level: int, now: datetime) -> int:
    won = s.execute(
        update(Case).where(Case.id == case_id, Case.escalation_level == level,
                           Case.status == "open")
        .values(escalation_level=level + 1, escalated_at=now)
        .returning(Case.id)
    ).first()
    if won is None:
        return 0
    case = s.get(Case, case_id)
    alert = s.scalars(select(Alert).where(Alert.case_id == case_id)
                      .order_by(Alert.id.desc()).limit(1)).first()
    if case is None or alert is None:
        return 0
    visit = s.get(Visit, alert.visit_id) if alert.visit_id else None
    route_alert(s, case, alert, visit, now, level=level + 1)
    return 1


def undelivered_cases(s: Session, now: datetime) -> list[tuple[int, int]]:
    """(case id, level) of open, unacknowledged cases whose card of their current level
    reached no officer within the policy's time (not one of its rows was sent), or was
    given up on for every officer (blocked, unknown user)."""
    o = OutboxMessage
    rows = s.execute(
        select(o.idempotency_key, o.status, o.created_at, o.payload)
        .where(o.kind == "alert", o.priority < 2,
               o.status.in_(("pending", "sending", "failed", "sent")),
               o.created_at >= now - timedelta(days=2))).all()
    cards: dict[tuple[int, int], list[tuple[str, datetime]]] = {}
    for key, status, created, payload in rows:
        parts = key.split(":")  # alert:{alert}:{officer}:{level}
        case_id = (payload.get("fields") or {}).get("case_id")
        if len(parts) != 4 or not case_id:
            continue
        cards.setdefault((int(case_id), int(parts[3])), []).append((status, created))
    due = []
    for (case_id, level), sent in cards.items():
        if any(st == "sent" for st, _ in sent):
            continue
        case = s.get(Case, case_id)
        if case is None or case.status != "open" or case.escalation_level != level:
            continue
        wait = routing_of(s, case.subject_id).undelivered_after.get(case.severity)
        # a climbed card was written when its case climbed (escalated_at, the clock of
        # whoever climbed it), the first one when the outbox row was
        since = case.escalated_at if level and case.escalated_at else min(c for _, c in sent)
        given_up = all(st == "failed" for st, _ in sent)  # a 403 for every officer: now
        if given_up or (wait is not None and since <= now - wait):
            due.append((case_id, level))
    return sorted(due)


def escalate_undelivered(sessions: sessionmaker[Session], now: datetime) -> int:
    """Send each case whose card went undelivered one level further up."""
    escalated = 0
    with sessions() as s:
        for case_id, level in undelivered_cases(s, now):
            if level < MAX_LEVEL:
                escalated += _escalate_one(s, case_id, level, now)
        s.commit()
    return escalated

