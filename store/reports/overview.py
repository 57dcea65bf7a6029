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


@dataclass(frozen=True)
class OpenCase:
    """One line of the officer's first screen: who, what, since when, who has it."""

    case_id: int
    severity: str
    status: str  # open|acked
    opened_at: datetime
    age_days: int
    subject: str
    township: str
    village: str
    finding: str | None  # the latest alert's text
    kind: str
    acked_by: str | None  # who acknowledged it …
    sent_to: list[str]  # … else whom its alert went to
    delivery: dict[str, int]  # alert messages by outbox status (pending|sending|sent|failed)


def open_cases(session: Session, scope: Scope, now: datetime, limit: int = 200
               ) -> tuple[int, list[OpenCase]]:
    """Open and acknowledged cases in scope, most severe then oldest first: the total and
    the first `limit`, each with its latest finding, assignee and alert delivery."""
    from store.models import Alert, OutboxMessage

    rank = case(*((Case.severity == s, literal(i)) for i, s in enumerate(reversed(SEVERITIES))),
                else_=literal(len(SEVERITIES)))
    cond = [_in_scope(scope), Case.status.in_(("open", "acked"))]
    total = session.scalar(select(func.count()).select_from(Case)
                           .join(Person, Person.id == Case.subject_id).where(*cond)) or 0
    acker = aliased(Person)
    rows = session.execute(
        select(Case.id, Case.severity, Case.status, Case.opened_at, Case.kind, Person.name,
               Person.jurisdiction_id, acker.name)
        .join(Person, Person.id == Case.subject_id)
        .outerjoin(acker, acker.id == Case.acked_by)
        .where(*cond).order_by(rank, Case.opened_at, Case.id).limit(limit)
    ).all()
    ids = [r[0] for r in rows]
    finding: dict[int, str] = {}
    alert_case: dict[str, int] = {}
    if ids:
        for case_id, alert_id, display in session.execute(
                select(Alert.case_id, Alert.id, Alert.display).where(Alert.case_id.in_(ids))
                .order_by(Alert.case_id, Alert.id)):
            finding[case_id] = display  # the latest wins
            alert_case[str(alert_id)] = case_id
    # Alert messages are keyed alert:<alert id>:<officer>:<level> (bot/alerts/cases.py).
    sent_to: dict[int, list[str]] = {}
    states: dict[int, dict[str, int]] = {}
    if alert_case:
        oldest = min(r[3] for r in rows)
        for key, status, name in session.execute(
                select(OutboxMessage.idempotency_key, OutboxMessage.status, Person.name)
                .outerjoin(Person, Person.id == OutboxMessage.person_id)
                .where(OutboxMessage.kind == "alert", OutboxMessage.created_at >= oldest,
                       OutboxMessage.idempotency_key.like("alert:%"))
                .order_by(OutboxMessage.id)):
            cid = alert_case.get(key.split(":")[1] if key.count(":") >= 2 else "")
            if cid is None:
                continue
            states.setdefault(cid, {})[status] = states.get(cid, {}).get(status, 0) + 1
            if name and name not in sent_to.setdefault(cid, []):
                sent_to[cid].append(name)
    out = []
    for cid, sev, status, opened, kind, subject, jid, acked_by in rows:
        town, village = scope.path(jid)
        opened_utc = opened if opened.tzinfo else opened.replace(tzinfo=now.tzinfo)
        out.append(OpenCase(cid, sev, status, opened_utc, max((now - opened_utc).days, 0),
                            subject, town, village, finding.get(cid), kind, acked_by,
                            sent_to.get(cid, []), states.get(cid, {})))
    return total, out
