"""What keeps subjects from being visited, found in the data: `visitbot doctor` and the
tick's summary read these. Each is one grouped query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from sqlalchemy import exists, func, select
from sqlalchemy.orm import Session

from scheduler.policy import PolicyError
from scheduler.policy_load import load_policy
from scheduler.sql import current_assignments
from store.models import Account, Assignment, Person, Subject, assignment_in_force


@dataclass(frozen=True)
class PolicyProblem:
    name: str
    subjects: int  # active subjects following it
    reason: str


def unloadable_policies(session: Session) -> list[PolicyProblem]:
    """Policies that subjects follow but that cannot be loaded: those subjects get no
    visits at all until the name is corrected (roster) or the file is fixed."""
    out = []
    for name, n in session.execute(
            select(Subject.policy, func.count()).where(Subject.status == "active")
            .group_by(Subject.policy).order_by(Subject.policy)):
        try:
            load_policy(name)
        except PolicyError as exc:
            out.append(PolicyProblem(name, int(n), str(exc)))
    return out


def subjects_without_visitor(session: Session, today: date, limit: int = 20
                             ) -> tuple[int, list[str]]:
    """Active subjects with no visitor assigned today: (how many, some names)."""
    cur = current_assignments(today)
    cond = (Subject.status == "active",
            ~exists(select(cur.c.subject_id).where(cur.c.subject_id == Subject.person_id)))
    n = session.scalar(select(func.count()).select_from(Subject).where(*cond)) or 0
    names = list(session.scalars(
        select(Person.name).join(Subject, Subject.person_id == Person.id).where(*cond)
        .order_by(Person.name).limit(limit)))
    return int(n), names


def visitors_without_account(session: Session, today: date, limit: int = 20
                             ) -> tuple[int, list[str]]:
    """Visitors assigned today who have bound no chat account: no reminder reaches them."""
    visitors = select(Assignment.visitor_id).where(assignment_in_force(today)).distinct()
    cond = (Person.id.in_(visitors),
            ~exists(select(Account.id).where(Account.person_id == Person.id)))
    n = session.scalar(select(func.count()).select_from(Person).where(*cond)) or 0
    names = list(session.scalars(select(Person.name).where(*cond).order_by(Person.name)
                                 .limit(limit)))
    return int(n), names
