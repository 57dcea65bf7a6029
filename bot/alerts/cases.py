"""Risk cases: one open case per subject and kind, one card per case to the officers.

A finding (a flagged answer, a device signal) is an `Alert` on the subject's open case
of that kind. A case that is new, or whose severity rose, is sent to the officers as one
card listing every finding of the case — after all findings of a filed visit are
recorded, so two findings of one kind make one card, not two.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from bot.alerts import families
from bot.settings import Settings
from conversations.messages import Choice, Outgoing
from conversations.text import render
from conversations.wechat_keywords import keywords
from scheduler.alert_policy import AlertRouting, officers_for
from scheduler.metrics import ALERTS
from scheduler.policy import PolicyError
from scheduler.policy_load import load_policy
from store.labels import SEVERITY_LABELS, SEVERITY_RANK, kind_label, severity_label
from store.masking import mask_id, mask_phone, mask_text
from store.models import Alert, Case, Person, Subject, Visit
from store.outbox import enqueue_to_person, priority_of
from store.upsert import insert_ignore

MAX_FINDINGS = 12  # listed on a card; the rest are counted


def routing_of(session: Session, subject_id: int) -> AlertRouting:
    """The subject's policy's `alerts:` section (the defaults if none or unknown)."""
    subject = session.get(Subject, subject_id)
    try:
        return load_policy(subject.policy).alerts if subject else AlertRouting()
    except PolicyError:
        return AlertRouting()


def responsible_officers(session: Session, subject_id: int, severity: str,
                         level: int = 0) -> list[int]:
    """The officers the policy names for this severity (jingdezhen: 「乡镇人民政府（街道
    办事处）和县（市、区）民政部门」); `level` adds that many jurisdictions further up."""
    routing = routing_of(session, subject_id)
    return officers_for(session, subject_id, routing.levels(severity), up=level)


def record_finding(session: Session, *, visit: Visit | None, risk: Any, now: datetime,
                   subject_id: int | None = None, source: str = "checklist"
                   ) -> tuple[Case, bool]:
    """Add a finding to the subject's open case of its kind (opening one if none);
    True when the officers must hear of the case: it is new or its severity rose."""
    sid = subject_id if subject_id is not None else visit.subject_id  # type: ignore[union-attr]
    key = f"{sid}:{risk.kind}"
    case = session.scalars(select(Case).where(Case.open_key == key).with_for_update()).first()
    changed = False
    if case is None:
        changed = insert_ignore(session, Case.__table__, {
            "subject_id": sid, "kind": risk.kind, "severity": risk.severity, "status": "open",
            "open_key": key, "opened_at": now, "escalation_level": 0,
        }, ["open_key"]) == 1
        case = session.scalars(select(Case).where(Case.open_key == key)).one()
    elif SEVERITY_RANK[risk.severity] > SEVERITY_RANK.get(case.severity, 0):
        case.severity = risk.severity
        changed = True
    ALERTS.labels(risk.severity).inc()
    session.add(Alert(case_id=case.id, visit_id=visit.id if visit else None,
                      question_id=getattr(risk, "question_id", None),
                      display=mask_text(f"{risk.label}：{risk.display}"),
                      severity=risk.severity, source=source, created_at=now))
    session.flush()
    return case, changed


def flag(session: Session, settings: Settings, *, visit: Visit | None, risk: Any,
         now: datetime, subject_id: int | None = None, source: str = "checklist") -> Case:
    """Record one finding and send its case at once if new or raised (an emergency
    answered mid-visit, a device signal)."""
    case, changed = record_finding(session, visit=visit, risk=risk, now=now,
                                   subject_id=subject_id, source=source)
    if changed:
        route_case(session, case, visit, now)
        if visit is None:  # no visit notice will tell the family of a device signal
            families.case_opened(session, case=case, now=now)
    return case


def record_findings(session: Session, settings: Settings, *, visit: Visit,
                    risks: Iterable[Any], now: datetime) -> list[Case]:
    """A filed visit's findings: each case they open or raise is sent once, listing all."""
    changed: dict[int, Case] = {}
    for risk in risks:
        case, is_news = record_finding(session, visit=visit, risk=risk, now=now)
        if is_news:
            changed[case.id] = case
    for case in changed.values():
        route_case(session, case, visit, now)
    return list(changed.values())


