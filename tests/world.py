"""A small hand-built world for integration tests: two townships, people in every role."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy.orm import Session, sessionmaker

from store.models import (
    Account,
    Assignment,
    FamilyLink,
    Jurisdiction,
    Person,
    Role,
    Subject,
    Visit,
)

T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)  # 10:00 in Asia/Shanghai


@dataclass
class World:
    county: int
    township: int
    village: int
    other_township: int
    other_village: int
    visitor: int
    other_visitor: int
    subject: int
    other_subject: int
    village_officer: int
    township_officer: int
    county_officer: int
    other_officer: int
    child: int
    other_child: int


def _person(s: Session, name: str, phone: str, jid: int | None, id_number: str | None = None,
            birth: date | None = None, gender: str = "女") -> int:
    p = Person(name=name, phone=phone, jurisdiction_id=jid, id_number=id_number,
               birth_date=birth, gender=gender)
    s.add(p)
    s.flush()
    return p.id


def _role(s: Session, pid: int, role: str, jid: int | None, title: str | None = None) -> None:
    s.add(Role(person_id=pid, role=role, jurisdiction_id=jid, title=title, on_duty=True))


def _subject(s: Session, pid: int, policy: str, *, self_care: str = "失能",
             consent: bool = True) -> None:
    s.add(Subject(person_id=pid, policy=policy, categories=["分散供养特困", "独居"],
                  tier="key", self_care=self_care, lives_alone=True, status="active",
                  address="测试村1号", emergency_contact_name="赵紧急",
                  emergency_contact_phone="13900001111", family_notify_consent=consent,
                  children_count=1, extra={}))


def build_world(sessions: sessionmaker[Session], policy: str = "linzi-2022",
                bind_console: bool = True) -> World:
    with sessions() as s:
        county = Jurisdiction(name="示范县", level="county")
        s.add(county)
        s.flush()
        town = Jurisdiction(name="东关镇", level="township", parent_id=county.id)
        town2 = Jurisdiction(name="西岭镇", level="township", parent_id=county.id)
        s.add_all([town, town2])
        s.flush()
        vil = Jurisdiction(name="东关村", level="village", parent_id=town.id)
        vil2 = Jurisdiction(name="西岭村", level="village", parent_id=town2.id)
        s.add_all([vil, vil2])
        s.flush()
        visitor = _person(s, "李探访", "13800000001", vil.id)
        visitor2 = _person(s, "周探访", "13800000002", vil2.id)
        subject = _person(s, "王秀英", "13700000001", vil.id, "990101193605120123",
                          date(1936, 5, 12))
        subject2 = _person(s, "陈桂兰", "13700000002", vil2.id, "990101194002020021",
                           date(1940, 2, 2))
        vo = _person(s, "村委张", "13600000001", vil.id)
        to = _person(s, "镇干部刘", "13600000002", town.id)
        co = _person(s, "县民政孙", "13600000003", county.id)
        oo = _person(s, "西岭镇干部", "13600000004", town2.id)
        child = _person(s, "王建国", "13500000001", None, gender="男")
        child2 = _person(s, "陈小军", "13500000002", None, gender="男")
        for pid, jid in ((visitor, vil.id), (visitor2, vil2.id)):
            _role(s, pid, "visitor", jid, "村（居）干部")
        for pid, jid in ((vo, vil.id), (to, town.id), (co, county.id), (oo, town2.id)):
            _role(s, pid, "officer", jid)
        for pid, jid in ((subject, vil.id), (subject2, vil2.id)):
            _role(s, pid, "subject", jid)
        _role(s, child, "family", None)
        _role(s, child2, "family", None)
        _subject(s, subject, policy)
        _subject(s, subject2, policy)
        s.flush()
        s.add_all([
            Assignment(subject_id=subject, visitor_id=visitor, starts_on=date(2026, 1, 1)),
            Assignment(subject_id=subject2, visitor_id=visitor2, starts_on=date(2026, 1, 1)),
            FamilyLink(subject_id=subject, person_id=child, relation="儿子", notify=True),
            FamilyLink(subject_id=subject2, person_id=child2, relation="儿子", notify=True),
        ])
        if bind_console:
            for pid in (visitor, visitor2, vo, to, co, oo, child, child2):
                s.add(Account(person_id=pid, platform="console", external_id=f"p{pid}",
                              bound_at=T0, free_sent=0))
        s.commit()
        return World(county.id, town.id, vil.id, town2.id, vil2.id, visitor, visitor2,
                     subject, subject2, vo, to, co, oo, child, child2)


def planned_visit(sessions: sessionmaker[Session], subject_id: int, visitor_id: int,
                  day: date, kind: str = "regular", policy: str = "linzi-2022") -> int:
    """One visit planned for `day` (window, due date and deadline alike); its id."""
    with sessions() as s:
        visit = Visit(subject_id=subject_id, visitor_id=visitor_id, policy=policy, kind=kind,
                      due_on=day, window_opens=day, deadline=day, status="planned")
        s.add(visit)
        s.commit()
        return visit.id
