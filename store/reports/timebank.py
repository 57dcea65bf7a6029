"""时间银行 (linzi): hours of service per volunteer per month, from filed visits.

A visit counts the minutes the visitor answered when its checklist asks a duration
question; a visit whose visitor skipped that question (「不需要」) counts nothing. Only
visits of checklists that never ask a duration count a configurable default per mode.
Village cadres (村（居）干部) visit as their duty, not as volunteers: the seed's time bank
is for 党员志愿者、社会工作者、低龄健康老人 (临淄 2022 (四)), so they are not listed.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import and_, select
from sqlalchemy.orm import Session, aliased

from store.models import Answer, Person, Role, Visit
from store.reports.audit import audit
from store.reports.formspec import DURATION_QUESTIONS
from store.reports.period import Month
from store.reports.queries import MODE_COLUMNS, load_scope, mode_bucket
from store.reports.records import question_labels

DEFAULT_HOURS = {"in_person": 1.0, "video": 0.5, "phone": 0.25, "other": 0.5}


@dataclass
class VolunteerHours:
    person_id: int
    name: str
    title: str | None
    visits: dict[str, int] = field(default_factory=lambda: dict.fromkeys(MODE_COLUMNS, 0))
    hours: float = 0.0


def _minutes(v: object) -> float | None:
    if isinstance(v, bool) or v is None:
        return None
    if isinstance(v, int | float):
        return float(v)
    try:
        return float(str(v).strip().rstrip("分钟"))
    except ValueError:
        return None


def is_cadre(title: str | None) -> bool:
    return bool(title) and "干部" in str(title)


def _asks_duration(policy: str) -> bool:
    """Does this policy's checklist ask how long the visit took?"""
    return any(qid in DURATION_QUESTIONS for qid, _s, _l in question_labels(policy))


def timebank(session: Session, roots: list[int], month: Month,
             hours_by_mode: Mapping[str, float] = DEFAULT_HOURS) -> list[VolunteerHours]:
    """One streamed pass over the month's filed visits in scope (visit × duration answer)."""
    scope = load_scope(session, roots)
    subj = aliased(Person)
    vis = aliased(Person)
    title = (select(Role.title).where(Role.person_id == Visit.visitor_id, Role.role == "visitor")
             .correlate(Visit).limit(1).scalar_subquery())
    q = (select(Visit.visitor_id, vis.name, title, Visit.mode, Answer.value, Visit.policy)
         .join(subj, subj.id == Visit.subject_id)
         .join(vis, vis.id == Visit.visitor_id)
         .outerjoin(Answer, and_(Answer.visit_id == Visit.id,
                                 Answer.question_id.in_(DURATION_QUESTIONS)))
         .where(Visit.status == "filed", Visit.visited_on >= month.first,
                Visit.visited_on <= month.last,
                subj.jurisdiction_id.in_(scope.ids))
         .execution_options(yield_per=5000))
    out: dict[int, VolunteerHours] = {}
    asks: dict[str, bool] = {}
    for pid, name, ttl, mode, value, policy in session.execute(q):
        if is_cadre(ttl):
            continue
        row = out.setdefault(pid, VolunteerHours(pid, name, ttl))
        bucket = mode_bucket(mode)
        row.visits[bucket] += 1
        minutes = _minutes(value)
        if minutes is not None:
            row.hours += minutes / 60
        elif not asks.setdefault(policy, _asks_duration(policy)):
            row.hours += hours_by_mode.get(bucket, 0.5)
    return sorted(out.values(), key=lambda r: (-r.hours, r.name, r.person_id))


def export_timebank(session: Session, roots: list[int], month: Month, fmt: str, path: Path,
                    actor_id: int | None = None) -> Path:
    from store.reports.lists import _write_list

    rows = timebank(session, roots, month)
    scope = load_scope(session, roots)
    header = ["序号", "姓名", "身份", *(f"{v}次数" for v in MODE_COLUMNS.values()),
              "服务时长（小时）"]
    data = ([i, r.name, r.title, *(r.visits[k] for k in MODE_COLUMNS), round(r.hours, 2)]
            for i, r in enumerate(rows, 1))
    lead = ("时长：按探访记录的服务分钟数；跳过时长的不计；清单不问时长的按方式计（上门 1 小时、"
            "视频 0.5 小时、电话 0.25 小时、其他 0.5 小时）。村（居）干部不计入。")
    _write_list(fmt, path, f"{scope.title} {month.label} 时间银行服务时长", header,
                [6, 12, 12, 8, 8, 8, 8, 14], lead, iter(data),
                [f"合计：{round(sum(r.hours for r in rows), 2)} 小时"])
    audit(session, actor_id, "export_timebank", None, scope=roots, month=month.key, format=fmt)
    session.commit()
    return path
