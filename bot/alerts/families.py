"""Notices to a subject's family: after each visit, and when a serious case opens or closes.

Only with the subject's recorded consent, only to family who have not said 停止通知,
and never with an ID number.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conversations.messages import Outgoing
from conversations.text import render
from store.models import Case, FamilyLink, Person, Subject, Visit
from store.outbox import enqueue_to_person


def _recipients(session: Session, subject_id: int) -> list[FamilyLink]:
    subject = session.get(Subject, subject_id)
    if subject is None or not subject.family_notify_consent:
        return []
    return list(session.scalars(
        select(FamilyLink).where(FamilyLink.subject_id == subject_id, FamilyLink.notify.is_(True))
    ).all())


# Answers by which a visitor records that the children have not been in touch lately.
NO_RECENT_CONTACT = {"child_contact": False}


def visit_filed(session: Session, *, visit: Visit, risks: list[dict[str, Any]],
                now: datetime, answers: dict[str, Any] | None = None) -> None:
    parent = session.get(Person, visit.subject_id)
    visitor = session.get(Person, visit.visitor_id) if visit.visitor_id else None
    worst = max((r["severity"] for r in risks), key=["watch", "high", "emergency"].index,
                default=None)
    # 督促子女定期联系: the note asks the child to call when the visitor saw no contact.
    nudge = any((answers or {}).get(q) is v for q, v in NO_RECENT_CONTACT.items())
    for link in _recipients(session, visit.subject_id):
        text = render(
            "bot_family_visit",
            parent_name=parent.name if parent else "",
            relation=link.relation or "",
            visitor_name=visitor.name if visitor else "",
            visited_on=visit.visited_on.isoformat() if visit.visited_on else "",
            mode=visit.mode or "",
            worst=worst,
            nudge=nudge,
        )
        enqueue_to_person(session, person_id=link.person_id, kind="notice",
                          key=f"family:visit:{visit.id}:{link.person_id}",
                          payload=Outgoing(text, template="family_visit").to_payload())


def case_opened(session: Session, *, case: Case, now: datetime) -> None:
    _case_notice(session, case, "bot_family_case_opened", "opened")


def case_resolved(session: Session, *, case: Case, now: datetime) -> None:
    if case.severity not in ("high", "emergency"):
        return
    _case_notice(session, case, "bot_family_case_resolved", "resolved")


def _case_notice(session: Session, case: Case, template: str, what: str) -> None:
    parent = session.get(Person, case.subject_id)
    for link in _recipients(session, case.subject_id):
        text = render(template, parent_name=parent.name if parent else "",
                      severity=case.severity, kind=case.kind, resolution=case.resolution or "")
        enqueue_to_person(session, person_id=link.person_id, kind="notice",
                          key=f"family:case:{case.id}:{what}:{link.person_id}",
                          payload=Outgoing(text, template="family_case").to_payload())
