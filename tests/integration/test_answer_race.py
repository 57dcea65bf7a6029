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
