"""A year, day by day, on a throwaway database: what would the policies produce?

Visitors file a share of their visits on the due day (`diligence`); the rest go
overdue, get reminded, escalated and finally missed. The summary counts per month and
policy the regular/holiday visits planned, visits filed, reminders and escalations.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from scheduler.tick import tick
from store.models import (
    Account,
    Assignment,
    Jurisdiction,
    OutboxMessage,
    Person,
    Role,
    Subject,
    Visit,
)

SH = ZoneInfo("Asia/Shanghai")
POLICIES = ("jingdezhen-2020", "liuzhou-2021", "linzi-2022", "anshan-2020", "guangxi-2023")


@dataclass
class MonthRow:
    visits: int = 0
    holiday_visits: int = 0
    filed: int = 0
    reminders: int = 0
    escalations: int = 0


@dataclass
class Summary:
    rows: dict[tuple[str, str], MonthRow] = field(default_factory=dict)  # (month, policy)

    def lines(self) -> list[str]:
        out = [f"{'月份':<8}{'政策':<18}{'应探访':>6}{'节日':>6}{'已完成':>6}"
               f"{'提醒':>6}{'督办':>6}"]
        for (month, policy), r in sorted(self.rows.items()):
            out.append(f"{month:<10}{policy:<20}{r.visits:>8}{r.holiday_visits:>8}"
                       f"{r.filed:>8}{r.reminders:>8}{r.escalations:>8}")
        return out


def synthetic_roster(sessions: sessionmaker[Session], policies: tuple[str, ...] = POLICIES,
                     per_policy: int = 20, seed: int = 7, start: date = date(2025, 12, 1)
                     ) -> None:
    """One township per policy, a village, a visitor per 10 subjects, officers."""
    rng = random.Random(seed)
    with sessions() as s:
        for policy in policies:
            town = Jurisdiction(name=f"{policy}镇", level="township")
            s.add(town)
            s.flush()
            village = Jurisdiction(name=f"{policy}村", level="village", parent_id=town.id)
            s.add(village)
            s.flush()
            for jid, label in ((village.id, "村"), (town.id, "镇")):
                officer = Person(name=f"{label}干部", jurisdiction_id=jid)
                s.add(officer)
                s.flush()
                s.add(Role(person_id=officer.id, role="officer", jurisdiction_id=jid))
            visitor_id = 0
            for i in range(per_policy):
                if i % 10 == 0:
                    visitor = Person(name=f"探访人{i // 10 + 1}", jurisdiction_id=village.id)
                    s.add(visitor)
                    s.flush()
                    visitor_id = visitor.id
                age = rng.choice([66, 72, 78, 83, 88])
                p = Person(name=f"对象{i + 1}", jurisdiction_id=village.id,
                           birth_date=date(start.year - age, rng.randint(1, 12), 1))
                s.add(p)
                s.flush()
                s.add(Subject(person_id=p.id, policy=policy,
                              self_care=rng.choice(["自理", "自理", "半失能", "失能"]),
                              lives_alone=rng.random() < 0.6, disabled=rng.random() < 0.1))
                s.flush()
                s.add(Assignment(subject_id=p.id, visitor_id=visitor_id, starts_on=start))
        s.commit()


def bind_everyone(sessions: sessionmaker[Session]) -> None:
    """Console accounts for visitors and officers who have none (a simulation only)."""
    with sessions() as s:
        have = set(s.scalars(select(Account.person_id)))
        staff = set(s.scalars(select(Assignment.visitor_id).distinct())) | set(
            s.scalars(select(Role.person_id).where(Role.role == "officer")))
        for pid in sorted(staff - have):
            s.add(Account(person_id=pid, platform="console", external_id=f"sim{pid}"))
        s.commit()


def run_year(sessions: sessionmaker[Session], start: date, days: int = 365,
             diligence: float = 0.8, seed: int = 7,
             progress: Callable[[date], None] | None = None) -> Summary:
    rng = random.Random(seed)
    with sessions() as s:
        subjects = list(s.scalars(select(Subject.person_id).order_by(Subject.person_id)))
    diligent = [pid for pid in subjects if rng.random() < diligence]
    for i in range(days):
        day = start + timedelta(days=i)
        tick(sessions, datetime.combine(day, time(8, 0), SH))
        with sessions() as s:
            s.execute(update(Visit).where(
                Visit.subject_id.in_(diligent), Visit.status == "planned", Visit.due_on == day,
            ).values(status="filed", visited_on=day, mode="in_person"))
            s.commit()
        if progress:
            progress(day)
    return summarize(sessions)


def summarize(sessions: sessionmaker[Session]) -> Summary:
    summary = Summary()

    def row(day: date, policy: str) -> MonthRow:
        return summary.rows.setdefault((day.strftime("%Y-%m"), policy), MonthRow())

    with sessions() as s:
        policy_of: dict[int, str] = {}
        for vid, policy, kind, due, status, visited in s.execute(
                select(Visit.id, Visit.policy, Visit.kind, Visit.due_on, Visit.status,
                       Visit.visited_on)):
            policy_of[vid] = policy
            r = row(due, policy)
            if kind == "holiday":
                r.holiday_visits += 1
            elif status != "cancelled":
                r.visits += 1
            if status == "filed" and visited:
                row(visited, policy).filed += 1
        counts: Counter[tuple[str, str, str]] = Counter()
        for kind, payload, created in s.execute(
                select(OutboxMessage.kind, OutboxMessage.payload, OutboxMessage.not_before)
                .where(OutboxMessage.kind.in_(("reminder", "escalation")))):
            ids = (payload.get("meta") or {}).get("visit_ids") or []
            policy = policy_of.get(ids[0], "?") if ids else "?"
            counts[(created.astimezone(SH).strftime("%Y-%m"), policy, kind)] += 1
        for (month, policy, kind), n in counts.items():
            r = summary.rows.setdefault((month, policy), MonthRow())
            if kind == "reminder":
                r.reminders += n
            else:
                r.escalations += n
    return summary
