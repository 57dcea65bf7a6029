"""The core use case: handle one inbound message in one transaction.

Dedupe, routing, the checklist step, answers, cases and every outbox row the
message causes are committed together; a crash before commit leaves no trace and
the platform's redelivery is processed afresh.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, select
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot import router
from bot.channel import Incoming, Outgoing
from bot.context import Turn
from bot.settings import Settings
from store.base import utcnow
from store.db import DatabaseUnavailable
from store.models import Account, InboundSeen, Person, Role
from store.outbox import enqueue
from store.uow import UnitOfWork
from store.upsert import insert_ignore

log = logging.getLogger(__name__)
RETRIES = 3  # concurrent messages of one visitor: the loser of the row lock runs again


INBOUND_TOUCH = timedelta(minutes=1)

# Who sent this, and in what roles, in one round trip (a row per role). Built once: a
# statement built per message costs more Python than the database spends running it.
_SENDER = (
    select(Account, Person, Role.role)
    .join(Person, Person.id == Account.person_id)
    .outerjoin(Role, Role.person_id == Account.person_id)
    .where(Account.platform == bindparam("platform"),
           Account.external_id == bindparam("external_id"))
)


@dataclass(frozen=True)
class Handled:
    inline: Outgoing | None
    duplicate: bool
    replies: tuple[Outgoing, ...] = ()


class Core:
    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 clock: Callable[[], datetime] = utcnow) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock

    def handle(self, incoming: Incoming, *, inline: bool = False) -> Handled:
        for attempt in range(RETRIES):
            try:
                return self._handle_once(incoming, inline)
            except (StaleDataError, IntegrityError):
                if attempt == RETRIES - 1:
                    raise
                log.info("conflict on %s message, retrying", incoming.address.platform)
            except OperationalError as exc:
                if _is_lock_conflict(exc) and attempt < RETRIES - 1:
                    continue
                raise DatabaseUnavailable(str(exc.orig).splitlines()[0]) from None
            except DBAPIError as exc:
                if exc.connection_invalidated:
                    raise DatabaseUnavailable("database connection lost") from None
                raise
        raise AssertionError("unreachable")

    def _handle_once(self, incoming: Incoming, inline: bool) -> Handled:
        now = self.clock()
        with UnitOfWork(self.sessions) as uow:
            s = uow.session
            fresh = insert_ignore(s, InboundSeen.__table__, {
                "platform": incoming.address.platform,
                "message_key": incoming.msg_id[:128], "received_at": now,
            }, ["platform", "message_key"])
            if not fresh:
                return Handled(inline=None, duplicate=True)
            turn = Turn(session=s, settings=self.settings, incoming=incoming, now=now)
            rows = s.execute(_SENDER, {"platform": incoming.address.platform,
                                       "external_id": incoming.address.external_id}).all()
            if rows:
                account, person = rows[0][0], rows[0][1]
                # WeChat's 48-hour window only needs the minute: not a write per answer
                last = account.last_inbound_at
                if last is None or now - last > INBOUND_TOUCH:
                    account.last_inbound_at = now
                account.free_sent = 0
                turn.account = account
                turn.person = person
                turn.roles = {r[2] for r in rows if r[2] is not None}
            router.route(turn)
            inline_reply = self._queue_replies(turn, inline)
            uow.commit()
        for job in turn.after_commit:
            try:
                job(self.sessions)
            except Exception:  # a failed report must not fail the message already stored
                log.exception("after-commit job failed")
        return Handled(inline=inline_reply, duplicate=False, replies=tuple(turn.replies))

    def _queue_replies(self, turn: Turn, inline: bool) -> Outgoing | None:
        inline_reply: Outgoing | None = None
        person_id = turn.person.id if turn.person else None
        for i, reply in enumerate(turn.replies):
            # The first reply can ride back in the webhook's own HTTP response.
            as_inline = inline and i == 0
            enqueue(
                turn.session,
                key=f"reply:{turn.address.platform}:{turn.incoming.msg_id}:{i}",
                platform=turn.address.platform,
                external_id=turn.address.external_id,
                kind="reply",
                payload=reply.to_payload(),
                person_id=person_id,
                not_before=turn.now,
                status="sent" if as_inline else "pending",
            )
            if as_inline:
                inline_reply = reply
        return inline_reply


def _is_lock_conflict(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "database is locked" in msg or "deadlock" in msg or "could not serialize" in msg
