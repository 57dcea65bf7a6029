"""A year of the ledger on a throwaway database: subjects join, visitors file, the
scheduler plans and closes; what each period of each subject ended as (no tests here)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, timedelta

from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.due import plan_visits
from scheduler.events import plan_holidays
from scheduler.policy_load import load_policy
from store.models import Assignment, Conversation, Jurisdiction, Person, Subject, Visit
from tests.integration.test_due_support import at

# When a subject's visitor visits: a set of days, or a rule of the day and what is open.
Filing = Callable[[date, list[Visit]], bool]


def on_due(day: date, open_: list[Visit]) -> bool:
    """The diligent visitor: visits on the day a visit falls due."""
    return any(v.due_on == day for v in open_)


def never(day: date, open_: list[Visit]) -> bool:
    return False


def on_days(*days: date) -> Filing:
    wanted = set(days)
    return lambda day, _open: day in wanted


def both(a: Filing, b: Filing) -> Filing:
    return lambda day, open_: a(day, open_) or b(day, open_)


@dataclass
class Who:
    facts: dict[str, object]
    filing: Filing = on_due
    joined: date = date(2026, 1, 1)
    mode: str = "in_person"
    # days an ad-hoc visit is filed on its own (as a signal or a record made before the
    # day's tick): it may settle the period whose window holds it
    adhoc_days: frozenset[date] = frozenset()
    # days the visitor begins the earliest open visit in chat and never finishes it
    abandon_days: frozenset[date] = frozenset()


@dataclass
class Outcome:
    due_on: date
    kind: str
    status: str  # on_time|late|missed|open|cancelled
    visited_on: date | None = None


@dataclass
class YearLedger:
    tiers: dict[str, set[str]] = field(default_factory=dict)  # label → tiers seen
    periods: dict[str, list[Outcome]] = field(default_factory=dict)  # regular
    holidays: dict[str, list[Outcome]] = field(default_factory=dict)
    ids: dict[str, int] = field(default_factory=dict)

    def statuses(self, label: str, status: str) -> list[date]:
        return [o.due_on for o in self.periods[label] if o.status == status]

    def dues(self, label: str) -> list[date]:
        return [o.due_on for o in self.periods[label]]


def add_roster(s: Session, policy: str, people: dict[str, Who]) -> dict[str, int]:
    village = Jurisdiction(name=f"{policy}村", level="village")
    s.add(village)
    s.flush()
    visitor = Person(name="探访人", jurisdiction_id=village.id)
    s.add(visitor)
    s.flush()
    ids = {}
    for label, who in people.items():
        f = dict(who.facts)
        birth = f.pop("birth", date(1950, 1, 1))
        p = Person(name=label, jurisdiction_id=village.id, birth_date=birth)
        s.add(p)
        s.flush()
        s.add(Subject(person_id=p.id, policy=policy, **f))
        s.flush()
        s.add(Assignment(subject_id=p.id, visitor_id=visitor.id, starts_on=who.joined))
        ids[label] = p.id
    s.commit()
    return ids


def adhoc(s: Session, subject_id: int, visitor_id: int | None, policy: str, day: date,
          mode: str) -> None:
    s.execute(insert(Visit).values(
        subject_id=subject_id, visitor_id=visitor_id, policy=policy, kind="adhoc",
        due_on=day, window_opens=day, deadline=day, status="filed", visited_on=day,
        mode=mode, filed_at=at(day, 18), created_at=at(day, 17)))


def record(s: Session, subject_id: int, visitor_id: int | None, policy: str, day: date,
           mode: str) -> None:
    """What `记录 N` does (bot/chat/commands.py): the earliest open visit whose window has
    opened, else an ad-hoc one; then the visitor files it that day."""
    visit_id = s.scalar(
        select(Visit.id).where(Visit.subject_id == subject_id,
                               Visit.status.in_(("planned", "in_progress")),
                               Visit.window_opens <= day)
        .order_by(Visit.due_on).limit(1))
    if visit_id is None:
        adhoc(s, subject_id, visitor_id, policy, day, mode)
        return
    s.execute(update(Visit).where(Visit.id == visit_id).values(
        status="filed", visited_on=day, mode=mode, filed_at=at(day, 18)))


def begin(s: Session, subject_id: int, day: date) -> None:
    """What starting a visit in chat does (bot/chat/visit_session.py): the visit goes
    in_progress with an open checklist; here nobody ever comes back to it."""
    visit = s.scalars(select(Visit).where(
        Visit.subject_id == subject_id, Visit.status == "planned", Visit.kind == "regular",
        Visit.window_opens <= day).order_by(Visit.due_on).limit(1)).first()
    if visit is None or visit.visitor_id is None:
        return
    visit.status = "in_progress"
    s.add(Conversation(person_id=visit.visitor_id, visit_id=visit.id, checklist=visit.policy,
                       state={"status": "active"}, status="active", updated_at=at(day, 10)))


def run(sessions: sessionmaker[Session], rosters: dict[str, dict[str, Who]],
        start: date = date(2026, 1, 1), end: date = date(2027, 2, 15),
        year: int = 2026) -> YearLedger:
    """Tick (plan, holidays) every day from `start` to `end`, file as each Who says; the
    ledger of periods due in `year`."""
    out = YearLedger()
    policy_of: dict[int, str] = {}
    who_of: dict[int, tuple[str, Who]] = {}
    with sessions() as s:
        for policy, people in rosters.items():
            ids = add_roster(s, policy, people)
            for label, pid in ids.items():
                out.ids[label] = pid
                policy_of[pid] = policy
                who_of[pid] = (label, people[label])
    policies = [load_policy(p) for p in rosters]
    day = start
    while day <= end:
        with sessions() as s:
            for pid, (_label, who) in who_of.items():
                if day in who.adhoc_days and day >= who.joined and not s.scalar(
                        select(Visit.id).where(Visit.subject_id == pid, Visit.kind == "adhoc",
                                               Visit.due_on == day)):
                    adhoc(s, pid, None, policy_of[pid], day, who.mode)
            s.commit()
        with sessions() as s:
            plan_visits(s, day, at(day), policies)
            s.commit()
        with sessions() as s:
            plan_holidays(s, day, at(day), policies)
            s.commit()
        with sessions() as s:
            for pid, (_label, who) in who_of.items():
                if day in who.abandon_days and day >= who.joined:
                    begin(s, pid, day)
            s.commit()
        with sessions() as s:
            for pid, (label, who) in who_of.items():
                out.tiers.setdefault(label, set()).add(
                    s.scalar(select(Subject.tier).where(Subject.person_id == pid)) or "")
                open_ = list(s.scalars(select(Visit).where(
                    Visit.subject_id == pid, Visit.status.in_(("planned", "in_progress")))))
                if day >= who.joined and who.filing(day, open_) and not s.scalar(
                        select(Visit.id).where(Visit.subject_id == pid, Visit.kind == "adhoc",
                                               Visit.due_on == day)):
                    visitor = s.scalar(select(Assignment.visitor_id).where(
                        Assignment.subject_id == pid))
                    record(s, pid, visitor, policy_of[pid], day, who.mode)
            s.commit()
        day += timedelta(days=1)
    with sessions() as s:
        for pid, (label, _who) in who_of.items():
            for kind, book in (("regular", out.periods), ("holiday", out.holidays)):
                book[label] = [
                    Outcome(v.due_on, v.kind, outcome(v), v.visited_on)
                    for v in s.scalars(select(Visit).where(
                        Visit.subject_id == pid, Visit.kind == kind,
                        Visit.due_on >= date(year, 1, 1), Visit.due_on <= date(year, 12, 31))
                        .order_by(Visit.due_on))]
    return out


def outcome(v: Visit) -> str:
    limit = v.deadline or v.due_on
    if v.status == "covered":
        return "on_time"
    if v.status == "filed":
        assert v.visited_on is not None
        return "on_time" if v.visited_on <= limit else "late"
    if v.status in ("planned", "in_progress"):
        return "open"
    return v.status


def every(first: date, days: int, until: date) -> list[date]:
    out = []
    while first <= until:
        out.append(first)
        first += timedelta(days=days)
    return out


def all_dates(items: Iterable[Outcome]) -> list[date]:
    return [o.due_on for o in items]
