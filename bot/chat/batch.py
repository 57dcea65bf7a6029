"""Chat turns that arrive together, answered together (PostgreSQL, on the loop).

A turn alone costs a transaction of three statements; under load most of its CPU is
that fixed cost (the session, each statement's execution, BEGIN and COMMIT), not the
answer. Messages waiting at the same moment are therefore taken as one batch: their
senders read in one statement, each routed exactly as alone (the same router, commands
and checklist engine), and their answers, states, replies and dedupe rows written by one
statement (bot.chat.batch_write) and one commit.

Only what that statement can write is batched: a step of the sender's open checklist
that sets one answer, a visit's checklist begun, or a turn that only reads (a list, the
help), each with one reply. A turn that does anything else (raises a risk, files,
cancels, restarts a cancelled run, is not assigned, any statement that is not a SELECT, a
change to a row that is not its own …) is dropped from the batch before it writes and
runs again on its own, as does one whose conversation changed under it or a message
already seen; so is every turn of a batch that fails. Each message is thus committed
exactly once, by the batch or by itself.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from bot.chat.batch_write import Planned, fits, write_batch
from bot.chat.context import NotBatchable, Turn, local_date
from bot.chat.inbound import kind_of
from bot.chat.outcome import JOINED_LIMITS, Handled, join_leading_text, seen_key
from bot.chat.router import BIND
from bot.chat.sender import Sender, find_senders
from bot.settings import Settings
from conversations.messages import Incoming, Kind, Outgoing

log = logging.getLogger(__name__)
_READS_ONLY = "visitbot.batch_reads_only"
RUNNERS = 2  # one batch's Python work overlaps the other's wait on the database
# how long a batch waits to fill while another is under way: replies going out bring the
# next presses a moment later, and a batch taken at once held one or two of them, each
# batch paying a transaction's fixed cost (at 64 presses in flight, a third of batches
# held one or two; the mean batch was 13 of 32)
GATHER_SECONDS = 0.002


def batchable(incoming: Incoming, inline: bool) -> bool:
    """Whether a message may be a batch's, its reply riding in the webhook's response: a
    button press, or typed text that is no bind code (the router decides the rest: an
    answer, a start, or a command that only replies stays in the batch)."""
    if not inline:
        return False
    kind = kind_of(incoming)
    if kind is Kind.CALLBACK and incoming.choice is not None:
        return True
    text = (incoming.text or "").strip()
    return (kind is Kind.TEXT and incoming.choice is None and incoming.media is None
            and bool(text) and not BIND.match(text) and not incoming.meta.get("bind_code")
            and not incoming.meta.get("event"))


def guard_writes(engine: Engine) -> None:
    """Refuse any write a batched turn attempts while it is being routed (`_reads_only`):
    the turn then leaves the batch, and a flush caught half way fails the whole batch,
    whose turns all run again on their own. A net under `NotBatchable`, which the step
    raises itself before it writes."""

    @event.listens_for(engine, "before_cursor_execute")
    def _refuse(conn: Connection, _cursor: Any, statement: str, *_: Any) -> None:
        if conn.info.get(_READS_ONLY) and not statement.lstrip()[:6].upper() == "SELECT":
            raise NotBatchable("a batched turn tried to write by itself")


@contextlib.contextmanager
def _reads_only(s: Session) -> Iterator[None]:
    info = s.connection().info
    info[_READS_ONLY] = True
    try:
        with s.no_autoflush:
            yield
    finally:
        info.pop(_READS_ONLY, None)


class BatchingCore(Protocol):
    """What a batch needs of the chat core (bot.chat.service.Core)."""

    settings: Settings

    def clock(self) -> datetime: ...

    def routed(self, s: Session, incoming: Incoming, now: datetime, lock: bool,
               sender: Sender | None, *, batch: bool = False) -> Turn: ...

    def queue_replies(self, turn: Turn, inline: bool, *, hold_last: bool = False
                      ) -> tuple[Outgoing | None, dict[str, Any] | None]: ...


def run_batch(s: Session, core: BatchingCore, incomings: list[Incoming]) -> list[Handled | None]:
    """Each message's reply, or None for those left to run on their own. All of one
    platform, from different accounts."""
    now = core.clock()
    senders = find_senders(s, incomings[0].address.platform,
                           [m.address.external_id for m in incomings],
                           local_date(now, core.settings))
    out: list[Handled | None] = [None] * len(incomings)
    planned: list[Planned] = []
    owners: list[tuple[int, Sender, Outgoing]] = []
    people: set[int] = set()
    with _reads_only(s):
        for i, incoming in enumerate(incomings):
            sender = senders.get(incoming.address.external_id)
            open_ = sender.open_visit if sender is not None else None
            if (sender is None or (open_ is not None and not open_.assigned)
                    or sender.person.id in people):
                # unbound; a checklist whose assignment ended (closed by the turn); a
                # second message of one person (by another account): each alone
                continue
            people.add(sender.person.id)
            try:
                turn = core.routed(s, incoming, now, False, sender, batch=True)
                plan, reply = _plan(core, turn, seen_key(incoming))
            except SQLAlchemyError:
                raise
            except Exception as exc:  # alone, the turn does it (or reports it) in full
                if not isinstance(exc, NotBatchable):  # its type only: no answer in logs
                    log.info("batched turn left to run alone: %s", type(exc).__name__)
                _forget(s, sender)
                continue
            planned.append(plan)
            owners.append((i, sender, reply))
    if not planned:
        s.rollback()
        return out
    if not _only_their_own(s, [sender for _, sender, _ in owners]):
        # a turn changed a row the batch would commit for it although it left the batch
        # (a case, say): run every one alone rather than commit what no turn finished
        log.warning("a batch of %d turns changed rows not their own: each runs alone",
                    len(incomings))
        s.rollback()
        return [None] * len(incomings)
    written = write_batch(s, planned)
    if written.seen_before:
        # a redelivery: run alone, each gets the first delivery's reply
        s.rollback()
        return [None] * len(incomings)
    for j, (i, sender, reply) in enumerate(owners):
        if j in written.saved:
            out[i] = Handled(inline=reply, duplicate=False, replies=(reply,))
        else:
            _forget(s, sender)  # its conversation moved on: alone, it reads it again
    s.commit()  # with the ORM's own changes of the saved turns (the account's inbound time)
    return out


def _plan(core: BatchingCore, turn: Turn, seen: dict[str, str]) -> tuple[Planned, Outgoing]:
    if turn.batch is None or len(turn.batch) > 1 or turn.after_commit:
        raise NotBatchable("more than one step")
    limit = JOINED_LIMITS.get(turn.address.platform)
    if limit is not None:
        turn.replies[:] = join_leading_text(turn.replies, limit)
    if len(turn.replies) != 1:
        raise NotBatchable("more than one reply")
    reply, row = core.queue_replies(turn, True, hold_last=True)  # one reply: held, unwritten
    assert reply is not None and row is not None
    seen_row = {**seen, "received_at": turn.now}  # its reply: the outbox row's payload
    if not fits(row, seen_row):
        raise NotBatchable("a reply the batch cannot write")
    return Planned(turn.batch[0] if turn.batch else None, turn.now, row, seen_row), reply


def _only_their_own(s: Session, senders: list[Sender]) -> bool:
    """Whether the session's unflushed changes are all on the batched turns' own loaded
    rows (the account's inbound time, the visit's mode and date): the only changes a
    checklist step makes besides the statement's."""
    own: set[int] = set()
    for sender in senders:
        own.add(id(sender.account))
        if sender.open_visit is not None:
            own.update((id(sender.open_visit.conversation), id(sender.open_visit.visit)))
    return not s.new and not s.deleted and all(id(o) in own for o in s.dirty)


