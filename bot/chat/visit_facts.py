"""What starting a visit's checklist reads, in one round trip: the visit (locked for the
transaction), its subject and their person row, whether the visitor is assigned to them
today, whether they have family on record and how many of their visits were filed
before. A start was fourteen statements, six of them these reads, and every visitor's
first press of the day is one."""

from __future__ import annotations

from datetime import date
from typing import NamedTuple

from sqlalchemy import and_, bindparam, func, select
from sqlalchemy.orm import Session

from store.models import (
    Assignment,
    FamilyLink,
    Person,
    Subject,
    Visit,
    assignment_current,
)


class StartFacts(NamedTuple):
    visit: Visit
    subject: Subject
    person: Person
    assigned: bool
    has_family: bool
    filed_before: int


_ASSIGNED = (
    select(Assignment.id)
    .where(Assignment.visitor_id == bindparam("visitor_id"),
           Assignment.subject_id == Visit.subject_id,
           assignment_current(bindparam("today")))
    .exists()
)
_HAS_FAMILY = select(FamilyLink.id).where(FamilyLink.subject_id == Visit.subject_id).exists()
_EARLIER = Visit.__table__.alias("earlier")
_FILED_BEFORE = (
    select(func.count())
    .select_from(_EARLIER)
    .where(and_(_EARLIER.c.subject_id == Visit.subject_id, _EARLIER.c.status == "filed",
                _EARLIER.c.id != Visit.id))
    .scalar_subquery()
)
_FACTS = (
    select(Visit, Subject, Person, _ASSIGNED.label("assigned"),
           _HAS_FAMILY.label("has_family"), _FILED_BEFORE.label("filed_before"))
    .join(Subject, Subject.person_id == Visit.subject_id)
    .join(Person, Person.id == Visit.subject_id)
    .where(Visit.id == bindparam("visit_id"))
)
_START = (
    _FACTS.with_for_update(of=Visit)
    # the lock may have waited for another transaction's change to the visit: take the
    # row as it is now, not as this session may have loaded it before
    .execution_options(populate_existing=True)
)


def start_facts(session: Session, visit_id: int, visitor_id: int, today: date, *,
                lock: bool = True) -> StartFacts | None:
    """None when there is no such visit (or its subject is gone). `lock`: the visit is
    locked for the transaction (a start); without it, only read (a checklist's context
    rebuilt for a conversation that kept none)."""
    row = session.execute(_START if lock else _FACTS, {
        "visit_id": visit_id, "visitor_id": visitor_id, "today": today}).first()
    if row is None:
        return None
    return StartFacts(row[0], row[1], row[2], bool(row[3]), bool(row[4]), int(row[5] or 0))
