"""Reminders to visitors: one message per visitor per day listing all their due visits.

Visitors are taken a batch at a time (by id range); for each batch one query per policy
selects every visit that needs a word today (window opens, N days before due, due today,
overdue every k days), and one the batch's accounts. Each visitor's digest is rendered
once and the outbox rows go in with INSERT … ON CONFLICT DO NOTHING in
batches. Key `reminder:{visitor_id}:{date}`: a second tick the same day adds nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from itertools import groupby
from typing import Any

from sqlalchemy import String, and_, case, cast, exists, literal, or_, select
from sqlalchemy.orm import Session

from conversations.messages import Choice, Outgoing
from conversations.text import render
from scheduler.due import policies_in_use, refresh_statistics
from scheduler.policy import Policy, send_time
from store.base import utcnow
from store.models import Account, OutboxMessage, Person, Subject, Visit
from store.outbox import platform_rank
from store.upsert import insert_ignore

BATCH = 2000
VISITORS_PER_BATCH = 2000
OUTBOX = OutboxMessage.__table__
MAX_LISTED = 20  # a longer digest says "and N more"; the 任务 command lists all


@dataclass
class ReminderStats:
    visits: int = 0
    messages: int = 0  # outbox rows newly written


def reminder_key(visitor_id: Any, today: date) -> Any:
    """`reminder:{visitor_id}:{date}`, as a Python string or a SQL expression."""
    if isinstance(visitor_id, int):
        return f"reminder:{visitor_id}:{today.isoformat()}"
    return literal("reminder:") + cast(visitor_id, String) + literal(f":{today.isoformat()}")


def overdue_offsets(policy: Policy) -> list[int]:
    """Days past due on which an overdue reminder goes: the day after, then every k days
    until the visit is closed as missed."""
    every = policy.reminders.overdue_every_days
    if every is None:
        return []
    last = policy.reminders.grace_days + policy.escalation.close_after_days
    return list(range(1, last + 1, every))


NEW_WITHIN = timedelta(hours=24)


def _candidates(policy: Policy, today: date, lo: int, hi: int | None,
                now: datetime) -> Any:
    """This policy's visits that need a word today, of visitors in (lo, hi].

    Besides the policy's days (window opens, N days before due, due, overdue), a visit
    planned in the last 24 hours whose window had already opened (a subject whose tier
    changed mid-period, a visitor assigned mid-period, a holiday visit planned late) is
    named as new in the visitor's next digest: otherwise its first word could be the
    overdue chase."""
    r = policy.reminders
    v = Visit.__table__
    # first, so that a visit planned late is never first heard of as overdue
    whens: list[tuple[Any, Any]] = [
        (and_(v.c.created_at >= now - NEW_WITHIN, v.c.created_at <= now,
              v.c.window_opens < today),
         literal("new", String))]
    if r.on_due:
        whens.append((v.c.due_on == today, literal("due", String)))
    over = [today - timedelta(days=d) for d in overdue_offsets(policy)]
    if over:
        whens.append((v.c.due_on.in_(over), literal("overdue", String)))
    if r.before_due_days:
        whens.append((v.c.due_on == today + timedelta(days=r.before_due_days),
                      literal("before", String)))
    if r.on_open:
        whens.append((v.c.window_opens == today, literal("opens", String)))
    if not whens:
        return None
    when = case(*whens, else_=literal(None, String))
    in_range = [v.c.visitor_id > lo] + ([v.c.visitor_id <= hi] if hi is not None else [])
    return (
        select(v.c.id, v.c.visitor_id, v.c.kind, v.c.reason, v.c.due_on, v.c.required_mode,
               Person.name, when.label("when"))
        .join(Subject, Subject.person_id == v.c.subject_id)
        .join(Person, Person.id == v.c.subject_id)
        .where(*in_range, v.c.policy == policy.name, v.c.status == "planned",
               # an ad-hoc record is begun by the visitor, never owed: nothing to remind
               v.c.kind != "adhoc",
               Subject.status == "active", or_(*(cond for cond, _ in whens)),
               # already reminded today (an earlier tick): skip before rendering anything
               ~exists(select(OUTBOX.c.id).where(OUTBOX.c.idempotency_key == reminder_key(
                   v.c.visitor_id, today))))
    )


def visitor_ranges(session: Session, size: int = VISITORS_PER_BATCH
                   ) -> Iterator[tuple[int, int | None]]:
    """(lo, hi] ranges of bound people's ids, `size` accounts each, found by keyset.

    The tick works a batch of visitors at a time: memory stays flat whatever the
    roster, and each query is small enough that no row estimate can make its plan
    blow up (one joined to every account once ran 186 million loops at 100,000
    subjects, when the statistics had not yet seen the visits the tick had just planned).
    """
    a = Account.__table__
    lo = 0
    while True:
        hi = session.scalar(select(a.c.person_id).where(a.c.person_id > lo)
                            .order_by(a.c.person_id).offset(size - 1).limit(1))
        yield lo, hi
        if hi is None:
            return
        lo = hi


def preferred_accounts(session: Session, lo: int, hi: int | None) -> dict[int, tuple[str, str]]:
    """person id → (platform, external id) of their primary account, for ids in (lo, hi];
    the same choice as store.outbox.primary_account."""
    a = Account.__table__
    q = select(a.c.person_id, a.c.platform, a.c.external_id, a.c.id).where(a.c.person_id > lo)
    if hi is not None:
        q = q.where(a.c.person_id <= hi)
    return _best(session.execute(q))


def accounts_of_people(session: Session, ids: Iterable[int], chunk: int = 1000
                       ) -> dict[int, tuple[str, str]]:
    """person id → (platform, external id) of their primary account, for these ids."""
    a = Account.__table__
    wanted = sorted(set(ids))
    found: dict[int, tuple[str, str]] = {}
    for i in range(0, len(wanted), chunk):
        found.update(_best(session.execute(
            select(a.c.person_id, a.c.platform, a.c.external_id, a.c.id)
            .where(a.c.person_id.in_(wanted[i:i + chunk])))))
    return found


def _best(rows: Iterable[Any]) -> dict[int, tuple[str, str]]:
    best: dict[int, tuple[tuple[int, int], tuple[str, str]]] = {}
    for pid, platform, ext, aid in rows:
        rank = (platform_rank(platform), -aid)
        if pid not in best or rank < best[pid][0]:
            best[pid] = (rank, (platform, ext))
    return {pid: acc for pid, (_, acc) in best.items()}


def _digests(session: Session, policies: Iterable[Policy], today: date, now: datetime
             ) -> Iterator[dict[str, Any]]:
    pols = list(policies)
    for lo, hi in visitor_ranges(session):
        rows: list[tuple[Any, Policy]] = []
        for policy in pols:
            q = _candidates(policy, today, lo, hi, now)
            if q is not None:
                rows.extend((row, policy) for row in session.execute(q))
        if not rows:
            continue
        accounts = preferred_accounts(session, lo, hi)
        # One digest per visitor even when their subjects follow different policies.
        rows.sort(key=lambda rp: (rp[0].visitor_id, rp[0].due_on, rp[0].id))
        for visitor_id, group in groupby(rows, key=lambda rp: rp[0].visitor_id):
            acc = accounts.get(visitor_id)
            if acc is None:  # not bound yet: the 任务 command lists the visits once they are
                continue
            items = list(group)
            yield _message(visitor_id, items, items[0][1], today, now, *acc)


def _message(visitor_id: int, items: list[tuple[Any, Policy]], policy: Policy, today: date,
             now: datetime, platform: str, external_id: str) -> dict[str, Any]:
    listed = [row for row, _ in items[:MAX_LISTED]]
    ctx = [{
        "name": row.name, "when": row.when, "due_on": row.due_on.isoformat(),
        "days_over": (today - row.due_on).days, "reason": row.reason, "kind": row.kind,
        "in_person": row.required_mode == "in_person",
    } for row in listed]
    single = len(listed) == 1
    choices = tuple(
        Choice(f"start:{row.id}", render("reminder_start_label", subject=None if single
                                         else row.name))
        for row in listed)
    out = Outgoing(
        text=render("reminder_digest", items=ctx, more=len(items) - len(listed)),
        choices=choices,
        template="reminder",
        fields={"count": str(len(items)), "first_due": listed[0].due_on.isoformat()},
        meta={"visit_ids": [row.id for row, _ in items],
              "when": [row.when for row, _ in items]},
    )
    return {
        "idempotency_key": reminder_key(visitor_id, today),
        "person_id": visitor_id,
        "platform": platform,
        "external_id": external_id,
        "kind": "reminder",
        "payload": out.to_payload(),
        "status": "pending",
        "attempts": 0,
        "not_before": send_time(policy, now),
        "created_at": now,
    }


def write_outbox(session: Session, rows: Iterable[dict[str, Any]]) -> int:
    """Insert in batches, skipping keys already there; returns rows newly written."""
    table = OUTBOX
    n = 0
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            n += insert_ignore(session, table, batch, ["idempotency_key"])
            batch = []
    if batch:
        n += insert_ignore(session, table, batch, ["idempotency_key"])
    return n


def send_reminders(session: Session, now: datetime | None = None, today: date | None = None,
                   policies: Iterable[Policy] | None = None) -> ReminderStats:
    """Write today's reminder digests to the outbox. Does not commit."""
    now = now or utcnow()
    pols = list(policies) if policies is not None else policies_in_use(session)
    if not pols:
        return ReminderStats()
    today = today or now.astimezone(pols[0].tz).date()
    stats = ReminderStats()

    def counted() -> Iterator[dict[str, Any]]:
        for msg in _digests(session, pols, today, now):
            stats.visits += len(msg["payload"]["meta"]["visit_ids"])
            yield msg

    stats.messages = write_outbox(session, counted())
    # the dispatcher's claim walks pending rows in not_before order; planned on estimates
    # from before a month's digests it sorted all of them for every batch (125 ms a
    # claim at 100,000 reminders)
    refresh_statistics(session, OUTBOX, stats.messages)
    return stats
