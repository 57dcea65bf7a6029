"""Risk cases: one open case per subject and kind, routed up the jurisdiction tree."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import families
from bot.settings import Settings
from conversations.messages import Choice, Outgoing
from conversations.text import render
from store.masking import mask_id, mask_phone
from store.models import Alert, Case, Jurisdiction, Person, Role, Subject, Visit
from store.outbox import enqueue_to_person
from store.upsert import insert_ignore

SEVERITY_RANK = {"watch": 0, "high": 1, "emergency": 2}
SEVERITY_LABEL = {"watch": "关注", "high": "高风险", "emergency": "紧急"}


def _ancestors(session: Session, jurisdiction_id: int | None) -> list[Jurisdiction]:
    """The jurisdiction itself, then its parents: village, township, county …"""
    chain: list[Jurisdiction] = []
    current = session.get(Jurisdiction, jurisdiction_id) if jurisdiction_id else None
    while current is not None and len(chain) < 8:
        chain.append(current)
        current = current.parent
    return chain


def responsible_officers(session: Session, subject_id: int, severity: str,
                         level: int = 0) -> list[int]:
    """Village committee and township officers on duty; the county too for emergencies.

    `level` escalates: each level adds the next jurisdiction up the tree.
    """
    person = session.get(Person, subject_id)
    chain = _ancestors(session, person.jurisdiction_id if person else None)
    depth = 2 + level + (1 if severity == "emergency" else 0)
    ids = [j.id for j in chain[:depth]]
    if not ids:
        return []
    return list(session.scalars(
        select(Role.person_id).where(
            Role.role == "officer", Role.on_duty.is_(True), Role.jurisdiction_id.in_(ids)
        ).distinct()
    ).all())


def flag(session: Session, settings: Settings, *, visit: Visit | None, risk: Any,
         now: datetime, subject_id: int | None = None, source: str = "checklist") -> Case:
    """Record a risk: open (or add to) the subject's case of that kind and route it."""
    sid = subject_id if subject_id is not None else visit.subject_id  # type: ignore[union-attr]
    key = f"{sid}:{risk.kind}"
    case = session.scalars(select(Case).where(Case.open_key == key).with_for_update()).first()
    is_new = False
    raised = False
    if case is None:
        is_new = insert_ignore(session, Case.__table__, {
            "subject_id": sid, "kind": risk.kind, "severity": risk.severity, "status": "open",
            "open_key": key, "opened_at": now, "escalation_level": 0,
        }, ["open_key"]) == 1
        case = session.scalars(select(Case).where(Case.open_key == key)).one()
    elif SEVERITY_RANK[risk.severity] > SEVERITY_RANK.get(case.severity, 0):
        case.severity = risk.severity
        raised = True
    alert = Alert(case_id=case.id, visit_id=visit.id if visit else None,
                  question_id=getattr(risk, "question_id", None),
                  display=f"{risk.label}：{risk.display}", severity=risk.severity,
                  source=source, created_at=now)
    session.add(alert)
    session.flush()
    if is_new or raised:
        route_alert(session, case, alert, visit, now)
        if case.severity in ("high", "emergency"):
            families.case_opened(session, case=case, now=now)
    return case


def alert_message(session: Session, case: Case, alert: Alert, visit: Visit | None,
                  escalated: bool = False) -> Outgoing:
    person = session.get(Person, case.subject_id)
    subject = session.get(Subject, case.subject_id)
    visitor = session.get(Person, visit.visitor_id) if visit and visit.visitor_id else None
    village = person.jurisdiction.name if person and person.jurisdiction else ""
    text = render(
        "bot_alert",
        case_id=case.id,
        severity=SEVERITY_LABEL.get(case.severity, case.severity),
        emergency=case.severity == "emergency",
        escalated=escalated,
        subject_name=person.name if person else "",
        id_masked=mask_id(person.id_number or "") if person else "",
        village=village,
        what=alert.display,
        visit_id=visit.id if visit else None,
        visited_on=visit.visited_on.isoformat() if visit and visit.visited_on else "",
        visitor_name=visitor.name if visitor else "",
        contact_name=(subject.emergency_contact_name if subject else None) or "",
        contact_phone=mask_phone(subject.emergency_contact_phone or "") if subject else "",
    )
    return Outgoing(text=text, choices=(
        Choice(f"ack:{case.id}", "确认收到"), Choice(f"resolve:{case.id}", "已处理"),
    ), template="alert", fields={"case_id": str(case.id), "severity": case.severity})


def route_alert(session: Session, case: Case, alert: Alert, visit: Visit | None,
                now: datetime, level: int = 0) -> int:
    message = alert_message(session, case, alert, visit, escalated=level > 0)
    sent = 0
    for officer_id in responsible_officers(session, case.subject_id, case.severity, level):
        sent += enqueue_to_person(
            session, person_id=officer_id, key=f"alert:{alert.id}:{officer_id}:{level}",
            kind="alert", payload=message.to_payload(),
        )
    return sent


def acknowledge(session: Session, case: Case, officer_id: int, now: datetime) -> bool:
    if case.status != "open":
        return False
    case.status = "acked"
    case.acked_at = now
    case.acked_by = officer_id
    return True


def resolve(session: Session, case: Case, officer_id: int, note: str, now: datetime) -> bool:
    if case.status == "resolved":
        return False
    case.status = "resolved"
    case.resolved_at = now
    case.resolved_by = officer_id
    case.resolution = note
    case.open_key = None  # frees the (subject, kind) slot for a future case
    if case.acked_at is None:
        case.acked_at, case.acked_by = now, officer_id
    session.flush()
    families.case_resolved(session, case=case, now=now)
    return True
