"""Notices to a subject's family: one after each visit, one when everything is resolved.

Only with the subject's recorded consent, only to family who have not said 停止通知,
never with a phone or ID number, never an officer's own words. Cases about the family
itself (abuse, a caregiver failing: `store.labels.NOT_FOR_FAMILY`) are never told to
it: a visit that found one sends the family nothing, since the child may be the
caregiver in question.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from conversations.messages import Outgoing
from conversations.text import render
from conversations.wechat_keywords import keywords
from store.labels import SEVERITIES, for_family, kind_label
from store.models import Case, FamilyLink, OutboxMessage, Person, Subject, Visit
from store.outbox import enqueue_to_person

log = logging.getLogger(__name__)


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
    """The one message of a visit: when, by whom, what was found and what is being done."""
    if any(not for_family(r.get("kind")) for r in risks):
        log.info("visit %s: no family notice (a finding about the family itself)", visit.id)
        return
    parent = session.get(Person, visit.subject_id)
    visitor = session.get(Person, visit.visitor_id) if visit.visitor_id else None
    worst = max((r["severity"] for r in risks), key=SEVERITIES.index, default=None)
    found = list(dict.fromkeys(kind_label(r.get("kind")) for r in risks))
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
            found=found,
            nudge=nudge,
        )
        enqueue_to_person(session, person_id=link.person_id, kind="notice",
                          key=f"family:visit:{visit.id}:{link.person_id}",
                          payload=Outgoing(text, template="family_visit", meta={
                              # 对象, 探访日期, 情况, 探访人 (WeChat shows only keywords)
                              "template_data": keywords(
                                  parent.name if parent else "",
                                  visit.visited_on.isoformat() if visit.visited_on else "",
                                  "、".join(found) or "近况良好",
                                  visitor.name if visitor else "")}).to_payload())


def case_opened(session: Session, *, case: Case, now: datetime) -> None:
    """A serious case opened without a visit (a device signal): told once."""
    if case.severity not in ("high", "emergency") or not for_family(case.kind):
        return
    parent = session.get(Person, case.subject_id)
    for link in _recipients(session, case.subject_id):
        text = render("bot_family_case_opened", parent_name=parent.name if parent else "",
                      severity=case.severity, kind=kind_label(case.kind))
        enqueue_to_person(session, person_id=link.person_id, kind="notice",
                          key=f"family:case:{case.id}:opened:{link.person_id}",
                          payload=Outgoing(text, template="family_case").to_payload())


ALL_CLEAR = "family:allclear:"


def case_resolved(session: Session, *, case: Case, now: datetime) -> None:
    """「处理完毕」 once every case about the person is resolved, if the family was told
    of any of them since the last such message."""
    still_open = session.scalar(select(func.count()).select_from(Case).where(
        Case.subject_id == case.subject_id, Case.status != "resolved")) or 0
    if still_open:
        return
    # the cases since the last all-clear: those opened after the case that closed it
    keys = session.scalars(select(OutboxMessage.idempotency_key).where(
        OutboxMessage.idempotency_key.like(f"{ALL_CLEAR}{case.subject_id}:%")))
    last = max((int(k.split(":")[3]) for k in keys), default=0)
    kinds = session.scalars(select(Case.kind).where(Case.subject_id == case.subject_id,
                                                    Case.id > last))
    if not any(for_family(k) for k in kinds):
        return
    parent = session.get(Person, case.subject_id)
    for link in _recipients(session, case.subject_id):
        text = render("bot_family_case_resolved", parent_name=parent.name if parent else "")
        enqueue_to_person(session, person_id=link.person_id, kind="notice",
                          key=f"{ALL_CLEAR}{case.subject_id}:{case.id}:{link.person_id}",
                          payload=Outgoing(text, template="family_case").to_payload())
