"""Who may see what: a visitor their subjects, an officer their jurisdiction subtree,
a family member their own parent."""

from __future__ import annotations

from datetime import date

from sqlalchemy import Select, and_, literal, or_, select
from sqlalchemy.orm import Session

from store.models import (
    Assignment,
    FamilyLink,
    Jurisdiction,
    Person,
    Role,
    Subject,
    assignment_current,
)


def subtree_ids(session: Session, root_ids: list[int]) -> Select[tuple[int]]:
    """A recursive CTE selecting the ids of the given jurisdictions and all below."""
    base = select(Jurisdiction.id).where(Jurisdiction.id.in_(root_ids)).cte(recursive=True)
    child = select(Jurisdiction.id).where(Jurisdiction.parent_id == base.c.id)
    tree = base.union_all(child)
    return select(tree.c.id)


def officer_roots(session: Session, person_id: int) -> list[int]:
    rows = session.scalars(
        select(Role.jurisdiction_id).where(
            Role.person_id == person_id, Role.role == "officer", Role.jurisdiction_id.isnot(None)
        )
    ).all()
    return [r for r in rows if r is not None]


def visible_subject_ids(session: Session, person_id: int, roles: set[str],
                        today: date) -> Select[tuple[int]]:
    """Every subject this person may see, as a selectable of subject ids."""
    clauses = []
    if "visitor" in roles:
        clauses.append(
            Subject.person_id.in_(
                select(Assignment.subject_id).where(
                    Assignment.visitor_id == person_id,
                    assignment_current(today),
                )
            )
        )
    if "officer" in roles:
        roots = officer_roots(session, person_id)
        if roots:
            clauses.append(
                Subject.person_id.in_(
                    select(Person.id).where(Person.jurisdiction_id.in_(subtree_ids(session, roots)))
                )
            )
    if "family" in roles:
        clauses.append(
            Subject.person_id.in_(
                select(FamilyLink.subject_id).where(FamilyLink.person_id == person_id)
            )
        )
    cond = or_(*clauses) if clauses else literal(False)
    return select(Subject.person_id).where(and_(cond))


def can_see_subject(session: Session, person_id: int, roles: set[str], subject_id: int,
                    today: date) -> bool:
    q = visible_subject_ids(session, person_id, roles, today).where(
        Subject.person_id == subject_id
    )
    return session.execute(q.limit(1)).first() is not None


def is_assigned_visitor(session: Session, visitor_id: int, subject_id: int, today: date) -> bool:
    q = select(Assignment.id).where(
        Assignment.visitor_id == visitor_id,
        Assignment.subject_id == subject_id,
        assignment_current(today),
    )
    return session.execute(q.limit(1)).first() is not None


def roles_of(session: Session, person_id: int) -> set[str]:
    return set(session.scalars(select(Role.role).where(Role.person_id == person_id)).all())
