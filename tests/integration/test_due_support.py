"""Roster building and a day-by-day clock for the scheduler tests (no tests here)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.tick import tick
from store.models import Account, Assignment, Jurisdiction, Person, Role, Subject, Visit

SH = ZoneInfo("Asia/Shanghai")


@dataclass
class Roster:
    township: int
    village: int
    visitor: int
    other_visitor: int
    village_officer: int
    township_officer: int
    subjects: dict[str, int] = field(default_factory=dict)  # label → person id


def person(s: Session, name: str, jid: int | None, *, account: str | None = None,
           birth: date | None = None) -> int:
    p = Person(name=name, jurisdiction_id=jid, birth_date=birth)
    s.add(p)
    s.flush()
    if account:
        s.add(Account(person_id=p.id, platform="telegram", external_id=account))
    return p.id


def build_roster(sessions: sessionmaker[Session], policy: str,
                 subjects: dict[str, dict[str, object]], start: date = date(2025, 12, 1),
                 suffix: str = "") -> Roster:
    """A township with one village, two visitors, one officer at each level, and the
    given subjects (label → Subject fields, plus optional birth) assigned to the first
    visitor."""
    with sessions() as s:
        town = Jurisdiction(name=f"城关镇{suffix}", level="township")
        s.add(town)
        s.flush()
        village = Jurisdiction(name=f"东村{suffix}", level="village", parent_id=town.id)
        s.add(village)
        s.flush()
        r = Roster(
            township=town.id, village=village.id,
            visitor=person(s, "王探访", village.id, account=f"v1{suffix}"),
            other_visitor=person(s, "赵探访", village.id, account=f"v2{suffix}"),
            village_officer=person(s, "村干部", village.id, account=f"o1{suffix}"),
            township_officer=person(s, "镇干部", town.id, account=f"o2{suffix}"),
        )
        s.add_all([Role(person_id=r.village_officer, role="officer", jurisdiction_id=village.id),
                   Role(person_id=r.township_officer, role="officer", jurisdiction_id=town.id)])
        for label, fields in subjects.items():
            f = dict(fields)
            birth = f.pop("birth", None)
            pid = person(s, label, village.id, birth=birth)  # type: ignore[arg-type]
            s.add(Subject(person_id=pid, policy=policy, **f))
            s.flush()
            s.add(Assignment(subject_id=pid, visitor_id=r.visitor, starts_on=start))
            r.subjects[label] = pid
        s.commit()
    return r


def at(day: date, hh: int = 8, mm: int = 0) -> datetime:
    return datetime.combine(day, time(hh, mm), SH).astimezone(UTC)


def file_due(sessions: sessionmaker[Session], day: date, subject_ids: set[int],
             mode: str = "in_person") -> int:
    """The diligent visitors: file every open visit of these subjects due today."""
    with sessions() as s:
        n = s.execute(
            update(Visit)
            .where(Visit.subject_id.in_(subject_ids), Visit.status == "planned",
                   Visit.due_on == day)
            .values(status="filed", visited_on=day, mode=mode, filed_at=at(day, 18))
        ).rowcount
        s.commit()
        return int(n or 0)


def simulate(sessions: sessionmaker[Session], start: date, end: date,
             diligent: set[int], each_day: Callable[[date], None] | None = None) -> None:
    day = start
    while day <= end:
        tick(sessions, at(day))
        file_due(sessions, day, diligent)
        if each_day:
            each_day(day)
        day += timedelta(days=1)


def visits_of(sessions: sessionmaker[Session], subject_id: int, kind: str = "regular"
              ) -> list[Visit]:
    with sessions() as s:
        return list(s.scalars(select(Visit).where(Visit.subject_id == subject_id,
                                                  Visit.kind == kind).order_by(Visit.due_on)))