def _forget(s: Session, sender: Sender) -> None:
    """Drop what a turn left out of the batch changed on its loaded rows (the inbound
    time, a visit's mode), so the batch's commit does not write it."""
    s.expire(sender.account)
    if sender.open_visit is not None:
        s.expire(sender.open_visit.conversation)
        s.expire(sender.open_visit.visit)


Run = Callable[[list[Incoming]], Awaitable[list[Handled | None]]]


class Batcher:
    """Messages waiting for a batch, and the few tasks that run the batches in turn."""

    def __init__(self, run: Run, size: int, runners: int = RUNNERS,
                 gather: float = GATHER_SECONDS) -> None:
        self._run = run
        self.size = size
        self.runners = runners
        self.gather = gather
        self._waiting: list[tuple[Incoming, asyncio.Future[Handled | None]]] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._busy = 0  # batches under way
        self._filled = asyncio.Event()

    async def submit(self, incoming: Incoming) -> Handled | None:
        """The message's reply from a batch, or None: run it on its own."""
        fut: asyncio.Future[Handled | None] = asyncio.get_running_loop().create_future()
        self._waiting.append((incoming, fut))
        if len(self._waiting) >= self.size:
            self._filled.set()
        if len(self._tasks) < self.runners:
            task = asyncio.create_task(self._drain())
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return await fut

    def _take(self) -> list[tuple[Incoming, asyncio.Future[Handled | None]]]:
        """Up to `size` waiting messages in arrival order: of the first one's platform,
        one per account (a second from the same chat waits for the next batch)."""
        platform = self._waiting[0][0].address.platform
        taken, kept, accounts = [], [], set()
        for item in self._waiting:
            address = item[0].address
            if (len(taken) < self.size and address.platform == platform
                    and address.external_id not in accounts):
                accounts.add(address.external_id)
                taken.append(item)
            else:
                kept.append(item)
        self._waiting = kept
        return taken

    async def _fill(self) -> None:
        """Wait up to `gather` for a full batch, only while another batch is under way:
        with none, the system is idle and a lone press goes at once."""
        if self._busy == 0 or len(self._waiting) >= self.size or self.gather <= 0:
            return
        self._filled.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.gather):
                await self._filled.wait()

    async def _drain(self) -> None:
        while self._waiting:
            await self._fill()
            if not self._waiting:  # the other runner, done meanwhile, took them
                break
            batch = self._take()
            results: list[Handled | None] = [None] * len(batch)
            self._busy += 1
            try:
                results = await self._run([m for m, _ in batch])
            except Exception as exc:  # every message runs again on its own
                log.warning("a batch of %d turns failed, each runs alone: %s", len(batch),
                            type(exc).__name__)
            finally:
                self._busy -= 1
                for (_, fut), result in zip(batch, results, strict=True):
                    if not fut.done():
                        fut.set_result(result)
