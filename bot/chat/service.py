"""The core use case: handle one inbound message in one transaction.

Dedupe, routing, the checklist step, answers, cases and every outbox row the
message causes are committed together; a crash before commit leaves no trace and
the platform's redelivery is processed afresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.exc import DBAPIError, IntegrityError, OperationalError, SQLAlchemyError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.orm.exc import StaleDataError

from bot.chat import router
from bot.chat.batch import RUNNERS, Batcher, batchable, guard_writes, run_batch
from bot.chat.context import Turn, local_date
from bot.chat.outcome import JOINED_LIMITS, Handled, join_leading_text, reply_key, seen_key
from bot.chat.ratelimit import TokenBuckets
from bot.chat.sender import Sender, find_sender
from bot.chat.visit_session import open_conversation
from bot.settings import Settings
from conversations.messages import Incoming, Outgoing
from conversations.text import render
from store.base import utcnow
from store.db import DatabaseUnavailable, async_session_factory
from store.models import InboundSeen, OutboxMessage
from store.outbox import enqueue, mark_due, outbox_row
from store.uow import UnitOfWork
from store.upsert import insert_ignore, insert_ignore_both

log = logging.getLogger(__name__)
RETRIES = 3  # concurrent messages of one visitor: the loser of the row lock runs again


INBOUND_TOUCH = timedelta(minutes=1)


_SEEN = InboundSeen.__table__
_SEEN_KEY = ("platform", "account", "message_key")
_OUTBOX = OutboxMessage.__table__
_SAME_MESSAGE = ((_SEEN.c.platform == bindparam("b_platform"))
                 & (_SEEN.c.account == bindparam("b_account"))
                 & (_SEEN.c.message_key == bindparam("b_message_key")))
_KEPT_REPLY = select(_SEEN.c.reply).where(_SAME_MESSAGE)
_KEEP_REPLY = update(_SEEN).where(_SAME_MESSAGE).values(reply=bindparam("b_reply"))


def _params(seen: dict[str, str]) -> dict[str, str]:
    return {f"b_{k}": v for k, v in seen.items()}


class Core:
    """`handle` runs a message in the calling thread; `handle_async` on the event loop.

    With an `async_url` (PostgreSQL), `handle_async` runs the same synchronous turn in
    SQLAlchemy's greenlet bridge over the async driver: the database waits are awaited
    on the loop, with no worker threads contending for the GIL (which cost more CPU per
    answer than the answer itself). Without one, it hands the turn to a thread.
    """

    def __init__(self, sessions: sessionmaker[Session], settings: Settings,
                 clock: Callable[[], datetime] = utcnow, *, async_url: str | None = None
                 ) -> None:
        self.sessions = sessions
        self.settings = settings
        self.clock = clock
        self.async_url = async_url
        self._async_sessions: async_sessionmaker[AsyncSession] | None = None
        # made with the pool, on the loop that serves (see handle_async)
        self._admit: asyncio.Semaphore | None = None
        self._batcher: Batcher | None = None  # presses answered together (bot.chat.batch)
        self.flood = TokenBuckets(settings.chat_burst, settings.chat_per_second)
        self.flood_notices = TokenBuckets(1, 1 / 60)
        self.unbound_notices = TokenBuckets(1, 1 / 600)

    def _over_limit(self, incoming: Incoming, inline: bool) -> Handled | None:
        """A chat over its message rate is refused before it costs a transaction; it is
        told once a minute (inline only: nothing is written for a flood)."""
        chat = (incoming.address.platform, incoming.address.external_id)
        if self.flood.burst <= 0 or self.flood.allow(chat):
            return None
        if not self.flood_notices.allow(chat):
            return Handled(inline=None, duplicate=False)
        log.warning("%s chat %s… over %g messages a second: messages dropped",
                    chat[0], chat[1][:6], self.flood.rate)
        notice = Outgoing(render("bot_too_fast")) if inline else None
        return Handled(inline=notice, duplicate=False,
                       replies=(notice,) if notice is not None else ())

    def handle(self, incoming: Incoming, *, inline: bool = False) -> Handled:
        if (limited := self._over_limit(incoming, inline)) is not None:
            return limited
        return self._handle(incoming, inline)

    def _handle(self, incoming: Incoming, inline: bool) -> Handled:
        for attempt in range(RETRIES):
            try:
                with UnitOfWork(self.sessions) as uow:
                    handled, turn = self._turn(uow.session, incoming, inline, attempt > 0)
                self._after_commit(turn)
                return handled
            except Exception as exc:  # _retry_or_raise re-raises what is not retried
                _retry_or_raise(exc, attempt, incoming)
        raise AssertionError("unreachable")

    async def handle_async(self, incoming: Incoming, *, inline: bool = False) -> Handled:
        if (limited := self._over_limit(incoming, inline)) is not None:
            return limited
        if self.async_url is None:
            return await asyncio.to_thread(self._handle, incoming, inline)
        if self._async_sessions is None:
            # made in the running loop of this process: a pool must not cross a fork
            self._async_sessions = async_session_factory(self.async_url)
            self._admit = asyncio.Semaphore(self.settings.turns_at_once)
            if self.settings.turn_batch > 0:
                guard_writes(self._async_sessions.kw["bind"].sync_engine)
                self._batcher = Batcher(self._run_batch, self.settings.turn_batch,
                                        min(RUNNERS, self.settings.turns_at_once),
                                        self.settings.turn_gather_ms / 1000)
        if self._batcher is not None and batchable(incoming, inline):
            batched = await self._batcher.submit(incoming)
            if batched is not None:
                return batched
        for attempt in range(RETRIES):
            try:
                async with self._admitted(), self._async_sessions() as session:
                    handled, turn = await session.run_sync(self._turn, incoming, inline,
                                                           attempt > 0)
                if turn is not None and turn.after_commit:
                    await asyncio.to_thread(self._after_commit, turn)
                return handled
            except Exception as exc:  # _retry_or_raise re-raises what is not retried
                _retry_or_raise(exc, attempt, incoming)
        raise AssertionError("unreachable")

    async def _run_batch(self, incomings: list[Incoming]) -> list[Handled | None]:
        """Not admitted with the single turns: there are never more than RUNNERS batches,
        and one queued behind a burst of single turns (a hundred visits started at once)
        kept every press waiting for all of them."""
        assert self._async_sessions is not None
        async with self._async_sessions() as session:
            return await session.run_sync(run_batch, self, incomings)

    @contextlib.asynccontextmanager
    async def _admitted(self) -> AsyncIterator[None]:
        """A few turns at a time, the others waiting in arrival order: a hundred turns
        all under way share the process and the pool, so each finishes as late as the
        last (the p99 was twice the peer's); in turn, each finishes as soon as it can."""
        assert self._admit is not None
        try:
            async with asyncio.timeout(self.settings.turn_wait_seconds):
                await self._admit.acquire()
        except TimeoutError:
            raise DatabaseUnavailable("no turn free: every one busy for "
                                      f"{self.settings.turn_wait_seconds:g} s") from None
        try:
            yield
        finally:
            self._admit.release()

    def _turn(self, s: Session, incoming: Incoming, inline: bool, lock: bool = False
              ) -> tuple[Handled, Turn | None]:
        """The whole message in the session's one transaction, committed at the end.

        The sender's open checklist is read without a lock and its UPDATE guarded by its
        version; a turn that lost that race runs again with `lock`, holding the row, so
        a burst of one visitor's messages costs each at most one rerun."""
        now = self.clock()
        seen = seen_key(incoming)
        try:
            sender = find_sender(s, incoming.address, local_date(now, self.settings))
        except (SQLAlchemyError, DatabaseUnavailable):
            raise
        except Exception:
            return self._maintenance(s, incoming, seen, inline, now)
        if sender is None and not router.changes_state_unbound(incoming):
            return self._unbound(s, incoming, inline), None
        try:
            turn = self.routed(s, incoming, now, lock, sender)
        except (SQLAlchemyError, DatabaseUnavailable):
            raise  # retried, or 503: the platform delivers the message again
        except Exception:
            return self._maintenance(s, incoming, seen, inline, now)
        return self._finish(s, turn, seen, inline)

    def _finish(self, s: Session, turn: Turn, seen: dict[str, str], inline: bool,
                *, seen_written: bool = False) -> tuple[Handled, Turn | None]:
        """Queue the replies and commit, the message marked seen (with the reply a
        redelivery gets again) by the turn's last statement. A message seen before is
        only found out here: its work is rolled back, so a redelivery (even one handled
        while the first delivery is still under way, which waits here for it) changes
        nothing and gets the first delivery's reply (WeChat retries the same MsgId three
        times, Telegram the update)."""
        inline_reply, last_row = self.queue_replies(turn, inline, hold_last=not seen_written)
        reply = inline_reply.to_payload() if inline_reply is not None else None
        seen_row = {**seen, "received_at": turn.now} | (
            {"reply": reply} if reply is not None else {})
        if seen_written:
            if reply is not None:
                s.execute(_KEEP_REPLY, {**_params(seen), "b_reply": reply})
        elif not (insert_ignore_both(s, _OUTBOX, last_row, ("idempotency_key",), _SEEN,
                                     seen_row, _SEEN_KEY) if last_row is not None
                  else insert_ignore(s, _SEEN, seen_row, _SEEN_KEY)):
            s.rollback()
            return self._duplicate(s, seen, inline), None
        s.commit()
        return Handled(inline=inline_reply, duplicate=False, replies=tuple(turn.replies)), turn

    def _duplicate(self, s: Session, seen: dict[str, str], inline: bool) -> Handled:
        """A message handled before (its work already rolled back): the reply the first
        delivery gave, for a webhook that lost its response."""
        kept = s.execute(_KEPT_REPLY, _params(seen)).scalar() if inline else None
        s.rollback()
        return Handled(inline=Outgoing.from_payload(kept) if kept else None, duplicate=True)

    def _unbound(self, s: Session, incoming: Incoming, inline: bool) -> Handled:
        """Chatter from an account bound to no one writes nothing (no dedupe row: a
        redelivery only repeats the notice). Where the platform takes the reply in its
        response it is told how to bind every time, with no row at all; elsewhere the
        notice needs an outbox row, so it goes at most every ten minutes per chat."""
        log.info("message from an unbound %s account", incoming.address.platform)
        notice = Outgoing(render("bot_unknown_user"))
        if inline:
            return Handled(inline=notice, duplicate=False, replies=(notice,))
        chat = (incoming.address.platform, incoming.address.external_id)
        if not self.unbound_notices.allow(chat):
            return Handled(inline=None, duplicate=False)
        enqueue(s, key=reply_key(incoming, 0),
                platform=incoming.address.platform, external_id=incoming.address.external_id,
                kind="reply", payload=notice.to_payload(), person_id=None,
                not_before=self.clock(), status="pending")
        s.commit()
        return Handled(inline=None, duplicate=False, replies=(notice,))

    def routed(self, s: Session, incoming: Incoming, now: datetime, lock: bool,
               sender: Sender | None, *, batch: bool = False) -> Turn:
        """The message routed to its handler (`batch`: its checklist step only recorded,
        for bot.chat.batch to write with the others')."""
        turn = Turn(session=s, settings=self.settings, incoming=incoming, now=now,
                    batch=[] if batch else None)
        if sender is not None:
            account = sender.account
            # WeChat's 48-hour window only needs the minute: not a write per answer
            last = account.last_inbound_at
            if last is None or now - last > INBOUND_TOUCH:
                account.last_inbound_at = now
            if account.free_sent:
                # assigned only when it changes: even an equal value marks the account
                # dirty, and the flush that follows costs every answer
                account.free_sent = 0
            turn.account = account
            turn.person = sender.person
            turn.roles = sender.roles
            turn.open_visit = sender.open_visit
            turn.open_visit_read = True
            if lock and sender.open_visit is not None:
                turn.open_visit = open_conversation(s, sender.person.id, fresh=True)
        router.route(turn)
        return turn

    def _maintenance(self, s: Session, incoming: Incoming, seen: dict[str, str], inline: bool,
                     now: datetime) -> tuple[Handled, Turn | None]:
        """Handling failed for a reason a retry will not cure (a broken checklist or
        policy edited after start, a bug): nothing of it is kept, the operator sees an
        ERROR with the traceback, and the person is told — never silence."""
        s.rollback()
        if not insert_ignore(s, _SEEN, {**seen, "received_at": now}, _SEEN_KEY):
            return self._duplicate(s, seen, inline), None
        log.exception("a %s message could not be handled; the sender was told the system "
                      "is under maintenance", incoming.address.platform)
        turn = Turn(session=s, settings=self.settings, incoming=incoming, now=now)
        turn.reply(Outgoing(render("bot_maintenance")))
        return self._finish(s, turn, seen, inline, seen_written=True)

    async def aclose(self) -> None:
        """Close the event-loop path's connections (in the loop that opened them)."""
        if self._async_sessions is not None:
            bind = self._async_sessions.kw["bind"]
            self._async_sessions = None
            self._batcher = None
            await bind.dispose()

    def _after_commit(self, turn: Turn | None) -> None:
        for job in turn.after_commit if turn is not None else ():
            try:
                job(self.sessions)
            except Exception:  # a failed report must not fail the message already stored
                log.exception("after-commit job failed")

    def queue_replies(self, turn: Turn, inline: bool, *, hold_last: bool = False
                      ) -> tuple[Outgoing | None, dict[str, Any] | None]:
        """Write the turn's replies to the outbox; the first rides in the webhook's
        response (marked sent) when `inline`. With `hold_last`, a lone reply's row is
        returned instead of written, for the caller to write with the dedupe row in one
        round trip (most turns have one reply)."""
        inline_reply: Outgoing | None = None
        person_id = turn.person.id if turn.person else None
        if inline and turn.address.platform in JOINED_LIMITS:
            # Only the first reply rides in the webhook's response; a plain text followed
            # by the question (a visit's introduction, a hint) would send the question
            # through the outbox, a call and a dispatcher's wake-up later.
            turn.replies[:] = join_leading_text(turn.replies,
                                                JOINED_LIMITS[turn.address.platform])
        held: dict[str, Any] | None = None
        for i, reply in enumerate(turn.replies):
            # The first reply can ride back in the webhook's own HTTP response.
            as_inline = inline and i == 0
            row = dict(
                key=reply_key(turn.incoming, i),
                platform=turn.address.platform,
                external_id=turn.address.external_id,
                kind="reply",
                payload=reply.to_payload(),
                person_id=person_id,
                not_before=turn.now,
                status="sent" if as_inline else "pending",
            )
            if hold_last and len(turn.replies) == 1:
                # a lone reply written with the dedupe row: a pending one must still
                # wake the dispatcher when committed, as enqueue would have
                held = outbox_row(**row)
                if not as_inline:
                    mark_due(turn.session, held)
            else:
                enqueue(turn.session, **row)
            if as_inline:
                inline_reply = reply
        return inline_reply, held


def _retry_or_raise(exc: Exception, attempt: int, incoming: Incoming) -> None:
    """Return to run the message again; raise what the caller must see."""
    last = attempt == RETRIES - 1
    if isinstance(exc, StaleDataError | IntegrityError):
        if last:
            raise exc
        log.info("conflict on %s message, retrying", incoming.address.platform)
        return
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        # a connection the server dropped (a restart): the pool has let it go, and a
        # fresh one answers at once if the server is back
        if not last:
            return
        raise DatabaseUnavailable("database connection lost") from None
    if isinstance(exc, OperationalError):
        if _is_lock_conflict(exc) and not last:
            return
        raise DatabaseUnavailable(str(exc.orig).splitlines()[0]) from None
    if isinstance(exc, PoolTimeout):
        # every connection busy for the pool's whole timeout (a burst of webhooks): 503,
        # so the platform delivers the message again; a 200 here would lose the answer
        raise DatabaseUnavailable("no database connection free") from None
    raise exc


def _is_lock_conflict(exc: OperationalError) -> bool:
    msg = str(exc.orig).lower()
    return "database is locked" in msg or "deadlock" in msg or "could not serialize" in msg