def findings(session: Session, case: Case) -> list[str]:
    """Every finding of the case, oldest first, each once."""
    seen: dict[str, None] = {}
    for display in session.scalars(select(Alert.display).where(Alert.case_id == case.id)
                                   .order_by(Alert.id)):
        seen.setdefault(display, None)
    return list(seen)


def case_card(session: Session, case: Case, visit: Visit | None,
              escalated: bool = False) -> Outgoing:
    person = session.get(Person, case.subject_id)
    subject = session.get(Subject, case.subject_id)
    visitor = session.get(Person, visit.visitor_id) if visit and visit.visitor_id else None
    village = person.jurisdiction.name if person and person.jurisdiction else ""
    listed = findings(session, case)
    text = render(
        "bot_alert",
        case_id=case.id,
        severity=severity_label(case.severity),
        kind=kind_label(case.kind),
        emergency=case.severity == "emergency",
        escalated=escalated,
        subject_name=person.name if person else "",
        id_masked=mask_id(person.id_number or "") if person else "",
        village=village,
        address=mask_text((subject.address if subject else None) or ""),
        findings=listed[:MAX_FINDINGS],
        more=max(0, len(listed) - MAX_FINDINGS),
        visit_id=visit.id if visit else None,
        visited_on=visit.visited_on.isoformat() if visit and visit.visited_on else "",
        visitor_name=visitor.name if visitor else "",
        visitor_phone=mask_phone(visitor.phone or "") if visitor else "",
        contact_name=(subject.emergency_contact_name if subject else None) or "",
        contact_phone=mask_phone(subject.emergency_contact_phone or "") if subject else "",
    )
    return Outgoing(text=text, choices=(
        Choice(f"ack:{case.id}", "确认收到"), Choice(f"resolve:{case.id}", "已处理"),
    ), template="alert", fields={"case_id": str(case.id), "severity": case.severity},
        # 对象, 情况, 地点, 个案 (WeChat shows only the keywords)
        meta={"template_data": keywords(
            f"{person.name if person else ''}（{village}）",
            f"{severity_label(case.severity)}：{kind_label(case.kind)}",
            (subject.address if subject else None) or village, f"个案 {case.id}")})


def _delivered_notice(session: Session, case: Case, visit: Visit | None, alert_id: int,
                      officer_id: int) -> dict[str, Any] | None:
    """The visitor's 「已送达」, written when this card reaches its first officer."""
    if visit is None or not visit.visitor_id:
        return None
    officer = session.get(Person, officer_id)
    person = session.get(Person, case.subject_id)
    text = render("bot_alert_delivered", case_id=case.id,
                  subject_name=person.name if person else "", kind=kind_label(case.kind),
                  officer_name=officer.name if officer else "")
    return {"person_id": visit.visitor_id, "key": f"alert-delivered:{case.id}:{alert_id}",
            "kind": "notice", "payload": Outgoing(text, template="alert_delivered").to_payload()}


def route_case(session: Session, case: Case, visit: Visit | None, now: datetime,
               level: int = 0) -> int:
    """Queue the case card to each responsible officer; how many were queued. A
    severity the policy gathers into a daily digest (watch) waits for it instead."""
    if level == 0 and not routing_of(session, case.subject_id).at_once(case.severity):
        return 0
    alert_id = session.scalar(select(Alert.id).where(Alert.case_id == case.id)
                              .order_by(Alert.id.desc()).limit(1))
    message = case_card(session, case, visit, escalated=level > 0).to_payload()
    sent = 0
    for officer_id in responsible_officers(session, case.subject_id, case.severity, level):
        sent += enqueue_to_person(
            session, person_id=officer_id, key=f"alert:{alert_id}:{officer_id}:{level}",
            kind="alert", payload=message, priority=priority_of(case.severity), not_before=now,
            on_sent=_delivered_notice(session, case, visit, alert_id or 0, officer_id)
            if level == 0 else None,
        )
    return sent


def route_alert(session: Session, case: Case, alert: Alert, visit: Visit | None,
                now: datetime, level: int = 0) -> int:
    """The case card again, one level further up (unacknowledged cases)."""
    return route_case(session, case, visit, now, level=level)


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


# Older names, kept for callers outside this package.
SEVERITY_LABEL = SEVERITY_LABELS
