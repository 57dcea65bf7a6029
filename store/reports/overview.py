"""Figures for the county office's dashboard: overdue visits and open cases by age."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import case, func, literal, select
from sqlalchemy.orm import Session, aliased

from store.models import Case, Person, Visit
from store.reports.queries import SEVERITIES, Scope, _in_scope

AGE_BUCKETS = (("0-3天", 0, 3), ("4-7天", 4, 7), ("8-30天", 8, 30), ("30天以上", 31, None))


@dataclass(frozen=True)
class Overdue:
    visit_id: int
    subject_id: int
    subject: str
    township: str
    village: str
    visitor: str | None
    due_on: date
    deadline: date
    days_late: int
    kind: str


def overdue_visits(session: Session, scope: Scope, today: date, limit: int = 200
                   ) -> tuple[int, list[Overdue]]:
    """Open visits past their deadline (due date when none): the total and the oldest."""
    limit_date = func.coalesce(Visit.deadline, Visit.due_on)
    cond = [_in_scope(scope), Visit.status.in_(("planned", "in_progress")), limit_date < today]
    total = session.scalar(select(func.count()).select_from(Visit)
                           .join(Person, Person.id == Visit.subject_id).where(*cond)) or 0
    vis = aliased(Person)
    rows = session.execute(
        select(Visit.id, Visit.subject_id, Person.name, Person.jurisdiction_id, vis.name,
               Visit.due_on, limit_date, Visit.kind)
        .join(Person, Person.id == Visit.subject_id)
        .outerjoin(vis, vis.id == Visit.visitor_id)
        .where(*cond).order_by(limit_date, Visit.id).limit(limit)
    ).all()
    out = []
    for r in rows:
        town, village = scope.path(r[3])
        out.append(Overdue(r[0], r[1], r[2], town, village, r[4], r[5], r[6],
                           (today - r[6]).days, r[7]))
    return total, out


def open_cases_by_age(session: Session, scope: Scope, now: datetime
                      ) -> dict[str, dict[str, int]]:
    """Open (and acknowledged, not yet resolved) cases: age bucket → severity → count."""
    bucket = case(
        *((Case.opened_at > now - timedelta(days=hi + 1), literal(label))
          for label, _lo, hi in AGE_BUCKETS if hi is not None),
        else_=literal(AGE_BUCKETS[-1][0]),
    )
    out = {label: dict.fromkeys(SEVERITIES, 0) for label, _, _ in AGE_BUCKETS}
    for label, sev, n in session.execute(
        select(bucket, Case.severity, func.count()).select_from(Case)
        .join(Person, Person.id == Case.subject_id)
        .where(_in_scope(scope), Case.status.in_(("open", "acked")))
        .group_by(bucket, Case.severity)
    ):
        out.setdefault(label, dict.fromkeys(SEVERITIES, 0))[sev] = n
    return out
