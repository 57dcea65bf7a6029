"""Writing to the outbox: the only way a message leaves visitbot.

A row is written in the same transaction as the state change that caused it; its
idempotency key makes a retried use case or a re-run tick insert nothing new.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event, select
from sqlalchemy.orm import Session

from store.base import utcnow
from store.models import Account, OutboxMessage
from store.upsert import insert_ignore

# Preference when a person has several bound accounts: staff platforms first.
PLATFORM_PREFERENCE = ("wecom", "wechat", "telegram", "console")

# The dispatcher serves lower numbers first; a retried row keeps lower ones behind it.
PRIORITY = {"emergency": 0, "high": 1}
ROUTINE = 2


def priority_of(severity: str | None) -> int:
    """0 for an emergency, 1 for high risk, 2 for everything else."""
    return PRIORITY.get(severity or "", ROUTINE)

# Set on a session that wrote a message due now; its commit wakes this process's
# dispatchers, so an alert leaves at once instead of at the next poll.
_DUE_NOW = "visitbot.outbox_due_now"
_wakers: list[Callable[[], None]] = []


def on_commit_of_due(waker: Callable[[], None]) -> Callable[[], None]:
    """Call `waker` (from the committing thread) after each commit in this process that
    wrote an outbox row due now; returns the function that stops it."""
    _wakers.append(waker)
    return lambda: _wakers.remove(waker) if waker in _wakers else None


@event.listens_for(Session, "after_commit")
def _wake_dispatchers(session: Session) -> None:
    if session.info.pop(_DUE_NOW, False):
        for waker in list(_wakers):
            waker()


@event.listens_for(Session, "after_rollback")
def _forget_due(session: Session) -> None:
    session.info.pop(_DUE_NOW, None)


def enqueue(
    session: Session,
    *,
    key: str,
    platform: str,
    external_id: str,
    kind: str,
    payload: dict[str, Any],
    person_id: int | None = None,
    not_before: datetime | None = None,
    status: str = "pending",
    priority: int = ROUTINE,
    on_sent: dict[str, Any] | None = None,
) -> bool:
    """Add one message; False if a message with this key exists already.

    `on_sent`: a message written in the same transaction that records this one's
    delivery, {"person_id", "key", "kind", "payload"} (see `store.outbox_delivery`)."""
    row = outbox_row(key=key, platform=platform, external_id=external_id, kind=kind,
                     payload=payload, person_id=person_id, not_before=not_before,
                     status=status, priority=priority, on_sent=on_sent)
    added = insert_ignore(session, OutboxMessage.__table__, row, ["idempotency_key"]) == 1
    if added:
        mark_due(session, row)
    return added


def mark_due(session: Session, row: dict[str, Any]) -> None:
    """A pending row due now wakes this process's dispatchers when the session commits."""
    if row["status"] == "pending" and _due(row["not_before"], row["created_at"]):
        session.info[_DUE_NOW] = True


def outbox_row(*, key: str, platform: str, external_id: str, kind: str,
               payload: dict[str, Any], person_id: int | None = None,
               not_before: datetime | None = None, status: str = "pending",
               priority: int = ROUTINE, on_sent: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    """The outbox row `enqueue` writes (for a caller that writes it with another row)."""
    now = utcnow()
    row = {
        "idempotency_key": key,
        "person_id": person_id,
        "platform": platform,
        "external_id": external_id,
        "kind": kind,
        "payload": payload,
        "status": status,
        "attempts": 0,
        "not_before": not_before or now,
        "created_at": now,
        "sent_at": now if status == "sent" else None,
        "priority": priority,
    }
    if on_sent is not None:  # left out, not JSON null
        row["on_sent"] = on_sent
    return row


def _due(not_before: datetime, now: datetime) -> bool:
    try:
        return not_before <= now
    except TypeError:  # a naive time from a caller: waking early costs one claim
        return True


def accounts_of(session: Session, person_id: int) -> list[Account]:
    rows = session.scalars(select(Account).where(Account.person_id == person_id)).all()
    return sorted(rows, key=lambda a: (platform_rank(a.platform), -a.id))


def primary_account(session: Session, person_id: int) -> Account | None:
    """The account a notice to this person goes to, or None if they are not bound."""
    rows = accounts_of(session, person_id)
    return rows[0] if rows else None


def enqueue_to_person(
    session: Session,
    *,
    person_id: int,
    key: str,
    kind: str,
    payload: dict[str, Any],
    not_before: datetime | None = None,
    priority: int = ROUTINE,
    on_sent: dict[str, Any] | None = None,
) -> bool:
    """Queue a message to a person's primary account; False if unbound or duplicate."""
    account = primary_account(session, person_id)
    if account is None:
        return False
    return enqueue(
        session,
        key=key,
        platform=account.platform,
        external_id=account.external_id,
        kind=kind,
        payload=payload,
        person_id=person_id,
        not_before=not_before,
        priority=priority,
        on_sent=on_sent,
    )


def platform_rank(platform: str) -> int:
    """Lower is preferred: where a notice goes when a person has several accounts."""
    try:
        return PLATFORM_PREFERENCE.index(platform)
    except ValueError:
        return len(PLATFORM_PREFERENCE)
