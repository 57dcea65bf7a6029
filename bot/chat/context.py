"""What one inbound message's handling carries through the router."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from bot.settings import Settings
from conversations.messages import Address, Incoming, Outgoing
from store.models import Account, Person


class NotBatchable(Exception):
    """A batched turn that needs more than the batch writes: it runs again on its own."""


@dataclass(frozen=True)
class DeferredStep:
    """A checklist step that only answers a question: its state UPDATE (guarded by the
    version read) and its answer row, for a batch to write."""

    conversation_id: int
    version: int
    state: dict[str, Any]
    status: str
    answer: dict[str, Any]


@dataclass(frozen=True)
class DeferredStart:
    """A visit's checklist begun: the row to insert, for a batch to write (with the
    visit marked in progress by the visitor)."""

    person_id: int
    visit_id: int
    checklist: str
    state: dict[str, Any]
    status: str
    context: dict[str, Any]


@dataclass
class Turn:
    """One inbound message being handled inside one transaction."""

    session: Session
    settings: Settings
    incoming: Incoming
    now: datetime
    account: Account | None = None
    person: Person | None = None
    roles: set[str] = field(default_factory=set)
    # the checklist the sender is in the middle of, read with the sender (OpenVisit)
    open_visit: Any = None
    open_visit_read: bool = False  # whether open_visit was read in this transaction
    replies: list[Outgoing] = field(default_factory=list)
    # slow work that must not hold the transaction (e.g. building a report file);
    # each runs after commit with the session factory and may queue more messages
    after_commit: list[Callable[[sessionmaker[Session]], None]] = field(default_factory=list)
    # set when the turn runs in a batch (bot.chat.batch): the checklist step's one write
    # (or the start's) is recorded here, for the batch to write with the others'
    # instead of executed
    batch: list[DeferredStep | DeferredStart] | None = None

    @property
    def address(self) -> Address:
        return self.incoming.address

    @property
    def tz(self) -> ZoneInfo:
        return self.settings.tz

    def today(self) -> date:
        return local_date(self.now, self.settings)

    def reply(self, message: Outgoing) -> None:
        self.replies.append(message)


def local_date(now: datetime, settings: Settings) -> date:
    """The county's date at `now` (the configured time zone): the day every rule of a
    turn — an assignment's end, a visit's window — is read on."""
    return now.astimezone(settings.tz).date()
