"""Reading the outbox for delivery: claim due rows under a lease, record outcomes.

A claim sets status='sending' with a lease (claimed_by, claimed_until). A dispatcher
that dies leaves its rows 'sending' with a lease that runs out; they are then due
again, so a crash loses nothing. While a lease runs, no one else touches the row, so
two dispatchers never send the same row at once. `attempts` counts claims, which
makes a message that crashes its dispatcher every time end as 'failed' too.

Priority: emergency rows (0) are claimed before high ones (1), before the rest (2).
While an emergency or high row waits for its retry on a platform, nothing of lower
priority on that platform is claimed, so when the platform answers again the alert
goes first instead of behind the messages that queued up meanwhile.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, func, literal_column, or_, select, update
from sqlalchemy.orm import Session

from store.models import Jurisdiction, OutboxMessage, Person
from store.outbox import ROUTINE, enqueue_to_person

OUTBOX = OutboxMessage.__table__


@dataclass(frozen=True)
class Claimed:
    """One claimed outbox row, detached from any session."""

    id: int
    idempotency_key: str
    platform: str
    external_id: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this claim
    person_id: int | None
    priority: int = ROUTINE
    on_sent: dict[str, Any] | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class Outcome:
    """What became of one claimed row. status: sent|pending (retry or release)|failed."""

    id: int
    status: str
    provider_id: str | None = None
    error: str | None = None
    not_before: datetime | None = None
    # a release (rate limit, lease too short) is no attempt: give back the claim's count
    refund_attempt: bool = False
    # written with a 'sent' outcome: the claimed row's `on_sent` message
    follow_up: dict[str, Any] | None = None


def _due(now: datetime) -> list[Any]:
    """The two ways a row is due, each claimed by its own statement: as one OR the
    planner cannot walk the (status, not_before) index in order, and every claim would
    sort all the waiting rows to take the first few (a tick's 100,000 reminders)."""
    c = OUTBOX.c
    return [
        # a lease that ran out: its dispatcher died or hung; the row is due again
        and_(c.status == "sending", c.claimed_until < now),
        and_(c.status == "pending", c.not_before <= now),
    ]


# Spelled as a literal so that PostgreSQL matches the partial index ix_outbox_urgent.
_URGENT = OUTBOX.c.priority < literal_column(str(ROUTINE))


def held_platforms(session: Session, now: datetime) -> dict[str, int]:
    """Platforms where an emergency or high row waits for its retry, with its priority:
    nothing of lower priority on that platform is claimed until it has gone."""
    c = OUTBOX.c
    rows = session.execute(
        select(c.platform, func.min(c.priority))
        .where(c.status == "pending", _URGENT, c.attempts > 0, c.not_before > now)
        .group_by(c.platform)).all()
    return {str(p): int(prio) for p, prio in rows}


def claim(
    session: Session,
    *,
    worker_id: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
    platforms: Collection[str],
) -> list[Claimed]:
    """Claim up to `limit` due rows for the given platforms and commit the claim.

    Rows for platforms without a channel are never claimed: they stay pending until a
    process that has that channel comes along.
    """
    if not platforms or limit <= 0:
        return []
    c = OUTBOX.c
    values = {
        "status": "sending",
        "claimed_by": worker_id,
        "claimed_until": now + timedelta(seconds=lease_seconds),
        "attempts": c.attempts + 1,
    }
    returning = (c.id, c.idempotency_key, c.platform, c.external_id, c.kind, c.payload,
                 c.attempts, c.person_id, c.priority, c.on_sent, c.created_at)
    held = held_platforms(session, now)
    behind = [or_(c.platform != p, c.priority <= prio) for p, prio in sorted(held.items())]
    rows: list[Any] = []
    # urgent rows first (a tiny index), then everything in order of due time
    phases = [((_URGENT,), (c.priority, c.not_before)), ((), (c.not_before,))]
    for (only, order), due in ((phase, due) for phase in phases for due in _due(now)):
        want = limit - len(rows)
        if want <= 0:
            break
        inner = (
            select(c.id)
            .where(due, c.platform.in_(sorted(platforms)), *only, *behind)
            .order_by(*order)
            .limit(want)
        )
        if session.get_bind().dialect.name == "postgresql":
            # Concurrent dispatchers skip each other's rows instead of queueing on them.
            # The locked ids go through a MATERIALIZED CTE: as `id IN (subquery)` the
            # planner may run the subquery more than once, and with SKIP LOCKED each run
            # finds other rows, so more than `limit` rows would be claimed.
            picked = inner.with_for_update(skip_locked=True).cte("picked").prefix_with(
                "MATERIALIZED")
            stmt = update(OUTBOX).where(c.id == picked.c.id).values(values).returning(
                *returning)
        else:
            stmt = (
                update(OUTBOX)
                # The condition is repeated outside the subquery: it keeps a row that was
                # claimed between the SELECT and the UPDATE from being taken twice.
                .where(c.id.in_(inner.scalar_subquery()), due)
                .values(values)
                .returning(*returning)
            )
        rows.extend(session.execute(stmt).all())
    session.commit()
    out = [Claimed(*row) for row in rows]
    # by priority, then creation order, so one recipient's messages stay in order
    out.sort(key=lambda m: (m.priority, m.id))
    return out


def record(session: Session, worker_id: str, now: datetime, outcomes: Sequence[Outcome]) -> None:
    """Write outcomes in one transaction (executemany per kind of outcome)."""
    c = OUTBOX.c
    sent = [o for o in outcomes if o.status == "sent"]
    other = [o for o in outcomes if o.status != "sent"]
    if sent:
        # Delivered is a fact, whoever holds the lease now: record it unconditionally.
        session.execute(
            update(OUTBOX)
            .where(c.id == bindparam("b_id"))
            .values(status="sent", sent_at=now, provider_id=bindparam("b_provider"),
                    claimed_until=None, last_error=None),
            [{"b_id": o.id, "b_provider": o.provider_id} for o in sent],
        )
        # the follow-ups (the visitor's 「已送达」) commit with the delivery they report
        for o in sent:
            f = o.follow_up
            if f:
                enqueue_to_person(session, person_id=int(f["person_id"]), key=str(f["key"]),
                                  kind=str(f.get("kind") or "notice"), payload=f["payload"])
    if other:
        # Only while we still hold the claim: a lease that ran out belongs to another.
        session.execute(
            update(OUTBOX)
            .where(c.id == bindparam("b_id"), c.claimed_by == worker_id, c.status == "sending")
            .values(
                status=bindparam("b_status"),
                not_before=func.coalesce(bindparam("b_not_before", type_=c.not_before.type),
                                         c.not_before),
                last_error=func.coalesce(bindparam("b_error", type_=c.last_error.type),
                                         c.last_error),
                attempts=c.attempts - bindparam("b_refund"),
                claimed_until=None,
            ),
            [
                {"b_id": o.id, "b_status": o.status, "b_not_before": o.not_before,
                 "b_error": o.error, "b_refund": 1 if o.refund_attempt else 0}
                for o in other
            ],
        )
    session.commit()


def _subtree(root_ids: Iterable[int]) -> Any:
    base = select(Jurisdiction.id).where(Jurisdiction.id.in_(list(root_ids))).cte(
        "failed_scope", recursive=True)
    tree = base.union_all(select(Jurisdiction.id).where(Jurisdiction.parent_id == base.c.id))
    return select(tree.c.id)


def _failed_query(jurisdiction_ids: Iterable[int] | None) -> Any:
    q = select(OutboxMessage).where(OutboxMessage.status == "failed")
    if jurisdiction_ids is not None:
        q = q.join(Person, Person.id == OutboxMessage.person_id).where(
            Person.jurisdiction_id.in_(_subtree(jurisdiction_ids)))
    return q


def failed_messages(session: Session, jurisdiction_ids: Iterable[int] | None = None,
                    *, limit: int = 200) -> list[OutboxMessage]:
    """Messages given up on, newest first, to recipients within the jurisdictions' subtrees
    (None: everywhere). Officers see these; nothing is dropped silently."""
    q = _failed_query(jurisdiction_ids).order_by(OutboxMessage.id.desc()).limit(limit)
    return list(session.scalars(q))


def failed_count(session: Session, jurisdiction_ids: Iterable[int] | None = None) -> int:
    sub = _failed_query(jurisdiction_ids).subquery()
    return int(session.scalar(select(func.count()).select_from(sub)) or 0)


def retry_failed(session: Session, ids: Iterable[int], now: datetime) -> int:
    """Put failed messages back in the queue (an officer fixed the address, say)."""
    c = OUTBOX.c
    result = session.execute(
        update(OUTBOX)
        .where(c.id.in_(list(ids)), c.status == "failed")
        .values(status="pending", attempts=0, not_before=now, claimed_by=None,
                claimed_until=None)
    )
    return int(result.rowcount or 0)


def pending_count(session: Session) -> int:
    return int(session.scalar(
        select(func.count()).select_from(OUTBOX).where(OUTBOX.c.status.in_(("pending",
                                                                            "sending")))
    ) or 0)
