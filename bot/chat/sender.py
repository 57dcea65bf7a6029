"""Who sent a message, in one round trip: the account, its person, their roles and the
checklist they are in the middle of (with its visit).

Every message needs all of these before it can be routed, so they are one statement,
built once. The conversation is read without a row lock: the turn's state UPDATE is
guarded by the conversation's version, so a concurrent message of the same visitor
makes the later turn run again instead of overwriting the earlier one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import ARRAY, Row, String, and_, bindparam, func, literal_column, select
from sqlalchemy.orm import Session, defer

from bot.chat.visit_session import OPEN_STATES, OpenVisit
from conversations.messages import Address
from store.models import (
    Account,
    Assignment,
    Conversation,
    Person,
    Role,
    Visit,
    assignment_current,
)

# whether the sender is still assigned to the subject of the visit they have open: every
# answer checks it, so it rides with the sender instead of costing its own round trip
_ASSIGNED = (
    select(Assignment.id)
    .where(Assignment.visitor_id == Account.person_id,
           Assignment.subject_id == Visit.subject_id,
           assignment_current(bindparam("today")))
    .exists()
)

_SENDERS = (
    select(Account, Person, Role.role, Conversation, Visit, _ASSIGNED.label("assigned"))
    .join(Person, Person.id == Account.person_id)
    .outerjoin(Role, Role.person_id == Account.person_id)
    # a visitor has at most one checklist open (starting another is refused), so this
    # adds no rows; the newest is chosen below should there ever be more
    .outerjoin(Conversation, and_(Conversation.person_id == Account.person_id,
                                  # constants in the SQL: a list would be an expanding
                                  # parameter, re-rendered into the statement each time
                                  Conversation.status.in_(
                                      [literal_column(f"'{s}'") for s in OPEN_STATES])))
    .outerjoin(Visit, Visit.id == Conversation.visit_id)
    .where(Account.platform == bindparam("platform"))
    # columns no turn reads stay in the database (loaded on first use should one ever
    # be): every answer paid for them, the driver describing each column of the result
    # and the ORM loading it, and the sender's sealed phone and ID number were opened
    .options(*(defer(c) for c in (
        Account.bound_at, Person.id_number, Person.phone, Person.created_at,
        Person.updated_at, Visit.reason, Visit.window_opens, Visit.created_at,
        Visit.filed_at, Visit.seq)))
)
_SENDER = _SENDERS.where(Account.external_id == bindparam("external_id"))
# PostgreSQL: a batch's senders (bot.chat.batch) in one statement whatever their number
# (an array parameter: an expanding IN would be a new statement for every batch size)
_BATCH_SENDERS = _SENDERS.where(
    Account.external_id == func.any(bindparam("external_ids", type_=ARRAY(String))))


@dataclass
class Sender:
    account: Account
    person: Person
    roles: set[str] = field(default_factory=set)
    open_visit: OpenVisit | None = None


def find_sender(session: Session, address: Address, today: date) -> Sender | None:
    """The bound sender of a message from `address`, or None for an unknown account
    (`today`, the county's date, says whether an assignment has ended)."""
    rows = session.execute(_SENDER, {"platform": address.platform,
                                     "external_id": address.external_id,
                                     "today": today}).all()
    return _sender_of(rows) if rows else None


def find_senders(session: Session, platform: str, external_ids: list[str], today: date
                 ) -> dict[str, Sender]:
    """`find_sender` for several accounts of one platform at once (PostgreSQL only), by
    external id; unknown accounts are left out."""
    rows = session.execute(_BATCH_SENDERS, {"platform": platform,
                                            "external_ids": external_ids,
                                            "today": today}).all()
    by_account: dict[str, list[Row[Any]]] = {}
    for row in rows:
        by_account.setdefault(row[0].external_id, []).append(row)
    return {ext: _sender_of(rows) for ext, rows in by_account.items()}


def _sender_of(rows: Sequence[Row[Any]]) -> Sender:
    account, person = rows[0][0], rows[0][1]
    open_ = [r for r in rows if r[3] is not None and r[4] is not None]
    newest = max(open_, key=lambda r: (r[3].updated_at, r[3].id)) if open_ else None
    return Sender(account, person, {r[2] for r in rows if r[2] is not None},
                  OpenVisit(newest[3], newest[4], bool(newest[5]))
                  if newest is not None else None)
