"""Turns on the event-loop path (`visitbot run` on PostgreSQL) are admitted a few at a
time, in arrival order (`turns_at_once`): a burst never holds more database connections
than that, every message of it is still handled, and one that waits longer than
`turn_wait_seconds` is refused as the database being unavailable (the webhook's 503, so
the platform delivers it again), never dropped."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import event, insert, select

from bot.chat.service import Core
from bot.settings import Settings
from conversations.messages import Address, Incoming
from store.db import DatabaseUnavailable, make_engine, session_factory
from store.models import InboundSeen
from tests.world import T0, build_world

pytestmark = pytest.mark.postgres


def core_for(pg_url: str, **settings: Any) -> tuple[Core, int]:
    engine = make_engine(pg_url)
    sessions = session_factory(engine)
    w = build_world(sessions)
    return Core(sessions, Settings(database_url=pg_url, chat_burst=0, **settings),
                clock=lambda: T0, async_url=pg_url), w.visitor


def message(visitor: int, key: str) -> Incoming:
    return Incoming(Address("console", f"p{visitor}"), key, text="帮助")


async def most_at_once(core: Core, visitor: int, n: int) -> int:
    """Send n messages at once; the most connections the turns held at one time."""
    await core.handle_async(message(visitor, "warm"))
    pool = core._async_sessions.kw["bind"].sync_engine  # type: ignore[union-attr]
    held, most = [0], [0]

    def out(*_: object) -> None:
        held[0] += 1
        most[0] = max(most[0], held[0])

    def back(*_: object) -> None:
        held[0] -= 1

    event.listen(pool, "checkout", out)
    event.listen(pool, "checkin", back)
    try:
        results = await asyncio.gather(*(core.handle_async(message(visitor, f"m{i}"))
                                         for i in range(n)))
    finally:
        event.remove(pool, "checkout", out)
        event.remove(pool, "checkin", back)
        await core.aclose()
    # every message of the burst was handled and answered
    assert all(r.inline is None and r.replies and not r.duplicate for r in results)
    return most[0]


@pytest.mark.parametrize("limit", [1, 3])
def test_a_burst_holds_no_more_connections_than_turns_at_once(pg_url: str,
                                                              limit: int) -> None:
    core, visitor = core_for(pg_url, turns_at_once=limit)
    assert asyncio.run(most_at_once(core, visitor, 24)) == limit


def test_without_the_limit_the_same_burst_takes_more(pg_url: str) -> None:
    # the measure above can fail: with room for every turn, the burst spreads out
    core, visitor = core_for(pg_url, turns_at_once=100)
    assert asyncio.run(most_at_once(core, visitor, 24)) > 3


def test_a_turn_that_waits_too_long_is_refused_and_handled_when_sent_again(
        pg_url: str) -> None:
    core, visitor = core_for(pg_url, turns_at_once=1, turn_wait_seconds=0.3)
    blocker = make_engine(pg_url)

    async def scene() -> None:
        await core.handle_async(message(visitor, "warm"))
        with blocker.connect() as conn:
            # another transaction holds message "slow"'s dedupe key: its turn waits at
            # its last statement, holding the only admission
            conn.execute(insert(InboundSeen), {
                "platform": "console", "account": f"p{visitor}", "message_key": "slow",
                "received_at": T0})
            slow = asyncio.create_task(core.handle_async(message(visitor, "slow")))
            await asyncio.sleep(0.2)
            with pytest.raises(DatabaseUnavailable):
                await core.handle_async(message(visitor, "late"))
            conn.rollback()
            await asyncio.to_thread(lambda: None)
        assert not (await slow).duplicate
        again = await core.handle_async(message(visitor, "late"))
        assert not again.duplicate and again.replies, "the refused message was not kept"
        await core.aclose()

    try:
        asyncio.run(scene())
    finally:
        blocker.dispose()
    with core.sessions() as s:
        keys = set(s.scalars(select(InboundSeen.message_key)).all())
    assert {"slow", "late"} <= keys
