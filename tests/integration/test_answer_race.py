"""One visitor's messages arriving at once (a double tap, a platform retrying in
parallel) behave as if they came one after the other: every turn is saved exactly once,
none is lost or overwrites another, and the stored answers are the conversation's own.

The conversation is read without a row lock; its version guards the turn's UPDATE, so
the later of two concurrent turns runs again. Threads on both stores, and on PostgreSQL
also the event-loop path `visitbot run` uses (`Core.handle_async`).
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming
from store.db import is_sqlite
from store.models import Answer, Conversation, InboundSeen
from tests.integration.chat_support import plan_visit
from tests.world import T0, build_world

BURST = 8


def started(sessions: sessionmaker[Session], db_url: str) -> tuple[Core, int, int]:
    """A visitor who has begun a visit; (core, visitor, conversation id)."""
    w = build_world(sessions)
    plan_visit(sessions, w)
    core = Core(sessions, Settings(database_url=db_url), clock=lambda: T0,
                async_url=None if is_sqlite(db_url) else db_url)
    for n, words in enumerate(("待访", "1", "1", "今天")):  # the list, start, mode, date
        core.handle(Incoming(Address("console", f"p{w.visitor}"), f"start{n}", text=words))
    with sessions() as s:
        conv = s.scalars(select(Conversation).where(Conversation.person_id == w.visitor)).one()
        return core, w.visitor, conv.id


def burst(visitor: int, tag: str) -> list[Incoming]:
    # "1" answers any choice question with its first option: each turn moves on one
    return [Incoming(Address("console", f"p{visitor}"), f"{tag}{i}", text="1")
            for i in range(BURST)]


def check(sessions: sessionmaker[Session], conv_id: int, version0: int, tag: str) -> None:
    with sessions() as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        # every message was one turn, and each turn saved the state once
        assert conv.version == version0 + BURST
        seen = s.scalars(select(InboundSeen.message_key)
                         .where(InboundSeen.message_key.like(f"{tag}%"))).all()
        assert len(seen) == BURST
        stored = {a.question_id: a.value for a in s.scalars(
            select(Answer).where(Answer.visit_id == conv.visit_id))}
        # no turn overwrote another's answer with a stale state: the table and the
        # conversation agree on every answer
        assert stored == conv.state["answers"]
        assert len(stored) >= 2 + BURST // 2  # mode, date and most of the burst


def version_of(sessions: sessionmaker[Session], conv_id: int) -> int:
    with sessions() as s:
        conv = s.get(Conversation, conv_id)
        assert conv is not None
        return conv.version


def test_concurrent_turns_in_threads(sessions: sessionmaker[Session], db_url: str) -> None:
    core, visitor, conv_id = started(sessions, db_url)
    v0 = version_of(sessions, conv_id)
    with ThreadPoolExecutor(BURST) as pool:
        results = list(pool.map(core.handle, burst(visitor, "t")))
    assert not any(r.duplicate for r in results)
    check(sessions, conv_id, v0, "t")


def test_concurrent_turns_on_the_event_loop(sessions: sessionmaker[Session],
                                            db_url: str) -> None:
    core, visitor, conv_id = started(sessions, db_url)
    v0 = version_of(sessions, conv_id)

    async def all_at_once() -> list[object]:
        try:
            return await asyncio.gather(*(core.handle_async(m) for m in burst(visitor, "a")))
        finally:
            await core.aclose()

    results = asyncio.run(all_at_once())
    assert len(results) == BURST
    check(sessions, conv_id, v0, "a")


def test_a_turn_that_lost_the_race_writes_neither_state_nor_answer(
        sessions: sessionmaker[Session], db_url: str) -> None:
    """A step whose conversation changed after it was read (another turn saved first) is
    refused as stale, so the turn runs again, on either store (on PostgreSQL the state and
    the answer are one statement, the answer written only where the guarded state was):
    nothing of it is kept, and the same step on a fresh read stores its answer."""
    from sqlalchemy.orm.attributes import set_committed_value
    from sqlalchemy.orm.exc import StaleDataError

    from bot.chat.context import Turn
    from bot.chat.visit_session import _apply
    from conversations.checklist import load_checklist
    from conversations.engine import Inbound, step
    from store.models import Visit

    core, visitor, conv_id = started(sessions, db_url)
    with sessions() as s:
        conv = s.get(Conversation, conv_id)
        visit = s.get(Visit, conv.visit_id)  # type: ignore[union-attr]
        assert conv is not None and visit is not None
        checklist = load_checklist(conv.checklist)
        turn = Turn(session=s, settings=core.settings,
                    incoming=Incoming(Address("console", f"p{visitor}"), "x", text="1"),
                    now=T0)
        from bot.chat.visit_session import _conversation_context

        result = step(conv.state, Inbound(text="1"), checklist,
                      _conversation_context(turn, conv, visit), T0)
        asked, vid = conv.state["cur"], visit.id
        assert [type(e).__name__ for e in result.events] == ["AnswerSet"]
        # another turn saved after this one read the conversation: what this turn holds
        # is one version behind the row (SQLite has one writer, so the interleaving is
        # made by rewinding what was read)
        set_committed_value(conv, "version", conv.version - 1)
        with pytest.raises(StaleDataError):
            _apply(turn, conv, visit, result, checklist)
        s.rollback()
    with sessions() as s:
        assert s.scalar(select(Answer).where(Answer.visit_id == vid,
                                             Answer.question_id == asked)) is None
        conv = s.get(Conversation, conv_id)
        assert conv is not None and conv.state["cur"] == asked
        turn.session = s
        visit = s.get(Visit, vid)
        _apply(turn, conv, visit, result, checklist)  # type: ignore[arg-type]
        s.commit()
    with sessions() as s:
        assert s.scalar(select(Answer).where(Answer.visit_id == vid,
                                             Answer.question_id == asked)) is not None
