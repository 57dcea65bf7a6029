"""Holiday and campaign visits: in person, for key subjects, on top of the rhythm."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from scheduler.due import SUBJECTS, plan_event_visits, policies_in_use
from scheduler.holidays import holidays_near
from scheduler.policy import Campaign, Policy
from store.base import utcnow
from store.models import Jurisdiction, Person, Visit


def plan_holidays(session: Session, today: date, now: datetime | None = None,
                  policies: list[Policy] | None = None) -> int:
    """From `lead_days` before a holiday to `after_days` after it, make sure each subject
    of the rule's tiers has its holiday visit (kind='holiday', reason='春节' …)."""
    now = now or utcnow()
    n = 0
    for policy in policies if policies is not None else policies_in_use(session):
        rule = policy.holidays
        if rule is None:
            continue
        # planned any day of the visit's window, up to its deadline: a tick that only
        # runs on 01-02 still plans the 元旦 visit (due 01-01, deadline 01-03)
        for name, day in holidays_near(rule.names, today, rule.lead_days, rule.after_days,
                                       policy.custom_holidays):
            n += plan_event_visits(
                session, policy, tiers=rule.tiers, kind="holiday", reason=name,
                opens=day - timedelta(days=rule.lead_days), due=day,
                deadline=day + timedelta(days=rule.after_days), mode=rule.mode,
                today=today, now=now)
    return n


class CampaignError(ValueError):
    pass


def township_id(session: Session, name: str) -> int:
    ids = session.scalars(select(Jurisdiction.id).where(Jurisdiction.name == name)).all()
    if not ids:
        raise CampaignError(f"没有名为“{name}”的乡镇（街道）")
    if len(ids) > 1:
        raise CampaignError(f"名为“{name}”的地区有 {len(ids)} 个，请用编号")
    return ids[0]


def start_campaign(session: Session, kind: str, root_id: int, days: int, today: date,
                   now: datetime | None = None) -> int:
    """A special visit (寒潮, 汛期 …) within `days` days, in person, for every key subject
    under jurisdiction `root_id`. Policies may name the tiers/mode/reason per kind."""
    now = now or utcnow()
    base = select(Jurisdiction.id).where(Jurisdiction.id == root_id).cte("camp", recursive=True)
    tree = base.union_all(select(Jurisdiction.id).where(Jurisdiction.parent_id == base.c.id))
    people_in_area = select(Person.id).where(Person.jurisdiction_id.in_(select(tree.c.id)))
    in_area = SUBJECTS.c.person_id.in_(people_in_area)
    due = today + timedelta(days=max(days - 1, 0))
    for policy in policies_in_use(session):
        spec = policy.campaigns.get(kind) or Campaign(frozenset({"key"}), "in_person", kind)
        plan_event_visits(
            session, policy, tiers=spec.tiers, kind="campaign", reason=spec.reason,
            opens=today, due=today + timedelta(days=max(days - 1, 0)),
            deadline=today + timedelta(days=max(days - 1, 0)), mode=spec.mode, today=today,
            now=now, extra=in_area)
    # Counted afterwards: SQLite reports no rowcount for a statement that opens with WITH.
    return int(session.scalar(select(func.count()).select_from(Visit).where(
        Visit.kind == "campaign", Visit.due_on == due, Visit.created_at == now,
        Visit.subject_id.in_(people_in_area))) or 0)
