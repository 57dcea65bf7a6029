"""Watch-level findings reach officers as one digest a day, never one message each.

The digest of day D lists the watch findings recorded between the policy's send time
on D-1 and on D (open cases still at watch level: a raised case was sent at once, in
full). It is written by the first tick after D's send time, to go out then and outside
quiet hours; key `watch-digest:{officer}:{D}`, so an officer gets at most one a day
however often the tick runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from conversations.messages import Outgoing
from conversations.text import render
from conversations.wechat_keywords import keywords
from scheduler.alert_policy import officers_for
from scheduler.policy import Policy, send_time
from store.labels import kind_label
from store.models import Alert, Case, Jurisdiction, Person, Subject
from store.outbox import enqueue_to_person

MAX_LISTED = 40


@dataclass
class DigestStats:
    findings: int = 0
    messages: int = 0


def digest_day(policy: Policy, now: datetime) -> tuple[date, datetime, datetime]:
    """The latest day whose send time has passed, and its window [since, until)."""
    tz = policy.tz
    local = now.astimezone(tz)
    day = local.date()
    until = datetime.combine(day, policy.reminders.send_at, tz)
    if local < until:
        day -= timedelta(days=1)
        until = datetime.combine(day, policy.reminders.send_at, tz)
    since = datetime.combine(day - timedelta(days=1), policy.reminders.send_at, tz)
    return day, since, until


def send_watch_digests(session: Session, now: datetime, policies: list[Policy]
                       ) -> DigestStats:
    """Write the day's watch digests to the outbox. Does not commit."""
    stats = DigestStats()
    for policy in policies:
        routing = policy.alerts
        for severity in sorted(routing.digest):
            day, since, until = digest_day(policy, now)
            rows = session.execute(
                select(Alert.display, Alert.created_at, Case.id, Case.kind, Case.subject_id,
                       Person.name, Jurisdiction.name)
                .join(Case, Case.id == Alert.case_id)
                .join(Subject, Subject.person_id == Case.subject_id)
                .join(Person, Person.id == Case.subject_id)
                .outerjoin(Jurisdiction, Jurisdiction.id == Person.jurisdiction_id)
                .where(Subject.policy == policy.name, Alert.severity == severity,
                       Case.severity == severity, Case.status != "resolved",
                       Alert.created_at >= since, Alert.created_at < until)
                .order_by(Alert.id)).all()
            per_officer: dict[int, list[dict[str, Any]]] = {}
            officers_of: dict[int, list[int]] = {}
            for display, _at, case_id, kind, subject_id, name, village in rows:
                if subject_id not in officers_of:
                    officers_of[subject_id] = officers_for(session, subject_id,
                                                           routing.levels(severity))
                item = {"case_id": case_id, "name": name, "village": village or "",
                        "kind": kind_label(kind), "what": display}
                for officer in officers_of[subject_id]:
                    per_officer.setdefault(officer, []).append(item)
                stats.findings += 1
            for officer, items in per_officer.items():
                text = render("watch_digest", day=day.isoformat(), total=len(items),
                              items=items[:MAX_LISTED])
                stats.messages += enqueue_to_person(
                    session, person_id=officer, kind="digest",
                    key=f"watch-digest:{officer}:{day.isoformat()}",
                    payload=Outgoing(text, template="watch_digest",
                                     fields={"count": str(len(items))},
                                     meta={"template_data": keywords(
                                         "每日关注汇总", day.isoformat(),
                                         f"{len(items)} 项需关注",
                                         "、".join(dict.fromkeys(i["name"] for i in items)))}
                                     ).to_payload(),
                    not_before=send_time(policy, max(now, until)))
    return stats
