"""Escalation of overdue visits: village committee officers first, then the township.

Level 1: visits past their deadline (plus `village_after_days`) go to the officers of
the subject's own jurisdiction (its village); level 2: past `township_after_days`, to
the officers of its parent (the township). Each officer gets one message a day listing
all such visits in their area: key `escalation:{officer_id}:{level}:{date}`.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import String, cast, exists, func, literal, select
from sqlalchemy.orm import Session, aliased

from conversations.messages import Outgoing
from conversations.text import render
from scheduler.due import OPEN, policies_in_use
from scheduler.policy import Policy, send_time
from scheduler.reminders import OUTBOX, accounts_of_people, write_outbox
from store.base import utcnow
from store.models import Jurisdiction, Person, Role, Subject, Visit

MAX_LISTED = 30


@dataclass
class EscalationStats:
    visits: int = 0
    messages: int = 0


def _rows(session: Session, policy: Policy, level: int, today: date) -> Any:
    v = Visit.__table__
    subject_person = aliased(Person)
    visitor = aliased(Person)
    village = aliased(Jurisdiction)
    esc = policy.escalation
    after = esc.village_after_days if level == 1 else esc.township_after_days
    cutoff = today - timedelta(days=after)
    # level 1: officers of the subject's own jurisdiction; level 2: of its parent
    officer_scope = village.id if level == 1 else village.parent_id
    return (
        select(Role.person_id.label("officer_id"), v.c.id, v.c.due_on, v.c.reason,
               subject_person.name, village.name.label("village"),
               visitor.name.label("visitor"))
        .select_from(v)
        .join(Subject, Subject.person_id == v.c.subject_id)
        .join(subject_person, subject_person.id == v.c.subject_id)
        .join(village, village.id == subject_person.jurisdiction_id)
        .join(Role, (Role.jurisdiction_id == officer_scope) & (Role.role == "officer")
              & Role.on_duty.is_(True))
        .outerjoin(visitor, visitor.id == v.c.visitor_id)
        .where(v.c.policy == policy.name, v.c.status.in_(OPEN), Subject.status == "active",
               v.c.kind != "adhoc",  # a record the visitor began: never owed, never overdue
               func.coalesce(v.c.deadline, v.c.due_on) < cutoff,
               ~exists(select(OUTBOX.c.id).where(
                   OUTBOX.c.idempotency_key == literal("escalation:")
                   + cast(Role.person_id, String) + literal(f":{level}:{today.isoformat()}"))))
        .order_by(Role.person_id, v.c.due_on, v.c.id)
    )


def _messages(session: Session, policies: Iterable[Policy], today: date, now: datetime
              ) -> Iterator[dict[str, Any]]:
    for level in (1, 2):
        rows: list[tuple[Any, Policy]] = []
        for policy in policies:
            rows.extend((r, policy) for r in session.execute(_rows(session, policy, level,
                                                                   today)))
        rows.sort(key=lambda rp: (rp[0].officer_id, rp[0].due_on, rp[0].id))
        # chosen here, not joined: SQLite planned the ranked accounts as the inner loop of
        # every overdue visit (1.5 s a policy at 20,000 subjects with nothing overdue)
        accounts = accounts_of_people(session, (r.officer_id for r, _ in rows))
        for officer_id, group in groupby(rows, key=lambda rp: rp[0].officer_id):
            if officer_id not in accounts:  # an officer not bound to any chat
                continue
            platform, external_id = accounts[officer_id]
            seen: set[int] = set()
            items = []
            policy: Policy | None = None
            for row, pol in group:
                policy = policy or pol
                if row.id not in seen:  # an officer of two villages sees a visit once
                    seen.add(row.id)
                    items.append(row)
            assert policy is not None
            listed = [{
                "name": r.name, "village": r.village if level == 2 else None,
                "due_on": r.due_on.isoformat(), "reason": r.reason,
                "days_over": (today - r.due_on).days, "visitor": r.visitor,
            } for r in items[:MAX_LISTED]]
            out = Outgoing(
                text=render("escalation_digest", level=level, total=len(items), items=listed),
                template="escalation",
                fields={"count": str(len(items)), "level": str(level)},
                meta={"visit_ids": [r.id for r in items]},
            )
            yield {
                "idempotency_key": f"escalation:{officer_id}:{level}:{today.isoformat()}",
                "person_id": officer_id,
                "platform": platform,
                "external_id": external_id,
                "kind": "escalation",
                "payload": out.to_payload(),
                "status": "pending",
                "attempts": 0,
                "not_before": send_time(policy, now),
                "created_at": now,
            }


def send_escalations(session: Session, now: datetime | None = None, today: date | None = None,
                     policies: Iterable[Policy] | None = None) -> EscalationStats:
    """Write today's escalation digests to the outbox. Does not commit."""
    now = now or utcnow()
    pols = list(policies) if policies is not None else policies_in_use(session)
    if not pols:
        return EscalationStats()
    today = today or now.astimezone(pols[0].tz).date()
    stats = EscalationStats()

    def counted() -> Iterator[dict[str, Any]]:
        for msg in _messages(session, pols, today, now):
            stats.visits += len(msg["payload"]["meta"]["visit_ids"])
            yield msg

    stats.messages = write_outbox(session, counted())
    return stats
