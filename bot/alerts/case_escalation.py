"""Unacknowledged cases climb the jurisdiction tree, once per level.

A conditional UPDATE (… WHERE escalation_level = seen) decides which process escalates;
the outbox keys carry the level, so a re-run or a second process sends nothing twice.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from bot.alerts.cases import route_alert
from store.models import Alert, Case, Visit

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
